package dev.sluice.kernels.cpu.elementwise;

import static dev.sluice.kernels.cpu.core.ElementwiseNode.floats;
import static dev.sluice.kernels.cpu.core.ElementwiseNode.ofLong;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.ElementwiseNode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The opset 18 bitwise ops, BitShift on signed integers (opset 28), Swish and SwiGLU, each against a plain
 * reference written here: Java's own operators on the element width, and the formulas in double.
 */
class BitAndGateOpsTest {
    private static final DType[] INTEGERS = {DType.INT8, DType.UINT8, DType.INT16, DType.UINT16, DType.INT32,
        DType.UINT32, DType.INT64, DType.UINT64};

    private static long[] s(long... d) { return d; }

    /** v wrapped to t's width, read back as t reads it (sign- or zero-extended). */
    private static long wrap(DType t, long v) {
        Tensor one = Tensor.allocate(t, Shape.of(1));
        one.setLong(0, v);
        return one.getLong(0);
    }

    private static int bits(DType t) { return 8 * t.byteSize(); }

    @Test
    void bitwiseOpsOnEveryIntegerTypeWithBroadcast() {
        SplittableRandom r = new SplittableRandom(1);
        for (DType t : INTEGERS) {
            Tensor a = Tensor.allocate(t, Shape.of(3, 4)), b = Tensor.allocate(t, Shape.of(4));
            for (int i = 0; i < 12; i++) a.setLong(i, r.nextLong());
            for (int i = 0; i < 4; i++) b.setLong(i, r.nextLong());
            Tensor and = ElementwiseNode.of("BitwiseAnd").in(a).in(b).run();
            Tensor or = ElementwiseNode.of("BitwiseOr").in(a).in(b).run();
            Tensor xor = ElementwiseNode.of("BitwiseXor").in(a).in(b).run();
            Tensor not = ElementwiseNode.of("BitwiseNot").in(a).run();
            for (int i = 0; i < 12; i++) {
                long x = a.getLong(i), y = b.getLong(i % 4);
                assertEquals(wrap(t, x & y), and.getLong(i), t + " and");
                assertEquals(wrap(t, x | y), or.getLong(i), t + " or");
                assertEquals(wrap(t, x ^ y), xor.getLong(i), t + " xor");
                assertEquals(wrap(t, ~x), not.getLong(i), t + " not");
            }
            assertEquals(t, not.dtype());
        }
    }

    @Test
    void bitwiseOpsRefuseFloatsAndBools() {
        assertThrows(KernelException.class, () -> ElementwiseNode.of("BitwiseAnd").in(floats(1)).in(floats(1)).run());
        assertThrows(KernelException.class, () -> ElementwiseNode.of("BitwiseNot").in(floats(1)).run());
        Tensor bool = Tensor.ofBooleans(Shape.of(1), true);
        assertThrows(KernelException.class, () -> ElementwiseNode.of("BitwiseXor").in(bool).in(bool).run());
    }

    /**
     * The opset 28 rule: a shift by a negative count or by the width or more leaves the sign fill alone (-1 for a
     * right shift of a negative value, else 0); otherwise left shifts drop bits past the sign bit and right shifts
     * of signed values are arithmetic.
     */
    @Test
    void bitShiftOnSignedIntegersFollowsOpset28() {
        long[] values = {1, -1, 5, -5, 0x40, -128, 127, 0x7fff_ffffL, Long.MIN_VALUE, 3};
        long[] counts = {0, 1, 3, 7, 8, 15, 16, 31, 32, 63, 64, 100, -1, -8};
        for (DType t : new DType[] {DType.INT8, DType.INT16, DType.INT32, DType.INT64}) {
            int w = bits(t);
            Tensor x = Tensor.allocate(t, Shape.of(values.length, 1)), n = Tensor.allocate(t, Shape.of(counts.length));
            for (int i = 0; i < values.length; i++) x.setLong(i, values[i]);
            for (int j = 0; j < counts.length; j++) n.setLong(j, counts[j]);
            Tensor left = ElementwiseNode.of("BitShift").opset(28).attr("direction", "LEFT").in(x).in(n).run();
            Tensor right = ElementwiseNode.of("BitShift").opset(28).attr("direction", "RIGHT").in(x).in(n).run();
            for (int i = 0; i < values.length; i++) {
                long v = x.getLong(i);
                for (int j = 0; j < counts.length; j++) {
                    long c = n.getLong(j);
                    boolean out = c < 0 || c >= w;
                    long wantLeft = out ? 0 : wrap(t, v << c);
                    long wantRight = out ? (v < 0 ? -1 : 0) : v >> c;
                    String where = t + " " + v + " by " + c;
                    assertEquals(wantLeft, left.getLong(i * counts.length + j), where + " left");
                    assertEquals(wantRight, right.getLong(i * counts.length + j), where + " right");
                }
            }
        }
    }

    @Test
    void bitShiftOnUnsignedWiderThanTheWidthIsZero() {
        for (DType t : new DType[] {DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64}) {
            Tensor x = ofLong(t, s(2), -1, 1), n = ofLong(t, s(2), bits(t), bits(t) - 1);
            Tensor left = ElementwiseNode.of("BitShift").opset(28).attr("direction", "LEFT").in(x).in(n).run();
            Tensor right = ElementwiseNode.of("BitShift").opset(28).attr("direction", "RIGHT").in(x).in(n).run();
            assertEquals(0, left.getLong(0), t + " left by the width");
            assertEquals(0, right.getLong(0), t + " right by the width");
            assertEquals(wrap(t, 1L << (bits(t) - 1)), left.getLong(1), t + " left by width - 1");
            assertEquals(0, right.getLong(1), t + " 1 right by width - 1");
        }
    }

    @Test
    void bitShiftOnSignedBeforeOpset28IsRefusedByName() {
        Tensor x = ofLong(DType.INT32, s(1), 1);
        KernelException e = assertThrows(KernelException.class,
            () -> ElementwiseNode.of("BitShift").opset(18).attr("direction", "LEFT").in(x).in(x).run());
        assertTrue(e.getMessage().contains("opset 28"), e.getMessage());
    }

    @Test
    void swishAndSwiGluMatchTheirFormulas() {
        SplittableRandom r = new SplittableRandom(2);
        int n = 257;
        float[] a = new float[n], b = new float[n];
        for (int i = 0; i < n; i++) { a[i] = (float) (r.nextDouble() * 40 - 20); b[i] = (float) (r.nextDouble() * 4 - 2); }
        for (float alpha : new float[] {1f, 0.5f, 1.702f}) {
            Tensor swish = ElementwiseNode.of("Swish").attr("alpha", alpha).in(floats(a)).run();
            Tensor glu = ElementwiseNode.of("SwiGLU").attr("alpha", alpha).in(floats(a)).in(floats(b)).run();
            for (int i = 0; i < n; i++) {
                double g = a[i] / (1 + Math.exp(-alpha * (double) a[i]));
                assertEquals(g, swish.getDouble(i), 1e-6 * Math.max(1, Math.abs(g)), "swish " + a[i]);
                assertEquals(g * b[i], glu.getDouble(i), 1e-6 * Math.max(1, Math.abs(g * b[i])), "swiglu " + a[i]);
            }
        }
        // the default alpha is 1
        assertEquals(3 / (1 + Math.exp(-3)), ElementwiseNode.of("Swish").in(floats(3)).run().getDouble(0), 1e-6);
    }

    @Test
    void swiGluRefusesBroadcastAndMixedTypes() {
        assertThrows(KernelException.class, () -> ElementwiseNode.of("SwiGLU").in(floats(1, 2)).in(floats(1)).run());
        Tensor d = ElementwiseNode.of(DType.FLOAT64, s(2), 1, 2);
        assertThrows(KernelException.class, () -> ElementwiseNode.of("SwiGLU").in(floats(1, 2)).in(d).run());
    }
}
