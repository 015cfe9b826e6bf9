package dev.sluice.runtime;

import static dev.sluice.runtime.fixtures.OnnxModelBuilder.floatAttr;
import static dev.sluice.runtime.fixtures.OnnxModelBuilder.intAttr;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ONNX Runtime's transformer contrib ops (com.microsoft, and SimplifiedLayerNormalization) against ONNX Runtime
 * 1.29 itself on random inputs: odd hidden sizes (vector tails), batch > 1, broadcast skips and the optional
 * inputs and outputs. Each model runs on the planned CPU executor; some also on a throttled device at half its
 * memory, where the kernels run under the MemGraph dispatcher.
 */
class ContribOpsTest {
    @TempDir Path tmp;

    static final int FLOAT = 1, INT32 = 6;
    static final String MS = "com.microsoft";
    /** Float32 kernels with other summation orders than ORT's MLAS. */
    static final Tolerance TOL = new Tolerance(1e-4, 1e-4);

    private int files;

    Path write(OnnxModelBuilder b) throws Exception { return b.write(tmp.resolve("m" + files++ + ".onnx")); }

    static Tensor random(SplittableRandom r, double scale, long... dims) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(dims));
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, (float) ((r.nextDouble() * 2 - 1) * scale));
        return t;
    }

    static float[] randomArray(SplittableRandom r, double scale, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        return a;
    }

    /** Every output ORT gives, ours by name, within {@code tol}; on the plain CPU and, if asked, a throttled device. */
    static Map<String, Tensor> assertMatchesOrt(Path file, Map<String, Tensor> inputs, Tolerance tol, boolean throttled) throws Exception {
        Map<String, Tensor> ref = OrtReference.run(file, inputs);
        List<SessionOptions> runs = throttled
            ? List.of(SessionOptions.builder().threads(2).build(), SessionOptions.builder().threads(2).devices("cpu", "throttled:50%").build())
            : List.of(SessionOptions.builder().threads(2).build());
        for (SessionOptions o : runs) {
            try (Session s = Session.open(file, o)) {
                for (int run = 0; run < 2; run++) { // the second run is the one on planned memory
                    Map<String, Tensor> ours = s.run(inputs).asMap();
                    for (var e : ref.entrySet()) {
                        String m = tol.mismatch(ours.get(e.getKey()), e.getValue());
                        assertNull(m, file.getFileName() + " " + o.devices() + " run " + run + " output '" + e.getKey() + "': " + m);
                    }
                }
            }
        }
        return ref;
    }

    // ------------------------------------------------------------------ the Gelu family and BiasAdd

    @Test
    void geluFormsMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(1);
        for (long[] dims : new long[][] {{2, 5, 37}, {3, 64}, {1, 1, 7}}) {
            int n = (int) dims[dims.length - 1];
            Tensor x = random(r, 4, dims);
            OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, dims)
                .floatInit("bias", new long[] {n}, randomArray(r, 1, n))
                .output("gelu", FLOAT, dims).output("bias_gelu", FLOAT, dims).output("fast", FLOAT, dims)
                .output("fast_bias", FLOAT, dims).output("quick", FLOAT, dims).output("quick1", FLOAT, dims)
                .nodeIn(MS, "Gelu", List.of("x"), List.of("gelu"))
                .nodeIn(MS, "BiasGelu", List.of("x", "bias"), List.of("bias_gelu"))
                .nodeIn(MS, "FastGelu", List.of("x"), List.of("fast"))
                .nodeIn(MS, "FastGelu", List.of("x", "bias"), List.of("fast_bias"))
                .nodeIn(MS, "QuickGelu", List.of("x"), List.of("quick"))
                .nodeIn(MS, "QuickGelu", List.of("x"), List.of("quick1"), floatAttr("alpha", 1.0f));
            assertMatchesOrt(write(b), Map.of("x", x), TOL, false);
        }
    }

    /** ONNX Runtime 1.29 has no CPU BiasAdd: the reference is the two float adds in the op's order, so bit for bit. */
    @Test
    void biasAddIsInputPlusBiasPlusSkip() throws Exception {
        SplittableRandom r = new SplittableRandom(2);
        long[] dims = {2, 9, 40};
        float[] bias = randomArray(r, 1, 40);
        OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, dims).input("skip", FLOAT, dims)
            .floatInit("bias", new long[] {40}, bias).output("y", FLOAT, dims)
            .nodeIn(MS, "BiasAdd", List.of("x", "bias", "skip"), List.of("y"));
        Tensor x = random(r, 3, dims), skip = random(r, 3, dims);
        try (Session s = Session.open(write(b), 2)) {
            Tensor y = s.run(Map.of("x", x, "skip", skip)).asMap().get("y");
            for (int i = 0; i < x.elementCount(); i++) assertEquals(x.getFloat(i) + bias[i % 40] + skip.getFloat(i), y.getFloat(i), 0f, "element " + i);
        }
    }

    // ------------------------------------------------------------------ the residual layer norms

    @Test
    void skipLayerNormalizationMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        long[] dims = {2, 7, 45};
        int h = 45;
        for (long[] skipDims : new long[][] {dims, {7, 45}, {1, 7, 45}}) {
            for (int variant = 0; variant < 3; variant++) {
                List<String> ins = switch (variant) {
                    case 0 -> List.of("x", "skip", "gamma");
                    case 1 -> List.of("x", "skip", "gamma", "beta");
                    default -> List.of("x", "skip", "gamma", "beta", "bias");
                };
                OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, dims).input("skip", FLOAT, skipDims)
                    .floatInit("gamma", new long[] {h}, randomArray(r, 2, h)).floatInit("beta", new long[] {h}, randomArray(r, 1, h))
                    .floatInit("bias", new long[] {h}, randomArray(r, 1, h))
                    .output("y", FLOAT, dims).output("sum", FLOAT, dims)
                    .nodeIn(MS, "SkipLayerNormalization", ins, List.of("y", "", "", "sum"), floatAttr("epsilon", 1e-5f));
                assertMatchesOrt(write(b), Map.of("x", random(r, 3, dims), "skip", random(r, 3, skipDims)), TOL, false);
            }
        }
        // only the normalized output, default epsilon
        OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, 3, 16).input("skip", FLOAT, 3, 16)
            .floatInit("gamma", new long[] {16}, randomArray(r, 2, 16)).output("y", FLOAT, 3, 16)
            .nodeIn(MS, "SkipLayerNormalization", List.of("x", "skip", "gamma"), List.of("y"));
        assertMatchesOrt(write(b), Map.of("x", random(r, 3, 3, 16), "skip", random(r, 3, 3, 16)), TOL, false);
    }

    /**
     * ONNX Runtime's CPU kernel does not write SkipLayerNormalization's mean and inv_std_var: they are checked
     * against the row statistics computed here in double, as LayerNormalization defines them.
     */
    @Test
    void skipLayerNormalizationStatisticsAreTheRowMeanAndInverseDeviation() throws Exception {
        SplittableRandom r = new SplittableRandom(4);
        int rows = 6, h = 33;
        float eps = 1e-5f;
        float[] bias = randomArray(r, 1, h);
        OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, 2, 3, h).input("skip", FLOAT, 2, 3, h)
            .floatInit("gamma", new long[] {h}, randomArray(r, 2, h)).floatInit("bias", new long[] {h}, bias)
            .output("y", FLOAT, 2, 3, h).output("mean", FLOAT, 2, 3, 1).output("inv", FLOAT, 2, 3, 1)
            .nodeIn(MS, "SkipLayerNormalization", List.of("x", "skip", "gamma", "", "bias"), List.of("y", "mean", "inv"),
                floatAttr("epsilon", eps));
        Tensor x = random(r, 3, 2, 3, h), skip = random(r, 3, 2, 3, h);
        try (Session s = Session.open(write(b), 2)) {
            Map<String, Tensor> out = s.run(Map.of("x", x, "skip", skip)).asMap();
            assertEquals(Shape.of(2, 3, 1), out.get("mean").shape());
            for (int row = 0; row < rows; row++) {
                double sum = 0, sq = 0;
                for (int j = 0; j < h; j++) sum += (double) x.getFloat(row * h + j) + skip.getFloat(row * h + j) + bias[j];
                double mean = sum / h;
                for (int j = 0; j < h; j++) {
                    double d = (double) x.getFloat(row * h + j) + skip.getFloat(row * h + j) + bias[j] - mean;
                    sq += d * d;
                }
                double inv = 1 / Math.sqrt(sq / h + eps);
                assertEquals(mean, out.get("mean").getFloat(row), 1e-5, "mean of row " + row);
                assertEquals(inv, out.get("inv").getFloat(row), 1e-4 * inv, "inv_std_var of row " + row);
            }
        }
    }

    @Test
    void skipSimplifiedLayerNormalizationMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        long[] dims = {3, 5, 50};
        for (long[] skipDims : new long[][] {dims, {5, 50}}) {
            OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, dims).input("skip", FLOAT, skipDims)
                .floatInit("gamma", new long[] {50}, randomArray(r, 2, 50))
                .output("y", FLOAT, dims).output("sum", FLOAT, dims)
                .nodeIn(MS, "SkipSimplifiedLayerNormalization", List.of("x", "skip", "gamma"), List.of("y", "", "", "sum"),
                    floatAttr("epsilon", 1e-6f));
            assertMatchesOrt(write(b), Map.of("x", random(r, 3, dims), "skip", random(r, 3, skipDims)), TOL, false);
        }
    }

    @Test
    void skipSimplifiedLayerNormalizationWithBiasMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        long[] dims = {2, 3, 16};
        OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, dims).input("skip", FLOAT, dims)
            .floatInit("gamma", new long[] {16}, randomArray(r, 2, 16)).floatInit("bias", new long[] {16}, randomArray(r, 2, 16))
            .output("y", FLOAT, dims).output("sum", FLOAT, dims)
            .nodeIn(MS, "SkipSimplifiedLayerNormalization", List.of("x", "skip", "gamma", "bias"), List.of("y", "", "", "sum"));
        assertMatchesOrt(write(b), Map.of("x", random(r, 3, dims), "skip", random(r, 3, dims)), TOL, false);
    }

    @Test
    void simplifiedLayerNormalizationMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(6);
        long[] dims = {2, 3, 4, 13};
        for (int axis : new int[] {-1, 2}) {
            long[] norm = axis == -1 ? new long[] {13} : new long[] {4, 13};
            int n = axis == -1 ? 13 : 52;
            long[] st = axis == -1 ? new long[] {2, 3, 4, 1} : new long[] {2, 3, 1, 1};
            OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, dims)
                .floatInit("scale", norm, randomArray(r, 2, n)).output("y", FLOAT, dims).output("inv", FLOAT, st)
                .node("SimplifiedLayerNormalization", List.of("x", "scale"), List.of("y", "inv"), intAttr("axis", axis), floatAttr("epsilon", 1e-6f));
            assertMatchesOrt(write(b), Map.of("x", random(r, 2, dims)), TOL, false);
        }
    }

    // ------------------------------------------------------------------ FusedMatMul

    @Test
    void fusedMatMulMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        // {A dims, B dims, transA, transB, Y dims}
        Object[][] cases = {
            {new long[] {5, 7}, new long[] {7, 9}, 0, 0, new long[] {5, 9}},
            {new long[] {7, 5}, new long[] {7, 9}, 1, 0, new long[] {5, 9}},
            {new long[] {5, 7}, new long[] {9, 7}, 0, 1, new long[] {5, 9}},
            {new long[] {2, 3, 7, 5}, new long[] {2, 3, 9, 7}, 1, 1, new long[] {2, 3, 5, 9}},
            {new long[] {2, 4, 6, 8}, new long[] {2, 4, 10, 8}, 0, 1, new long[] {2, 4, 6, 10}}, // attention's Q K^T
            {new long[] {3, 6, 8}, new long[] {8, 40}, 0, 0, new long[] {3, 6, 40}},             // batch broadcast
            {new long[] {2, 1, 6, 8}, new long[] {3, 40, 8}, 0, 1, new long[] {2, 3, 6, 40}},
            {new long[] {8}, new long[] {2, 8, 5}, 0, 0, new long[] {2, 5}},                      // a 1-D A
        };
        for (Object[] c : cases) {
            long[] ad = (long[]) c[0], bd = (long[]) c[1];
            int ta = (int) c[2], tb = (int) c[3];
            OnnxModelBuilder b = new OnnxModelBuilder(17).input("a", FLOAT, ad).input("b", FLOAT, bd)
                .output("y", FLOAT, (long[]) c[4])
                .nodeIn(MS, "FusedMatMul", List.of("a", "b"), List.of("y"), intAttr("transA", ta), intAttr("transB", tb),
                    floatAttr("alpha", 0.125f));
            assertMatchesOrt(write(b), Map.of("a", random(r, 2, ad), "b", random(r, 2, bd)), TOL, false);
        }
    }

    @Test
    void fusedMatMulRefusesTransposedBatches() throws Exception {
        OnnxModelBuilder b = new OnnxModelBuilder(17).input("a", FLOAT, 2, 3, 4).input("b", FLOAT, 2, 4, 5).output("y", FLOAT, 2, 3, 5)
            .nodeIn(MS, "FusedMatMul", List.of("a", "b"), List.of("y"), intAttr("transBatchA", 1));
        Path f = write(b);
        SluiceException e = assertThrows(SluiceException.class, () -> {
            try (Session s = Session.open(f, 1)) {
                s.run(Map.of("a", Tensor.allocate(DType.FLOAT32, Shape.of(2, 3, 4)), "b", Tensor.allocate(DType.FLOAT32, Shape.of(2, 4, 5))));
            }
        });
        assertTrue(e.getMessage().contains("transBatchA"), e.getMessage());
    }

    // ------------------------------------------------------------------ Attention, MultiHeadAttention

    static Tensor ints(Shape shape, int... v) { return Tensor.ofInts(shape, v); }

    /**
     * Key-padding masks in ORT's forms for batch 3 over 6 keys. No query sees only padding among two or more keys
     * (causal or not): there every score sits near -10000, where a float's step is 0.001, and ORT's own answer hangs
     * on its summation order. A query that sees one padded key alone (left padding under the causal mask) is exact
     * (its one weight is 1) and tells whether keys after the query are masked harder than padding, as in ORT.
     */
    static Map<String, Tensor> masks() {
        Map<String, Tensor> m = new java.util.LinkedHashMap<>();
        m.put("lengths", ints(Shape.of(3), 6, 4, 1));
        m.put("ends_starts", ints(Shape.of(6), 6, 4, 5, 0, 1, 1));
        m.put("2d", ints(Shape.of(3, 6), 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0));
        m.put("2d_holes", ints(Shape.of(3, 6), 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 0));
        Tensor m3 = Tensor.allocate(DType.INT32, Shape.of(3, 6, 6));
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < m3.elementCount(); i++) m3.setLong(i, i % 6 == 0 || r.nextInt(4) != 0 ? 1 : 0);
        m.put("3d", m3);
        return m;
    }

    /**
     * Every mask form, with and without the causal mask (ends and starts make queries whose earlier keys are all
     * padding). Always with a bias: ONNX Runtime 1.29 crashed the JVM (SIGSEGV in libonnxruntime) on an Attention
     * without one.
     */
    @Test
    void attentionMatchesOrtWithEveryMaskForm() throws Exception {
        SplittableRandom r = new SplittableRandom(8);
        int b = 3, s = 6, din = 20, n = 4, hidden = 24;
        Tensor x = random(r, 1, b, s, din);
        float[] w = randomArray(r, 0.5, din * 3 * hidden), bias = randomArray(r, 0.5, 3 * hidden);
        for (boolean causal : new boolean[] {false, true}) {
            List<String> ins = List.of("x", "w", "bias");
            OnnxModelBuilder plain = new OnnxModelBuilder(17).input("x", FLOAT, b, s, din)
                .floatInit("w", new long[] {din, 3 * hidden}, w).floatInit("bias", new long[] {3 * hidden}, bias)
                .output("y", FLOAT, b, s, hidden)
                .nodeIn(MS, "Attention", ins, List.of("y"), intAttr("num_heads", n), intAttr("unidirectional", causal ? 1 : 0));
            assertMatchesOrt(write(plain), Map.of("x", x), TOL, false);
            for (var e : masks().entrySet()) {
                Tensor m = e.getValue();
                OnnxModelBuilder mb = new OnnxModelBuilder(17).input("x", FLOAT, b, s, din).input("mask", INT32, m.shape().dims())
                    .floatInit("w", new long[] {din, 3 * hidden}, w).floatInit("bias", new long[] {3 * hidden}, bias)
                    .output("y", FLOAT, b, s, hidden)
                    .nodeIn(MS, "Attention", List.of("x", "w", "bias", "mask"), List.of("y"), intAttr("num_heads", n),
                        intAttr("unidirectional", causal ? 1 : 0));
                try {
                    assertMatchesOrt(write(mb), Map.of("x", x, "mask", m), TOL, false);
                } catch (AssertionError ae) {
                    throw new AssertionError("mask " + e.getKey() + (causal ? ", causal" : "") + ": " + ae.getMessage(), ae);
                }
            }
        }
    }

    /** Unequal Q/K and V widths (qkv_hidden_sizes), a scale attribute, the attention bias and the present output. */
    @Test
    void attentionWithQkvSizesScaleBiasAndPresentMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(9);
        int b = 2, s = 5, din = 12, n = 2, dq = 16, dv = 8;
        int total = 2 * dq + dv;
        OnnxModelBuilder mb = new OnnxModelBuilder(17).input("x", FLOAT, b, s, din).input("mask", INT32, b, s)
            .input("ab", FLOAT, 1, n, s, s)
            .floatInit("w", new long[] {din, total}, randomArray(r, 0.5, din * total)).floatInit("bias", new long[] {total}, randomArray(r, 0.5, total))
            .output("y", FLOAT, b, s, dv)
            .nodeIn(MS, "Attention", List.of("x", "w", "bias", "mask", "", "ab"), List.of("y"), intAttr("num_heads", n),
                OnnxModelBuilder.ints("qkv_hidden_sizes", dq, dq, dv), floatAttr("scale", 0.3f));
        assertMatchesOrt(write(mb), Map.of("x", random(r, 1, b, s, din), "mask", ints(Shape.of(b, s), 1, 1, 1, 0, 0, 1, 1, 1, 1, 1),
            "ab", random(r, 2, 1, n, s, s)), TOL, false);
        OnnxModelBuilder pb = new OnnxModelBuilder(17).input("x", FLOAT, b, s, din)
            .floatInit("w", new long[] {din, 3 * dq}, randomArray(r, 0.5, din * 3 * dq)).floatInit("bias", new long[] {3 * dq}, randomArray(r, 0.5, 3 * dq))
            .output("y", FLOAT, b, s, dq).output("present", FLOAT, 2, b, n, s, dq / n)
            .nodeIn(MS, "Attention", List.of("x", "w", "bias"), List.of("y", "present"), intAttr("num_heads", n));
        assertMatchesOrt(write(pb), Map.of("x", random(r, 1, b, s, din)), TOL, false);
    }

    @Test
    void multiHeadAttentionMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(10);
        int b = 3, s = 5, l = 6, n = 2, d = 16, dv = 12;
        Tensor q = random(r, 1, b, s, d), k = random(r, 1, b, l, d), v = random(r, 1, b, l, dv);
        float[] bias = randomArray(r, 0.5, 2 * d + dv);
        for (String maskName : new String[] {"none", "lengths", "2d", "2d_holes"}) {
            for (boolean withBias : new boolean[] {false, true}) {
                boolean masked = !maskName.equals("none");
                Tensor m = masked ? masks().get(maskName) : null;
                OnnxModelBuilder mb = new OnnxModelBuilder(17).input("q", FLOAT, b, s, d).input("k", FLOAT, b, l, d).input("v", FLOAT, b, l, dv)
                    .floatInit("bias", new long[] {2 * d + dv}, bias).output("y", FLOAT, b, s, dv)
                    .output("pk", FLOAT, b, n, l, d / n).output("pv", FLOAT, b, n, l, dv / n);
                if (masked) mb.input("mask", INT32, m.shape().dims());
                mb.nodeIn(MS, "MultiHeadAttention", List.of("q", "k", "v", withBias ? "bias" : "", masked ? "mask" : ""), List.of("y", "pk", "pv"),
                    intAttr("num_heads", n));
                Map<String, Tensor> in = new HashMap<>(Map.of("q", q, "k", k, "v", v));
                if (masked) in.put("mask", m);
                try {
                    assertMatchesOrt(write(mb), in, TOL, false);
                } catch (AssertionError ae) {
                    throw new AssertionError("mask " + maskName + (withBias ? ", bias" : "") + ": " + ae.getMessage(), ae);
                }
            }
        }
        // causal, with a 2-D padding mask and an attention bias over heads (self-attention: L = S). Right padding: a
        // query whose visible keys are all padding has its scores at -10000, where a float's step is 0.001, and
        // there ORT's own result hangs on its summation order (tried: 3e-4 apart from ours)
        Tensor ks = random(r, 1, b, s, d), vs = random(r, 1, b, s, dv);
        OnnxModelBuilder cb = new OnnxModelBuilder(17).input("q", FLOAT, b, s, d).input("k", FLOAT, b, s, d).input("v", FLOAT, b, s, dv)
            .input("mask", INT32, b, s).input("ab", FLOAT, 1, n, s, s).floatInit("bias", new long[] {2 * d + dv}, bias).output("y", FLOAT, b, s, dv)
            .nodeIn(MS, "MultiHeadAttention", List.of("q", "k", "v", "bias", "mask", "ab"), List.of("y"), intAttr("num_heads", n),
                intAttr("unidirectional", 1));
        assertMatchesOrt(write(cb), Map.of("q", q, "k", ks, "v", vs, "mask", ints(Shape.of(b, s), 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0),
            "ab", random(r, 2, 1, n, s, s)), TOL, false);
        // key and value as [B, N, L, H] heads (ORT wants the two of one shape)
        OnnxModelBuilder mb = new OnnxModelBuilder(17).input("q", FLOAT, b, s, d).input("k", FLOAT, b, n, l, d / n).input("v", FLOAT, b, n, l, d / n)
            .output("y", FLOAT, b, s, d)
            .nodeIn(MS, "MultiHeadAttention", List.of("q", "k", "v"), List.of("y"), intAttr("num_heads", n), floatAttr("scale", 0.2f));
        assertMatchesOrt(write(mb), Map.of("q", q, "k", random(r, 1, b, n, l, d / n), "v", random(r, 1, b, n, l, d / n)), TOL, false);
    }

    /**
     * The Q/K/V projection in parallel row blocks (a product big enough to split, 13 tokens: a last block of one row,
     * which joins the block before it) matches ORT, and weights given as a graph input (packed per run) give the bits of
     * the same weights as an initializer (packed once and cached).
     */
    @Test
    void attentionProjectionBlocksMatchOrtWithWeightsAsInputOrInitializer() throws Exception {
        SplittableRandom r = new SplittableRandom(19);
        int b = 1, s = 13, din = 256, n = 4, hidden = 128;
        Tensor x = random(r, 1, b, s, din), wt = random(r, 0.2, din, 3 * hidden);
        float[] bias = randomArray(r, 0.5, 3 * hidden);
        Path init = write(new OnnxModelBuilder(17).input("x", FLOAT, b, s, din)
            .floatInit("w", new long[] {din, 3 * hidden}, wt.toFloatArray()).floatInit("bias", new long[] {3 * hidden}, bias)
            .output("y", FLOAT, b, s, hidden)
            .nodeIn(MS, "Attention", List.of("x", "w", "bias"), List.of("y"), intAttr("num_heads", n)));
        Path input = write(new OnnxModelBuilder(17).input("x", FLOAT, b, s, din).input("w", FLOAT, din, 3 * hidden)
            .floatInit("bias", new long[] {3 * hidden}, bias)
            .output("y", FLOAT, b, s, hidden)
            .nodeIn(MS, "Attention", List.of("x", "w", "bias"), List.of("y"), intAttr("num_heads", n)));
        assertMatchesOrt(init, Map.of("x", x), TOL, false);
        assertMatchesOrt(input, Map.of("x", x, "w", wt), TOL, false);
        try (Session si = Session.open(init, SessionOptions.builder().threads(2).build());
             Session sw = Session.open(input, SessionOptions.builder().threads(2).build())) {
            Tensor a = si.run(Map.of("x", x)).get("y"), c = sw.run(Map.of("x", x, "w", wt)).get("y");
            assertTrue(a.sameBits(c), "weights as an input and as an initializer give different bits");
        }
    }

    @Test
    void attentionRefusesPastStateAndMegatronMasks() throws Exception {
        int b = 1, s = 2, din = 4, n = 2;
        OnnxModelBuilder mb = new OnnxModelBuilder(17).input("x", FLOAT, b, s, din).input("mask", INT32, b, 1, s, s)
            .floatInit("w", new long[] {din, 12}, new float[din * 12]).output("y", FLOAT, b, s, 4)
            .nodeIn(MS, "Attention", List.of("x", "w", "", "mask"), List.of("y"), intAttr("num_heads", n));
        Path f = write(mb);
        SluiceException e = assertThrows(SluiceException.class, () -> {
            try (Session ss = Session.open(f, 1)) {
                ss.run(Map.of("x", Tensor.allocate(DType.FLOAT32, Shape.of(b, s, din)), "mask", Tensor.allocate(DType.INT32, Shape.of(b, 1, s, s))));
            }
        });
        assertTrue(e.getMessage().contains("rank 4"), e.getMessage());
    }

    // ------------------------------------------------------------------ EmbedLayerNormalization

    @Test
    void embedLayerNormalizationMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(12);
        int b = 3, s = 7, h = 36, vocab = 50, positions = 10, segments = 2;
        OnnxModelBuilder mb = new OnnxModelBuilder(17).input("ids", INT32, b, s).input("seg", INT32, b, s).input("mask", INT32, b, s)
            .floatInit("word", new long[] {vocab, h}, randomArray(r, 1, vocab * h)).floatInit("pos", new long[] {positions, h}, randomArray(r, 1, positions * h))
            .floatInit("segemb", new long[] {segments, h}, randomArray(r, 1, segments * h))
            .floatInit("gamma", new long[] {h}, randomArray(r, 2, h)).floatInit("beta", new long[] {h}, randomArray(r, 1, h))
            .output("y", FLOAT, b, s, h).output("mask_index", INT32, b).output("sum", FLOAT, b, s, h)
            .nodeIn(MS, "EmbedLayerNormalization", List.of("ids", "seg", "word", "pos", "segemb", "gamma", "beta", "mask"),
                List.of("y", "mask_index", "sum"), floatAttr("epsilon", 1e-12f));
        int[] ids = new int[b * s], seg = new int[b * s];
        for (int i = 0; i < ids.length; i++) { ids[i] = r.nextInt(vocab); seg[i] = i % s < 3 ? 0 : 1; }
        Tensor mask = ints(Shape.of(b, s), 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0);
        Map<String, Tensor> ref = assertMatchesOrt(write(mb), Map.of("ids", ints(Shape.of(b, s), ids), "seg", ints(Shape.of(b, s), seg), "mask", mask), TOL, false);
        assertEquals(3, ref.size(), "ORT gives all three outputs");
        // no segments, no mask, positions given
        OnnxModelBuilder pb = new OnnxModelBuilder(17).input("ids", INT32, b, s).input("posids", INT32, 1, s)
            .floatInit("word", new long[] {vocab, h}, randomArray(r, 1, vocab * h)).floatInit("pos", new long[] {positions, h}, randomArray(r, 1, positions * h))
            .floatInit("gamma", new long[] {h}, randomArray(r, 2, h)).floatInit("beta", new long[] {h}, randomArray(r, 1, h))
            .output("y", FLOAT, b, s, h).output("mask_index", INT32, b)
            .nodeIn(MS, "EmbedLayerNormalization", List.of("ids", "", "word", "pos", "", "gamma", "beta", "", "posids"),
                List.of("y", "mask_index"));
        assertMatchesOrt(write(pb), Map.of("ids", ints(Shape.of(b, s), ids), "posids", ints(Shape.of(1, s), 9, 8, 7, 3, 2, 1, 0)), TOL, false);
    }

    // ------------------------------------------------------------------ a whole encoder layer

    /**
     * One BERT layer as ONNX Runtime's transformer optimizer writes it (EmbedLayerNormalization, Attention on its
     * mask_index, MatMul, SkipLayerNormalization, MatMul, BiasGelu / FastGelu, MatMul, SkipLayerNormalization with
     * its bias), batch 2 with a padded row: against ORT on the planned CPU and on a throttled device at half the
     * model's memory, where the weights are streamed and the dispatcher runs the contrib kernels.
     */
    @Test
    void encoderLayerMatchesOrtOnPlannedAndThrottledDevices() throws Exception {
        SplittableRandom r = new SplittableRandom(13);
        int b = 2, s = 9, h = 64, n = 4, ff = 256, vocab = 30, positions = 16;
        for (String gelu : new String[] {"BiasGelu", "FastGelu"}) {
            OnnxModelBuilder mb = new OnnxModelBuilder(17).input("ids", INT32, b, s).input("seg", INT32, b, s).input("mask", INT32, b, s)
                .floatInit("word", new long[] {vocab, h}, randomArray(r, 1, vocab * h)).floatInit("pos", new long[] {positions, h}, randomArray(r, 1, positions * h))
                .floatInit("segemb", new long[] {2, h}, randomArray(r, 1, 2 * h))
                .floatInit("g0", new long[] {h}, randomArray(r, 1.5, h)).floatInit("b0", new long[] {h}, randomArray(r, 0.5, h))
                .floatInit("wqkv", new long[] {h, 3 * h}, randomArray(r, 0.2, h * 3 * h)).floatInit("bqkv", new long[] {3 * h}, randomArray(r, 0.2, 3 * h))
                .floatInit("wo", new long[] {h, h}, randomArray(r, 0.2, h * h)).floatInit("bo", new long[] {h}, randomArray(r, 0.2, h))
                .floatInit("g1", new long[] {h}, randomArray(r, 1.5, h)).floatInit("b1", new long[] {h}, randomArray(r, 0.5, h))
                .floatInit("w1", new long[] {h, ff}, randomArray(r, 0.2, h * ff)).floatInit("bf1", new long[] {ff}, randomArray(r, 0.2, ff))
                .floatInit("w2", new long[] {ff, h}, randomArray(r, 0.1, ff * h)).floatInit("bf2", new long[] {h}, randomArray(r, 0.2, h))
                .floatInit("g2", new long[] {h}, randomArray(r, 1.5, h)).floatInit("b2", new long[] {h}, randomArray(r, 0.5, h))
                .output("out", FLOAT, b, s, h)
                .nodeIn(MS, "EmbedLayerNormalization", List.of("ids", "seg", "word", "pos", "segemb", "g0", "b0", "mask"), List.of("emb", "mask_index"))
                .nodeIn(MS, "Attention", List.of("emb", "wqkv", "bqkv", "mask_index"), List.of("ctx"), intAttr("num_heads", n))
                .node("MatMul", List.of("ctx", "wo"), List.of("proj"))
                .nodeIn(MS, "SkipLayerNormalization", List.of("proj", "emb", "g1", "b1", "bo"), List.of("ln1"))
                .node("MatMul", List.of("ln1", "w1"), List.of("up"))
                .nodeIn(MS, gelu, List.of("up", "bf1"), List.of("act"))
                .node("MatMul", List.of("act", "w2"), List.of("down"))
                .nodeIn(MS, "SkipLayerNormalization", List.of("down", "ln1", "g2", "b2", "bf2"), List.of("out"));
            int[] ids = new int[b * s], seg = new int[b * s], mask = new int[b * s];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = r.nextInt(vocab);
                seg[i] = i % s >= 4 ? 1 : 0;
                mask[i] = i / s == 1 && i % s >= 6 ? 0 : 1; // the second row is 6 tokens long
            }
            assertMatchesOrt(write(mb), Map.of("ids", ints(Shape.of(b, s), ids), "seg", ints(Shape.of(b, s), seg), "mask", ints(Shape.of(b, s), mask)),
                TOL, true);
        }
    }
}
