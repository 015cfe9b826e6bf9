package dev.sluice.kernels.cpu.elementwise;

import static dev.sluice.kernels.cpu.core.ElementwiseNode.floats;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.cpu.core.ElementwiseNode;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The per-op float32 loops give, bit for bit, the ONNX definitions written out plainly here in double and
 * rounded once to float: on special values (signed zeros, infinities, NaN, subnormals, halves for Round) and
 * on a few thousand random values of several magnitudes, through the kernel as a node runs it.
 */
class ScalarUnaryLoopsTest {
    private static float[] inputs() {
        SplittableRandom r = new SplittableRandom(13);
        float[] special = {0f, -0f, 1f, -1f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL,
            Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 88.7f, -103.9f, 3f, -3f, 6f};
        float[] x = new float[special.length + 3000];
        System.arraycopy(special, 0, x, 0, special.length);
        for (int i = special.length; i < x.length; i++) x[i] = (float) ((r.nextDouble() * 2 - 1) * Math.pow(10, r.nextInt(-3, 4)));
        return x;
    }

    private static void check(String op, ElementwiseNode node, DoubleUnaryOperator definition) {
        float[] x = inputs();
        float[] got = node.in(floats(x)).run().toFloatArray();
        for (int i = 0; i < x.length; i++) {
            float want = (float) definition.applyAsDouble(x[i]);
            assertEquals(0, Float.compare(want, got[i]), op + "(" + x[i] + "): want " + want + ", got " + got[i]);
        }
    }

    private static void check(String op, DoubleUnaryOperator definition) { check(op, ElementwiseNode.of(op), definition); }

    @Test
    void parameterlessOpsMatchTheirDefinitions() {
        check("Sqrt", Math::sqrt);
        check("Exp", Math::exp);
        check("Log", Math::log);
        check("Reciprocal", v -> 1.0 / v);
        check("Floor", Math::floor);
        check("Ceil", Math::ceil);
        check("Round", Math::rint); // halves to even
        check("Neg", v -> -v);
        check("Abs", Math::abs);
        check("Softplus", v -> v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
        check("HardSwish", v -> v * Math.max(0, Math.min(1, v / 6 + 0.5)));
    }

    @Test
    void opsWithAttributesUseThem() {
        check("LeakyRelu", v -> v < 0 ? 0.01f * v : v); // default alpha 0.01 (a float attribute)
        check("LeakyRelu", ElementwiseNode.of("LeakyRelu").attr("alpha", 0.2f), v -> v < 0 ? 0.2f * v : v);
        check("HardSigmoid", v -> Math.max(0, Math.min(1, 0.2f * v + 0.5f)));
        check("HardSigmoid", ElementwiseNode.of("HardSigmoid").attr("alpha", 0.25f).attr("beta", 0.4f),
            v -> Math.max(0, Math.min(1, 0.25f * v + 0.4f)));
    }
}
