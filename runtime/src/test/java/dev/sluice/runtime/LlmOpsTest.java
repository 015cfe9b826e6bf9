package dev.sluice.runtime;

import static dev.sluice.runtime.fixtures.OnnxModelBuilder.floatAttr;
import static dev.sluice.runtime.fixtures.OnnxModelBuilder.intAttr;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The transformer and normalization ops of opsets 18 to 24 (Attention, RMSNormalization, GroupNormalization,
 * RotaryEmbedding, TensorScatter) against ONNX Runtime on random inputs, at the project's tolerance.
 */
class LlmOpsTest {
    @TempDir Path tmp;

    static final int FLOAT = 1, INT64 = 7, BOOL = 9, FLOAT16 = 10;

    static Tensor random(SplittableRandom r, long... dims) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(dims));
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, (float) (r.nextDouble() * 2 - 1));
        return t;
    }

    static Tensor randomHalf(SplittableRandom r, long... dims) {
        Tensor t = Tensor.allocate(DType.FLOAT16, Shape.of(dims));
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, (float) (r.nextDouble() * 2 - 1));
        return t;
    }

    static void assertCloseToOrt(Path model, Map<String, Tensor> inputs) throws Exception {
        Map<String, Tensor> ref = OrtReference.run(model, inputs);
        try (Session s = Session.open(model, 2)) {
            Map<String, Tensor> ours = s.run(inputs).asMap();
            for (var e : ref.entrySet()) {
                Tensor expected = e.getValue();
                assertTrue(ours.containsKey(e.getKey()), model.getFileName() + ": output '" + e.getKey() + "' missing");
                Tolerance tol = expected.dtype() == DType.FLOAT16 ? new Tolerance(2e-3, 2e-3) : Tolerance.DEFAULT;
                assertNull(tol.mismatch(ours.get(e.getKey()), expected), model.getFileName() + " output '" + e.getKey() + "'");
            }
        }
    }

    // ------------------------------------------------------------------ RMSNormalization, GroupNormalization

    @Test
    void rmsNormalizationMatchesOrtOverAxesAndWidths() throws Exception {
        SplittableRandom r = new SplittableRandom(1);
        long[][] shapes = {{3, 5, 67}, {2, 4, 16}, {1, 1, 1}, {4, 300}};
        for (long[] shape : shapes) {
            for (int axis = -1; axis >= -Math.min(2, shape.length); axis--) {
                long[] norm = java.util.Arrays.copyOfRange(shape, shape.length + axis, shape.length);
                Path m = new OnnxModelBuilder(23).input("x", FLOAT, shape).input("w", FLOAT, norm).output("y", FLOAT, shape)
                    .node("RMSNormalization", List.of("x", "w"), List.of("y"), intAttr("axis", axis), floatAttr("epsilon", 1e-3f))
                    .write(tmp.resolve("rms" + shape.length + shape[shape.length - 1] + axis + ".onnx"));
                assertCloseToOrt(m, Map.of("x", random(r, shape), "w", random(r, norm)));
            }
        }
    }

    @Test
    void groupNormalization21HasPerChannelScaleLikeOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(2);
        Path m = new OnnxModelBuilder(21).input("x", FLOAT, 2, 6, 5, 7).input("s", FLOAT, 6).input("b", FLOAT, 6).output("y", FLOAT, 2, 6, 5, 7)
            .node("GroupNormalization", List.of("x", "s", "b"), List.of("y"), intAttr("num_groups", 3), floatAttr("epsilon", 1e-4f))
            .write(tmp.resolve("gn21.onnx"));
        assertCloseToOrt(m, Map.of("x", random(r, 2, 6, 5, 7), "s", random(r, 6), "b", random(r, 6)));
    }

    // ------------------------------------------------------------------ RotaryEmbedding

    @Test
    void rotaryEmbeddingMatchesOrtInEveryLayout() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        Tensor pos = Tensor.allocate(DType.INT64, Shape.of(2, 5));
        for (int i = 0; i < 10; i++) pos.setLong(i, r.nextInt(40));
        for (int interleaved = 0; interleaved < 2; interleaved++) {
            for (int rot : new int[] {0, 8}) {
                int half = (rot == 0 ? 16 : rot) / 2;
                Path m = new OnnxModelBuilder(23).input("x", FLOAT, 2, 3, 5, 16).input("cos", FLOAT, 40, half).input("sin", FLOAT, 40, half)
                    .input("pos", INT64, 2, 5).output("y", FLOAT, 2, 3, 5, 16)
                    .node("RotaryEmbedding", List.of("x", "cos", "sin", "pos"), List.of("y"), intAttr("interleaved", interleaved),
                        intAttr("rotary_embedding_dim", rot))
                    .write(tmp.resolve("rope" + interleaved + rot + ".onnx"));
                assertCloseToOrt(m, Map.of("x", random(r, 2, 3, 5, 16), "cos", random(r, 40, half), "sin", random(r, 40, half), "pos", pos));
            }
        }
        // packed [B, S, H * D] with num_heads, caches per token (no position_ids)
        Path m = new OnnxModelBuilder(23).input("x", FLOAT, 2, 5, 48).input("cos", FLOAT, 2, 5, 8).input("sin", FLOAT, 2, 5, 8)
            .output("y", FLOAT, 2, 5, 48)
            .node("RotaryEmbedding", List.of("x", "cos", "sin"), List.of("y"), intAttr("num_heads", 3))
            .write(tmp.resolve("rope3d.onnx"));
        assertCloseToOrt(m, Map.of("x", random(r, 2, 5, 48), "cos", random(r, 2, 5, 8), "sin", random(r, 2, 5, 8)));
    }

    // ------------------------------------------------------------------ Attention

    /** 4-D grouped-query attention with a past cache, causal, all outputs but the scores. */
    @Test
    void attentionGqaCausalWithPastMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(4);
        for (int l : new int[] {5, 1}) {
            Path m = new OnnxModelBuilder(23).input("q", FLOAT, 2, 6, l, 16).input("k", FLOAT, 2, 2, l, 16).input("v", FLOAT, 2, 2, l, 12)
                .input("pk", FLOAT, 2, 2, 7, 16).input("pv", FLOAT, 2, 2, 7, 12)
                .output("y", FLOAT, 2, 6, l, 12).output("ok", FLOAT, 2, 2, 7 + l, 16).output("ov", FLOAT, 2, 2, 7 + l, 12)
                .node("Attention", List.of("q", "k", "v", "", "pk", "pv"), List.of("y", "ok", "ov"), intAttr("is_causal", 1))
                .write(tmp.resolve("att_gqa" + l + ".onnx"));
            assertCloseToOrt(m, Map.of("q", random(r, 2, 6, l, 16), "k", random(r, 2, 2, l, 16), "v", random(r, 2, 2, l, 12),
                "pk", random(r, 2, 2, 7, 16), "pv", random(r, 2, 2, 7, 12)));
        }
    }

    /** A decoder step with symbolic batch and past length, as exporters write it: two lengths, one session. */
    @Test
    void attentionWithSymbolicPastLengthMatchesOrtAtTwoLengths() throws Exception {
        SplittableRandom r = new SplittableRandom(14);
        Path m = new OnnxModelBuilder(23).inputSym("q", FLOAT, "batch", 4, 1, 8).inputSym("k", FLOAT, "batch", 2, 1, 8)
            .inputSym("v", FLOAT, "batch", 2, 1, 8).inputSym("pk", FLOAT, "batch", 2, "past", 8).inputSym("pv", FLOAT, "batch", 2, "past", 8)
            .outputSym("y", FLOAT, "batch", 4, 1, 8).outputSym("ok", FLOAT, "batch", 2, "total", 8).outputSym("ov", FLOAT, "batch", 2, "total", 8)
            .node("Attention", List.of("q", "k", "v", "", "pk", "pv"), List.of("y", "ok", "ov"), intAttr("is_causal", 1))
            .write(tmp.resolve("attsym.onnx"));
        try (Session s = Session.open(m, 2)) {
            for (int past : new int[] {3, 40, 3}) {
                Map<String, Tensor> in = Map.of("q", random(r, 2, 4, 1, 8), "k", random(r, 2, 2, 1, 8), "v", random(r, 2, 2, 1, 8),
                    "pk", random(r, 2, 2, past, 8), "pv", random(r, 2, 2, past, 8));
                Map<String, Tensor> ours = s.run(in).asMap();
                for (var e : OrtReference.run(m, in).entrySet()) {
                    assertNull(Tolerance.DEFAULT.mismatch(ours.get(e.getKey()), e.getValue()), "past " + past + ", output '" + e.getKey() + "'");
                }
            }
        }
    }

    /** 3-D inputs with head counts, a float mask broadcast over batch and heads, an explicit scale. */
    @Test
    void attentionPackedWithFloatMaskAndScaleMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(5);
        Path m = new OnnxModelBuilder(23).input("q", FLOAT, 2, 5, 32).input("k", FLOAT, 2, 9, 16).input("v", FLOAT, 2, 9, 24)
            .input("mask", FLOAT, 5, 9).output("y", FLOAT, 2, 5, 48)
            .node("Attention", List.of("q", "k", "v", "mask"), List.of("y"), intAttr("q_num_heads", 4), intAttr("kv_num_heads", 2),
                floatAttr("scale", 0.3f))
            .write(tmp.resolve("att3d.onnx"));
        assertCloseToOrt(m, Map.of("q", random(r, 2, 5, 32), "k", random(r, 2, 9, 16), "v", random(r, 2, 9, 24), "mask", random(r, 5, 9)));
    }

    /** A boolean mask per batch (each row keeps some key), and a head large enough for the general products. */
    @Test
    void attentionBoolMaskAndLongKeysMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(6);
        int lk = 300;
        Tensor mask = Tensor.allocate(DType.BOOL, Shape.of(2, 1, 4, lk));
        for (int i = 0; i < mask.elementCount(); i++) mask.setBoolean(i, i % lk == 0 || r.nextInt(3) != 0);
        Path m = new OnnxModelBuilder(23).input("q", FLOAT, 2, 3, 4, 40).input("k", FLOAT, 2, 3, lk, 40).input("v", FLOAT, 2, 3, lk, 40)
            .input("mask", BOOL, 2, 1, 4, lk).output("y", FLOAT, 2, 3, 4, 40)
            .node("Attention", List.of("q", "k", "v", "mask"), List.of("y"))
            .write(tmp.resolve("attbool.onnx"));
        assertCloseToOrt(m, Map.of("q", random(r, 2, 3, 4, 40), "k", random(r, 2, 3, lk, 40), "v", random(r, 2, 3, lk, 40), "mask", mask));
    }

    /** softcap, and the qk_matmul_output of each mode. */
    @Test
    void attentionSoftcapAndScoreOutputsMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        for (int mode = 0; mode <= 3; mode++) {
            Path m = new OnnxModelBuilder(23).input("q", FLOAT, 1, 2, 3, 8).input("k", FLOAT, 1, 2, 6, 8).input("v", FLOAT, 1, 2, 6, 8)
                .input("mask", FLOAT, 3, 6).output("y", FLOAT, 1, 2, 3, 8).output("ok", FLOAT, 1, 2, 6, 8).output("ov", FLOAT, 1, 2, 6, 8)
                .output("qk", FLOAT, 1, 2, 3, 6)
                .node("Attention", List.of("q", "k", "v", "mask"), List.of("y", "ok", "ov", "qk"), floatAttr("softcap", 1.5f),
                    intAttr("qk_matmul_output_mode", mode))
                .write(tmp.resolve("attqk" + mode + ".onnx"));
            Tensor q = random(r, 1, 2, 3, 8);
            for (int i = 0; i < q.elementCount(); i++) q.setFloat(i, q.getFloat(i) * 4); // scores past the cap
            assertCloseToOrt(m, Map.of("q", q, "k", random(r, 1, 2, 6, 8), "v", random(r, 1, 2, 6, 8), "mask", random(r, 3, 6)));
        }
    }

    @Test
    void attentionFloat16MatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(8);
        Path m = new OnnxModelBuilder(23).input("q", FLOAT16, 1, 4, 5, 8).input("k", FLOAT16, 1, 2, 5, 8).input("v", FLOAT16, 1, 2, 5, 8)
            .output("y", FLOAT16, 1, 4, 5, 8)
            .node("Attention", List.of("q", "k", "v"), List.of("y"), intAttr("is_causal", 1))
            .write(tmp.resolve("att16.onnx"));
        assertCloseToOrt(m, Map.of("q", randomHalf(r, 1, 4, 5, 8), "k", randomHalf(r, 1, 2, 5, 8), "v", randomHalf(r, 1, 2, 5, 8)));
    }

    /** A fully masked query row (every key false) and a padded cache: ORT as reference, where it runs these. */
    @Test
    void attentionFullyMaskedRowAndNonpadLengthsMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(9);
        Tensor mask = Tensor.allocate(DType.BOOL, Shape.of(3, 6));
        for (int j = 0; j < 6; j++) { mask.setBoolean(j, j < 4); mask.setBoolean(6 + j, false); mask.setBoolean(12 + j, j % 2 == 0); }
        Path m = new OnnxModelBuilder(23).input("q", FLOAT, 2, 2, 3, 8).input("k", FLOAT, 2, 2, 6, 8).input("v", FLOAT, 2, 2, 6, 8)
            .input("mask", BOOL, 3, 6).output("y", FLOAT, 2, 2, 3, 8)
            .node("Attention", List.of("q", "k", "v", "mask"), List.of("y"))
            .write(tmp.resolve("attmasked.onnx"));
        assertCloseToOrt(m, Map.of("q", random(r, 2, 2, 3, 8), "k", random(r, 2, 2, 6, 8), "v", random(r, 2, 2, 6, 8), "mask", mask));
        Path p = new OnnxModelBuilder(24).input("q", FLOAT, 2, 4, 1, 8).input("k", FLOAT, 2, 2, 7, 8).input("v", FLOAT, 2, 2, 7, 8)
            .input("n", INT64, 2).output("y", FLOAT, 2, 4, 1, 8)
            .node("Attention", List.of("q", "k", "v", "", "", "", "n"), List.of("y"), intAttr("is_causal", 1))
            .write(tmp.resolve("attnonpad.onnx"));
        assertCloseToOrt(p, Map.of("q", random(r, 2, 4, 1, 8), "k", random(r, 2, 2, 7, 8), "v", random(r, 2, 2, 7, 8),
            "n", Tensor.ofLongs(Shape.of(2), 3, 7)));
    }

    @Test
    void groupNormalization18HasPerGroupScaleLikeOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(2);
        Path m = new OnnxModelBuilder(18).input("x", FLOAT, 2, 6, 5, 7).input("s", FLOAT, 3).input("b", FLOAT, 3).output("y", FLOAT, 2, 6, 5, 7)
            .node("GroupNormalization", List.of("x", "s", "b"), List.of("y"), intAttr("num_groups", 3))
            .write(tmp.resolve("gn18.onnx"));
        assertCloseToOrt(m, Map.of("x", random(r, 2, 6, 5, 7), "s", random(r, 3), "b", random(r, 3)));
    }

    @Test
    void tensorScatterMatchesOrtInBothModes() throws Exception {
        SplittableRandom r = new SplittableRandom(10);
        for (String mode : new String[] {"linear", "circular"}) {
            var modeAttr = ai.onnx.proto.OnnxMl.AttributeProto.newBuilder().setName("mode")
                .setType(ai.onnx.proto.OnnxMl.AttributeProto.AttributeType.STRING).setS(com.google.protobuf.ByteString.copyFromUtf8(mode)).build();
            Path m = new OnnxModelBuilder(24).input("c", FLOAT, 2, 3, 8, 4).input("u", FLOAT, 2, 3, 3, 4).input("i", INT64, 2)
                .output("y", FLOAT, 2, 3, 8, 4)
                .node("TensorScatter", List.of("c", "u", "i"), List.of("y"), modeAttr)
                .write(tmp.resolve("ts" + mode + ".onnx"));
            long last = mode.equals("linear") ? 5 : 7; // circular: rows 7, 0, 1
            assertCloseToOrt(m, Map.of("c", random(r, 2, 3, 8, 4), "u", random(r, 2, 3, 3, 4), "i", Tensor.ofLongs(Shape.of(2), 1, last)));
        }
    }

    /**
     * The opset-25 sliding window (ORT 1.29 does not know its attributes): against {@link #plainAttention}, alone
     * (both sides bounded), and with is_causal over a past cache, where the window is offset by the past length.
     */
    @Test
    void attentionWindowMatchesPlainReference() throws Exception {
        SplittableRandom r = new SplittableRandom(11);
        Tensor q = random(r, 2, 4, 5, 8), k = random(r, 2, 2, 7, 8), v = random(r, 2, 2, 7, 6);
        Path m = new OnnxModelBuilder(25).input("q", FLOAT, 2, 4, 5, 8).input("k", FLOAT, 2, 2, 7, 8).input("v", FLOAT, 2, 2, 7, 6)
            .output("y", FLOAT, 2, 4, 5, 6)
            .node("Attention", List.of("q", "k", "v"), List.of("y"), intAttr("left_window_size", 2), intAttr("right_window_size", 1))
            .write(tmp.resolve("attwin.onnx"));
        assertCloseToPlain(m, Map.of("q", q, "k", k, "v", v), plainAttention(q, k, v, false, 2, 1, 0));
        // past 4 + 3 new keys, 3 queries: query i sits at position 4 + i
        Tensor pk = Tensor.allocate(DType.FLOAT32, Shape.of(2, 2, 4, 8)), nk = Tensor.allocate(DType.FLOAT32, Shape.of(2, 2, 3, 8));
        Tensor pv = Tensor.allocate(DType.FLOAT32, Shape.of(2, 2, 4, 6)), nv = Tensor.allocate(DType.FLOAT32, Shape.of(2, 2, 3, 6));
        split(k, pk, nk);
        split(v, pv, nv);
        Tensor q3 = random(r, 2, 4, 3, 8);
        Path c = new OnnxModelBuilder(25).input("q", FLOAT, 2, 4, 3, 8).input("k", FLOAT, 2, 2, 3, 8).input("v", FLOAT, 2, 2, 3, 6)
            .input("pk", FLOAT, 2, 2, 4, 8).input("pv", FLOAT, 2, 2, 4, 6).output("y", FLOAT, 2, 4, 3, 6)
            .node("Attention", List.of("q", "k", "v", "", "pk", "pv"), List.of("y"), intAttr("is_causal", 1), intAttr("left_window_size", 2))
            .write(tmp.resolve("attwinpast.onnx"));
        assertCloseToPlain(c, Map.of("q", q3, "k", nk, "v", nv, "pk", pk, "pv", pv), plainAttention(q3, k, v, true, 2, -1, 4));
    }

    /**
     * A small decoder block with every new op (RMSNorm, rotary Q and K, grouped causal attention over a past cache,
     * GroupNorm of the residual, TensorScatter into a cache): equal to ORT on the CPU, and bit-identical through the
     * memory planner on a throttled device at half the memory the run needs.
     */
    @Test
    void decoderBlockMatchesOrtAndRunsUnderHalfABudget() throws Exception {
        SplittableRandom r = new SplittableRandom(13);
        int seq = 16, width = 64, hd = 16, past = 10;
        float[] cos = new float[64 * hd / 2], sin = new float[cos.length];
        for (int p = 0; p < 64; p++) {
            for (int i = 0; i < hd / 2; i++) {
                double angle = p / Math.pow(10000, (double) i / (hd / 2));
                cos[p * hd / 2 + i] = (float) Math.cos(angle);
                sin[p * hd / 2 + i] = (float) Math.sin(angle);
            }
        }
        Path m = new OnnxModelBuilder(24).input("x", FLOAT, 1, seq, width).input("pos", INT64, 1, seq)
            .input("pk", FLOAT, 1, 2, past, hd).input("pv", FLOAT, 1, 2, past, hd).input("cache", FLOAT, 1, 2, 32, hd)
            .output("g", FLOAT, 1, 16, 8, 8).output("ov", FLOAT, 1, 2, past + seq, hd).output("cache_out", FLOAT, 1, 2, 32, hd)
            .floatInit("w", new long[] {width}, values(r, width, 0.5, 1.5))
            .floatInit("wq", new long[] {width, 4 * hd}, values(r, width * 4 * hd, -0.2, 0.2))
            .floatInit("wk", new long[] {width, 2 * hd}, values(r, width * 2 * hd, -0.2, 0.2))
            .floatInit("wv", new long[] {width, 2 * hd}, values(r, width * 2 * hd, -0.2, 0.2))
            .floatInit("wo", new long[] {4 * hd, width}, values(r, 4 * hd * width, -0.2, 0.2))
            .floatInit("cos", new long[] {64, hd / 2}, cos).floatInit("sin", new long[] {64, hd / 2}, sin)
            .floatInit("gs", new long[] {16}, values(r, 16, 0.5, 1.5)).floatInit("gb", new long[] {16}, values(r, 16, -0.1, 0.1))
            .longInit("shape4", new long[] {4}, 1, 16, 8, 8).longInit("at", new long[] {1}, 0)
            .node("RMSNormalization", List.of("x", "w"), List.of("h"))
            .node("MatMul", List.of("h", "wq"), List.of("q")).node("MatMul", List.of("h", "wk"), List.of("k")).node("MatMul", List.of("h", "wv"), List.of("v"))
            .node("RotaryEmbedding", List.of("q", "cos", "sin", "pos"), List.of("qr"), intAttr("num_heads", 4))
            .node("RotaryEmbedding", List.of("k", "cos", "sin", "pos"), List.of("kr"), intAttr("num_heads", 2))
            .node("Attention", List.of("qr", "kr", "v", "", "pk", "pv"), List.of("y", "ok", "ov"), intAttr("q_num_heads", 4),
                intAttr("kv_num_heads", 2), intAttr("is_causal", 1))
            .node("MatMul", List.of("y", "wo"), List.of("o")).node("Add", List.of("x", "o"), List.of("res"))
            .node("Reshape", List.of("res", "shape4"), List.of("r4"))
            .node("GroupNormalization", List.of("r4", "gs", "gb"), List.of("g"), intAttr("num_groups", 4))
            .node("TensorScatter", List.of("cache", "ok", "at"), List.of("cache_out"))
            .write(tmp.resolve("block.onnx"));
        Tensor pos = Tensor.allocate(DType.INT64, Shape.of(1, seq));
        for (int i = 0; i < seq; i++) pos.setLong(i, past + i);
        Map<String, Tensor> in = Map.of("x", random(r, 1, seq, width), "pos", pos, "pk", random(r, 1, 2, past, hd), "pv", random(r, 1, 2, past, hd),
            "cache", random(r, 1, 2, 32, hd));
        assertCloseToOrt(m, in);
        Map<String, Tensor> cpu = new LinkedHashMap<>();
        try (Session s = Session.open(m, 2)) {
            for (var e : s.run(in).asMap().entrySet()) cpu.put(e.getKey(), e.getValue().copy());
        }
        try (Session s = Session.open(m, SessionOptions.builder().threads(2).devices("cpu", "throttled:50%").build())) {
            Map<String, Tensor> budgeted = s.run(in).asMap();
            for (var e : cpu.entrySet()) assertTrue(e.getValue().sameBits(budgeted.get(e.getKey())), "output '" + e.getKey() + "' on throttled:50%");
        }
    }

    private static float[] values(SplittableRandom r, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + r.nextDouble() * (hi - lo));
        return v;
    }

    /** Bad inputs and attributes fail with a message naming the op, the node and what is wrong, at open or at run. */
    @Test
    void badInputsGiveNamedErrors() throws Exception {
        SplittableRandom r = new SplittableRandom(12);
        Path noHeads = new OnnxModelBuilder(23).input("q", FLOAT, 1, 2, 8).input("k", FLOAT, 1, 2, 8).input("v", FLOAT, 1, 2, 8)
            .output("y", FLOAT, 1, 2, 8).node("Attention", List.of("q", "k", "v"), List.of("y"))
            .write(tmp.resolve("noheads.onnx"));
        assertFailsWith(noHeads, Map.of("q", random(r, 1, 2, 8), "k", random(r, 1, 2, 8), "v", random(r, 1, 2, 8)), "Attention", "q_num_heads");
        Path groups = new OnnxModelBuilder(23).input("q", FLOAT, 1, 3, 2, 8).input("k", FLOAT, 1, 2, 2, 8).input("v", FLOAT, 1, 2, 2, 8)
            .output("y", FLOAT, 1, 3, 2, 8).node("Attention", List.of("q", "k", "v"), List.of("y"))
            .write(tmp.resolve("groups.onnx"));
        assertFailsWith(groups, Map.of("q", random(r, 1, 3, 2, 8), "k", random(r, 1, 2, 2, 8), "v", random(r, 1, 2, 2, 8)), "Attention",
            "not a multiple");
        Path gn = new OnnxModelBuilder(18).input("x", FLOAT, 1, 4, 3).input("s", FLOAT, 4).input("b", FLOAT, 4).output("y", FLOAT, 1, 4, 3)
            .node("GroupNormalization", List.of("x", "s", "b"), List.of("y"), intAttr("num_groups", 2))
            .write(tmp.resolve("gn18perchannel.onnx"));
        assertFailsWith(gn, Map.of("x", random(r, 1, 4, 3), "s", random(r, 4), "b", random(r, 4)), "GroupNormalization", "one per group");
        Path rope = new OnnxModelBuilder(23).input("x", FLOAT, 1, 1, 2, 4).input("cos", FLOAT, 3, 2).input("sin", FLOAT, 3, 2)
            .input("pos", INT64, 1, 2).output("y", FLOAT, 1, 1, 2, 4)
            .node("RotaryEmbedding", List.of("x", "cos", "sin", "pos"), List.of("y"))
            .write(tmp.resolve("ropepos.onnx"));
        assertFailsWith(rope, Map.of("x", random(r, 1, 1, 2, 4), "cos", random(r, 3, 2), "sin", random(r, 3, 2), "pos", Tensor.ofLongs(Shape.of(1, 2), 0, 3)),
            "RotaryEmbedding", "position_ids[0, 1] = 3");
    }

    private static void assertFailsWith(Path model, Map<String, Tensor> inputs, String... parts) {
        Exception e = org.junit.jupiter.api.Assertions.assertThrows(Exception.class, () -> {
            try (Session s = Session.open(model, 2)) {
                s.run(inputs);
            }
        });
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) all.append(t.getMessage()).append(" | ");
        for (String p : parts) assertTrue(all.toString().contains(p), model.getFileName() + ": '" + p + "' not in: " + all);
    }

    /** Splits all [B, H, T, D] into past [B, H, P, D] and the rest along T. */
    private static void split(Tensor all, Tensor past, Tensor rest) {
        long[] d = all.shape().dims();
        long p = past.shape().dim(2), depth = d[3];
        for (long bh = 0; bh < d[0] * d[1]; bh++) {
            for (long t = 0; t < d[2]; t++) {
                for (long c = 0; c < depth; c++) {
                    float x = all.getFloat((bh * d[2] + t) * depth + c);
                    if (t < p) past.setFloat((bh * p + t) * depth + c, x);
                    else rest.setFloat((bh * (d[2] - p) + t - p) * depth + c, x);
                }
            }
        }
    }

    private static void assertCloseToPlain(Path model, Map<String, Tensor> inputs, Tensor expected) throws Exception {
        try (Session s = Session.open(model, 2)) {
            Tensor y = s.run(inputs).asMap().get("y");
            assertNull(Tolerance.DEFAULT.mismatch(y, expected), model.getFileName().toString());
        }
    }

    /**
     * Attention written out from the spec, in double, one score at a time: q [B, Hq, L, d], all keys and values
     * k [B, Hkv, T, d], v [B, Hkv, T, dv]; query i at position {@code offset + i} sees key j when causal allows
     * (j <= position) and within the window (position - j <= left, j - position <= right; -1 unbounded). A row that
     * sees nothing is 0.
     */
    static Tensor plainAttention(Tensor q, Tensor k, Tensor v, boolean causal, int left, int right, long offset) {
        int b = (int) q.shape().dim(0), hq = (int) q.shape().dim(1), l = (int) q.shape().dim(2), d = (int) q.shape().dim(3);
        int hkv = (int) k.shape().dim(1), t = (int) k.shape().dim(2), dv = (int) v.shape().dim(3);
        Tensor y = Tensor.allocate(DType.FLOAT32, Shape.of(b, hq, l, dv));
        for (int bi = 0; bi < b; bi++) {
            for (int h = 0; h < hq; h++) {
                int hk = h / (hq / hkv);
                for (int i = 0; i < l; i++) {
                    long pos = offset + i;
                    double[] w = new double[t];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < t; j++) {
                        boolean seen = (!causal || j <= pos) && (left < 0 || pos - j <= left) && (right < 0 || j - pos <= right);
                        if (!seen) { w[j] = Double.NaN; continue; }
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += q.getDouble((((long) bi * hq + h) * l + i) * d + c) * k.getDouble((((long) bi * hkv + hk) * t + j) * d + c);
                        }
                        w[j] = dot / Math.sqrt(d);
                        max = Math.max(max, w[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < t; j++) { w[j] = Double.isNaN(w[j]) ? 0 : Math.exp(w[j] - max); sum += w[j]; }
                    for (int c = 0; c < dv; c++) {
                        double acc = 0;
                        for (int j = 0; j < t; j++) acc += w[j] == 0 ? 0 : w[j] / sum * v.getDouble((((long) bi * hkv + hk) * t + j) * dv + c);
                        y.setFloat((((long) bi * hq + h) * l + i) * dv + c, (float) acc);
                    }
                }
            }
        }
        return y;
    }
}
