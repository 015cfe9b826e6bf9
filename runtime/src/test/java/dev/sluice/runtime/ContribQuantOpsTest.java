package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Runtime's contrib quantized ops (domain com.microsoft: the QOperator format of ORT's quantizer, the fused
 * dynamic-quantization matmuls, MatMulNBits) against ONNX Runtime 1.29 on random inputs: both 8-bit types, odd
 * sizes, broadcasting. Bit for bit, floats included, except MatMulNBits (a float product summed in another order:
 * the project tolerance). ORT's numbers come from {@link OrtReference#runExact}: exact uint8 x int8 products on
 * every host, VNNI or not.
 */
class ContribQuantOpsTest {
    @TempDir Path tmp;

    private static final int FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6;
    private final SplittableRandom r = new SplittableRandom(2026);
    private int files;

    /** The builder's model with every node moved to com.microsoft (and that opset imported). */
    private Path msModel(OnnxModelBuilder b, String... onnxOps) throws Exception {
        Path f = b.write(tmp.resolve("m" + files++ + ".onnx"));
        OnnxMl.ModelProto m = OnnxMl.ModelProto.parseFrom(Files.readAllBytes(f));
        OnnxMl.ModelProto.Builder mb = m.toBuilder()
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1));
        List<String> keep = List.of(onnxOps);
        for (OnnxMl.NodeProto.Builder n : mb.getGraphBuilder().getNodeBuilderList()) {
            if (!keep.contains(n.getOpType())) n.setDomain("com.microsoft");
        }
        Files.write(f, mb.build().toByteArray());
        return f;
    }

    private static DType dtype(int onnx) { return onnx == UINT8 ? DType.UINT8 : DType.INT8; }

    private Tensor randomBytes(int type, long... dims) {
        Tensor t = Tensor.allocate(dtype(type), Shape.of(dims));
        for (long i = 0; i < t.elementCount(); i++) t.setLong(i, r.nextInt(256) + (type == UINT8 ? 0 : -128));
        return t;
    }

    private int zp(int type) { return r.nextInt(256) + (type == UINT8 ? 0 : -128); }

    private float scale() { return (float) (0.002 + r.nextDouble() * 0.05); }

    private static Map<String, Tensor> ours(Path file, Map<String, Tensor> inputs) throws Exception {
        try (Session s = Session.open(file, 2)) {
            return s.run(inputs).asMap();
        }
    }

    private static void assertSameAsOrt(Path file, Map<String, Tensor> inputs, String what) throws Exception {
        Map<String, Tensor> ref = OrtReference.runExact(file, inputs), ours = ours(file, inputs);
        for (var e : ref.entrySet()) {
            assertNull(new Tolerance(0, 0).mismatch(ours.get(e.getKey()), e.getValue()), what + ": output '" + e.getKey() + "'");
        }
    }

    // ---- QLinearAdd / QLinearMul --------------------------------------------------------------------------------

    /**
     * QLinearAdd and QLinearMul with numpy broadcasting (a scalar on either side, a constant per span on either side,
     * both varying), both types, against ORT bit for bit. Both kernels follow ORT's x86 arithmetic: Mul is written
     * out here as well (the exact integer product times {@code sa * sb / sc}, plus zc, rounded), Add is held within
     * one step of the real-number sum (its float rounding order is ORT's, see the kernel's AddForm).
     */
    @Test
    void binaryOpsMatchOrt() throws Exception {
        long[][][] shapes = {{{3, 5, 7}, {3, 5, 7}}, {{3, 1, 7}, {5, 1}}, {{2, 33}, {}}, {{1}, {4, 1, 9}}, {{2, 3, 4, 5}, {3, 1, 5}},
            {{64, 130}, {64, 130}}, {{7, 1, 300}, {1, 5, 300}}, {{1, 1}, {1}}, {{5, 1}, {5, 40}}};
        for (String op : new String[] {"QLinearAdd", "QLinearMul"}) {
            for (int type : new int[] {UINT8, INT8}) {
                for (long[][] sh : shapes) {
                    float sa = scale(), sb = scale(), sc = op.equals("QLinearMul") ? sa * sb * 40 : scale() * 2;
                    int za = zp(type), zb = zp(type), zc = zp(type);
                    long[] outShape = Shape.of(sh[0]).rank() >= Shape.of(sh[1]).rank()
                        ? dev.sluice.kernels.cpu.core.Broadcast.shape(Shape.of(sh[0]), Shape.of(sh[1])).dims()
                        : dev.sluice.kernels.cpu.core.Broadcast.shape(Shape.of(sh[0]), Shape.of(sh[1])).dims();
                    Path f = msModel(new OnnxModelBuilder(13).input("a", type, sh[0]).input("b", type, sh[1]).output("c", type, outShape)
                        .floatInit("sa", new long[0], sa).byteInit("za", type, new long[0], za)
                        .floatInit("sb", new long[0], sb).byteInit("zb", type, new long[0], zb)
                        .floatInit("sc", new long[0], sc).byteInit("zc", type, new long[0], zc)
                        .node(op, List.of("a", "sa", "za", "b", "sb", "zb", "sc", "zc"), List.of("c")));
                    Tensor a = randomBytes(type, sh[0]), b = randomBytes(type, sh[1]);
                    Map<String, Tensor> in = Map.of("a", a, "b", b);
                    Tensor ref = OrtReference.run(f, in).get("c"), got = ours(f, in).get("c");
                    assertEquals(ref.shape(), got.shape());
                    Shape os = got.shape();
                    long[] as = dev.sluice.kernels.cpu.core.Broadcast.stridesFor(a.shape(), os), bs = dev.sluice.kernels.cpu.core.Broadcast.stridesFor(b.shape(), os);
                    int lo = type == UINT8 ? 0 : -128, hi = lo + 255, offByOne = 0;
                    for (long i = 0; i < got.elementCount(); i++) {
                        float x = (float) (a.getLong(dev.sluice.kernels.cpu.core.Broadcast.map(i, os, as)) - za) * sa;
                        float y = (float) (b.getLong(dev.sluice.kernels.cpu.core.Broadcast.map(i, os, bs)) - zb) * sb;
                        long qa = a.getLong(dev.sluice.kernels.cpu.core.Broadcast.map(i, os, as)) - za, qb = b.getLong(dev.sluice.kernels.cpu.core.Broadcast.map(i, os, bs)) - zb;
                        long want = op.equals("QLinearAdd") ? (long) Math.rint((x + y) / sc) + zc
                            : (long) Math.rint((float) (qa * qb) * (sa * sb / sc) + (float) zc);
                        if (op.equals("QLinearAdd")) {
                            // the real-number sum is within one step of what any float evaluation rounds to
                            want = Math.max(lo, Math.min(hi, want));
                            assertTrue(Math.abs(want - got.getLong(i)) <= 1, "QLinearAdd far from the real sum at " + i);
                            want = got.getLong(i);
                        }
                        want = Math.max(lo, Math.min(hi, want));
                        String at = op + " " + dtype(type) + " " + Shape.of(sh[0]) + " x " + Shape.of(sh[1]) + " at " + i;
                        assertEquals(want, got.getLong(i), at + " (formula)");
                        long d = Math.abs(got.getLong(i) - ref.getLong(i));
                        assertTrue(d <= 1, at + ": ORT " + ref.getLong(i) + ", ours " + got.getLong(i));
                        offByOne += (int) d;
                    }
                    assertEquals(0, offByOne, op + " " + dtype(type) + " " + Shape.of(sh[0]) + " x " + Shape.of(sh[1]) + ": elements one step from ORT");
                }
            }
        }
    }

    // ---- unary table ops, concat, pools --------------------------------------------------------------------------

    /** QLinearSigmoid and QLinearLeakyRelu over every byte value, both types. */
    @Test
    void unaryOpsMatchOrtOnEveryByte() throws Exception {
        for (String op : new String[] {"QLinearSigmoid", "QLinearLeakyRelu"}) {
            for (int type : new int[] {UINT8, INT8}) {
                for (int round = 0; round < 4; round++) {
                    float sx = (float) (0.01 + r.nextDouble() * 0.1), sy = op.equals("QLinearSigmoid") ? 1f / 256 + r.nextFloat() * 0.001f : sx * (0.5f + r.nextFloat());
                    int zx = zp(type), zy = type == UINT8 ? r.nextInt(40) : -128 + r.nextInt(40);
                    if (round == 3) {
                        // the far negative tail at a tiny output step: where ORT's rational approximation of the
                        // logistic function (exactly 0 below about -17) and 1 / (1 + e^-x) part ways
                        sx = 0.1f; zx = type == UINT8 ? 255 : 127; sy = 1e-9f; zy = type == UINT8 ? 0 : -128;
                    }
                    OnnxModelBuilder b = new OnnxModelBuilder(13).input("x", type, 2, 2, 67).output("y", type, 2, 2, 67)
                        .floatInit("sx", new long[0], sx).byteInit("zx", type, new long[0], zx)
                        .floatInit("sy", new long[0], sy).byteInit("zy", type, new long[0], zy);
                    Path f = msModel(op.equals("QLinearLeakyRelu")
                        ? b.node(op, List.of("x", "sx", "zx", "sy", "zy"), List.of("y"), OnnxModelBuilder.floatAttr("alpha", 0.1f + round * 0.2f))
                        : b.node(op, List.of("x", "sx", "zx", "sy", "zy"), List.of("y")));
                    Tensor x = randomBytes(type, 2, 2, 67);
                    for (int i = 0; i < 256; i++) x.setLong(i, i + (type == UINT8 ? 0 : -128));
                    assertSameAsOrt(f, Map.of("x", x), op + " " + dtype(type));
                }
            }
        }
    }

    /** QLinearSoftmax before opset 13 (the axes from axis on) and from 13 (one axis, middle and last), both types. */
    @Test
    void softmaxMatchesOrt() throws Exception {
        long[] shape = {2, 5, 37};
        for (int type : new int[] {UINT8, INT8}) {
            for (long[] opsetAxis : new long[][] {{12, 1}, {13, -1}, {13, 1}}) {
                // int8 output: zero point -128 and 1/200 steps keep ORT clear of its wrap-around past 127
                OnnxModelBuilder b = new OnnxModelBuilder(13).input("x", type, shape).output("y", type, shape)
                    .floatInit("sx", new long[0], (float) (0.02 + r.nextDouble() * 0.2)).byteInit("zx", type, new long[0], zp(type))
                    .floatInit("sy", new long[0], type == UINT8 ? 1f / 256 : 1f / 200).byteInit("zy", type, new long[0], type == UINT8 ? 0 : -128);
                Path f = msModel(b.node("QLinearSoftmax", List.of("x", "sx", "zx", "sy", "zy"), List.of("y"),
                    OnnxModelBuilder.intAttr("opset", opsetAxis[0]), OnnxModelBuilder.intAttr("axis", opsetAxis[1])));
                assertSameAsOrt(f, Map.of("x", randomBytes(type, shape)), "QLinearSoftmax " + dtype(type) + " opset " + opsetAxis[0] + " axis " + opsetAxis[1]);
            }
        }
    }

    /** Three inputs at their own scales joined on a middle axis and on the last (negative) one; one needs no requantizing. */
    @Test
    void concatMatchesOrt() throws Exception {
        for (int type : new int[] {UINT8, INT8}) {
            for (long axis : new long[] {1, -1}) {
                long[][] shapes = axis == 1 ? new long[][] {{2, 3, 5}, {2, 1, 5}, {2, 4, 5}} : new long[][] {{2, 3, 5}, {2, 3, 1}, {2, 3, 6}};
                long[] out = axis == 1 ? new long[] {2, 8, 5} : new long[] {2, 3, 12};
                float sy = scale();
                int zy = zp(type);
                OnnxModelBuilder b = new OnnxModelBuilder(13).output("y", type, out)
                    .floatInit("sy", new long[0], sy).byteInit("zy", type, new long[0], zy);
                List<String> ins = new java.util.ArrayList<>(List.of("sy", "zy"));
                Map<String, Tensor> feed = new HashMap<>();
                for (int i = 0; i < 3; i++) {
                    b.input("x" + i, type, shapes[i]);
                    if (i == 1) b.floatInit("s" + i, new long[0], sy).byteInit("z" + i, type, new long[0], zy);
                    else b.floatInit("s" + i, new long[0], scale()).byteInit("z" + i, type, new long[0], zp(type));
                    ins.addAll(List.of("x" + i, "s" + i, "z" + i));
                    feed.put("x" + i, randomBytes(type, shapes[i]));
                }
                Path f = msModel(b.node("QLinearConcat", ins, List.of("y"), OnnxModelBuilder.intAttr("axis", axis)));
                assertSameAsOrt(f, feed, "QLinearConcat " + dtype(type) + " axis " + axis);
            }
        }
    }

    private Path poolModel(String op, int type, long[] in, long[] out, OnnxMl.AttributeProto... attrs) throws Exception {
        // the output's sizes left symbolic: ORT and we each compute them, and the comparison checks they agree
        Object[] sym = new Object[out.length];
        for (int i = 0; i < out.length; i++) sym[i] = "d" + i;
        return msModel(new OnnxModelBuilder(13).input("x", type, in).outputSym("y", type, sym)
            .floatInit("sx", new long[0], scale()).byteInit("zx", type, new long[0], zp(type))
            .floatInit("sy", new long[0], scale()).byteInit("zy", type, new long[0], zp(type))
            .node(op, List.of("x", "sx", "zx", "sy", "zy"), List.of("y"), attrs));
    }

    /** Channels first and channels last, both types, odd image sizes. */
    @Test
    void globalAveragePoolMatchesOrt() throws Exception {
        for (int type : new int[] {UINT8, INT8}) {
            for (int round = 0; round < 3; round++) {
                Path first = poolModel("QLinearGlobalAveragePool", type, new long[] {2, 3, 5, 7}, new long[] {2, 3, 1, 1});
                assertSameAsOrt(first, Map.of("x", randomBytes(type, 2, 3, 5, 7)), "channels first " + dtype(type));
                Path last = poolModel("QLinearGlobalAveragePool", type, new long[] {2, 9, 11, 5}, new long[] {2, 1, 1, 5},
                    OnnxModelBuilder.intAttr("channels_last", 1));
                assertSameAsOrt(last, Map.of("x", randomBytes(type, 2, 9, 11, 5)), "channels last " + dtype(type));
            }
        }
    }

    /** Padding counted or not, ceil mode, strides, channels last, 1-D and 2-D windows. */
    @Test
    void averagePoolMatchesOrt() throws Exception {
        for (int type : new int[] {UINT8, INT8}) {
            for (int includePad = 0; includePad < 2; includePad++) {
                for (int ceil = 0; ceil < 2; ceil++) {
                    var attrs = new OnnxMl.AttributeProto[] {OnnxModelBuilder.ints("kernel_shape", 3, 2), OnnxModelBuilder.ints("strides", 2, 2),
                        OnnxModelBuilder.ints("pads", 1, 0, 1, 1), OnnxModelBuilder.intAttr("count_include_pad", includePad),
                        OnnxModelBuilder.intAttr("ceil_mode", ceil)};
                    long h = 5, w = 5;
                    String what = dtype(type) + " include_pad " + includePad + " ceil " + ceil;
                    Path first = poolModel("QLinearAveragePool", type, new long[] {2, 3, 9, 10}, new long[] {2, 3, h, w}, attrs);
                    assertSameAsOrt(first, Map.of("x", randomBytes(type, 2, 3, 9, 10)), what);
                    var lastAttrs = java.util.Arrays.copyOf(attrs, attrs.length + 1);
                    lastAttrs[attrs.length] = OnnxModelBuilder.intAttr("channels_last", 1);
                    Path last = poolModel("QLinearAveragePool", type, new long[] {2, 9, 10, 3}, new long[] {2, h, w, 3}, lastAttrs);
                    assertSameAsOrt(last, Map.of("x", randomBytes(type, 2, 9, 10, 3)), what + " channels last");
                }
            }
            Path oneD = poolModel("QLinearAveragePool", type, new long[] {1, 4, 17}, new long[] {1, 4, 6},
                OnnxModelBuilder.ints("kernel_shape", 4), OnnxModelBuilder.ints("strides", 3), OnnxModelBuilder.ints("pads", 2, 2));
            assertSameAsOrt(oneD, Map.of("x", randomBytes(type, 1, 4, 17)), "1-D " + dtype(type));
        }
    }

    // ---- QGemm ---------------------------------------------------------------------------------------------------

    /** Transposes, per-column weight scales and zero points, an int32 bias broadcast per column, float and 8-bit Y. */
    @Test
    void qgemmMatchesOrt() throws Exception {
        int[][] sizes = {{1, 1, 1}, {3, 17, 5}, {7, 70, 33}, {33, 513, 19}};
        int round = 0;
        for (int[] mkn : sizes) {
            for (int aType : new int[] {UINT8, INT8}) {
                // ORT's kernels: u8 A with u8 or s8 B, s8 A with s8 B; a quantized Y of A's type
                int m = mkn[0], k = mkn[1], n = mkn[2], bType = aType == INT8 || round % 2 == 0 ? INT8 : UINT8;
                boolean ta = round % 3 == 1, tb = round % 2 == 0, quantized = round % 4 < 2, perColumn = round % 3 != 2;
                round++;
                int[] w = new int[k * n], bzp = new int[perColumn ? n : 1];
                for (int i = 0; i < w.length; i++) w[i] = zp(bType);
                for (int j = 0; j < bzp.length; j++) bzp[j] = zp(bType);
                float[] bs = new float[perColumn ? n : 1];
                for (int j = 0; j < bs.length; j++) bs[j] = scale();
                long[] cols = perColumn ? new long[] {n} : new long[0];
                OnnxModelBuilder b = new OnnxModelBuilder(13).input("a", aType, ta ? new long[] {k, m} : new long[] {m, k}).input("c", INT32, n)
                    .floatInit("sa", new long[0], scale()).byteInit("za", aType, new long[0], zp(aType))
                    .byteInit("w", bType, tb ? new long[] {n, k} : new long[] {k, n}, w)
                    .floatInit("sb", cols, bs).byteInit("zb", bType, cols, bzp);
                List<String> ins = new java.util.ArrayList<>(List.of("a", "sa", "za", "w", "sb", "zb", "c"));
                int yType = FLOAT;
                if (quantized) {
                    yType = aType;
                    b.floatInit("sy", new long[0], scale() * k / 4).byteInit("zy", yType, new long[0], zp(yType));
                    ins.addAll(List.of("sy", "zy"));
                }
                b.output("y", yType, m, n);
                Path f = msModel(b.node("QGemm", ins, List.of("y"), OnnxModelBuilder.intAttr("transA", ta ? 1 : 0),
                    OnnxModelBuilder.intAttr("transB", tb ? 1 : 0), OnnxModelBuilder.floatAttr("alpha", 0.75f)));
                Tensor c = Tensor.allocate(DType.INT32, Shape.of(n));
                for (int j = 0; j < n; j++) c.setLong(j, r.nextInt(20001) - 10000);
                Map<String, Tensor> feed = Map.of("a", randomBytes(aType, ta ? new long[] {k, m} : new long[] {m, k}), "c", c);
                assertSameAsOrt(f, feed, "QGemm " + m + "x" + k + "x" + n + " transA " + ta + " transB " + tb + " y " + yType);
            }
        }
    }

    // ---- QuantizeLinear / DequantizeLinear (com.microsoft) ----------------------------------------------------------

    @Test
    void msQuantizeAndDequantizeMatchOrt() throws Exception {
        for (int type : new int[] {UINT8, INT8}) {
            Path f = msModel(new OnnxModelBuilder(13).input("x", FLOAT, 3, 4, 5).output("y", FLOAT, 3, 4, 5).output("q", type, 3, 4, 5)
                .floatInit("s", new long[] {4}, 0.02f, 0.05f, 0.011f, 0.3f).byteInit("z", type, new long[] {4}, zp(type), zp(type), zp(type), zp(type))
                .node("QuantizeLinear", List.of("x", "s", "z"), List.of("q"), OnnxModelBuilder.intAttr("axis", 1))
                .node("DequantizeLinear", List.of("q", "s", "z"), List.of("y"), OnnxModelBuilder.intAttr("axis", 1)));
            Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(3, 4, 5));
            for (int i = 0; i < 60; i++) x.setFloat(i, (float) (r.nextGaussian() * 3));
            x.setFloat(0, 0.01f); // a tie: 0.01 / 0.02 = 0.5 rounds to even
            assertSameAsOrt(f, Map.of("x", x), "com.microsoft Quantize/DequantizeLinear " + dtype(type));
        }
    }

    // ---- MatMulIntegerToFloat / DynamicQuantizeMatMul ----------------------------------------------------------------

    /**
     * u8 x s8, u8 x u8 and s8 x s8 (the pairs ORT implements), batched A, per-column and per-tensor weight scales, with
     * and without bias; the weight constant (packed once, the product split across threads when large) and fed at
     * run time (packed per call). Bit for bit.
     */
    @Test
    void matMulIntegerToFloatMatchesOrt() throws Exception {
        int[][] sizes = {{1, 1, 1}, {5, 33, 17}, {9, 600, 70}, {64, 384, 130}};
        int round = 0;
        for (int[] mkn : sizes) {
            for (int aType : new int[] {UINT8, INT8}) {
                // ORT's kernels: u8 A with u8 or s8 B, s8 A with s8 B
                int m = mkn[0], k = mkn[1], n = mkn[2], bType = aType == INT8 || round % 2 == 0 ? INT8 : UINT8;
                boolean perColumn = round % 3 != 1, withBias = round % 2 == 1;
                round++;
                int[] w = new int[k * n];
                for (int i = 0; i < w.length; i++) w[i] = zp(bType);
                long[] cols = perColumn ? new long[] {n} : new long[0];
                float[] bs = new float[perColumn ? n : 1], bias = new float[n];
                int[] bzp = new int[perColumn ? n : 1];
                for (int j = 0; j < bs.length; j++) { bs[j] = scale(); bzp[j] = zp(bType); }
                for (int j = 0; j < n; j++) bias[j] = (float) r.nextGaussian();
                Tensor a = randomBytes(aType, 2, m, k);
                for (boolean constant : new boolean[] {true, false}) {
                    OnnxModelBuilder b = new OnnxModelBuilder(13).input("a", aType, 2, m, k).output("y", FLOAT, 2, m, n)
                        .floatInit("sa", new long[0], 0.013f).floatInit("sb", cols, bs)
                        .byteInit("za", aType, new long[0], aType == UINT8 ? 131 : -3).byteInit("zb", bType, cols, bzp).floatInit("bias", new long[] {n}, bias);
                    Map<String, Tensor> in = new HashMap<>(Map.of("a", a));
                    if (constant) b.byteInit("w", bType, new long[] {k, n}, w);
                    else {
                        b.input("w", bType, k, n);
                        Tensor wt = Tensor.allocate(dtype(bType), Shape.of(k, n));
                        for (int i = 0; i < w.length; i++) wt.setLong(i, w[i]);
                        in.put("w", wt);
                    }
                    Path f = msModel(b.node("MatMulIntegerToFloat", withBias ? List.of("a", "w", "sa", "sb", "za", "zb", "bias") : List.of("a", "w", "sa", "sb", "za", "zb"), List.of("y")));
                    assertSameAsOrt(f, in, "MatMulIntegerToFloat " + m + "x" + k + "x" + n + " constant " + constant);
                }
            }
        }
    }

    /**
     * Constant weights (the packed, parallel path) and weights fed at run time (quantize, then the exact product),
     * both weight types, per-column and per-tensor scales: bit for bit.
     */
    @Test
    void dynamicQuantizeMatMulMatchesOrt() throws Exception {
        int[][] sizes = {{1, 7, 5}, {6, 65, 31}, {33, 384, 130}};
        int round = 0;
        for (int[] mkn : sizes) {
            for (int bType : new int[] {INT8, UINT8}) {
                int m = mkn[0], k = mkn[1], n = mkn[2];
                boolean perColumn = round % 2 == 0;
                round++;
                int[] w = new int[k * n], bzp = new int[perColumn ? n : 1];
                for (int i = 0; i < w.length; i++) w[i] = zp(bType);
                float[] bs = new float[perColumn ? n : 1], bias = new float[n];
                for (int j = 0; j < bs.length; j++) { bs[j] = scale(); bzp[j] = zp(bType); }
                for (int j = 0; j < n; j++) bias[j] = (float) r.nextGaussian();
                long[] cols = perColumn ? new long[] {n} : new long[0];
                Tensor a = Tensor.allocate(DType.FLOAT32, Shape.of(1, m, k));
                for (int i = 0; i < m * k; i++) a.setFloat(i, (float) (r.nextGaussian() * 2 + 0.3));
                for (boolean constant : new boolean[] {true, false}) {
                    OnnxModelBuilder b = new OnnxModelBuilder(13).input("a", FLOAT, 1, m, k).output("y", FLOAT, 1, m, n)
                        .floatInit("sb", cols, bs).byteInit("zb", bType, cols, bzp).floatInit("bias", new long[] {n}, bias);
                    Map<String, Tensor> in = new HashMap<>(Map.of("a", a));
                    if (constant) b.byteInit("w", bType, new long[] {k, n}, w);
                    else {
                        b.input("w", bType, k, n);
                        Tensor wt = Tensor.allocate(dtype(bType), Shape.of(k, n));
                        for (int i = 0; i < w.length; i++) wt.setLong(i, w[i]);
                        in.put("w", wt);
                    }
                    Path f = msModel(b.node("DynamicQuantizeMatMul", List.of("a", "w", "sb", "zb", "bias"), List.of("y")));
                    assertSameAsOrt(f, in, "DynamicQuantizeMatMul " + m + "x" + k + "x" + n + " constant " + constant);
                }
            }
        }
    }

    // ---- MatMulNBits ---------------------------------------------------------------------------------------------

    /**
     * 4-bit blockwise weights: K not a multiple of the block (padding), packed uint8 zero points, none
     * (2^(bits-1)), and float zero points; bias. The product is float32 in another order than ORT's: the project
     * tolerance.
     */
    @Test
    void matMulNBitsMatchesOrt() throws Exception {
        int[][] cases = {{3, 70, 13, 16, 4}, {1, 64, 8, 32, 4}, {5, 129, 7, 64, 4}, {2, 40, 9, 128, 4}};
        for (int[] c : cases) {
            int m = c[0], k = c[1], n = c[2], bs = c[3], bits = c[4];
            int blocks = (k + bs - 1) / bs, blob = bs * bits / 8;
            for (int zpMode = 0; zpMode < 3; zpMode++) {
                int[] w = new int[n * blocks * blob];
                for (int i = 0; i < w.length; i++) w[i] = r.nextInt(256);
                float[] scales = new float[n * blocks];
                for (int i = 0; i < scales.length; i++) scales[i] = scale();
                float[] bias = new float[n];
                for (int j = 0; j < n; j++) bias[j] = (float) r.nextGaussian();
                OnnxModelBuilder b = new OnnxModelBuilder(13).input("a", FLOAT, m, k).output("y", FLOAT, m, n)
                    .byteInit("w", UINT8, new long[] {n, blocks, blob}, w).floatInit("s", new long[] {(long) n * blocks}, scales)
                    .floatInit("bias", new long[] {n}, bias);
                String zpName = "";
                if (zpMode == 1) {
                    int row = (blocks * bits + 7) / 8;
                    int[] z = new int[n * row];
                    for (int i = 0; i < z.length; i++) z[i] = r.nextInt(256);
                    b.byteInit("zp", UINT8, new long[] {(long) n * row}, z);
                    zpName = "zp";
                } else if (zpMode == 2) {
                    float[] z = new float[n * blocks];
                    for (int i = 0; i < z.length; i++) z[i] = (float) (r.nextDouble() * ((1 << bits) - 1));
                    b.floatInit("zp", new long[] {(long) n * blocks}, z);
                    zpName = "zp";
                }
                Path f = msModel(b.node("MatMulNBits", List.of("a", "w", "s", zpName, "", "bias"), List.of("y"),
                    OnnxModelBuilder.intAttr("K", k), OnnxModelBuilder.intAttr("N", n), OnnxModelBuilder.intAttr("bits", bits),
                    OnnxModelBuilder.intAttr("block_size", bs)));
                Tensor a = Tensor.allocate(DType.FLOAT32, Shape.of(m, k));
                for (int i = 0; i < m * k; i++) a.setFloat(i, (float) r.nextGaussian());
                Map<String, Tensor> in = Map.of("a", a);
                Tensor ref = OrtReference.run(f, in).get("y"), got = ours(f, in).get("y");
                assertNull(Tolerance.DEFAULT.mismatch(got, ref), "MatMulNBits " + m + "x" + k + "x" + n + " block " + bs + " bits " + bits + " zp mode " + zpMode);
            }
        }
    }

    // ---- QLinearConv (ai.onnx) on the lowered int8 product ---------------------------------------------------------

    /**
     * QLinearConv, the heaviest op of every QOperator CNN, against ORT bit for bit: strides, padding, dilation, grouped
     * and depthwise filters, 1-D and 2-D, per-channel weight scales, u8 weights with a zero point and s8 weights,
     * an int32 bias; sizes that leave partial row tiles and weight panels and more than one block of positions.
     */
    @Test
    void qlinearConvMatchesOrt() throws Exception {
        // {channels, filters, group, kernel, stride, pad, dilation, spatial (0: 1-D of 37)}
        int[][] cases = {{3, 8, 1, 3, 2, 1, 1, 19}, {6, 6, 6, 3, 1, 1, 1, 17}, {4, 10, 2, 3, 1, 2, 2, 13}, {5, 7, 1, 5, 2, 2, 1, 0}, {16, 40, 1, 1, 1, 0, 1, 23}};
        int round = 0;
        for (int[] c : cases) {
            for (int wType : new int[] {INT8, UINT8}) {
                int ch = c[0], f = c[1], grp = c[2], k = c[3], st = c[4], pad = c[5], dil = c[6], hw = c[7];
                boolean oneD = hw == 0;
                long[] xs = oneD ? new long[] {2, ch, 37} : new long[] {1, ch, hw, hw + 2};
                long[] ws = oneD ? new long[] {f, ch / grp, k} : new long[] {f, ch / grp, k, k};
                int wCount = (int) (ws[0] * ws[1] * ws[2] * (oneD ? 1 : ws[3]));
                int[] w = new int[wCount];
                for (int i = 0; i < wCount; i++) w[i] = zp(wType);
                float[] wScale = new float[f];
                for (int j = 0; j < f; j++) wScale[j] = (float) (0.002 + r.nextDouble() * 0.01);
                OnnxMl.AttributeProto[] attrs = oneD
                    ? new OnnxMl.AttributeProto[] {OnnxModelBuilder.ints("strides", st), OnnxModelBuilder.ints("pads", pad, pad),
                        OnnxModelBuilder.ints("dilations", dil), OnnxModelBuilder.intAttr("group", grp)}
                    : new OnnxMl.AttributeProto[] {OnnxModelBuilder.ints("strides", st, st), OnnxModelBuilder.ints("pads", pad, pad, pad, pad),
                        OnnxModelBuilder.ints("dilations", dil, dil), OnnxModelBuilder.intAttr("group", grp)};
                Object[] ys = new Object[xs.length];
                for (int i = 0; i < ys.length; i++) ys[i] = "d" + i;
                OnnxModelBuilder b = new OnnxModelBuilder(13).input("x", UINT8, xs).input("bias", INT32, f).outputSym("y", UINT8, ys)
                    .floatInit("sx", new long[0], 0.02f).byteInit("zx", UINT8, new long[0], 120 + round % 10)
                    .byteInit("w", wType, ws, w).floatInit("sw", new long[] {f}, wScale).byteInit("zw", wType, new long[0], wType == UINT8 ? 117 : 0)
                    .floatInit("sy", new long[0], 0.05f + 0.01f * (round % 3)).byteInit("zy", UINT8, new long[0], 128)
                    .node("QLinearConv", List.of("x", "sx", "zx", "w", "sw", "zw", "sy", "zy", "bias"), List.of("y"), attrs);
                Path file = b.write(tmp.resolve("qconv" + round++ + ".onnx"));
                Tensor bias = Tensor.allocate(DType.INT32, Shape.of(f));
                for (int j = 0; j < f; j++) bias.setLong(j, r.nextInt(4001) - 2000);
                assertSameAsOrt(file, Map.of("x", randomBytes(UINT8, xs), "bias", bias), "QLinearConv case " + java.util.Arrays.toString(c) + " w " + dtype(wType));
            }
        }
    }

    // ---- a QOperator chain through the planner and a throttled device --------------------------------------------

    /**
     * The QOperator format end to end, as ORT's static quantizer writes a small CNN (its input already quantized):
     * QLinearConv, then every com.microsoft op of this family, Flatten, QGemm, and a com.microsoft DequantizeLinear. Bit for bit
     * against ORT on the planned CPU path (second run: planned arenas) and through the dispatcher on a throttled
     * device at 95% of the memory it needs. At 50% this chain cannot run (one node's inputs and outputs alone are
     * more than half of the peak), and the planner says so before running, naming the node and the bytes.
     */
    @Test
    void qOperatorChainMatchesOrtPlannedAndUnderABudget() throws Exception {
        int u8 = UINT8;
        int[] w = new int[8 * 3 * 3 * 3], wg = new int[10 * 16];
        for (int i = 0; i < w.length; i++) w[i] = r.nextInt(256) - 128;
        for (int i = 0; i < wg.length; i++) wg[i] = r.nextInt(256) - 128;
        OnnxModelBuilder b = new OnnxModelBuilder(13).input("qx", u8, 1, 3, 16, 16).output("y", FLOAT, 1, 10).output("d", FLOAT, 1, 16, 8, 8)
            .byteInit("w", INT8, new long[] {8, 3, 3, 3}, w).floatInit("sw", new long[0], 0.01f).byteInit("zw", INT8, new long[0], 0)
            .byteInit("wg", INT8, new long[] {10, 16}, wg).floatInit("swg", new long[0], 0.02f).byteInit("zwg", INT8, new long[0], 0);
        for (String q : new String[] {"x", "c", "s", "m", "a", "l", "p", "p2", "y8", "g"}) {
            b.floatInit("s_" + q, new long[0], q.equals("s") ? 1f / 255 : (float) (0.02 + r.nextDouble() * 0.05))
                .byteInit("z_" + q, u8, new long[0], q.equals("s") ? 0 : 100 + r.nextInt(50));
        }
        b.node("QLinearConv", List.of("qx", "s_x", "z_x", "w", "sw", "zw", "s_c", "z_c"), List.of("c"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
            .node("QLinearSigmoid", List.of("c", "s_c", "z_c", "s_s", "z_s"), List.of("s"))
            .node("QLinearMul", List.of("c", "s_c", "z_c", "s", "s_s", "z_s", "s_m", "z_m"), List.of("m"))
            .node("QLinearAdd", List.of("m", "s_m", "z_m", "c", "s_c", "z_c", "s_a", "z_a"), List.of("a"))
            .node("QLinearLeakyRelu", List.of("a", "s_a", "z_a", "s_l", "z_l"), List.of("l"), OnnxModelBuilder.floatAttr("alpha", 0.1f))
            .node("QLinearAveragePool", List.of("l", "s_l", "z_l", "s_p", "z_p"), List.of("p"), OnnxModelBuilder.ints("kernel_shape", 3, 3),
                OnnxModelBuilder.ints("strides", 2, 2), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
            .node("QLinearAveragePool", List.of("c", "s_c", "z_c", "s_p2", "z_p2"), List.of("p2"), OnnxModelBuilder.ints("kernel_shape", 2, 2),
                OnnxModelBuilder.ints("strides", 2, 2))
            .node("QLinearConcat", List.of("s_y8", "z_y8", "p", "s_p", "z_p", "p2", "s_p2", "z_p2"), List.of("cat"), OnnxModelBuilder.intAttr("axis", 1))
            .node("QLinearGlobalAveragePool", List.of("cat", "s_y8", "z_y8", "s_g", "z_g"), List.of("g"))
            .node("Flatten", List.of("g"), List.of("f"))
            .node("QGemm", List.of("f", "s_g", "z_g", "wg", "swg", "zwg"), List.of("y"), OnnxModelBuilder.intAttr("transB", 1))
            .node("DequantizeLinear", List.of("cat", "s_y8", "z_y8"), List.of("d"));
        // QLinearConv and Flatten stay in ai.onnx; the rest (the final DequantizeLinear too) is com.microsoft
        Path f = b.write(tmp.resolve("chain.onnx"));
        OnnxMl.ModelProto.Builder mb = OnnxMl.ModelProto.parseFrom(Files.readAllBytes(f)).toBuilder()
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1));
        for (OnnxMl.NodeProto.Builder n : mb.getGraphBuilder().getNodeBuilderList()) {
            boolean onnx = List.of("QLinearConv", "Flatten").contains(n.getOpType());
            if (!onnx) n.setDomain("com.microsoft");
        }
        Files.write(f, mb.build().toByteArray());
        Tensor x = randomBytes(u8, 1, 3, 16, 16);
        Map<String, Tensor> ref = OrtReference.runExact(f, Map.of("qx", x));
        for (SessionOptions options : new SessionOptions[] {SessionOptions.builder().threads(2).build(),
                SessionOptions.builder().threads(2).devices("cpu", "throttled:95%").build()}) {
            try (Session s = Session.open(f, options)) {
                for (int run = 0; run < 2; run++) {
                    try (Result res = s.run(Map.of("qx", x))) {
                        for (var e : ref.entrySet()) {
                            assertNull(new Tolerance(0, 0).mismatch(res.get(e.getKey()), e.getValue()), options + " run " + run + " output " + e.getKey());
                        }
                    }
                }
            }
        }
        var half = SessionOptions.builder().threads(2).devices("cpu", "throttled:50%").build();
        Exception e = assertThrows(Exception.class, () -> {
            try (Session s = Session.open(f, half); Result res = s.run(Map.of("qx", x))) {
                res.get("y");
            }
        });
        assertTrue(String.valueOf(e.getMessage()).contains("too small"), e.toString());
    }

    // ---- bad input -----------------------------------------------------------------------------------------------

    /** Cases these kernels do not support or inputs that do not fit: each a named error, never a number. */
    @Test
    void unsupportedCasesAreRefusedByName() throws Exception {
        // MatMulNBits with 2-bit weights (only 4 is implemented)
        Path nbits = msModel(new OnnxModelBuilder(13).input("a", FLOAT, 2, 32).output("y", FLOAT, 2, 4)
            .byteInit("w", UINT8, new long[] {4, 1, 8}, new int[32]).floatInit("s", new long[] {4}, 1f, 1f, 1f, 1f)
            .node("MatMulNBits", List.of("a", "w", "s"), List.of("y"), OnnxModelBuilder.intAttr("K", 32), OnnxModelBuilder.intAttr("N", 4),
                OnnxModelBuilder.intAttr("bits", 2), OnnxModelBuilder.intAttr("block_size", 32)));
        assertRefused(nbits, Map.of("a", Tensor.allocate(DType.FLOAT32, Shape.of(2, 32))), "y_MatMulNBits", "bits=2");
        // QLinearConcat of inputs that differ off the axis
        Path concat = msModel(new OnnxModelBuilder(13).input("x0", UINT8, 2, 3).input("x1", UINT8, 3, 3).outputSym("y", UINT8, "a", "b")
            .floatInit("s", new long[0], 0.1f).byteInit("z", UINT8, new long[0], 3)
            .node("QLinearConcat", List.of("s", "z", "x0", "s", "z", "x1", "s", "z"), List.of("y"), OnnxModelBuilder.intAttr("axis", 1)));
        assertRefused(concat, Map.of("x0", randomBytes(UINT8, 2, 3), "x1", randomBytes(UINT8, 3, 3)), "y_QLinearConcat", "does not fit");
        // QGemm with a quantized output scale but no output zero point
        Path gemm = msModel(new OnnxModelBuilder(13).input("a", UINT8, 2, 3).outputSym("y", UINT8, "m", "n")
            .floatInit("s", new long[0], 0.1f).byteInit("z", UINT8, new long[0], 3).byteInit("w", INT8, new long[] {3, 2}, 1, 2, 3, 4, 5, 6)
            .byteInit("zw", INT8, new long[0], 0)
            .node("QGemm", List.of("a", "s", "z", "w", "s", "zw", "", "s"), List.of("y")));
        assertRefused(gemm, Map.of("a", randomBytes(UINT8, 2, 3)), "y_QGemm", "y_zero_point");
    }

    private static void assertRefused(Path f, Map<String, Tensor> in, String node, String what) {
        Exception e = assertThrows(Exception.class, () -> ours(f, in));
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) all.append(t).append(' ');
        assertTrue(all.toString().contains(node) && all.toString().contains(what), all.toString());
    }

    /** A per-channel scale where the op takes one per tensor: a clear error naming the node, not a wrong answer. */
    @Test
    void perChannelScaleOnQLinearAddIsRefusedByName() throws Exception {
        Path f = msModel(new OnnxModelBuilder(13).input("a", UINT8, 2, 3).input("b", UINT8, 2, 3).output("c", UINT8, 2, 3)
            .floatInit("sa", new long[] {3}, 0.1f, 0.2f, 0.3f).byteInit("za", UINT8, new long[0], 3)
            .floatInit("sc", new long[0], 0.1f).byteInit("zc", UINT8, new long[0], 3)
            .node("QLinearAdd", List.of("a", "sa", "za", "b", "sc", "zc", "sc", "zc"), List.of("c")));
        Exception e = assertThrows(Exception.class, () -> ours(f, Map.of("a", randomBytes(UINT8, 2, 3), "b", randomBytes(UINT8, 2, 3))));
        String all = e + " " + (e.getCause() == null ? "" : e.getCause().toString());
        assertTrue(all.contains("c_QLinearAdd") && all.contains("scale"), all);
    }
}
