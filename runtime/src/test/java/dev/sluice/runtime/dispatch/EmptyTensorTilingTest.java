package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node reading an empty tensor (a Concat's zero-width part, as RotaryEmbedding's expanded form makes when it
 * rotates every channel) runs under small budgets with the unbudgeted bits: it stays whole instead of being cut
 * into boxes of an empty tensor, which crashed the MemGraph builder with an internal error.
 */
class EmptyTensorTilingTest {
    @TempDir Path tmp;

    @Test
    void aConcatWithAnEmptyPartRunsUnderABudget() throws Exception {
        Path file = new OnnxModelBuilder(13).input("x", 1, 4, 8, 16, 16).output("y", 1, 4, 8, 16, 16)
            .floatInit("e", new long[] {4, 8, 16, 0})
            .node("Relu", List.of("x"), List.of("r"))
            .node("Concat", List.of("r", "e"), List.of("c"), OnnxModelBuilder.intAttr("axis", 3))
            .node("Sigmoid", List.of("c"), List.of("y"))
            .write(tmp.resolve("concat_empty.onnx"));
        Tensor x = InputSources.random(DType.FLOAT32, Shape.of(4, 8, 16, 16), new SplittableRandom(4));
        Tensor plain;
        try (Session s = Session.open(file, 2)) {
            plain = s.run(Map.of("x", x)).get("y");
        }
        for (String budget : new String[] {"50%", "25%"}) {
            try (Session s = Session.open(file, SessionOptions.builder().threads(2).devices("cpu", "throttled:" + budget).build())) {
                assertTrue(plain.sameBits(s.run(Map.of("x", x)).get("y")), "throttled:" + budget);
            }
        }
    }
}
