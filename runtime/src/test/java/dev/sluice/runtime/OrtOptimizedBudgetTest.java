package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The zoo's all-MiniLM-L6-v2 after ONNX Runtime's optimizer (LayerNormalization, com.microsoft BiasGelu and
 * FusedMatMul for the attention scores) under budgets far below its largest nodes: at 10% and 1% of its need on
 * the throttled device, its outputs are the plain CPU run's bit for bit. Before the norms, BiasGelu and FusedMatMul
 * had box tilings, 1% was refused (BiasGelu needed its whole input and output at once).
 */
class OrtOptimizedBudgetTest {
    @TempDir Path tmp;

    @Test
    void ortOptimizedMiniLmRunsBitIdenticalUnderSmallBudgets() throws Exception {
        Path opt = OrtOptimizedModelTest.optimized(Zoo.MINILM_L6.path(), OrtSession.SessionOptions.OptLevel.EXTENDED_OPT, tmp.resolve("minilm.onnx"));
        Map<String, Tensor> in = OrtOptimizedModelTest.paddedBatch(3);
        Map<String, Tensor> plain;
        try (Session s = Session.open(opt, SessionOptions.builder().threads(2).build())) {
            plain = s.run(in).asMap();
        }
        for (String budget : new String[] {"10%", "1%"}) {
            try (Session s = Session.open(opt, SessionOptions.builder().threads(2).devices("cpu", "throttled:" + budget).build())) {
                Map<String, Tensor> ours = s.run(in).asMap();
                for (var e : plain.entrySet()) assertTrue(e.getValue().sameBits(ours.get(e.getKey())), "throttled:" + budget + " '" + e.getKey() + "'");
            }
        }
    }
}
