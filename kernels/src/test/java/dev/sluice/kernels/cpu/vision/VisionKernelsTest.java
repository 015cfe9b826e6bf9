package dev.sluice.kernels.cpu.vision;

import static dev.sluice.kernels.cpu.core.KernelHarness.f32;
import static dev.sluice.kernels.cpu.core.KernelHarness.i64;
import static dev.sluice.kernels.cpu.core.KernelHarness.op;
import static dev.sluice.kernels.cpu.core.KernelHarness.s;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.KernelHarness;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The vision kernels on their own: type inference on symbolic shapes (unknown where the data decides), a
 * brute-force NonMaxSuppression, the float64 paths against the float32 ones, and named errors for bad inputs and
 * unsupported attribute values. Numbers against ORT are in the runtime module's VisionOpsTest and
 * VisionGeometryOpsTest.
 */
class VisionKernelsTest {
    private static final Dim N = new Dim.Symbol("N"), R = new Dim.Symbol("R");

    private static TensorType f32Type(Dim... dims) { return new TensorType(DType.FLOAT32, SymShape.of(dims)); }

    @Test
    void inferenceKeepsSymbolsAndMarksDataDependentDimsUnknown() {
        assertEquals(new TensorType(DType.INT64, SymShape.of(Dim.UNKNOWN, Dim.of(3))),
            op("NonMaxSuppression").typeIn(f32Type(N, Dim.UNKNOWN, Dim.of(4))).typeIn(f32Type(N, Dim.of(80), Dim.UNKNOWN)).infer().get(0));
        assertEquals(f32Type(R, Dim.of(256), Dim.of(7), Dim.of(5)),
            op("RoiAlign").attr("output_height", 7L).attr("output_width", 5L).typeIn(f32Type(N, Dim.of(256), Dim.UNKNOWN, Dim.UNKNOWN))
                .typeIn(f32Type(R, Dim.of(4))).typeIn(new TensorType(DType.INT64, SymShape.of(R))).infer().get(0));
        assertEquals(f32Type(N, Dim.of(3), R, Dim.of(9)),
            op("GridSample").typeIn(f32Type(N, Dim.of(3), Dim.UNKNOWN, Dim.UNKNOWN)).typeIn(f32Type(N, R, Dim.of(9), Dim.of(2))).infer().get(0));
        // X unknown: the grid alone gives the volumetric output's rank and spatial dims
        assertEquals(SymShape.of(N, Dim.UNKNOWN, R, Dim.of(4), Dim.of(5)),
            op("GridSample").typeIn(TensorType.UNKNOWN).typeIn(f32Type(N, R, Dim.of(4), Dim.of(5), Dim.of(3))).infer().get(0).shape());
        // AffineGrid: constant sizes give the grid's shape; otherwise only its rank and last dim
        assertEquals(TensorType.of(DType.FLOAT32, Shape.of(2, 5, 7, 2)),
            op("AffineGrid").typeIn(f32Type(Dim.of(2), Dim.of(2), Dim.of(3))).constIn(i64(2, 3, 5, 7)).infer().get(0));
        assertEquals(f32Type(N, Dim.UNKNOWN, Dim.UNKNOWN, Dim.UNKNOWN, Dim.of(3)),
            op("AffineGrid").typeIn(f32Type(N, Dim.of(3), Dim.of(4))).typeIn(new TensorType(DType.INT64, SymShape.of(Dim.of(5)))).infer().get(0));
        // Col2Im: channels from the constant block, spatial dims from the constant image shape
        assertEquals(f32Type(N, Dim.of(3), Dim.of(5), Dim.of(6)),
            op("Col2Im").typeIn(f32Type(N, Dim.of(18), Dim.UNKNOWN)).constIn(i64(5, 6)).constIn(i64(2, 3)).infer().get(0));
        assertEquals(f32Type(N, Dim.UNKNOWN, Dim.UNKNOWN, Dim.UNKNOWN),
            op("Col2Im").typeIn(f32Type(N, Dim.of(18), Dim.UNKNOWN)).typeIn(new TensorType(DType.INT64, SymShape.of(Dim.of(2))))
                .typeIn(new TensorType(DType.INT64, SymShape.of(Dim.of(2)))).infer().get(0));
        assertEquals(f32Type(N, Dim.of(10), Dim.of(10), Dim.of(3)),
            op("CenterCropPad").ints("axes", -3, -2).typeIn(f32Type(N, Dim.UNKNOWN, Dim.of(7), Dim.of(3))).constIn(i64(10, 10)).infer().get(0));
        assertEquals(f32Type(N, Dim.UNKNOWN, Dim.UNKNOWN, Dim.of(3)),
            op("CenterCropPad").ints("axes", 1, 2).typeIn(f32Type(N, Dim.of(5), Dim.of(7), Dim.of(3)))
                .typeIn(new TensorType(DType.INT64, SymShape.of(Dim.of(2)))).infer().get(0));
        assertEquals(f32Type(R, Dim.of(8), Dim.of(6), Dim.of(6)),
            op("MaxRoiPool").ints("pooled_shape", 6, 6).typeIn(f32Type(N, Dim.of(8), Dim.UNKNOWN, Dim.UNKNOWN)).typeIn(f32Type(R, Dim.of(5))).infer().get(0));
        assertEquals(f32Type(N, Dim.of(16), R, Dim.UNKNOWN),
            op("DeformConv").typeIn(f32Type(N, Dim.of(8), Dim.UNKNOWN, Dim.UNKNOWN)).typeIn(f32Type(Dim.of(16), Dim.of(8), Dim.of(3), Dim.of(3)))
                .typeIn(f32Type(N, Dim.of(18), R, Dim.UNKNOWN)).infer().get(0));
    }

    /** Greedy NMS written out directly (all pairs, doubles): same selection on boxes far from the IoU threshold. */
    @Test
    void nonMaxSuppressionAgreesWithABruteForceGreedySelection() {
        SplittableRandom r = new SplittableRandom(7);
        int m = 60;
        float[] boxes = new float[m * 4], scores = new float[m];
        for (int i = 0; i < m; i++) {
            float y = r.nextInt(10), x = r.nextInt(10), h = 1 + r.nextInt(4), w = 1 + r.nextInt(4);
            boxes[i * 4] = y;
            boxes[i * 4 + 1] = x;
            boxes[i * 4 + 2] = y + h;
            boxes[i * 4 + 3] = x + w;
            scores[i] = r.nextInt(8) / 8f - 0.5f; // many ties, negative scores, zeros
            if (scores[i] == 0 && r.nextBoolean()) scores[i] = -0f; // -0 ties with 0 (by index), as in float comparison
        }
        float iou = 0.45f; // integer boxes of side <= 4 cannot have an IoU within 1e-3 of 0.45 unless equal to it
        Tensor y = op("NonMaxSuppression").in(f32(s(1, m, 4), boxes)).in(f32(s(1, 1, m), scores)).in(i64(1000))
            .in(f32(s(1), iou)).in(f32(s(1), -0.3f)).run1();
        java.util.List<Integer> order = new java.util.ArrayList<>();
        for (int i = 0; i < m; i++) if (scores[i] > -0.3f) order.add(i);
        order.sort((a, b) -> scores[a] != scores[b] ? Float.compare(scores[b], scores[a]) : Integer.compare(a, b));
        java.util.List<Integer> kept = new java.util.ArrayList<>();
        for (int i : order) {
            boolean keep = true;
            for (int k : kept) keep &= iouOf(boxes, i, k) <= iou;
            if (keep) kept.add(i);
        }
        assertEquals(Shape.of(kept.size(), 3), y.shape());
        for (int j = 0; j < kept.size(); j++) {
            assertArrayEquals(new long[] {0, 0, kept.get(j)}, new long[] {y.getLong(j * 3), y.getLong(j * 3 + 1), y.getLong(j * 3 + 2)}, "row " + j);
        }
    }

    private static double iouOf(float[] b, int i, int k) {
        double ih = Math.min(b[i * 4 + 2], b[k * 4 + 2]) - Math.max(b[i * 4], b[k * 4]);
        double iw = Math.min(b[i * 4 + 3], b[k * 4 + 3]) - Math.max(b[i * 4 + 1], b[k * 4 + 1]);
        if (ih <= 0 || iw <= 0) return 0;
        double inter = ih * iw;
        double a = (b[i * 4 + 2] - b[i * 4]) * (b[i * 4 + 3] - b[i * 4 + 1]), c = (b[k * 4 + 2] - b[k * 4]) * (b[k * 4 + 3] - b[k * 4 + 1]);
        return inter / (a + c - inter);
    }

    private static Tensor random(DType dt, long[] shape, SplittableRandom r, double lo, double hi) {
        Tensor t = Tensor.allocate(dt, Shape.of(shape));
        for (long i = 0; i < t.elementCount(); i++) t.setDouble(i, (float) (lo + r.nextDouble() * (hi - lo)));
        return t;
    }

    private static Tensor as(DType dt, Tensor t) {
        Tensor c = Tensor.allocate(dt, t.shape());
        for (long i = 0; i < t.elementCount(); i++) c.setDouble(i, t.getDouble(i));
        return c;
    }

    private static void assertClose(Tensor a, Tensor b, double tol) {
        assertEquals(a.shape(), b.shape());
        for (long i = 0; i < a.elementCount(); i++) assertEquals(a.getDouble(i), b.getDouble(i), tol, "element " + i);
    }

    /** float64 inputs take the double paths (DeformConv's plain product, double geometry); they agree with float32. */
    @Test
    void doubleInputsAgreeWithFloatInputs() {
        SplittableRandom r = new SplittableRandom(13);
        Tensor x = random(DType.FLOAT32, s(1, 4, 6, 5), r, -1, 1), w = random(DType.FLOAT32, s(4, 2, 3, 3), r, -1, 1);
        Tensor off = random(DType.FLOAT32, s(1, 36, 4, 2), r, -2, 2), b = random(DType.FLOAT32, s(4), r, -1, 1);
        KernelHarness f = op("DeformConv").ints("strides", 1, 2).attr("group", 2L).attr("offset_group", 2L).in(x).in(w).in(off).in(b);
        KernelHarness d = op("DeformConv").ints("strides", 1, 2).attr("group", 2L).attr("offset_group", 2L)
            .in(as(DType.FLOAT64, x)).in(as(DType.FLOAT64, w)).in(as(DType.FLOAT64, off)).in(as(DType.FLOAT64, b));
        Tensor yd = d.run1();
        assertEquals(DType.FLOAT64, yd.dtype());
        assertClose(f.run1(), yd, 1e-5);
        Tensor grid = random(DType.FLOAT32, s(1, 3, 4, 2), r, -1.3, 1.3);
        for (String mode : new String[] {"bilinear", "bicubic"}) {
            Tensor gf = op("GridSample").opset(16).attr("mode", mode).attr("padding_mode", "reflection").in(x).in(grid).run1();
            Tensor gd = op("GridSample").opset(16).attr("mode", mode).attr("padding_mode", "reflection").in(as(DType.FLOAT64, x)).in(as(DType.FLOAT64, grid)).run1();
            assertClose(gf, gd, 1e-5);
        }
        Tensor rois = f32(s(2, 4), 0.5f, 0.5f, 3.2f, 4.1f, -1f, 2f, 6f, 4f);
        Tensor rf = op("RoiAlign").opset(16).attr("output_height", 2L).attr("output_width", 3L).in(x).in(rois).in(i64(0, 0)).run1();
        Tensor rd = op("RoiAlign").opset(16).attr("output_height", 2L).attr("output_width", 3L).in(as(DType.FLOAT64, x)).in(as(DType.FLOAT64, rois)).in(i64(0, 0)).run1();
        assertClose(rf, rd, 1e-5);
    }

    /** Pixel (z, y, x) of channel c of a [1, C, D, H, W] tensor, zero outside. */
    private static double voxel(Tensor x, int c, int z, int y, int xx) {
        long[] d = x.shape().dims();
        if (z < 0 || y < 0 || xx < 0 || z >= d[2] || y >= d[3] || xx >= d[4]) return 0;
        return x.getDouble(((c * d[2] + z) * d[3] + y) * d[4] + xx);
    }

    /**
     * 3-D (and, through a unit depth and height, 1-D) DeformConv against the definition summed out directly: each
     * output element is bias + sum over input channels and taps of weight x mask x the trilinear sample at the
     * offset tap position. The ONNX reference and ORT stop at 2-D, so this written-out sum is the reference here.
     */
    @Test
    void deformConvOfOtherRanksMatchesTheDirectSum() {
        SplittableRandom r = new SplittableRandom(61);
        // X [1, 4, D, H, W], W [2, 2, kd, kh, kw], group 2, offset_group 2, strides (1, 1, 2), pads 1 on the last axis
        int[][] dims = {{3, 4, 5, 2, 2, 3}, {1, 1, 9, 1, 1, 3}};
        for (int[] dm : dims) {
            int dd = dm[0], hh = dm[1], ww = dm[2], kd = dm[3], kh = dm[4], kw = dm[5], taps = kd * kh * kw;
            int od = dd - kd + 1, oh = hh - kh + 1, ow = (ww + 2 - kw) / 2 + 1;
            Tensor x = random(DType.FLOAT32, s(1, 4, dd, hh, ww), r, -1, 1), w = random(DType.FLOAT32, s(2, 2, kd, kh, kw), r, -1, 1);
            Tensor off = random(DType.FLOAT32, s(1, 2L * taps * 3, od, oh, ow), r, -1.5, 1.5);
            Tensor mask = random(DType.FLOAT32, s(1, 2L * taps, od, oh, ow), r, 0, 1), b = random(DType.FLOAT32, s(2), r, -1, 1);
            Tensor y = op("DeformConv").attr("group", 2L).attr("offset_group", 2L).ints("strides", 1, 1, 2).ints("pads", 0, 0, 1, 0, 0, 1)
                .in(x).in(w).in(off).in(b).in(mask).run1();
            assertEquals(Shape.of(1, 2, od, oh, ow), y.shape());
            int p = od * oh * ow;
            for (int o = 0; o < 2; o++) {
                for (int q = 0; q < p; q++) {
                    int qz = q / (oh * ow), qy = q / ow % oh, qx = q % ow;
                    double want = b.getDouble(o);
                    for (int ci = 0; ci < 2; ci++) {
                        int c = o * 2 + ci, g = c / 2; // group o holds channels 2o, 2o+1; offset group of channel c is c / 2
                        for (int t = 0; t < taps; t++) {
                            int tz = t / (kh * kw), ty = t / kw % kh, tx = t % kw;
                            int tapIndex = g * taps + t;
                            double pz = qz + tz + off.getDouble((tapIndex * 3) * (long) p + q);
                            double py = qy + ty + off.getDouble((tapIndex * 3 + 1) * (long) p + q);
                            double px = qx * 2 - 1 + tx + off.getDouble((tapIndex * 3 + 2) * (long) p + q);
                            int z0 = (int) Math.floor(pz), y0 = (int) Math.floor(py), x0 = (int) Math.floor(px);
                            double fz = pz - z0, fy = py - y0, fx = px - x0, sample = 0;
                            for (int a = 0; a < 2; a++) for (int bb = 0; bb < 2; bb++) for (int e = 0; e < 2; e++) {
                                sample += (a == 1 ? fz : 1 - fz) * (bb == 1 ? fy : 1 - fy) * (e == 1 ? fx : 1 - fx) * voxel(x, c, z0 + a, y0 + bb, x0 + e);
                            }
                            want += w.getDouble(((long) o * 2 + ci) * taps + t) * mask.getDouble(tapIndex * (long) p + q) * sample;
                        }
                    }
                    assertEquals(want, y.getDouble((long) o * p + q), 1e-4, "output " + o + ", position " + q + " of " + java.util.Arrays.toString(dm));
                }
            }
        }
    }

    /** A genuinely 1-D DeformConv (X [N, C, L]) against linear interpolation written out. */
    @Test
    void deformConv1dMatchesTheDirectSum() {
        SplittableRandom r = new SplittableRandom(67);
        Tensor x = random(DType.FLOAT32, s(1, 2, 7), r, -1, 1), w = random(DType.FLOAT32, s(1, 2, 3), r, -1, 1);
        Tensor off = random(DType.FLOAT32, s(1, 3, 5), r, -2, 2);
        Tensor y = op("DeformConv").in(x).in(w).in(off).run1();
        assertEquals(Shape.of(1, 1, 5), y.shape());
        for (int q = 0; q < 5; q++) {
            double want = 0;
            for (int c = 0; c < 2; c++) {
                for (int t = 0; t < 3; t++) {
                    double pos = q + t + off.getDouble(t * 5L + q);
                    int i0 = (int) Math.floor(pos);
                    double f = pos - i0;
                    double lo = i0 >= 0 && i0 < 7 ? x.getDouble(c * 7L + i0) : 0, hi = i0 + 1 >= 0 && i0 + 1 < 7 ? x.getDouble(c * 7L + i0 + 1) : 0;
                    want += w.getDouble(c * 3L + t) * ((1 - f) * lo + f * hi);
                }
            }
            assertEquals(want, y.getDouble(q), 1e-5, "position " + q);
        }
    }

    /** The parallel splits (positions, ROIs, input channels) give the sequential run's bits. */
    @Test
    void parallelRunsGiveTheSequentialBits() {
        SplittableRandom r = new SplittableRandom(19);
        Tensor x = random(DType.FLOAT32, s(2, 16, 20, 24), r, -1, 1), grid = random(DType.FLOAT32, s(2, 30, 40, 2), r, -1.2, 1.2);
        Tensor rois = random(DType.FLOAT32, s(40, 4), r, -4, 28), idx = Tensor.allocate(DType.INT64, Shape.of(40));
        for (int i = 0; i < 40; i++) idx.setLong(i, i % 2);
        Tensor w = random(DType.FLOAT32, s(8, 16, 3, 3), r, -1, 1), off = random(DType.FLOAT32, s(2, 18, 18, 22), r, -2, 2);
        try (Parallelism p = Parallelism.of(3)) {
            assertTrue(op("GridSample").attr("mode", "bicubic").in(x).in(grid).run1()
                .sameBits(op("GridSample").attr("mode", "bicubic").parallel(p).in(x).in(grid).run1()), "GridSample");
            assertTrue(op("RoiAlign").attr("output_height", 7L).attr("output_width", 7L).in(x).in(rois).in(idx).run1()
                .sameBits(op("RoiAlign").attr("output_height", 7L).attr("output_width", 7L).parallel(p).in(x).in(rois).in(idx).run1()), "RoiAlign");
            assertTrue(op("DeformConv").in(x).in(w).in(off).run1().sameBits(op("DeformConv").parallel(p).in(x).in(w).in(off).run1()), "DeformConv");
        }
    }

    private static void assertFailsNaming(Runnable r, String... words) {
        SluiceException e = assertThrows(SluiceException.class, r::run);
        for (String w : words) assertTrue(e.getMessage().contains(w), e.getMessage() + " should name " + w);
    }

    @Test
    void badInputsAndUnsupportedAttributesGetNamedErrors() {
        Tensor x = KernelHarness.iota(1, 2, 4, 4);
        assertFailsNaming(() -> op("NonMaxSuppression").in(f32(s(1, 2, 3), new float[6])).in(f32(s(1, 1, 2), 1, 1)).run(), "boxes", "[batches, boxes, 4]");
        assertFailsNaming(() -> op("NonMaxSuppression").in(f32(s(1, 2, 4), new float[8])).in(f32(s(1, 1, 3), 1, 1, 1)).run(), "scores", "do not match");
        assertFailsNaming(() -> op("NonMaxSuppression").attr("center_point_box", 2L).in(f32(s(1, 1, 4), 0, 0, 1, 1)).in(f32(s(1, 1, 1), 1)).run(), "center_point_box");
        assertFailsNaming(() -> op("NonMaxSuppression").in(f32(s(1, 1, 4), 0, 0, 1, 1)).in(f32(s(1, 1, 1), 1)).in(i64(3)).in(f32(s(1), 1.5f)).run(), "iou_threshold");
        assertFailsNaming(() -> op("RoiAlign").attr("mode", "median").in(x).in(f32(s(1, 4), 0, 0, 1, 1)).in(i64(0)).run(), "mode", "median");
        assertFailsNaming(() -> op("RoiAlign").attr("coordinate_transformation_mode", "asymmetric").in(x).in(f32(s(1, 4), 0, 0, 1, 1)).in(i64(0)).run(),
            "coordinate_transformation_mode", "asymmetric");
        assertFailsNaming(() -> op("RoiAlign").in(x).in(f32(s(1, 4), 0, 0, 1, 1)).in(i64(1)).run(), "batch_indices[0] = 1");
        assertFailsNaming(() -> op("RoiAlign").in(x).in(f32(s(2, 4), new float[8])).in(i64(0)).run(), "batch_indices");
        // a garbage box would take billions of adaptive samples: refused before allocating them
        assertFailsNaming(() -> op("RoiAlign").in(x).in(f32(s(1, 4), 0, 0, 1e9f, 1e9f)).in(i64(0)).run(), "ROI 0", "samples per bin");
        assertFailsNaming(() -> op("MaxRoiPool").ints("pooled_shape", 2, 2).in(x).in(f32(s(1, 5), 1.5f, 0, 0, 1, 1)).run(), "batch index 1.5");
        assertFailsNaming(() -> op("MaxRoiPool").in(x).in(f32(s(1, 5), 0, 0, 0, 1, 1)).run(), "pooled_shape");
        assertFailsNaming(() -> op("GridSample").attr("mode", "area").in(x).in(f32(s(1, 1, 1, 2), 0, 0)).run(), "mode", "area");
        assertFailsNaming(() -> op("GridSample").attr("padding_mode", "wrap").in(x).in(f32(s(1, 1, 1, 2), 0, 0)).run(), "padding_mode", "wrap");
        assertFailsNaming(() -> op("GridSample").in(x).in(f32(s(1, 1, 1, 3), 0, 0, 0)).run(), "grid");
        assertFailsNaming(() -> op("AffineGrid").in(f32(s(1, 2, 3), new float[6])).in(i64(2, 1, 4, 4)).run(), "theta");
        assertFailsNaming(() -> op("Col2Im").in(f32(s(1, 6, 5), new float[30])).in(i64(4, 4)).in(i64(2, 2)).run(), "Col2Im", "block positions");
        assertFailsNaming(() -> op("CenterCropPad").ints("axes", 0, 0).in(x).in(i64(1, 1)).run(), "axes", "repeat");
        assertFailsNaming(() -> op("CenterCropPad").in(x).in(i64(1, 1)).run(), "shape has 2 entries");
        assertFailsNaming(() -> op("DeformConv").in(x).in(f32(s(3, 2, 3, 3), new float[54])).in(f32(s(1, 18, 3, 3), new float[162])).run(), "offset");
        assertFailsNaming(() -> op("DeformConv").in(KernelHarness.iota(1, 2, 4, 4, 4)).in(f32(s(3, 2, 3, 3, 3), new float[162]))
            .in(f32(s(1, 54, 2, 2, 2), new float[432])).run(), "offset must be [1,81,2,2,2]");
        assertThrows(KernelException.class, () -> op("GridSample").in(i64(s(1, 1, 2, 2), 1, 2, 3, 4)).in(f32(s(1, 1, 1, 2), 0, 0)).run());
    }

    /** Empty inputs give empty outputs of the right shape, not an error or a crash. */
    @Test
    void emptyInputsGiveEmptyOutputs() {
        Tensor none = op("NonMaxSuppression").in(f32(s(2, 0, 4))).in(f32(s(2, 3, 0))).in(i64(5)).run1();
        assertEquals(Shape.of(0, 3), none.shape());
        Tensor noRois = op("RoiAlign").in(KernelHarness.iota(1, 2, 4, 4)).in(f32(s(0, 4))).in(i64(s(0), new long[0])).run1();
        assertEquals(Shape.of(0, 2, 1, 1), noRois.shape());
        Tensor noPoints = op("GridSample").in(KernelHarness.iota(1, 2, 4, 4)).in(f32(s(1, 0, 3, 2))).run1();
        assertEquals(Shape.of(1, 2, 0, 3), noPoints.shape());
        Tensor cropAll = op("CenterCropPad").in(KernelHarness.iota(2, 3)).in(i64(0, 5)).run1();
        assertEquals(Shape.of(0, 5), cropAll.shape());
    }
}
