package dev.sluice.kernels.cpu.shape;

import static dev.sluice.kernels.cpu.core.KernelHarness.f32;
import static dev.sluice.kernels.cpu.core.KernelHarness.i64;
import static dev.sluice.kernels.cpu.core.KernelHarness.iota;
import static dev.sluice.kernels.cpu.core.KernelHarness.op;
import static dev.sluice.kernels.cpu.core.KernelHarness.s;
import static dev.sluice.kernels.cpu.core.KernelHarness.typed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Strided-copy ops, with values worked out by hand from the ONNX operator definitions. */
class MovementKernelsTest {
    static final Dim BATCH = new Dim.Symbol("batch");

    @Test void transpose() {
        // [[0,1,2],[3,4,5]] transposed
        Tensor y = op("Transpose").in(iota(2, 3)).run1();
        assertEquals(Shape.of(3, 2), y.shape());
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, y.toFloatArray());
        // perm (1,0,2) on [2,2,2]: y[i][j][k] = x[j][i][k]
        Tensor z = op("Transpose").ints("perm", 1, 0, 2).in(iota(2, 2, 2)).run1();
        assertArrayEquals(new float[] {0, 1, 4, 5, 2, 3, 6, 7}, z.toFloatArray());
        TensorType t = op("Transpose").ints("perm", 2, 0, 1)
                .typeIn(TensorType.of(DType.FLOAT32, SymShape.of(BATCH, Dim.of(3), Dim.of(4)))).infer().get(0);
        assertEquals(SymShape.of(Dim.of(4), BATCH, Dim.of(3)), t.shape());
    }

    @Test void transposeOfHalfAndBoolKeepsBits() {
        Tensor h = typed(DType.FLOAT16, s(2, 2), 1.5, -2, 0.25, 8);
        assertArrayEquals(new double[] {1.5, 0.25, -2, 8}, op("Transpose").in(h).run1().toDoubleArray());
        Tensor b = typed(DType.BOOL, s(2, 2), 1, 0, 0, 1);
        Tensor bt = op("Transpose").in(typed(DType.BOOL, s(2, 2), 1, 1, 0, 0)).run1();
        assertArrayEquals(new long[] {1, 0, 1, 0}, bt.toLongArray());
        assertEquals(DType.BOOL, b.dtype());
    }

    @Test void concat() {
        Tensor y = op("Concat").attr("axis", 1L).in(iota(2, 1)).in(f32(s(2, 2), 10, 11, 12, 13)).run1();
        assertArrayEquals(new float[] {0, 10, 11, 1, 12, 13}, y.toFloatArray());
        Tensor z = op("Concat").attr("axis", -1L).in(i64(1, 2)).in(i64(s(0), new long[0])).in(i64(3)).run1();
        assertArrayEquals(new long[] {1, 2, 3}, z.toLongArray());
        TensorType t = op("Concat").attr("axis", 1L)
                .typeIn(TensorType.of(DType.FLOAT32, SymShape.of(BATCH, Dim.of(2))))
                .typeIn(TensorType.of(DType.FLOAT32, SymShape.of(BATCH, Dim.of(3)))).infer().get(0);
        assertEquals(SymShape.of(BATCH, Dim.of(5)), t.shape());
    }

    @Test void splitForms() {
        List<Tensor> eq = op("Split").opset(13).outputs(2).in(iota(4)).run();
        assertArrayEquals(new float[] {0, 1}, eq.get(0).toFloatArray());
        assertArrayEquals(new float[] {2, 3}, eq.get(1).toFloatArray());
        List<Tensor> attr = op("Split").opset(11).outputs(2).attr("axis", 1L).ints("split", 1, 2).in(iota(2, 3)).run();
        assertArrayEquals(new float[] {0, 3}, attr.get(0).toFloatArray());
        assertArrayEquals(new float[] {1, 2, 4, 5}, attr.get(1).toFloatArray());
        List<Tensor> in = op("Split").opset(13).outputs(2).in(iota(5)).in(i64(2, 3)).run();
        assertArrayEquals(new float[] {2, 3, 4}, in.get(1).toFloatArray());
        // opset 18 num_outputs with an uneven last chunk: 7 = 3 + 3 + 1
        List<Tensor> un = op("Split").opset(18).outputs(3).attr("num_outputs", 3L).in(iota(7)).run();
        assertEquals(Shape.of(3), un.get(0).shape());
        assertArrayEquals(new float[] {6}, un.get(2).toFloatArray());
    }

    @Test void sliceWithStepsAndClamping() {
        // 8, 5, 2: start 8, end 1 exclusive, step -3
        Tensor y = op("Slice").in(iota(10)).in(i64(8)).in(i64(1)).in(i64(0)).in(i64(-3)).run1();
        assertArrayEquals(new float[] {8, 5, 2}, y.toFloatArray());
        // end past the axis clamps to its size; negative start counts from the end
        Tensor z = op("Slice").in(iota(2, 5)).in(i64(-2)).in(i64(Long.MAX_VALUE)).in(i64(1)).run1();
        assertArrayEquals(new float[] {3, 4, 8, 9}, z.toFloatArray());
        // whole axis reversed: start -1, end INT64_MIN
        Tensor r = op("Slice").in(iota(4)).in(i64(-1)).in(i64(Long.MIN_VALUE)).in(i64(0)).in(i64(-1)).run1();
        assertArrayEquals(new float[] {3, 2, 1, 0}, r.toFloatArray());
        // opset 1 attributes
        Tensor a = op("Slice").opset(1).ints("starts", 1).ints("ends", 3).ints("axes", 1).in(iota(2, 4)).run1();
        assertArrayEquals(new float[] {1, 2, 5, 6}, a.toFloatArray());
        Tensor e = op("Slice").in(iota(4)).in(i64(3)).in(i64(1)).run1();
        assertEquals(Shape.of(0), e.shape());
        TensorType t = op("Slice").typeIn(TensorType.of(DType.FLOAT32, SymShape.of(BATCH, Dim.of(10))))
                .constIn(i64(2)).constIn(i64(-2)).constIn(i64(1)).infer().get(0);
        assertEquals(SymShape.of(BATCH, Dim.of(6)), t.shape());
    }

    @Test void expandAndTile() {
        Tensor y = op("Expand").in(f32(s(3, 1), 1, 2, 3)).in(i64(2, 1, 2)).run1();
        assertEquals(Shape.of(2, 3, 2), y.shape());
        assertArrayEquals(new float[] {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, y.toFloatArray());
        Tensor t = op("Tile").in(f32(s(2, 2), 1, 2, 3, 4)).in(i64(2, 2)).run1();
        assertEquals(Shape.of(4, 4), t.shape());
        assertArrayEquals(new float[] {1, 2, 1, 2, 3, 4, 3, 4, 1, 2, 1, 2, 3, 4, 3, 4}, t.toFloatArray());
    }

    @Test void padModes() {
        Tensor x = f32(s(3), 1, 2, 3);
        assertArrayEquals(new float[] {3, 2, 1, 2, 3, 2, 1},
                op("Pad").attr("mode", "reflect").in(x).in(i64(2, 2)).run1().toFloatArray());
        assertArrayEquals(new float[] {1, 1, 1, 2, 3, 3, 3},
                op("Pad").attr("mode", "edge").in(x).in(i64(2, 2)).run1().toFloatArray());
        assertArrayEquals(new float[] {2, 3, 1, 2, 3, 1, 2},
                op("Pad").opset(19).attr("mode", "wrap").in(x).in(i64(2, 2)).run1().toFloatArray());
        assertArrayEquals(new float[] {9, 1, 2, 3, 9, 9},
                op("Pad").in(x).in(i64(1, 2)).in(f32(s(), 9)).run1().toFloatArray());
        // negative pads crop
        assertArrayEquals(new float[] {2, 3, 0}, op("Pad").in(x).in(i64(-1, 1)).run1().toFloatArray());
        // 2-D edge: corners come from the corner element
        Tensor e = op("Pad").attr("mode", "edge").in(f32(s(2, 2), 1, 2, 3, 4)).in(i64(1, 0, 0, 1)).run1();
        assertArrayEquals(new float[] {1, 2, 2, 1, 2, 2, 3, 4, 4}, e.toFloatArray());
        // opset 2 attributes, constant value attribute
        Tensor a = op("Pad").opset(2).ints("pads", 0, 1, 0, 0).attr("value", 5f).in(f32(s(1, 2), 1, 2)).run1();
        assertArrayEquals(new float[] {5, 1, 2}, a.toFloatArray());
        // opset 18 axes input: pad only axis 1
        Tensor ax = op("Pad").in(f32(s(1, 2), 1, 2)).in(i64(1, 1)).absent().in(i64(-1)).run1();
        assertArrayEquals(new float[] {0, 1, 2, 0}, ax.toFloatArray());
    }

    @Test void depthToSpaceAndBack() {
        Tensor x = iota(1, 8, 1, 1);
        Tensor dcr = op("DepthToSpace").attr("blocksize", 2L).in(x).run1();
        assertEquals(Shape.of(1, 2, 2, 2), dcr.shape());
        // DCR: out[c, b1, b2] = in[(b1*2 + b2)*2 + c]
        assertArrayEquals(new float[] {0, 2, 4, 6, 1, 3, 5, 7}, dcr.toFloatArray());
        // CRD: out[c, b1, b2] = in[c*4 + b1*2 + b2]
        Tensor crd = op("DepthToSpace").attr("blocksize", 2L).attr("mode", "CRD").in(x).run1();
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 6, 7}, crd.toFloatArray());
        Tensor back = op("SpaceToDepth").attr("blocksize", 2L).in(dcr).run1();
        assertEquals(Shape.of(1, 8, 1, 1), back.shape());
        assertArrayEquals(x.toFloatArray(), back.toFloatArray());
    }

    /**
     * SpaceToDepth's CRD mode (opset 28) puts block offset (b1, b2) of channel c at output channel c*b*b + b1*b + b2,
     * written out here element by element; it is also DepthToSpace CRD's inverse. Before the mode was read, CRD
     * silently gave DCR's order.
     */
    @Test void spaceToDepthCrdMode() {
        int n = 2, c = 3, h = 4, w = 6, b = 2;
        Tensor x = iota(n, c, h, w);
        Tensor y = op("SpaceToDepth").opset(28).attr("blocksize", (long) b).attr("mode", "CRD").in(x).run1();
        assertEquals(Shape.of(n, c * b * b, h / b, w / b), y.shape());
        for (int in = 0; in < n; in++) for (int ic = 0; ic < c; ic++) for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) {
            long oc = (long) ic * b * b + (i % b) * b + (j % b);
            long at = ((in * (long) c * b * b + oc) * (h / b) + i / b) * (w / b) + j / b;
            assertEquals(x.getFloat(((in * (long) c + ic) * h + i) * w + j), y.getFloat(at), "n" + in + " c" + ic + " y" + i + " x" + j);
        }
        Tensor back = op("DepthToSpace").attr("blocksize", (long) b).attr("mode", "CRD").in(y).run1();
        assertArrayEquals(x.toFloatArray(), back.toFloatArray());
        assertThrows(KernelException.class, () -> op("SpaceToDepth").attr("blocksize", 2L).attr("mode", "XYZ").in(x).run1());
    }

    @Test void trilu() {
        Tensor x = f32(s(3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9);
        assertArrayEquals(new float[] {0, 2, 3, 0, 0, 6, 0, 0, 0}, op("Trilu").in(x).in(i64(s(), 1)).run1().toFloatArray());
        assertArrayEquals(new float[] {0, 0, 0, 4, 0, 0, 7, 8, 0},
                op("Trilu").attr("upper", 0L).in(x).in(i64(s(), -1)).run1().toFloatArray());
        assertArrayEquals(new float[] {1, 2, 3, 0, 5, 6, 0, 0, 9}, op("Trilu").in(x).run1().toFloatArray());
    }

    @Test void reverseSequence() {
        // time-major [time=3, batch=2]: batch 0 reverses 3 steps, batch 1 reverses 2
        Tensor x = f32(s(3, 2), 0, 10, 1, 11, 2, 12);
        Tensor y = op("ReverseSequence").in(x).in(i64(3, 2)).run1();
        assertArrayEquals(new float[] {2, 11, 1, 10, 0, 12}, y.toFloatArray());
        Tensor b = op("ReverseSequence").attr("batch_axis", 0L).attr("time_axis", 1L)
                .in(f32(s(2, 3), 0, 1, 2, 3, 4, 5)).in(i64(1, 3)).run1();
        assertArrayEquals(new float[] {0, 1, 2, 5, 4, 3}, b.toFloatArray());
    }

    /**
     * Transposes whose last two coalesced axes swap (the vector-gather path for 4-byte elements) on odd shapes, batches
     * in front, a band-sized source and one too wide for a band, one and three threads, float32 and int32, against
     * the index arithmetic of the definition; an int8 transpose of the same shape takes the element loop.
     */
    @Test void transposesOfTheLastTwoAxesMatchTheDefinition() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        long[][] shapes = {{257, 97}, {1, 1, 257, 97}, {3, 17, 33}, {16, 16}, {15, 17}, {2, 5, 1000}, {1, 70000, 17}, {5, 40000},
            {100, 3}, {3, 100}};
        for (long[] sh : shapes) {
            int r = sh.length;
            long[] perm = new long[r];
            for (int i = 0; i < r; i++) perm[i] = i;
            perm[r - 2] = r - 1;
            perm[r - 1] = r - 2;
            long rows = sh[r - 2], cols = sh[r - 1], outer = 1;
            for (int i = 0; i < r - 2; i++) outer *= sh[i];
            for (DType dt : new DType[] {DType.FLOAT32, DType.INT32, DType.INT8}) {
                Tensor x = Tensor.allocate(dt, Shape.of(sh));
                long n = x.elementCount();
                long[] v = new long[(int) n];
                for (int i = 0; i < n; i++) {
                    v[i] = dt == DType.INT8 ? rnd.nextInt(-128, 128) : rnd.nextInt(-1_000_000, 1_000_000);
                    x.setDouble(i, v[i]);
                }
                for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                    Tensor y = op("Transpose").ints("perm", perm).parallel(par).in(x).run1();
                    long[] want = sh.clone();
                    want[r - 2] = cols;
                    want[r - 1] = rows;
                    assertEquals(Shape.of(want), y.shape());
                    for (long o = 0; o < outer; o++) {
                        for (long j = 0; j < cols; j++) {
                            for (long i = 0; i < rows; i++) {
                                long at = (o * cols + j) * rows + i, from = (o * rows + i) * cols + j;
                                if (y.getDouble(at) != v[(int) from]) {
                                    assertEquals(v[(int) from], y.getDouble(at), java.util.Arrays.toString(sh) + " " + dt + " at " + at);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test void largeCopiesSplitOverWorkersStayExact() {
        Parallelism par = Parallelism.of(4);
        // [300, 700] transposed: y[j][i] = x[i][j] = i*700 + j
        Tensor y = op("Transpose").parallel(par).in(iota(300, 700)).run1();
        for (int j = 0; j < 700; j += 37) {
            for (int i = 0; i < 300; i += 11) assertEquals(i * 700 + j, y.getFloat(j * 300L + i));
        }
        assertEquals(299 * 700 + 699, y.getFloat(700L * 300 - 1));
        // a 1-D tile of 100000 elements repeated 3 times: one long run split in chunks
        Tensor t = op("Tile").parallel(par).in(iota(100000)).in(i64(3)).run1();
        assertEquals(99999f, t.getFloat(199999));
        assertEquals(12345f, t.getFloat(212345));
    }

    @Test void badArgumentsAreNamed() {
        assertThrows(KernelException.class, () -> op("Transpose").ints("perm", 0, 0).in(iota(2, 2)).run());
        assertThrows(KernelException.class, () -> op("Split").opset(13).outputs(2).in(iota(4)).in(i64(1, 2)).run());
        assertThrows(KernelException.class, () -> op("Slice").in(iota(4)).in(i64(0)).in(i64(2)).in(i64(0)).in(i64(0)).run());
    }
}
