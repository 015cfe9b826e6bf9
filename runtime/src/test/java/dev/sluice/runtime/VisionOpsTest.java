package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vision family against ONNX Runtime on random inputs chosen to reach the corners of each op: NonMaxSuppression
 * with score ties, flipped corners, centre-form boxes and empty results (exact indices); RoiAlign with regions
 * partly or wholly outside the map, malformed regions, both modes and coordinate conventions; GridSample with grid
 * points beyond [-1, 1] under every padding mode, mode and align_corners, 2-D and 3-D. Also: a detector-like graph
 * of these ops gives the same bits under the budgeted throttled device as on the plain CPU.
 */
class VisionOpsTest {
    @TempDir Path tmp;

    private static final int FLOAT = 1, INT64 = 7;

    private static OnnxMl.AttributeProto str(String name, String v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.STRING)
            .setS(com.google.protobuf.ByteString.copyFromUtf8(v)).build();
    }

    private static void assertSameAsOrt(Path file, Map<String, Tensor> inputs, Tolerance tol, String what) throws Exception {
        Map<String, Tensor> ref = OrtReference.run(file, inputs);
        try (Session s = Session.open(file, 2)) {
            Map<String, Tensor> ours = s.run(inputs).asMap();
            for (var e : ref.entrySet()) {
                Tensor got = ours.get(e.getKey());
                assertEquals(e.getValue().shape(), got.shape(), what + ": shape of '" + e.getKey() + "'");
                assertNull(tol.mismatch(got, e.getValue()), what + ": output '" + e.getKey() + "'");
            }
        }
    }

    private static Tensor floats(SplittableRandom r, long[] shape, double lo, double hi) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(shape));
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, (float) (lo + r.nextDouble() * (hi - lo)));
        return t;
    }

    // ---- NonMaxSuppression ----

    private Path nmsModel(long centerPointBox, int inputs) throws Exception {
        List<String> names = List.of("boxes", "scores", "max_out", "iou", "score_thr").subList(0, inputs);
        OnnxModelBuilder b = new OnnxModelBuilder(11)
            .inputSym("boxes", FLOAT, "b", "m", 4).inputSym("scores", FLOAT, "b", "c", "m");
        if (inputs > 2) b.input("max_out", INT64, 1);
        if (inputs > 3) b.input("iou", FLOAT, 1);
        if (inputs > 4) b.input("score_thr", FLOAT, 1);
        return b.outputSym("selected", INT64, "n", 3)
            .node("NonMaxSuppression", names, List.of("selected"), OnnxModelBuilder.intAttr("center_point_box", centerPointBox))
            .write(tmp.resolve("nms_" + centerPointBox + "_" + inputs + ".onnx"));
    }

    /**
     * Boxes clustered so that many overlap, each corner pair flipped at random (y2 < y1 or x2 < x1), scores drawn
     * from a handful of values so that most have ties, every threshold combination including those that select
     * nothing; indices must match ORT's exactly, order included.
     */
    @Test
    void nonMaxSuppressionMatchesOrtWithTiesFlippedCornersAndEmptyResults() throws Exception {
        SplittableRandom r = new SplittableRandom(11);
        int batches = 2, classes = 3, m = 40;
        for (long cpb : new long[] {0, 1}) {
            Path file = nmsModel(cpb, 5);
            for (int round = 0; round < 4; round++) {
                Tensor boxes = Tensor.allocate(DType.FLOAT32, Shape.of(batches, m, 4));
                for (int i = 0; i < batches * m; i++) {
                    double cy = r.nextInt(4) * 3 + r.nextDouble(), cx = r.nextInt(4) * 3 + r.nextDouble();
                    double h = 0.5 + r.nextDouble() * 3, w = 0.5 + r.nextDouble() * 3;
                    float[] v = cpb == 1 ? new float[] {(float) cx, (float) cy, (float) w, (float) h}
                        : new float[] {(float) (cy - h / 2), (float) (cx - w / 2), (float) (cy + h / 2), (float) (cx + w / 2)};
                    if (cpb == 0 && r.nextBoolean()) { float t = v[0]; v[0] = v[2]; v[2] = t; }
                    if (cpb == 0 && r.nextBoolean()) { float t = v[1]; v[1] = v[3]; v[3] = t; }
                    for (int k = 0; k < 4; k++) boxes.setFloat(i * 4L + k, v[k]);
                }
                Tensor scores = Tensor.allocate(DType.FLOAT32, Shape.of(batches, classes, m));
                for (int i = 0; i < batches * classes * m; i++) scores.setFloat(i, round % 2 == 0 ? r.nextInt(5) / 4f : (float) r.nextDouble());
                for (long maxOut : new long[] {0, 1, 4, 100}) {
                    for (float iou : new float[] {0f, 0.3f, 0.7f, 1f}) {
                        for (float thr : new float[] {-1f, 0.5f, 2f}) {
                            Map<String, Tensor> in = Map.of("boxes", boxes, "scores", scores,
                                "max_out", Tensor.ofLongs(Shape.of(1), maxOut), "iou", Tensor.ofFloats(Shape.of(1), iou),
                                "score_thr", Tensor.ofFloats(Shape.of(1), thr));
                            assertSameAsOrt(file, in, new Tolerance(0, 0),
                                "NMS cpb=" + cpb + " max=" + maxOut + " iou=" + iou + " thr=" + thr + " round " + round);
                        }
                    }
                }
            }
        }
    }

    /** Without max_output_boxes_per_class ONNX selects nothing: an empty [0, 3], as ORT gives. */
    @Test
    void nonMaxSuppressionWithoutALimitSelectsNothing() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        Map<String, Tensor> in = Map.of("boxes", floats(r, new long[] {1, 6, 4}, 0, 5), "scores", floats(r, new long[] {1, 2, 6}, 0, 1));
        assertSameAsOrt(nmsModel(0, 2), in, new Tolerance(0, 0), "NMS with two inputs");
        try (Session s = Session.open(nmsModel(0, 2), 1)) {
            assertEquals(Shape.of(0, 3), s.run(in).asMap().get("selected").shape());
        }
    }

    // ---- RoiAlign ----

    private Path roiAlignModel(int opset, String mode, String ctm, long oh, long ow, long ratio, float scale) throws Exception {
        List<OnnxMl.AttributeProto> at = new ArrayList<>(List.of(str("mode", mode), OnnxModelBuilder.intAttr("output_height", oh),
            OnnxModelBuilder.intAttr("output_width", ow), OnnxModelBuilder.intAttr("sampling_ratio", ratio),
            OnnxModelBuilder.floatAttr("spatial_scale", scale)));
        if (ctm != null) at.add(str("coordinate_transformation_mode", ctm));
        return new OnnxModelBuilder(opset).input("x", FLOAT, 2, 3, 9, 11).inputSym("rois", FLOAT, "r", 4).inputSym("idx", INT64, "r")
            .outputSym("y", FLOAT, "r", 3, oh, ow)
            .node("RoiAlign", List.of("x", "rois", "idx"), List.of("y"), at.toArray(OnnxMl.AttributeProto[]::new))
            .write(tmp.resolve("roialign.onnx"));
    }

    /** Regions inside, straddling and beyond the map (past the one-pixel margin), degenerate and reversed. */
    @Test
    void roiAlignMatchesOrtWithRegionsPartlyOutsideTheMap() throws Exception {
        SplittableRandom r = new SplittableRandom(17);
        Tensor x = floats(r, new long[] {2, 3, 9, 11}, -2, 2);
        int n = 12;
        Tensor rois = Tensor.allocate(DType.FLOAT32, Shape.of(n, 4));
        Tensor idx = Tensor.allocate(DType.INT64, Shape.of(n));
        for (int i = 0; i < n; i++) {
            // in units of the scaled map: x in [-6, 16], y in [-6, 14] at scale 1 (the map is 11 wide, 9 high)
            double x1 = -6 + r.nextDouble() * 22, y1 = -6 + r.nextDouble() * 20;
            double w = i == 3 ? 0 : i == 4 ? -1.5 : r.nextDouble() * 8, h = i == 3 ? 0 : i == 5 ? -2 : r.nextDouble() * 7;
            float[] v = {(float) x1, (float) y1, (float) (x1 + w), (float) (y1 + h)};
            if (i == 6) v = new float[] {-5f, -4f, -1.5f, -1.2f}; // wholly outside, beyond the margin
            if (i == 7) v = new float[] {-0.8f, -0.5f, 12f, 10f}; // covers the whole map and a margin
            for (int k = 0; k < 4; k++) rois.setFloat(i * 4L + k, v[k]);
            idx.setLong(i, i % 2);
        }
        Map<String, Tensor> in = Map.of("x", x, "rois", rois, "idx", idx);
        for (String mode : new String[] {"avg", "max"}) {
            for (long ratio : new long[] {0, 2}) {
                assertSameAsOrt(roiAlignModel(10, mode, null, 3, 4, ratio, 1f), in, Tolerance.DEFAULT, "RoiAlign-10 " + mode + " ratio " + ratio);
                for (String ctm : new String[] {"half_pixel", "output_half_pixel"}) {
                    for (float scale : new float[] {1f, 0.5f}) {
                        assertSameAsOrt(roiAlignModel(16, mode, ctm, 3, 4, ratio, scale), in, Tolerance.DEFAULT,
                            "RoiAlign-16 " + mode + " " + ctm + " ratio " + ratio + " scale " + scale);
                    }
                }
            }
        }
    }

    /** MaxRoiPool (Fast R-CNN) with regions straddling the map, reversed, tiny, at two scales. */
    @Test
    void maxRoiPoolMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(59);
        Tensor x = floats(r, new long[] {2, 3, 9, 11}, -2, 2);
        int n = 10;
        Tensor rois = Tensor.allocate(DType.FLOAT32, Shape.of(n, 5));
        for (int i = 0; i < n; i++) {
            double x1 = -4 + r.nextDouble() * 18, y1 = -4 + r.nextDouble() * 16;
            double w = i == 2 ? -3 : i == 3 ? 0.2 : r.nextDouble() * 9, h = i == 4 ? -2 : r.nextDouble() * 8;
            float[] v = {i % 2, (float) x1, (float) y1, (float) (x1 + w), (float) (y1 + h)};
            for (int k = 0; k < 5; k++) rois.setFloat(i * 5L + k, v[k]);
        }
        for (float scale : new float[] {1f, 0.625f}) {
            Path file = new OnnxModelBuilder(1).input("x", FLOAT, 2, 3, 9, 11).input("rois", FLOAT, n, 5).output("y", FLOAT, n, 3, 3, 2)
                .node("MaxRoiPool", List.of("x", "rois"), List.of("y"), OnnxModelBuilder.ints("pooled_shape", 3, 2),
                    OnnxModelBuilder.floatAttr("spatial_scale", scale))
                .write(tmp.resolve("maxroipool.onnx"));
            assertSameAsOrt(file, Map.of("x", x, "rois", rois), new Tolerance(0, 0), "MaxRoiPool scale " + scale);
        }
    }

    // ---- GridSample ----

    private Path gridSampleModel(int opset, String mode, String padding, long align, long[] xShape, long[] gridShape) throws Exception {
        long[] out = new long[xShape.length];
        out[0] = xShape[0];
        out[1] = xShape[1];
        System.arraycopy(gridShape, 1, out, 2, xShape.length - 2);
        return new OnnxModelBuilder(opset).input("x", FLOAT, xShape).input("grid", FLOAT, gridShape).output("y", FLOAT, out)
            .node("GridSample", List.of("x", "grid"), List.of("y"), str("mode", mode), str("padding_mode", padding),
                OnnxModelBuilder.intAttr("align_corners", align))
            .write(tmp.resolve("gridsample.onnx"));
    }

    /** Grid points in [-1.7, 1.7] (a third of them outside the image) under every mode, padding and alignment. */
    @Test
    void gridSample2dMatchesOrtForOutOfRangePointsUnderEveryPadding() throws Exception {
        SplittableRandom r = new SplittableRandom(23);
        long[] xs = {2, 3, 5, 7}, gs = {2, 4, 6, 2};
        Tensor x = floats(r, xs, -3, 3), grid = floats(r, gs, -1.7, 1.7);
        grid.setFloat(0, 1f);
        grid.setFloat(1, -1f); // exactly on the edges
        Map<String, Tensor> in = Map.of("x", x, "grid", grid);
        String[][] modes = {{"bilinear", "nearest", "bicubic"}, {"linear", "nearest", "cubic"}};
        int[] opsets = {16, 20};
        for (int o = 0; o < 2; o++) {
            for (String mode : modes[o]) {
                for (String padding : new String[] {"zeros", "border", "reflection"}) {
                    for (long align : new long[] {0, 1}) {
                        assertSameAsOrt(gridSampleModel(opsets[o], mode, padding, align, xs, gs), in, Tolerance.DEFAULT,
                            "GridSample-" + opsets[o] + " " + mode + " " + padding + " align " + align);
                    }
                }
            }
        }
    }

    /** The volumetric form (opset 20) with out-of-range points, linear and nearest, every padding. */
    @Test
    void gridSample3dMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(29);
        long[] xs = {1, 2, 4, 5, 3}, gs = {1, 3, 2, 4, 3};
        Map<String, Tensor> in = Map.of("x", floats(r, xs, -3, 3), "grid", floats(r, gs, -1.5, 1.5));
        for (String mode : new String[] {"linear", "nearest"}) {
            for (String padding : new String[] {"zeros", "border", "reflection"}) {
                for (long align : new long[] {0, 1}) {
                    assertSameAsOrt(gridSampleModel(20, mode, padding, align, xs, gs), in, Tolerance.DEFAULT,
                        "GridSample-20 3-D " + mode + " " + padding + " align " + align);
                }
            }
        }
    }

    // ---- a detector-like graph under a memory budget ----

    /**
     * Relu, RoiAlign, GridSample and NonMaxSuppression in one graph, the selection feeding Gathers whose sizes only
     * the data decides: the budgeted throttled device (where none of the vision ops can be tiled) must give the plain
     * CPU run's bits.
     */
    @Test
    void visionOpsRunUnderABudgetWithTheSameBits() throws Exception {
        SplittableRandom r = new SplittableRandom(31);
        Path file = new OnnxModelBuilder(16).input("x", FLOAT, 1, 8, 32, 32).input("rois", FLOAT, 5, 4).input("idx", INT64, 5)
            .input("grid", FLOAT, 5, 6, 6, 2).input("boxes", FLOAT, 1, 30, 4).input("scores", FLOAT, 1, 2, 30)
            .longInit("max_out", new long[] {1}, 5).floatInit("iou", new long[] {1}, 0.4f)
            .output("z", FLOAT, 5, 8, 6, 6).outputSym("sel", INT64, "n", 3)
            .node("Relu", List.of("x"), List.of("xr"))
            .node("RoiAlign", List.of("xr", "rois", "idx"), List.of("pooled"), OnnxModelBuilder.intAttr("output_height", 7),
                OnnxModelBuilder.intAttr("output_width", 7), OnnxModelBuilder.floatAttr("spatial_scale", 0.25f))
            .node("GridSample", List.of("pooled", "grid"), List.of("sampled"))
            .node("Sigmoid", List.of("sampled"), List.of("z"))
            .node("NonMaxSuppression", List.of("boxes", "scores", "max_out", "iou"), List.of("sel"))
            // a consumer of the data-dependent count: the selected boxes' indices, then their rows
            .longInit("column", new long[] {}, 2).outputSym("picked", FLOAT, "n", 4)
            .longInit("rows", new long[] {2}, 30, 4)
            .node("Gather", List.of("sel", "column"), List.of("selectedBox"), OnnxModelBuilder.intAttr("axis", 1))
            .node("Reshape", List.of("boxes", "rows"), List.of("boxes2d"))
            .node("Gather", List.of("boxes2d", "selectedBox"), List.of("picked"))
            .write(tmp.resolve("detector.onnx"));
        Tensor rois = Tensor.allocate(DType.FLOAT32, Shape.of(5, 4));
        for (int i = 0; i < 5; i++) {
            float x1 = (float) (r.nextDouble() * 100), y1 = (float) (r.nextDouble() * 100);
            rois.setFloat(i * 4L, x1);
            rois.setFloat(i * 4L + 1, y1);
            rois.setFloat(i * 4L + 2, x1 + (float) (r.nextDouble() * 60));
            rois.setFloat(i * 4L + 3, y1 + (float) (r.nextDouble() * 60));
        }
        Map<String, Tensor> in = new HashMap<>(Map.of("x", floats(r, new long[] {1, 8, 32, 32}, -1, 1), "rois", rois,
            "idx", Tensor.allocate(DType.INT64, Shape.of(5)), "grid", floats(r, new long[] {5, 6, 6, 2}, -1.2, 1.2),
            "boxes", floats(r, new long[] {1, 30, 4}, 0, 10), "scores", floats(r, new long[] {1, 2, 30}, 0, 1)));
        try (Session plain = Session.open(file, SessionOptions.builder().threads(1).build());
             Session budgeted = Session.open(file, SessionOptions.builder().threads(1).devices("cpu", "throttled:65%").order("fixed").build())) {
            Map<String, Tensor> a = plain.run(in).asMap(), b = budgeted.run(in).asMap();
            assertTrue(a.get("sel").elementCount() > 0, "NMS selected something");
            assertArrayEquals(a.get("z").toFloatArray(), b.get("z").toFloatArray(), 0f, "z");
            assertArrayEquals(a.get("sel").toLongArray(), b.get("sel").toLongArray(), "sel");
            assertArrayEquals(a.get("picked").toFloatArray(), b.get("picked").toFloatArray(), 0f, "picked");
            assertEquals(Shape.of(a.get("sel").shape().dim(0), 4), b.get("picked").shape());
            assertSameAsOrt(file, in, Tolerance.DEFAULT, "detector graph");
        }
    }
}
