package dev.sluice.kernels.cpu.elementwise;

import static dev.sluice.kernels.cpu.core.ElementwiseNode.floats;
import static dev.sluice.kernels.cpu.core.ElementwiseNode.longs;
import static dev.sluice.kernels.cpu.core.ElementwiseNode.of;
import static dev.sluice.kernels.cpu.core.ElementwiseNode.ofLong;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.ElementwiseNode;
import org.junit.jupiter.api.Test;

class ElementwiseOpsTest {
    private static long[] s(long... d) { return d; }

    @Test
    void addBroadcastsRowAndColumn() {
        // [2,1] + [3] -> [2,3]: out[i][j] = a[i] + b[j]
        Tensor a = floats(s(2, 1), 10, 20), b = floats(1, 2, 3);
        Tensor r = ElementwiseNode.of("Add").in(a).in(b).run();
        assertEquals(Shape.of(2, 3), r.shape());
        assertArrayEquals(new float[] {11, 12, 13, 21, 22, 23}, r.toFloatArray());
    }

    @Test
    void subWithScalarOnEitherSide() {
        Tensor x = floats(5, 7), two = floats(s(), 2);
        assertArrayEquals(new float[] {3, 5}, ElementwiseNode.of("Sub").in(x).in(two).run().toFloatArray());
        assertArrayEquals(new float[] {-3, -5}, ElementwiseNode.of("Sub").in(two).in(x).run().toFloatArray());
    }

    /**
     * Each float op of the row loops (Add, Sub, Mul, Div, Max, Min: one loop per op and layout) on each layout: both
     * operands full, b a scalar, a a scalar; bit for bit against Java's float arithmetic written out here.
     */
    @Test
    void everyFloatOpOnEveryRowLayoutMatchesPlainArithmetic() {
        int n = 37;
        float[] x = new float[n], y = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (i - 18) * 0.37f;
            y[i] = (i % 7 - 3) * 1.3f + 0.1f;
        }
        float c = -1.7f;
        for (String op : new String[] {"Add", "Sub", "Mul", "Div", "Max", "Min"}) {
            float[] both = new float[n], scalarB = new float[n], scalarA = new float[n];
            for (int i = 0; i < n; i++) {
                both[i] = plain(op, x[i], y[i]);
                scalarB[i] = plain(op, x[i], c);
                scalarA[i] = plain(op, c, y[i]);
            }
            assertArrayEquals(both, ElementwiseNode.of(op).in(floats(x)).in(floats(y)).run().toFloatArray(), op + ", both full");
            assertArrayEquals(scalarB, ElementwiseNode.of(op).in(floats(x)).in(floats(s(), c)).run().toFloatArray(), op + ", b scalar");
            assertArrayEquals(scalarA, ElementwiseNode.of(op).in(floats(s(), c)).in(floats(y)).run().toFloatArray(), op + ", a scalar");
        }
    }

    private static float plain(String op, float a, float b) {
        return switch (op) {
            case "Add" -> a + b;
            case "Sub" -> a - b;
            case "Mul" -> a * b;
            case "Div" -> a / b;
            case "Max" -> Math.max(a, b);
            case "Min" -> Math.min(a, b);
            default -> throw new IllegalArgumentException(op);
        };
    }

    @Test
    void bigSameShapeAddSplitsOverThreadsAndStaysExact() {
        int n = 300_000;
        float[] a = new float[n], b = new float[n];
        for (int i = 0; i < n; i++) { a[i] = i; b[i] = 2 * i; }
        Tensor r = ElementwiseNode.of("Add").in(floats(a)).in(floats(b)).threads(Parallelism.of(4)).run();
        float[] got = r.toFloatArray();
        for (int i = 0; i < n; i++) assertEquals(3f * i, got[i]);
    }

    @Test
    void longBroadcastRowsSplitIntoSegmentsAcrossThreads() {
        // rows longer than one segment, with the smaller operand broadcast along either axis
        int rows = 3, cols = 70_000;
        float[] a = new float[rows * cols], b = new float[cols], c = new float[rows];
        for (int i = 0; i < a.length; i++) a[i] = i;
        for (int j = 0; j < cols; j++) b[j] = -2f * j;
        for (int i = 0; i < rows; i++) c[i] = 1_000_000f * (i + 1);
        Parallelism p = Parallelism.of(3);
        float[] r1 = ElementwiseNode.of("Add").in(floats(s(rows, cols), a)).in(floats(b)).threads(p).run().toFloatArray();
        float[] r2 = ElementwiseNode.of("Sub").in(floats(s(rows, 1), c)).in(floats(s(rows, cols), a)).threads(p).run().toFloatArray();
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                int k = i * cols + j;
                assertEquals((float) k - 2f * j, r1[k]);
                assertEquals(1_000_000f * (i + 1) - k, r2[k]);
            }
        }
    }

    @Test
    void powBySquareAndSquareRootKeepsPowSemantics() {
        float ninf = Float.NEGATIVE_INFINITY;
        Tensor sq = ElementwiseNode.of("Pow").in(floats(-3, 4, -0f)).in(floats(s(), 2)).run();
        assertArrayEquals(new float[] {9, 16, 0}, sq.toFloatArray());
        Tensor rt = ElementwiseNode.of("Pow").in(floats(4, -0f, ninf, -1)).in(floats(s(), 0.5f)).run();
        assertArrayEquals(new float[] {2, 0f, Float.POSITIVE_INFINITY, Float.NaN}, rt.toFloatArray());
        assertEquals(0, Float.floatToRawIntBits(rt.getFloat(1)), "pow(-0, 0.5) is +0");
    }

    @Test
    void float16AndFloat64Arithmetic() {
        Tensor h = of(DType.FLOAT16, s(2), 1.5, -2), h2 = of(DType.FLOAT16, s(2), 0.25, 4);
        Tensor r = ElementwiseNode.of("Mul").in(h).in(h2).run();
        assertEquals(DType.FLOAT16, r.dtype());
        assertEquals(0.375, r.getDouble(0));
        assertEquals(-8, r.getDouble(1));
        Tensor d = ElementwiseNode.of("Div").in(of(DType.FLOAT64, s(1), 1)).in(of(DType.FLOAT64, s(1), 3)).run();
        assertEquals(1.0 / 3.0, d.getDouble(0));
    }

    @Test
    void integerDivisionTruncatesAndWrapsToWidth() {
        Tensor r = ElementwiseNode.of("Div").in(ofLong(DType.INT32, s(2), -7, 7)).in(ofLong(DType.INT32, s(2), 2, -2)).run();
        assertArrayEquals(new long[] {-3, -3}, r.toLongArray());
        // uint8: 200 + 100 = 300 wraps to 44
        Tensor u = ElementwiseNode.of("Add").in(ofLong(DType.UINT8, s(1), 200)).in(ofLong(DType.UINT8, s(1), 100)).run();
        assertEquals(44, u.getLong(0));
    }

    @Test
    void modFollowsDivisorSignUnlessFmod() {
        Tensor a = ofLong(DType.INT64, s(4), -4, 4, -4, 4), b = ofLong(DType.INT64, s(4), 3, -3, -3, 3);
        // Python-style: -4 mod 3 = 2, 4 mod -3 = -2, -4 mod -3 = -1, 4 mod 3 = 1
        assertArrayEquals(new long[] {2, -2, -1, 1}, ElementwiseNode.of("Mod").in(a).in(b).run().toLongArray());
        // C fmod: sign of the dividend
        assertArrayEquals(new long[] {-1, 1, -1, 1}, ElementwiseNode.of("Mod").attr("fmod", 1L).in(a).in(b).run().toLongArray());
        Tensor f = ElementwiseNode.of("Mod").attr("fmod", 1L).in(floats(-5.5f, 5.5f)).in(floats(2, -2)).run();
        assertArrayEquals(new float[] {-1.5f, 1.5f}, f.toFloatArray());
        assertThrows(KernelException.class, () -> ElementwiseNode.of("Mod").attr("fmod", 2L).in(floats(1)).in(floats(1)).run());
    }

    /** fmod=0 on floats is Python's %: the divisor's sign, with the spec's zero, infinity and NaN cases. */
    @Test
    void floatModWithoutFmodTakesTheDivisorsSign() {
        float inf = Float.POSITIVE_INFINITY, nan = Float.NaN;
        float[] a = {-5.5f, 5.5f, -5.5f, 5.5f, 0f, -0f, 0f, 6f, inf, 1f, 5f, 5f, -5f, nan, 1f};
        float[] b = {2f, -2f, -2f, 2f, -3f, 3f, 3f, 3f, 2f, 0f, inf, -inf, inf, 2f, nan};
        // Python: -5.5 % 2 = 0.5, 5.5 % -2 = -0.5, -5.5 % -2 = -1.5, 5.5 % 2 = 1.5, 0 % -3 = -0.0, -0 % 3 = 0.0,
        // 6 % 3 = 0.0, inf % 2 = nan, 1 % 0 = nan (Python raises; the spec says NaN), 5 % inf = 5, 5 % -inf = -inf,
        // -5 % inf = inf
        float[] want = {0.5f, -0.5f, -1.5f, 1.5f, -0f, 0f, 0f, 0f, nan, nan, 5f, -inf, inf, nan, nan};
        for (DType t : new DType[] {DType.FLOAT32, DType.FLOAT64, DType.FLOAT16}) {
            double[] da = new double[a.length], db = new double[b.length];
            for (int i = 0; i < a.length; i++) { da[i] = a[i]; db[i] = b[i]; }
            Tensor r = ElementwiseNode.of("Mod").in(ElementwiseNode.of(t, s(a.length), da)).in(ElementwiseNode.of(t, s(b.length), db)).run();
            for (int i = 0; i < want.length; i++) {
                // bit equality on the float value: tells -0 from 0 and NaN from numbers
                assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits((float) r.getDouble(i)), t + " element " + i + ": " + a[i] + " % " + b[i]);
            }
        }
    }

    @Test
    void powIntegerAndMixedTypes() {
        Tensor r = ElementwiseNode.of("Pow").in(ofLong(DType.INT64, s(3), 2, -3, 5)).in(ofLong(DType.INT64, s(3), 10, 3, 0)).run();
        assertArrayEquals(new long[] {1024, -27, 1}, r.toLongArray());
        // int32 base, float exponent: the result keeps the base's type
        Tensor m = ElementwiseNode.of("Pow").in(ofLong(DType.INT32, s(2), 9, 2)).in(floats(0.5f, 3f)).run();
        assertEquals(DType.INT32, m.dtype());
        assertArrayEquals(new long[] {3, 8}, m.toLongArray());
        Tensor f = ElementwiseNode.of("Pow").in(floats(2, 4)).in(ofLong(DType.INT64, s(2), 3, -1)).run();
        assertArrayEquals(new float[] {8, 0.25f}, f.toFloatArray());
    }

    @Test
    void bitShiftOnUnsigned() {
        Tensor x = ofLong(DType.UINT8, s(3), 1, 255, 16), n = ofLong(DType.UINT8, s(3), 7, 1, 2);
        assertArrayEquals(new long[] {128, 254, 64}, ElementwiseNode.of("BitShift").attr("direction", "LEFT").in(x).in(n).run().toLongArray());
        assertArrayEquals(new long[] {0, 127, 4}, ElementwiseNode.of("BitShift").attr("direction", "RIGHT").in(x).in(n).run().toLongArray());
        Tensor big = ofLong(DType.UINT64, s(1), 0x8000_0000_0000_0000L);
        Tensor r = ElementwiseNode.of("BitShift").attr("direction", "RIGHT").in(big).in(ofLong(DType.UINT64, s(1), 63)).run();
        assertEquals(1, r.getLong(0));
    }

    @Test
    void comparisonsGiveBoolAndHandleUnsignedAndNaN() {
        Tensor r = ElementwiseNode.of("Greater").in(floats(1, 2, Float.NaN)).in(floats(s(), 1.5f)).run();
        assertEquals(DType.BOOL, r.dtype());
        assertArrayEquals(new long[] {0, 1, 0}, r.toLongArray());
        Tensor big = ofLong(DType.UINT64, s(1), -1L); // 2^64 - 1
        assertEquals(1, ElementwiseNode.of("Greater").in(big).in(ofLong(DType.UINT64, s(1), 1)).run().getLong(0));
        assertArrayEquals(new long[] {1, 1, 0},
            ElementwiseNode.of("LessOrEqual").in(longs(1, 2, 3)).in(longs(2, 2, 2)).run().toLongArray());
        assertArrayEquals(new long[] {0, 1},
            ElementwiseNode.of("Equal").in(ofLong(DType.INT8, s(2), -1, 5)).in(ofLong(DType.INT8, s(2), 1, 5)).run().toLongArray());
    }

    @Test
    void logicAndNot() {
        Tensor a = ofLong(DType.BOOL, s(4), 0, 0, 1, 1), b = ofLong(DType.BOOL, s(4), 0, 1, 0, 1);
        assertArrayEquals(new long[] {0, 0, 0, 1}, ElementwiseNode.of("And").in(a).in(b).run().toLongArray());
        assertArrayEquals(new long[] {0, 1, 1, 1}, ElementwiseNode.of("Or").in(a).in(b).run().toLongArray());
        assertArrayEquals(new long[] {0, 1, 1, 0}, ElementwiseNode.of("Xor").in(a).in(b).run().toLongArray());
        assertArrayEquals(new long[] {1, 1, 0, 0}, ElementwiseNode.of("Not").in(a).run().toLongArray());
    }

    @Test
    void whereBroadcastsAllThree() {
        Tensor c = ofLong(DType.BOOL, s(2, 1), 1, 0);
        Tensor x = longs(1, 2, 3), y = ofLong(DType.INT64, s(), 9);
        Tensor r = ElementwiseNode.of("Where").in(c).in(x).in(y).run();
        assertEquals(Shape.of(2, 3), r.shape());
        assertArrayEquals(new long[] {1, 2, 3, 9, 9, 9}, r.toLongArray());
    }

    @Test
    void variadicMinMaxSumMean() {
        Tensor a = floats(1, 5, 3), b = floats(4, 2, 6), c = floats(s(), 2);
        assertArrayEquals(new float[] {4, 5, 6}, ElementwiseNode.of("Max").in(a).in(b).in(c).run().toFloatArray());
        assertArrayEquals(new float[] {1, 2, 2}, ElementwiseNode.of("Min").in(a).in(b).in(c).run().toFloatArray());
        assertArrayEquals(new float[] {7, 9, 11}, ElementwiseNode.of("Sum").in(a).in(b).in(c).run().toFloatArray());
        assertArrayEquals(new float[] {7 / 3f, 3, 11 / 3f}, ElementwiseNode.of("Mean").in(a).in(b).in(c).run().toFloatArray(), 1e-6f);
        assertArrayEquals(new float[] {1, 5, 3}, ElementwiseNode.of("Max").in(a).run().toFloatArray());
        Tensor u = ElementwiseNode.of("Max").in(ofLong(DType.UINT64, s(1), -1L)).in(ofLong(DType.UINT64, s(1), 1)).run();
        assertEquals(-1L, u.getLong(0));
    }

    @Test
    void preluSlopeBroadcastsAndLegacyChannelSlope() {
        Tensor x = floats(s(1, 2, 2), -1, 2, -3, 4);
        Tensor r = ElementwiseNode.of("PRelu").in(x).in(floats(0.5f, 0.25f)).run();
        // numpy alignment: the slope follows the last axis
        assertArrayEquals(new float[] {-0.5f, 2, -1.5f, 4}, r.toFloatArray());
        // opset 6: a 1-D slope is per channel (axis 1)
        Tensor old = ElementwiseNode.of("PRelu").opset(6).in(x).in(floats(0.5f, 0.25f)).run();
        assertArrayEquals(new float[] {-0.5f, 2, -0.75f, 4}, old.toFloatArray());
    }

    @Test
    void clipAttributesBeforeOpset11AndInputsAfter() {
        Tensor x = floats(-2, 0.5f, 3);
        Tensor r6 = ElementwiseNode.of("Clip").opset(6).attr("min", -1f).attr("max", 1f).in(x).run();
        assertArrayEquals(new float[] {-1, 0.5f, 1}, r6.toFloatArray());
        Tensor r13 = ElementwiseNode.of("Clip").opset(13).in(x).in((Tensor) null).in(floats(s(), 0)).run();
        assertArrayEquals(new float[] {-2, 0, 0}, r13.toFloatArray());
        Tensor i8 = ElementwiseNode.of("Clip").opset(13).in(ofLong(DType.INT8, s(3), -128, 0, 127))
            .in(ofLong(DType.INT8, s(), -5)).run();
        assertArrayEquals(new long[] {-5, 0, 127}, i8.toLongArray());
    }

    @Test
    void inferBroadcastsSymbolicDims() {
        TensorType a = new TensorType(DType.FLOAT32, SymShape.of(new Dim.Symbol("batch"), Dim.of(1), Dim.of(4)));
        TensorType b = new TensorType(DType.FLOAT32, SymShape.ofKnown(3, 1));
        TensorType r = ElementwiseNode.of("Add").in(a).in(b).infer().get(0);
        assertEquals(SymShape.of(new Dim.Symbol("batch"), Dim.of(3), Dim.of(4)), r.shape());
        TensorType c = ElementwiseNode.of("Less").in(a).in(TensorType.UNKNOWN).infer().get(0);
        assertEquals(DType.BOOL, c.dtype());
        assertTrue(!c.shape().hasRank());
        TensorType w = ElementwiseNode.of("Where").in(new TensorType(DType.BOOL, SymShape.ofKnown(2, 1)))
            .in(new TensorType(DType.INT32, SymShape.ofKnown(3))).in(new TensorType(DType.INT32, SymShape.ofKnown()))
            .infer().get(0);
        assertEquals(TensorType.of(DType.INT32, Shape.of(2, 3)), w);
    }

    @Test
    void inPlaceFlagsOnlyWhereOutputMatchesInput0() {
        assertTrue(ElementwiseNode.of("Add").kernel().inPlaceSafe());
        assertTrue(ElementwiseNode.of("Relu").kernel().inPlaceSafe());
        assertTrue(!ElementwiseNode.of("Equal").kernel().inPlaceSafe());
        assertTrue(!ElementwiseNode.of("IsNaN").kernel().inPlaceSafe());
        assertTrue(!ElementwiseNode.of("Where").kernel().inPlaceSafe());
    }

    @Test
    void mismatchedShapesAndTypesAreRejected() {
        assertThrows(KernelException.class, () -> ElementwiseNode.of("Add").in(floats(1, 2)).in(floats(1, 2, 3)).run());
        assertThrows(KernelException.class, () -> ElementwiseNode.of("Add").in(floats(1)).in(longs(1)).run());
    }
}
