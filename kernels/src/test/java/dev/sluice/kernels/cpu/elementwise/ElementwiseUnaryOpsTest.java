package dev.sluice.kernels.cpu.elementwise;

import static dev.sluice.kernels.cpu.core.ElementwiseNode.floats;
import static dev.sluice.kernels.cpu.core.ElementwiseNode.ofLong;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.ElementwiseMath;
import dev.sluice.kernels.cpu.core.ElementwiseNode;
import org.junit.jupiter.api.Test;

class ElementwiseUnaryOpsTest {
    private static float[] run(String op, float... x) { return ElementwiseNode.of(op).in(floats(x)).run().toFloatArray(); }

    @Test
    void erfMatchesTabulatedValues() {
        // reference values of erf from standard tables (Abramowitz & Stegun, table 7.1, and its extensions)
        double[][] table = {
            {0.1, 0.1124629160182849}, {0.5, 0.5204998778130465}, {1.0, 0.8427007929497149},
            {2.0, 0.9953222650189527}, {2.5, 0.9995930479825550}, {3.0, 0.9999779095030014},
            {3.5, 0.9999992569016276}, {5.0, 0.9999999999984626}, {1e-10, 1.1283791670955126e-10},
        };
        for (double[] row : table) {
            assertEquals(row[1], ElementwiseMath.erf(row[0]), 1e-15 * Math.max(row[1], 1e-10) + 1e-25, "erf(" + row[0] + ")");
            assertEquals(-row[1], ElementwiseMath.erf(-row[0]), 1e-15 * Math.max(row[1], 1e-10) + 1e-25);
        }
        assertEquals(1.0, ElementwiseMath.erf(30));
        assertEquals(0.0, ElementwiseMath.erf(0));
    }

    @Test
    void roundHalvesToEven() {
        assertArrayEquals(new float[] {0, 2, 2, -0f, -2, 1}, run("Round", 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 0.6f));
    }

    @Test
    void activationsAtHandComputedPoints() {
        // Relu(x) = max(0, x); LeakyRelu default alpha 0.01
        assertArrayEquals(new float[] {0, 0, 2}, run("Relu", -1, 0, 2));
        assertArrayEquals(new float[] {-0.01f, 2}, run("LeakyRelu", -1, 2));
        // Sigmoid(0) = 1/2; sigmoid(-1000) underflows to 0 without NaN
        assertArrayEquals(new float[] {0.5f, 0}, run("Sigmoid", 0, -1000));
        // HardSigmoid = max(0, min(1, 0.2x + 0.5))
        assertArrayEquals(new float[] {0, 0.5f, 0.7f, 1}, run("HardSigmoid", -3, 0, 1, 3), 1e-7f);
        // HardSwish = x * max(0, min(1, x/6 + 1/2))
        assertArrayEquals(new float[] {0, 0, 2f / 3f, 4}, run("HardSwish", -3, 0, 1, 4), 1e-6f);
        // Softsign = x / (1 + |x|)
        assertArrayEquals(new float[] {-0.5f, 0.75f}, run("Softsign", -1, 3));
        // Softplus(0) = ln 2; for large x it is x itself
        assertArrayEquals(new float[] {(float) Math.log(2), 1000}, run("Softplus", 0, 1000));
        // ThresholdedRelu default alpha 1: x if x > 1
        assertArrayEquals(new float[] {0, 0, 2}, run("ThresholdedRelu", 0.5f, 1, 2));
        // Elu default alpha 1: e^x - 1 below 0
        assertArrayEquals(new float[] {(float) (Math.exp(-1) - 1), 2}, run("Elu", -1, 2), 1e-7f);
        // Shrink default lambd 0.5, bias 0
        assertArrayEquals(new float[] {-1, 0, 0, 2}, run("Shrink", -1, -0.5f, 0.4f, 2));
        // Mish(0) = 0; Mish(x) = x tanh(ln(1 + e^x))
        assertArrayEquals(new float[] {0, (float) (1 * Math.tanh(Math.log(1 + Math.E)))}, run("Mish", 0, 1), 1e-7f);
    }

    @Test
    void seluAndCeluUseTheirAttributes() {
        Tensor r = ElementwiseNode.of("Selu").attr("alpha", 2f).attr("gamma", 3f).in(floats(-1, 1)).run();
        assertArrayEquals(new float[] {(float) (3 * 2 * (Math.exp(-1) - 1)), 3}, r.toFloatArray(), 1e-6f);
        Tensor c = ElementwiseNode.of("Celu").attr("alpha", 2f).in(floats(-2, 3)).run();
        // Celu = max(0,x) + min(0, alpha (e^(x/alpha) - 1))
        assertArrayEquals(new float[] {(float) (2 * (Math.exp(-1) - 1)), 3}, c.toFloatArray(), 1e-6f);
    }

    @Test
    void geluExactAndTanhForms() {
        // Gelu(1) = (1 + erf(1/sqrt 2)) / 2 = (1 + 0.6826894921370859) / 2
        Tensor r = ElementwiseNode.of("Gelu").opset(20).in(floats(1, 0)).run();
        assertArrayEquals(new float[] {0.8413447460685429f, 0}, r.toFloatArray(), 1e-7f);
        Tensor t = ElementwiseNode.of("Gelu").opset(20).attr("approximate", "tanh").in(floats(1)).run();
        double expect = 0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715));
        assertEquals((float) expect, t.getFloat(0), 1e-7f);
    }

    @Test
    void integerUnaryOps() {
        Tensor x = ofLong(DType.INT32, new long[] {4}, -5, 0, 7, Integer.MIN_VALUE);
        assertArrayEquals(new long[] {5, 0, 7, Integer.MIN_VALUE}, ElementwiseNode.of("Abs").in(x).run().toLongArray());
        assertArrayEquals(new long[] {5, 0, -7, Integer.MIN_VALUE}, ElementwiseNode.of("Neg").in(x).run().toLongArray());
        assertArrayEquals(new long[] {-1, 0, 1, -1}, ElementwiseNode.of("Sign").in(x).run().toLongArray());
        assertArrayEquals(new long[] {0, 0, 7, 0}, ElementwiseNode.of("Relu").in(x).run().toLongArray());
        Tensor u = ofLong(DType.UINT64, new long[] {2}, -1L, 0);
        assertArrayEquals(new long[] {-1L, 0}, ElementwiseNode.of("Abs").in(u).run().toLongArray());
        assertArrayEquals(new long[] {1, 0}, ElementwiseNode.of("Sign").in(u).run().toLongArray());
        assertThrows(KernelException.class, () -> ElementwiseNode.of("Exp").in(x).run());
    }

    @Test
    void nanAndInfDetection() {
        Tensor x = floats(Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1);
        assertArrayEquals(new long[] {1, 0, 0, 0}, ElementwiseNode.of("IsNaN").in(x).run().toLongArray());
        assertArrayEquals(new long[] {0, 1, 1, 0}, ElementwiseNode.of("IsInf").in(x).run().toLongArray());
        assertArrayEquals(new long[] {0, 0, 1, 0},
            ElementwiseNode.of("IsInf").attr("detect_positive", 0L).in(x).run().toLongArray());
        assertEquals(DType.BOOL, ElementwiseNode.of("IsNaN").in(x).run().dtype());
    }

    @Test
    void inverseHyperbolicsAreAccurateNearZero() {
        double tiny = 1e-9;
        assertEquals(tiny, ElementwiseMath.asinh(tiny), 1e-24);
        assertEquals(-tiny, ElementwiseMath.asinh(-tiny), 1e-24);
        assertEquals(tiny, ElementwiseMath.atanh(tiny), 1e-24);
        // acosh(cosh 2) = 2, asinh(sinh 3) = 3
        assertEquals(2.0, ElementwiseMath.acosh(Math.cosh(2)), 1e-14);
        assertEquals(3.0, ElementwiseMath.asinh(Math.sinh(3)), 1e-14);
    }
}
