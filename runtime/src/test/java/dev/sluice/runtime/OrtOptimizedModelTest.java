package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A transformer as model hubs ship it after ONNX Runtime's graph optimizer (the {@code *_optimized.onnx} /
 * {@code model_O2.onnx} files): the zoo's all-MiniLM-L6-v2 saved by ONNX Runtime 1.29 itself at its extended and
 * all levels, which fuse it into com.microsoft EmbedLayerNormalization, Attention, SkipLayerNormalization, Gelu
 * forms and FusedMatMul. Sluice runs the optimized file and must give what ONNX Runtime gives for the original,
 * with batch 2 and a padded sequence, on the planned CPU and on a throttled device at half its memory.
 */
class OrtOptimizedModelTest {
    @TempDir Path tmp;

    static Path optimized(Path original, OrtSession.SessionOptions.OptLevel level, Path out) throws Exception {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(level);
            o.setOptimizedModelFilePath(out.toString());
            o.setIntraOpNumThreads(1);
            OrtEnvironment.getEnvironment().createSession(original.toString(), o).close();
        }
        return out;
    }

    static TreeSet<String> opTypes(Path model) throws Exception {
        TreeSet<String> ops = new TreeSet<>();
        for (OnnxMl.NodeProto n : OnnxMl.ModelProto.parseFrom(Files.readAllBytes(model)).getGraph().getNodeList()) {
            ops.add((n.getDomain().isEmpty() ? "" : n.getDomain() + ":") + n.getOpType());
        }
        return ops;
    }

    static Map<String, Tensor> paddedBatch(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int b = 2, s = 40;
        Tensor ids = Tensor.allocate(DType.INT64, Shape.of(b, s)), mask = Tensor.allocate(DType.INT64, Shape.of(b, s));
        Tensor types = Tensor.allocate(DType.INT64, Shape.of(b, s));
        for (int i = 0; i < b * s; i++) {
            boolean pad = i / s == 1 && i % s >= 23; // the second sequence is 23 tokens, padded to 40
            ids.setLong(i, pad ? 0 : i % s == 0 ? 101 : 1000 + r.nextInt(29000));
            mask.setLong(i, pad ? 0 : 1);
            types.setLong(i, i % s >= 12 && !pad ? 1 : 0);
        }
        return Map.of("input_ids", ids, "attention_mask", mask, "token_type_ids", types);
    }

    @Test
    void ortOptimizedMiniLmMatchesOrtOnTheOriginal() throws Exception {
        Path original = Zoo.MINILM_L6.path();
        for (OrtSession.SessionOptions.OptLevel level : List.of(OrtSession.SessionOptions.OptLevel.EXTENDED_OPT, OrtSession.SessionOptions.OptLevel.ALL_OPT)) {
            Path opt = optimized(original, level, tmp.resolve("minilm_" + level + ".onnx"));
            TreeSet<String> ops = opTypes(opt);
            System.out.println(level + ": " + ops);
            assertTrue(ops.stream().anyMatch(o -> o.startsWith("com.microsoft:")), level + " wrote no contrib op: " + ops);
            for (SessionOptions so : List.of(SessionOptions.builder().threads(2).build(),
                    SessionOptions.builder().threads(2).devices("cpu", "throttled:50%").build())) {
                try (Session s = Session.open(opt, so)) {
                    // two seeds on the CPU, one through the dispatcher (the slowest part of this test)
                    for (long seed : so.devices().size() > 1 ? new long[] {1} : new long[] {1, 2}) {
                        Map<String, Tensor> in = paddedBatch(seed);
                        Map<String, Tensor> ref = OrtReference.run(original, in);
                        for (int run = 0; run < 2; run++) {
                            Map<String, Tensor> ours = s.run(in).asMap();
                            for (var e : ref.entrySet()) {
                                String m = Tolerance.DEFAULT.mismatch(ours.get(e.getKey()), e.getValue());
                                assertNull(m, level + " " + so.devices() + " seed " + seed + " run " + run + " '" + e.getKey() + "': " + m);
                            }
                        }
                    }
                }
            }
        }
    }
}
