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

    /** Conv + BatchNormalization + activation fuse into sluice.FusedConv and still match ONNX Runtime. */
    @Test
    void convBatchNormActivationChainsFuse() throws Exception {
        int c = 4, m = 6, h = 7, w = 9;
        SplittableRandom r = new SplittableRandom(11);
        float[] w1 = rnd(r, m * c * 9, 0.5f), w2 = rnd(r, m * 9, 0.5f), w3 = rnd(r, m * m, 0.5f);
        OnnxModelBuilder b = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, m, h, w)
            .floatInit("w1", new long[] {m, c, 3, 3}, w1).floatInit("w2", new long[] {m, 1, 3, 3}, w2)
            .floatInit("w3", new long[] {m, m, 1, 1}, w3).floatInit("b3", new long[] {m}, rnd(r, m, 0.3f))
            .floatInit("three", new long[0], 3f).floatInit("zero", new long[0], 0f).floatInit("six", new long[0], 6f);
        for (int i = 1; i <= 2; i++) {
            float[] var = rnd(r, m, 0.5f);
            for (int j = 0; j < m; j++) var[j] = Math.abs(var[j]) + 0.1f;
            b.floatInit("g" + i, new long[] {m}, rnd(r, m, 1f)).floatInit("be" + i, new long[] {m}, rnd(r, m, 1f))
                .floatInit("mu" + i, new long[] {m}, rnd(r, m, 0.2f)).floatInit("var" + i, new long[] {m}, var);
        }
        Path file = b
            // full conv, BN, Paddle's HardSwish chain x * clip(x + 3, 0, 6) / 6
            .node("Conv", List.of("x", "w1"), List.of("c1"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
            .node("BatchNormalization", List.of("c1", "g1", "be1", "mu1", "var1"), List.of("n1"))
            .node("Add", List.of("n1", "three"), List.of("a1"))
            .node("Clip", List.of("a1", "zero", "six"), List.of("k1"))
            .node("Mul", List.of("n1", "k1"), List.of("p1"))
            .node("Div", List.of("p1", "six"), List.of("h1"))
            // depthwise conv, BN, Relu
            .node("Conv", List.of("h1", "w2"), List.of("c2"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1),
                OnnxModelBuilder.intAttr("group", m))
            .node("BatchNormalization", List.of("c2", "g2", "be2", "mu2", "var2"), List.of("n2"))
            .node("Relu", List.of("n2"), List.of("h2"))
            // pointwise conv with bias, HardSigmoid
            .node("Conv", List.of("h2", "w3", "b3"), List.of("c3"))
            .node("HardSigmoid", List.of("c3"), List.of("y"))
            .write(tmp.resolve("conv_bn_act.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(5));
        try (Session s = Session.open(file, 2)) {
            Map<String, Integer> ops = ModelCheck.opHistogram(s.model());
            assertEquals(1, ops.size(), "everything should fuse into FusedConv nodes: " + ops);
            assertEquals(3, ops.values().iterator().next(), ops.toString());
            assertEquals(6, s.model().graph().initializers().size(), "the folded weights replace the originals: "
                + s.model().graph().initializers().keySet());
            Tensor ours = s.run(Map.of("x", x)).get("y");
            Tensor ref = OrtReference.run(file, Map.of("x", x)).get("y");
            assertNull(Tolerance.DEFAULT.mismatch(ours, ref));
        }
    }

    private static float[] rnd(SplittableRandom r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble(-1, 1) * scale);
        return a;
    }
}
