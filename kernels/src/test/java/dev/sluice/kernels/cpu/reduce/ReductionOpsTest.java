package dev.sluice.kernels.cpu.reduce;

import static dev.sluice.kernels.cpu.core.ElementwiseNode.floats;
import static dev.sluice.kernels.cpu.core.ElementwiseNode.longs;
import static dev.sluice.kernels.cpu.core.ElementwiseNode.ofLong;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.ElementwiseNode;
import org.junit.jupiter.api.Test;

class ReductionOpsTest {
    private static long[] s(long... d) { return d; }

    /** [[1,2,3],[4,5,6]] */
    private static Tensor m23() { return floats(s(2, 3), 1, 2, 3, 4, 5, 6); }

    @Test
    void reduceSumAxesAsInputFromOpset13() {
        Tensor r = ElementwiseNode.of("ReduceSum").opset(13).attr("keepdims", 0L).in(m23()).in(longs(1)).run();
        assertEquals(Shape.of(2), r.shape());
        assertArrayEquals(new float[] {6, 15}, r.toFloatArray());
        Tensor k = ElementwiseNode.of("ReduceSum").opset(13).in(m23()).in(longs(-2)).run();
        assertEquals(Shape.of(1, 3), k.shape());
        assertArrayEquals(new float[] {5, 7, 9}, k.toFloatArray());
        Tensor all = ElementwiseNode.of("ReduceSum").opset(13).in(m23()).run();
        assertEquals(Shape.of(1, 1), all.shape());
        assertEquals(21, all.getFloat(0));
    }

    @Test
    void reduceSumAxesAttributeBeforeOpset13() {
        Tensor r = ElementwiseNode.of("ReduceSum").opset(11).attrs("axes", 0).attr("keepdims", 0L).in(m23()).run();
        assertArrayEquals(new float[] {5, 7, 9}, r.toFloatArray());
    }

    @Test
    void noopWithEmptyAxesKeepsTheInput() {
        Tensor r = ElementwiseNode.of("ReduceSum").opset(13).attr("noop_with_empty_axes", 1L)
            .in(m23()).in(Tensor.ofLongs(Shape.of(0))).run();
        assertEquals(Shape.of(2, 3), r.shape());
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, r.toFloatArray());
        Tensor sq = ElementwiseNode.of("ReduceSumSquare").opset(18).attr("noop_with_empty_axes", 1L).in(m23()).run();
        assertArrayEquals(new float[] {1, 4, 9, 16, 25, 36}, sq.toFloatArray());
    }

    @Test
    void everyReduceKindOverRows() {
        // axis 1 of [[1,2,3],[4,5,6]], attribute form (opset 13)
        assertReduces("ReduceMean", 2, 5);
        assertReduces("ReduceMax", 3, 6);
        assertReduces("ReduceMin", 1, 4);
        assertReduces("ReduceProd", 6, 120);
        assertReduces("ReduceL1", 6, 15);
        assertReduces("ReduceL2", (float) Math.sqrt(14), (float) Math.sqrt(77));
        assertReduces("ReduceSumSquare", 14, 77);
        assertReduces("ReduceLogSum", (float) Math.log(6), (float) Math.log(15));
        assertReduces("ReduceLogSumExp", (float) Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)),
            (float) Math.log(Math.exp(4) + Math.exp(5) + Math.exp(6)));
    }

    private static void assertReduces(String op, float row0, float row1) {
        Tensor r = ElementwiseNode.of(op).opset(13).attrs("axes", 1).attr("keepdims", 0L).in(m23()).run();
        assertArrayEquals(new float[] {row0, row1}, r.toFloatArray(), 1e-5f, op);
        Tensor i = ElementwiseNode.of(op).opset(18).attr("keepdims", 0L).in(m23()).in(longs(1)).run();
        assertArrayEquals(new float[] {row0, row1}, i.toFloatArray(), 1e-5f, op + " opset 18");
    }

    /**
     * ReduceMax and ReduceMin over contiguous runs (the vector path) and across rows, on random shapes with runs
     * shorter and longer than a vector, NaN, infinities and signed zeros, against a plain loop of Math.max / Math.min.
     */
    @Test
    void maxAndMinMatchAPlainLoopOnRandomShapes() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(11);
        long[][] shapes = {{3100}, {97, 32}, {5, 1}, {3, 15}, {2, 7, 33}, {4, 16}, {1, 1, 97, 257}};
        for (long[] sh : shapes) {
            int n = 1;
            for (long d : sh) n *= (int) d;
            for (int variant = 0; variant < 4; variant++) {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 200 - 100);
                if (variant == 1 && n > 3) { v[n / 2] = Float.NaN; v[0] = Float.POSITIVE_INFINITY; }
                if (variant == 2) for (int i = 0; i < n; i++) v[i] = rnd.nextBoolean() ? 0f : -0f;
                if (variant == 3 && n > 1) v[n - 1] = Float.NEGATIVE_INFINITY;
                int inner = (int) sh[sh.length - 1], outer = n / inner;
                for (String op : new String[] {"ReduceMax", "ReduceMin"}) {
                    boolean max = op.equals("ReduceMax");
                    // the last axis: one contiguous run per row
                    Tensor r = ElementwiseNode.of(op).opset(13).attrs("axes", sh.length - 1).attr("keepdims", 0L).in(floats(sh, v)).run();
                    for (int o = 0; o < outer; o++) {
                        float want = max ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY;
                        for (int j = 0; j < inner; j++) want = max ? Math.max(want, v[o * inner + j]) : Math.min(want, v[o * inner + j]);
                        assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(r.getFloat(o)), op + " " + java.util.Arrays.toString(sh) + " row " + o);
                    }
                    // every axis at once, and the first axis (across rows)
                    Tensor all = ElementwiseNode.of(op).opset(13).attr("keepdims", 0L).in(floats(sh, v)).run();
                    float want = max ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY;
                    for (float x : v) want = max ? Math.max(want, x) : Math.min(want, x);
                    assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(all.getFloat(0)), op + " all " + java.util.Arrays.toString(sh));
                    if (sh.length > 1) {
                        Tensor first = ElementwiseNode.of(op).opset(13).attrs("axes", 0).attr("keepdims", 0L).in(floats(sh, v)).run();
                        int rest = (int) (n / sh[0]);
                        for (int q = 0; q < rest; q++) {
                            float w = max ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY;
                            for (int i = 0; i < sh[0]; i++) w = max ? Math.max(w, v[i * rest + q]) : Math.min(w, v[i * rest + q]);
                            assertEquals(Float.floatToIntBits(w), Float.floatToIntBits(first.getFloat(q)), op + " axis 0 " + java.util.Arrays.toString(sh) + " at " + q);
                        }
                    }
                }
            }
        }
    }

    /**
     * ReduceSum and ReduceMean over contiguous runs (the vector path: runs shorter and longer than one and two
     * vectors, with tails) and across rows, against the exact sum (BigDecimal) rounded once: the double sums may
     * differ from it by their own rounding, far below a float's, so the float result is within one ulp of it.
     * Infinities and NaN propagate as in a plain loop.
     */
    @Test
    void sumAndMeanMatchTheExactSumOnRandomShapes() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(12);
        long[][] shapes = {{3100}, {97, 32}, {5, 1}, {3, 15}, {2, 7, 33}, {4, 16}, {1, 1, 97, 257}, {3, 48}, {2, 49}};
        for (long[] sh : shapes) {
            int n = 1;
            for (long d : sh) n *= (int) d;
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 200 - 100) * (rnd.nextInt(4) == 0 ? 1e-3f : 1f);
            int inner = (int) sh[sh.length - 1], outer = n / inner;
            for (String op : new String[] {"ReduceSum", "ReduceMean"}) {
                boolean mean = op.equals("ReduceMean");
                // axes as an attribute: ReduceSum takes it up to opset 11, ReduceMean up to 17
                Tensor r = ElementwiseNode.of(op).opset(mean ? 13 : 11).attrs("axes", sh.length - 1).attr("keepdims", 0L).in(floats(sh, v)).run();
                for (int o = 0; o < outer; o++) {
                    java.math.BigDecimal e = java.math.BigDecimal.ZERO;
                    for (int j = 0; j < inner; j++) e = e.add(new java.math.BigDecimal(v[o * inner + j]));
                    float want = (float) (mean ? e.doubleValue() / inner : e.doubleValue());
                    assertEquals(want, r.getFloat(o), Math.ulp(want), op + " " + java.util.Arrays.toString(sh) + " row " + o);
                }
                Tensor all = ElementwiseNode.of(op).opset(13).attr("keepdims", 0L).in(floats(sh, v)).run();
                java.math.BigDecimal e = java.math.BigDecimal.ZERO;
                for (float x : v) e = e.add(new java.math.BigDecimal(x));
                float want = (float) (mean ? e.doubleValue() / n : e.doubleValue());
                assertEquals(want, all.getFloat(0), Math.ulp(want), op + " all " + java.util.Arrays.toString(sh));
            }
        }
        float[] special = new float[40];
        java.util.Arrays.fill(special, 1f);
        special[3] = Float.POSITIVE_INFINITY;
        assertEquals(Float.POSITIVE_INFINITY, ElementwiseNode.of("ReduceSum").opset(13).attr("keepdims", 0L).in(floats(s(40), special)).run().getFloat(0));
        special[30] = Float.NEGATIVE_INFINITY;
        assertEquals(Float.NaN, ElementwiseNode.of("ReduceMean").opset(13).attr("keepdims", 0L).in(floats(s(40), special)).run().getFloat(0));
    }

    @Test
    void logSumExpDoesNotOverflow() {
        Tensor r = ElementwiseNode.of("ReduceLogSumExp").opset(13).attr("keepdims", 0L).in(floats(1000, 1000)).run();
        assertEquals(1000 + Math.log(2), r.getFloat(0), 1e-3);
    }

    @Test
    void integerReductionsAreExact() {
        long big = (1L << 53) + 1; // not representable in double
        Tensor x = ofLong(DType.INT64, s(2), big, 1);
        assertEquals(big, ElementwiseNode.of("ReduceMax").opset(13).attr("keepdims", 0L).in(x).run().getLong(0));
        assertEquals(big + 1, ElementwiseNode.of("ReduceSum").opset(13).attr("keepdims", 0L).in(x).run().getLong(0));
        Tensor m = ElementwiseNode.of("ReduceMean").opset(13).attr("keepdims", 0L).in(ofLong(DType.INT32, s(2), 3, 4)).run();
        assertEquals(3, m.getLong(0)); // 3.5 truncated, as a cast of the float mean gives
    }

    @Test
    void reduceInferenceWithUnknownAxes() {
        TensorType in = new TensorType(DType.FLOAT32, SymShape.of(new Dim.Symbol("n"), Dim.of(3)));
        TensorType keep = ElementwiseNode.of("ReduceSum").opset(13).in(in).in(new TensorType(DType.INT64, SymShape.ofKnown(1)))
            .infer().get(0);
        assertEquals(SymShape.unknownDims(2), keep.shape());
        TensorType known = ElementwiseNode.of("ReduceMax").opset(13).attrs("axes", 1).attr("keepdims", 0L).in(in).infer().get(0);
        assertEquals(SymShape.of(new Dim.Symbol("n")), known.shape());
    }

    @Test
    void argMaxAndArgMinWithTies() {
        Tensor x = floats(s(2, 3), 1, 3, 3, 2, 0, 0);
        assertArrayEquals(new long[] {1, 0}, ElementwiseNode.of("ArgMax").attr("axis", 1L).attr("keepdims", 0L).in(x).run().toLongArray());
        assertArrayEquals(new long[] {2, 0},
            ElementwiseNode.of("ArgMax").attr("axis", 1L).attr("keepdims", 0L).attr("select_last_index", 1L).in(x).run().toLongArray());
        Tensor mn = ElementwiseNode.of("ArgMin").attr("axis", -1L).attr("select_last_index", 1L).in(x).run();
        assertEquals(Shape.of(2, 1), mn.shape());
        assertArrayEquals(new long[] {0, 2}, mn.toLongArray());
        Tensor col = ElementwiseNode.of("ArgMax").in(x).run();
        assertEquals(Shape.of(1, 3), col.shape());
        assertArrayEquals(new long[] {1, 0, 0}, col.toLongArray());
    }

    @Test
    void cumSumModes() {
        Tensor x = floats(1, 2, 3);
        Tensor axis = ofLong(DType.INT32, s(), 0);
        assertArrayEquals(new float[] {1, 3, 6}, ElementwiseNode.of("CumSum").in(x).in(axis).run().toFloatArray());
        assertArrayEquals(new float[] {0, 1, 3}, ElementwiseNode.of("CumSum").attr("exclusive", 1L).in(x).in(axis).run().toFloatArray());
        assertArrayEquals(new float[] {6, 5, 3}, ElementwiseNode.of("CumSum").attr("reverse", 1L).in(x).in(axis).run().toFloatArray());
        assertArrayEquals(new float[] {5, 3, 0},
            ElementwiseNode.of("CumSum").attr("reverse", 1L).attr("exclusive", 1L).in(x).in(axis).run().toFloatArray());
        Tensor m = ElementwiseNode.of("CumSum").in(ofLong(DType.INT64, s(2, 2), 1, 2, 3, 4)).in(longs(1)).run();
        assertArrayEquals(new long[] {1, 3, 3, 7}, m.toLongArray());
    }

    /** CumProd against a brute-force product of the elements before (or after) each one, on every axis and mode. */
    @Test
    void cumProdMatchesBruteForceOnEveryAxisAndMode() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(3);
        long[] dims = {2, 3, 4};
        Tensor x = Tensor.allocate(DType.FLOAT64, Shape.of(dims));
        Tensor xi = Tensor.allocate(DType.INT32, Shape.of(dims));
        for (int i = 0; i < 24; i++) { x.setDouble(i, r.nextDouble() * 4 - 2); xi.setLong(i, r.nextInt(7) - 3); }
        for (int axis = -3; axis < 3; axis++) {
            int ax = axis < 0 ? axis + 3 : axis;
            long stride = ax == 0 ? 12 : ax == 1 ? 4 : 1;
            for (int mode = 0; mode < 4; mode++) {
                boolean exclusive = (mode & 1) != 0, reverse = (mode & 2) != 0;
                Tensor axisT = ofLong(DType.INT64, s(), axis);
                Tensor y = ElementwiseNode.of("CumProd").attr("exclusive", exclusive ? 1L : 0L).attr("reverse", reverse ? 1L : 0L)
                    .in(x).in(axisT).run();
                Tensor yi = ElementwiseNode.of("CumProd").attr("exclusive", exclusive ? 1L : 0L).attr("reverse", reverse ? 1L : 0L)
                    .in(xi).in(axisT).run();
                for (int i = 0; i < 24; i++) {
                    long pos = i / stride % dims[ax];
                    double want = 1;
                    long wantInt = 1;
                    for (long k = 0; k < dims[ax]; k++) {
                        boolean take = reverse ? (exclusive ? k > pos : k >= pos) : (exclusive ? k < pos : k <= pos);
                        if (take) {
                            long j = i + (k - pos) * stride;
                            want *= x.getDouble(j);
                            wantInt *= xi.getLong(j);
                        }
                    }
                    String where = "axis " + axis + " exclusive " + exclusive + " reverse " + reverse + " at " + i;
                    assertEquals(want, y.getDouble(i), 1e-12 * Math.max(1, Math.abs(want)), where);
                    assertEquals(wantInt, yi.getLong(i), where);
                }
            }
        }
    }

    /** Integer products wrap at the element width, as C's do; a scalar input and a vector axis are refused. */
    @Test
    void cumProdWrapsIntegersAndRefusesBadAxes() {
        Tensor big = ofLong(DType.INT32, s(3), 65536, 65536, 3);
        assertArrayEquals(new long[] {65536, 0, 0}, ElementwiseNode.of("CumProd").in(big).in(longs(0)).run().toLongArray());
        Tensor u8 = ofLong(DType.UINT8, s(2), 16, 17);
        assertArrayEquals(new long[] {16, 16}, ElementwiseNode.of("CumProd").in(u8).in(longs(0)).run().toLongArray()); // 272 mod 256
        assertThrows(KernelException.class, () -> ElementwiseNode.of("CumProd").in(floats(1, 2)).in(longs(0, 0)).run());
        assertThrows(KernelException.class, () -> ElementwiseNode.of("CumProd").in(floats(s(), 2)).in(longs(0)).run());
    }

    @Test
    void hardmaxOldCoercionAndNewAxis() {
        Tensor x = floats(s(1, 2, 2), 1, 3, 2, 0);
        // opset 11, axis 1: rows are [1,3,2,0] flattened, one 1 at the first maximum
        assertArrayEquals(new float[] {0, 1, 0, 0}, ElementwiseNode.of("Hardmax").opset(11).in(x).run().toFloatArray());
        // opset 13, axis -1: each innermost pair separately
        assertArrayEquals(new float[] {0, 1, 1, 0}, ElementwiseNode.of("Hardmax").opset(13).in(x).run().toFloatArray());
        // ties: the first wins
        assertArrayEquals(new float[] {1, 0}, ElementwiseNode.of("Hardmax").opset(13).in(floats(2, 2)).run().toFloatArray());
    }

    @Test
    void topKIsStableOnTies() {
        Tensor x = floats(3, 1, 3, 2);
        Tensor[] r = ElementwiseNode.of("TopK").opset(11).outputs(2).in(x).in(longs(2)).runAll();
        assertArrayEquals(new float[] {3, 3}, r[0].toFloatArray());
        assertArrayEquals(new long[] {0, 2}, r[1].toLongArray());
        Tensor[] s = ElementwiseNode.of("TopK").opset(11).attr("largest", 0L).outputs(2).in(x).in(longs(3)).runAll();
        assertArrayEquals(new float[] {1, 2, 3}, s[0].toFloatArray());
        assertArrayEquals(new long[] {1, 3, 0}, s[1].toLongArray());
        Tensor[] old = ElementwiseNode.of("TopK").opset(1).attr("k", 1L).outputs(2).in(floats(s(2, 2), 1, 2, 4, 3)).runAll();
        assertArrayEquals(new float[] {2, 4}, old[0].toFloatArray());
        assertArrayEquals(new long[] {1, 0}, old[1].toLongArray());
        assertThrows(KernelException.class,
            () -> ElementwiseNode.of("TopK").opset(11).outputs(2).in(x).in(longs(5)).runAll());
    }

    @Test
    void topKLongSliceAlongFirstAxis() {
        int n = 100;
        float[] v = new float[n * 2];
        for (int i = 0; i < n; i++) { v[2 * i] = i % 7; v[2 * i + 1] = -i; }
        Tensor[] r = ElementwiseNode.of("TopK").opset(11).attr("axis", 0L).outputs(2)
            .in(floats(s(n, 2), v)).in(longs(3)).runAll();
        assertEquals(Shape.of(3, 2), r[0].shape());
        // column 0 holds i % 7: the 6s sit at i = 6, 13, 20; column 1 holds -i: largest are 0, -1, -2
        assertArrayEquals(new float[] {6, 0, 6, -1, 6, -2}, r[0].toFloatArray());
        assertArrayEquals(new long[] {6, 0, 13, 1, 20, 2}, r[1].toLongArray());
    }

    @Test
    void topKSelectionAgreesWithAFullStableSortForAnyK() {
        java.util.Random rnd = new java.util.Random(7);
        for (int trial = 0; trial < 50; trial++) {
            int n = 1 + rnd.nextInt(200);
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = rnd.nextInt(20); // many ties
            int k = rnd.nextInt(n + 1);
            boolean largest = rnd.nextBoolean();
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) order[i] = i;
            // java.util's sort is stable, so equal values keep index order
            java.util.Arrays.sort(order, (p, q) -> largest ? Float.compare(v[q], v[p]) : Float.compare(v[p], v[q]));
            Tensor[] r = ElementwiseNode.of("TopK").opset(11).attr("largest", largest ? 1L : 0L).outputs(2)
                .in(floats(v)).in(longs(k)).runAll();
            for (int a = 0; a < k; a++) {
                assertEquals((long) order[a], r[1].getLong(a), "n=" + n + " k=" + k + " at " + a);
                assertEquals(v[order[a]], r[0].getFloat(a));
            }
        }
    }

    /**
     * A max or min over an empty set is the identity of the element type (ONNX: the least or greatest value it can
     * hold; false or true for bool), not int64's extreme stored truncated (that gave 0 for int32 and true for bool).
     */
    @Test
    void emptySetMaxAndMinAreTheElementTypesExtremes() {
        Object[][] cases = {
            {DType.BOOL, 0L, 1L}, {DType.INT8, (long) Byte.MIN_VALUE, (long) Byte.MAX_VALUE},
            {DType.INT32, (long) Integer.MIN_VALUE, (long) Integer.MAX_VALUE}, {DType.INT64, Long.MIN_VALUE, Long.MAX_VALUE},
            {DType.UINT8, 0L, 255L}, {DType.UINT32, 0L, 0xFFFF_FFFFL}};
        for (Object[] c : cases) {
            DType t = (DType) c[0];
            for (String op : new String[] {"ReduceMax", "ReduceMin"}) {
                Tensor empty = Tensor.allocate(t, Shape.of(2, 0, 3));
                Tensor r = ElementwiseNode.of(op).opset(20).in(empty).in(longs(1)).run();
                assertEquals(Shape.of(2, 1, 3), r.shape());
                long want = (long) c[op.equals("ReduceMax") ? 1 : 2];
                for (int i = 0; i < 6; i++) assertEquals(want, r.getLong(i), op + " of an empty " + t + " set");
            }
        }
    }
}
