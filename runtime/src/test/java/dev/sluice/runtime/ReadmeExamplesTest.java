package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import dev.sluice.runtime.zoo.Zoo;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The README's "Using it from Java" examples, as written there, checked against ONNX Runtime running the same
 * models with the same steps (pooling, state carried between calls) written here.
 */
class ReadmeExamplesTest {
    /** BERT-uncased WordPiece ids of "[CLS] hello world [SEP]", as the model's tokenizer gives them. */
    static final long[] HELLO_WORLD = {101, 7592, 2088, 102};

    // ---- the README's embedding example ----
    static float[] embed(Session minilm, long[] ids) {
        int n = ids.length;
        long[] mask = new long[n];
        java.util.Arrays.fill(mask, 1);
        Map<String, Tensor> in = Map.of(
            "input_ids", Tensor.ofLongs(Shape.of(1, n), ids),
            "attention_mask", Tensor.ofLongs(Shape.of(1, n), mask),
            "token_type_ids", Tensor.ofLongs(Shape.of(1, n), new long[n]));
        try (Result r = minilm.run(in)) {
            float[] h = r.get("last_hidden_state").toFloatArray();   // [1, n, 384]
            return meanPoolAndNormalize(h, n, 384);
        }
    }

    static float[] meanPoolAndNormalize(float[] h, int n, int width) {
        float[] e = new float[width];
        for (int t = 0; t < n; t++) for (int i = 0; i < width; i++) e[i] += h[t * width + i] / n;
        double norm = 0;
        for (float v : e) norm += v * v;
        for (int i = 0; i < width; i++) e[i] /= (float) Math.sqrt(norm);
        return e;
    }

    @Test
    void embeddingMatchesOnnxRuntime() throws Exception {
        float[] ours;
        try (Session minilm = Session.open(Zoo.MINILM_L6.path(), SessionOptions.builder().threads(2).build())) {
            ours = embed(minilm, HELLO_WORLD);
        }
        int n = HELLO_WORLD.length;
        Map<String, Tensor> ref = OrtReference.run(Zoo.MINILM_L6.path(), Map.of(
            "input_ids", Tensor.ofLongs(Shape.of(1, n), HELLO_WORLD),
            "attention_mask", Tensor.ofLongs(Shape.of(1, n), 1, 1, 1, 1),
            "token_type_ids", Tensor.ofLongs(Shape.of(1, n), 0, 0, 0, 0)));
        float[] theirs = meanPoolAndNormalize(ref.get("last_hidden_state").toFloatArray(), n, 384);
        double cos = 0;
        for (int i = 0; i < 384; i++) cos += ours[i] * theirs[i];
        assertTrue(cos > 0.99999, "cosine with ONNX Runtime's embedding: " + cos);
    }

    // ---- the README's VAD streaming example ----
    @Test
    void vadStreamingCarriesStateLikeOnnxRuntime() throws Exception {
        List<float[]> frames = new ArrayList<>();
        for (int f = 0; f < 12; f++) {
            float[] x = new float[512];
            // silence, then a 440 Hz tone, then silence: the probability must follow, through the state
            for (int i = 0; i < 512; i++) x[i] = f >= 4 && f < 9 ? (float) (0.5 * Math.sin(2 * Math.PI * 440 * (f * 512 + i) / 16000.0)) : 0f;
            frames.add(x);
        }
        List<Float> ours = new ArrayList<>();
        try (Session vad = Session.open(Zoo.SILERO_VAD.path(), SessionOptions.builder().threads(2).build())) {
            Tensor state = Tensor.ofFloats(Shape.of(2, 1, 128), new float[256]);
            Tensor sr = Tensor.ofLongs(Shape.SCALAR, 16000);
            for (float[] frame : frames) {                            // 512 samples of 16 kHz audio each
                try (Result r = vad.run(Map.of("input", Tensor.ofFloats(Shape.of(1, 512), frame), "state", state, "sr", sr))) {
                    ours.add(r.get("output").toFloatArray()[0]);       // speech probability of this frame
                    state = r.get("stateN").copy();                    // kept past the result's close
                }
            }
        }
        Tensor state = Tensor.ofFloats(Shape.of(2, 1, 128), new float[256]);
        for (int f = 0; f < frames.size(); f++) {
            Map<String, Tensor> ref = OrtReference.run(Zoo.SILERO_VAD.path(), Map.of(
                "input", Tensor.ofFloats(Shape.of(1, 512), frames.get(f)), "state", state, "sr", Tensor.ofLongs(Shape.SCALAR, 16000)));
            String m = Tolerance.DEFAULT.mismatch(Tensor.ofFloats(Shape.of(1, 1), ours.get(f)), ref.get("output"));
            assertNull(m, "frame " + f + ": " + m);
            state = ref.get("stateN");
        }
        assertEquals(12, ours.size());
    }
}
