package dev.sluice.kernels.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 Vector API forms of the activations models spend time in (Gelu, Sigmoid, Tanh, Relu, ...). Each is
 * within a few float ulps (erf: 1.5e-7 absolute, Abramowitz and Stegun 7.1.26) of the double reference
 * forms in {@link ElementwiseMath}, which still compute the tails and every other type.
 */
final class VectorMath {
    private VectorMath() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    private static final float INV_SQRT2 = (float) (1 / Math.sqrt(2));

    /** erf(x) for float lanes: 1 - poly(t) e^{-x^2}, t = 1 / (1 + p|x|), sign restored. */
    static FloatVector erf(FloatVector x) {
        FloatVector ax = x.abs();
        FloatVector t = ax.fma(0.3275911f, 1f);
        t = FloatVector.broadcast(S, 1f).div(t);
        FloatVector p = t.fma(1.061405429f, -1.453152027f);
        p = p.mul(t).add(1.421413741f);
        p = p.mul(t).add(-0.284496736f);
        p = p.mul(t).add(0.254829592f);
        p = p.mul(t);
        FloatVector e = ax.mul(ax).neg().lanewise(VectorOperators.EXP);
        FloatVector r = p.mul(e).neg().add(1f);
        // NaN stays NaN (it propagates through abs, fma and exp)
        return r.blend(r.neg(), x.compare(VectorOperators.LT, 0f));
    }

    static FloatVector gelu(FloatVector x) {
        return x.mul(0.5f).mul(erf(x.mul(INV_SQRT2)).add(1f));
    }

    static FloatVector sigmoid(FloatVector x) {
        // 1 / (1 + e^-x); e^-x overflows to inf for very negative x, giving 0 as the reference does
        return FloatVector.broadcast(S, 1f).div(x.neg().lanewise(VectorOperators.EXP).add(1f));
    }

    static FloatVector tanh(FloatVector x) { return x.lanewise(VectorOperators.TANH); }

    static FloatVector relu(FloatVector x) { return x.blend(0f, x.compare(VectorOperators.LT, 0f)); }

    /** The vector form of a unary op by ONNX name (float32, default attributes only), or null. */
    static UnaryOperator<FloatVector> forOp(String op, dev.sluice.kernels.Attributes at) {
        return switch (op) {
            case "Gelu" -> "none".equals(at.getString("approximate", "none")) ? VectorMath::gelu : null;
            case "Sigmoid" -> VectorMath::sigmoid;
            case "Tanh" -> VectorMath::tanh;
            case "Relu" -> VectorMath::relu;
            case "Erf" -> VectorMath::erf;
            default -> null;
        };
    }

    /** o[from, to) = f(x[from, to)), vector body, scalar tail with the reference form. */
    static void map(UnaryOperator<FloatVector> f, DoubleUnaryOperator tail, MemorySegment x, MemorySegment o, long from, long to) {
        int l = S.length();
        long i = from;
        for (; i <= to - l; i += l) {
            f.apply(FloatVector.fromMemorySegment(S, x, i * 4, ORDER)).intoMemorySegment(o, i * 4, ORDER);
        }
        for (; i < to; i++) o.setAtIndex(ElementwiseOps.F32, i, (float) tail.applyAsDouble(x.getAtIndex(ElementwiseOps.F32, i)));
    }
}
