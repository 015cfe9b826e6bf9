package dev.sluice.kernels.cpu.core;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 Vector API forms of the activations models spend time in (Gelu, Sigmoid, Tanh, Relu, ...). Each is
 * within a few float ulps (erf: 1.5e-7 absolute, Abramowitz and Stegun 7.1.26) of the double reference
 * forms in {@link ElementwiseMath}, which compute every other type.
 *
 * <p>Invariant: results depend only on the input value, never on JIT state, vector position or how a tensor
 * was split over threads. So nothing here uses the Vector API's transcendental operators (EXP, TANH...),
 * which are SVML calls once compiled but per-lane {@code Math} calls in the interpreter, and tails run the
 * same vector code under a mask instead of a scalar formula.
 */
public final class VectorMath {
    private VectorMath() {}

    public static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
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
        FloatVector e = exp(ax.mul(ax).neg());
        FloatVector r = p.mul(e).neg().add(1f);
        // NaN stays NaN (it propagates through abs, fma and exp)
        return r.blend(r.neg(), x.compare(VectorOperators.LT, 0f));
    }

    static FloatVector gelu(FloatVector x) {
        return x.mul(0.5f).mul(erf(x.mul(INV_SQRT2)).add(1f));
    }

    public static FloatVector sigmoid(FloatVector x) {
        // 1 / (1 + e^-x); e^-x overflows to inf for very negative x, giving 0 as the reference does
        return FloatVector.broadcast(S, 1f).div(exp(x.neg()).add(1f));
    }

    /** tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)), within 2e-6 relative; an odd Taylor polynomial near 0, where that cancels. */
    public static FloatVector tanh(FloatVector x) {
        FloatVector ax = x.abs();
        FloatVector big = FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(exp(ax.add(ax)).add(1f)));
        FloatVector x2 = ax.mul(ax);
        // x - x^3/3 + 2x^5/15 - 17x^7/315: below 0.0625 its error is under 1e-10
        FloatVector small = x2.fma(-17f / 315f, 2f / 15f).fma(x2, bc(-1f / 3f)).mul(x2).fma(ax, ax);
        FloatVector r = big.blend(small, ax.compare(VectorOperators.LT, 0.0625f));
        return r.blend(r.neg(), x.compare(VectorOperators.LT, 0f));
    }

    private static FloatVector bc(float v) { return FloatVector.broadcast(S, v); }

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND_MAGIC = 12582912f; // 1.5 * 2^23: adding and subtracting it rounds to an integer

    /**
     * e^x from +, *, fma and bit operations only: x = k ln2 + r with |r| <= ln2/2, e^r by a degree-6
     * polynomial (Cephes' expf coefficients, about 1 ulp), then scaled by 2^k in two halves so that k down to
     * -150 (subnormal results) stays exact. Overflow gives +inf, underflow 0, NaN stays NaN.
     */
    public static FloatVector exp(FloatVector x) {
        // FloatVector.broadcast, force-inlined, rather than bc: in a big compile C2 leaves a small helper that
        // returns a vector out of line past its node cutoff, and then boxes every constant on every call
        FloatVector xc = x.max(-104f).min(89f);
        FloatVector k = xc.fma(LOG2E, ROUND_MAGIC).sub(ROUND_MAGIC);
        FloatVector r = k.fma(FloatVector.broadcast(S, -LN2_HI), xc);
        r = k.fma(FloatVector.broadcast(S, -LN2_LO), r);
        FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
        p = p.fma(r, FloatVector.broadcast(S, 8.3334519073e-3f));
        p = p.fma(r, FloatVector.broadcast(S, 4.1665795894e-2f));
        p = p.fma(r, FloatVector.broadcast(S, 1.6666665459e-1f));
        p = p.fma(r, FloatVector.broadcast(S, 5.0000001201e-1f));
        FloatVector y = p.mul(r).fma(r, r).add(1f);
        jdk.incubator.vector.IntVector ki = (jdk.incubator.vector.IntVector) k.convert(VectorOperators.F2I, 0);
        jdk.incubator.vector.IntVector k1 = ki.lanewise(VectorOperators.ASHR, 1);
        jdk.incubator.vector.IntVector k2 = ki.sub(k1);
        FloatVector s1 = k1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = k2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        y = y.mul(s1).mul(s2);
        y = y.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, 88.72283905206835f));
        y = y.blend(0f, x.compare(VectorOperators.LT, -103.972077083991796f));
        return y.blend(x, x.test(VectorOperators.IS_NAN));
    }

    static FloatVector relu(FloatVector x) { return x.blend(0f, x.compare(VectorOperators.LT, 0f)); }

    /** The unary ops with a float32 vector form here. */
    public enum Unary { GELU, SIGMOID, TANH, RELU, ERF }

    /** The vector form of a unary op, or null when it has none. */
    public static Unary forOp(String op, dev.sluice.kernels.Attributes at) {
        return switch (op) {
            case "Gelu" -> "none".equals(at.getString("approximate", "none")) ? Unary.GELU : null;
            case "Sigmoid" -> Unary.SIGMOID;
            case "Tanh" -> Unary.TANH;
            case "Relu" -> Unary.RELU;
            case "Erf" -> Unary.ERF;
            default -> null;
        };
    }

    /**
     * o[from, to) = f(x[from, to)); the tail runs the same vector code under a mask (see the class invariant).
     * One loop per op with the op called directly: one loop calling f through a UnaryOperator saw several
     * lambdas once a JVM had run Relu, Sigmoid and Gelu, C2 could not inline the call, and every vector was
     * boxed (a Relu 20x slower, at random, depending on which ops ran first).
     */
    public static void map(Unary f, MemorySegment x, MemorySegment o, long from, long to) {
        switch (f) {
            case GELU -> mapGelu(x, o, from, to);
            case SIGMOID -> mapSigmoid(x, o, from, to);
            case TANH -> mapTanh(x, o, from, to);
            case RELU -> mapRelu(x, o, from, to);
            case ERF -> mapErf(x, o, from, to);
        }
    }

    private static void mapGelu(MemorySegment x, MemorySegment o, long from, long to) {
        int l = S.length();
        long i = from;
        for (; i <= to - l; i += l) gelu(FloatVector.fromMemorySegment(S, x, i * 4, ORDER)).intoMemorySegment(o, i * 4, ORDER);
        if (i < to) {
            var m = S.indexInRange(i, to);
            gelu(FloatVector.fromMemorySegment(S, x, i * 4, ORDER, m)).intoMemorySegment(o, i * 4, ORDER, m);
        }
    }

    private static void mapSigmoid(MemorySegment x, MemorySegment o, long from, long to) {
        // the body in SigmoidLoops (no vector handed to a call C2 may leave out of line), by runs of an int's length
        long i = from;
        while (to - i >= S.length()) {
            i += SigmoidLoops.segment(x, i, o, i, (int) Math.min(to - i, 1 << 30), SigmoidLoops.BIAS_NONE, 0f, null, false);
        }
        if (i < to) {
            var m = S.indexInRange(i, to);
            sigmoid(FloatVector.fromMemorySegment(S, x, i * 4, ORDER, m)).intoMemorySegment(o, i * 4, ORDER, m);
        }
    }

    private static void mapTanh(MemorySegment x, MemorySegment o, long from, long to) {
        int l = S.length();
        long i = from;
        for (; i <= to - l; i += l) tanh(FloatVector.fromMemorySegment(S, x, i * 4, ORDER)).intoMemorySegment(o, i * 4, ORDER);
        if (i < to) {
            var m = S.indexInRange(i, to);
            tanh(FloatVector.fromMemorySegment(S, x, i * 4, ORDER, m)).intoMemorySegment(o, i * 4, ORDER, m);
        }
    }

    private static void mapRelu(MemorySegment x, MemorySegment o, long from, long to) {
        int l = S.length();
        long i = from;
        for (; i <= to - l; i += l) relu(FloatVector.fromMemorySegment(S, x, i * 4, ORDER)).intoMemorySegment(o, i * 4, ORDER);
        if (i < to) {
            var m = S.indexInRange(i, to);
            relu(FloatVector.fromMemorySegment(S, x, i * 4, ORDER, m)).intoMemorySegment(o, i * 4, ORDER, m);
        }
    }

    private static void mapErf(MemorySegment x, MemorySegment o, long from, long to) {
        int l = S.length();
        long i = from;
        for (; i <= to - l; i += l) erf(FloatVector.fromMemorySegment(S, x, i * 4, ORDER)).intoMemorySegment(o, i * 4, ORDER);
        if (i < to) {
            var m = S.indexInRange(i, to);
            erf(FloatVector.fromMemorySegment(S, x, i * 4, ORDER, m)).intoMemorySegment(o, i * 4, ORDER, m);
        }
    }
}
