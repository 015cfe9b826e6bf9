package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.sluice.graph.ModelCheck;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The exporter patterns fuse into single ops, and the fused graph still matches ONNX Runtime. */
class FusionTest {
    @TempDir Path tmp;

    @Test
    void pytorchLayerNormAndGeluChainsFuse() throws Exception {
        int w = 8;
        float[] gamma = new float[w], beta = new float[w];
        for (int i = 0; i < w; i++) { gamma[i] = 0.5f + i * 0.1f; beta[i] = i * 0.05f - 0.2f; }
        Path file = new OnnxModelBuilder(13)
            .input("x", 1, 2, 3, w).output("y", 1, 2, 3, w)
            .floatInit("two", new long[0], 2f).floatInit("eps", new long[0], 1e-5f)
            .floatInit("gamma", new long[] {w}, gamma).floatInit("beta", new long[] {w}, beta)
            .floatInit("sqrt2", new long[0], (float) Math.sqrt(2)).floatInit("one", new long[0], 1f)
            .floatInit("half", new long[0], 0.5f)
            .node("ReduceMean", List.of("x"), List.of("m"), OnnxModelBuilder.ints("axes", -1))
            .node("Sub", List.of("x", "m"), List.of("d"))
            .node("Pow", List.of("d", "two"), List.of("d2"))
            .node("ReduceMean", List.of("d2"), List.of("v"), OnnxModelBuilder.ints("axes", -1))
            .node("Add", List.of("v", "eps"), List.of("ve"))
            .node("Sqrt", List.of("ve"), List.of("s"))
            .node("Div", List.of("d", "s"), List.of("n"))
            .node("Mul", List.of("n", "gamma"), List.of("g"))
            .node("Add", List.of("g", "beta"), List.of("ln"))
            .node("Div", List.of("ln", "sqrt2"), List.of("q"))
            .node("Erf", List.of("q"), List.of("e"))
            .node("Add", List.of("e", "one"), List.of("e1"))
            .node("Mul", List.of("ln", "e1"), List.of("p"))
            .node("Mul", List.of("p", "half"), List.of("y"))
            .write(tmp.resolve("ln_gelu.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(2, 3, w), new SplittableRandom(3));
        try (Session s = Session.open(file, 1)) {
            Map<String, Integer> ops = ModelCheck.opHistogram(s.model());
            assertEquals(Map.of("LayerNormalization", 1, "Gelu", 1), ops, "the two chains should fuse into two nodes");
            Tensor ours = s.run(Map.of("x", x)).get("y");
            Tensor ref = OrtReference.run(file, Map.of("x", x)).get("y");
            assertNull(Tolerance.DEFAULT.mismatch(ours, ref));
        }
    }
}
