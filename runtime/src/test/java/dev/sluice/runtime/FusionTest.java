package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    /**
     * MatMul + bias + the erf-form Gelu chain fuse into one sluice.FusedMatMul, which matches ONNX Runtime and
     * gives the same bits as the unfused MatMul, Add and Gelu ops (its epilogue is the Gelu kernel's code).
     */
    @Test
    void matMulBiasGeluChainFuses() throws Exception {
        int k = 24, n = 37; // n not a multiple of the vector width: the epilogue's tail runs too
        SplittableRandom r = new SplittableRandom(17);
        Path file = new OnnxModelBuilder(13).input("x", 1, 2, 5, k).output("y", 1, 2, 5, n)
            .floatInit("w", new long[] {k, n}, rnd(r, k * n, 0.5f)).floatInit("b", new long[] {n}, rnd(r, n, 0.5f))
            .floatInit("sqrt2", new long[0], (float) Math.sqrt(2)).floatInit("one", new long[0], 1f)
            .floatInit("half", new long[0], 0.5f)
            .node("MatMul", List.of("x", "w"), List.of("m"))
            .node("Add", List.of("b", "m"), List.of("h"))
            .node("Div", List.of("h", "sqrt2"), List.of("q"))
            .node("Erf", List.of("q"), List.of("e"))
            .node("Add", List.of("e", "one"), List.of("e1"))
            .node("Mul", List.of("h", "e1"), List.of("p"))
            .node("Mul", List.of("p", "half"), List.of("y"))
            .write(tmp.resolve("mm_gelu.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(2, 5, k), new SplittableRandom(4));
        try (Session s = Session.open(file, 2);
             Session plain = Session.open(dev.sluice.graph.OnnxImporter.load(file), 2, dev.sluice.kernels.OpRegistry.cpu(),
                 dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)) {
            assertEquals(Map.of("sluice:FusedMatMul", 1), ModelCheck.opHistogram(s.model()));
            assertEquals("Gelu", s.model().graph().nodes().getFirst().attributes().getString("activation", null));
            Tensor ours = s.run(Map.of("x", x)).get("y");
            assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, Map.of("x", x)).get("y")));
            assertEquals(Map.of("MatMul", 1, "Add", 1, "Gelu", 1), ModelCheck.opHistogram(plain.model()));
            assertTrue(ours.sameBits(plain.run(Map.of("x", x)).get("y")), "fused and unfused bits differ");
        }
    }

    /**
     * BERT's attention chain (heads as [B, L, H, d]: Transpose q/k/v, MatMul, Div by sqrt(d), Add mask, Softmax,
     * MatMul, Transpose back) fuses into one sluice.Attention that matches ONNX Runtime and the unfused ops'
     * bits; also with one query row (Gemm32's matrix-vector path), a Mul scale and no mask.
     */
    @Test
    void attentionChainFuses() throws Exception {
        for (int[] c : new int[][] {{2, 13, 3, 8, 1}, {1, 1, 2, 16, 0}, {1, 20, 4, 5, 2}}) {
            int b = c[0], l = c[1], h = c[2], d = c[3], form = c[4];
            SplittableRandom r = new SplittableRandom(23 + l);
            OnnxModelBuilder mb = new OnnxModelBuilder(13)
                .input("q", 1, b, l, h, d).input("k", 1, b, l, h, d).input("v", 1, b, l, h, d).output("y", 1, b, l, h, d)
                .floatInit("scale", new long[0], form == 2 ? (float) (1 / Math.sqrt(d)) : (float) Math.sqrt(d))
                .node("Transpose", List.of("q"), List.of("qt"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .node("Transpose", List.of("k"), List.of("kt"), OnnxModelBuilder.ints("perm", 0, 2, 3, 1))
                .node("Transpose", List.of("v"), List.of("vt"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .node("MatMul", List.of("qt", "kt"), List.of("s"))
                .node(form == 2 ? "Mul" : "Div", List.of("s", "scale"), List.of("s1"));
            Map<String, Tensor> in = new java.util.HashMap<>();
            for (String name : List.of("q", "k", "v")) {
                in.put(name, InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(b, l, h, d), r));
            }
            String scores = "s1";
            if (form != 2) {
                mb.input("mask", 1, b, 1, 1, l).node("Add", List.of("s1", "mask"), List.of("s2"));
                Tensor mask = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, Shape.of(b, 1, 1, l));
                for (int i = 0; i < b * l; i++) mask.setFloat(i, i % 3 == 2 ? -10000f : 0f);
                in.put("mask", mask);
                scores = "s2";
            }
            Path file = mb.node("Softmax", List.of(scores), List.of("p"), OnnxModelBuilder.intAttr("axis", 3))
                .node("MatMul", List.of("p", "vt"), List.of("o"))
                .node("Transpose", List.of("o"), List.of("y"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .write(tmp.resolve("attention" + l + ".onnx"));
            try (Session s = Session.open(file, 2);
                 Session plain = Session.open(dev.sluice.graph.OnnxImporter.load(file), 2, dev.sluice.kernels.OpRegistry.cpu(),
                     dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)) {
                assertEquals(Map.of("sluice:Attention", 1), ModelCheck.opHistogram(s.model()), "case " + java.util.Arrays.toString(c));
                Tensor ours = s.run(in).get("y");
                assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, in).get("y")));
                assertTrue(ours.sameBits(plain.run(in).get("y")), "fused and unfused bits differ, case " + java.util.Arrays.toString(c));
            }
        }
    }

    /**
     * A residual Add before a LayerNorm (the exporter's chain, or a LayerNormalization op at opset 17) fuses into
     * sluice.AddLayerNorm, which matches ONNX Runtime and the unfused Add and LayerNormalization bit for bit.
     */
    @Test
    void residualAddLayerNormFuses() throws Exception {
        int w = 37;
        SplittableRandom r = new SplittableRandom(29);
        float[] gamma = rnd(r, w, 1f), beta = rnd(r, w, 1f);
        Path chain = new OnnxModelBuilder(13)
            .input("a", 1, 3, 5, w).input("b", 1, 3, 5, w).output("y", 1, 3, 5, w)
            .floatInit("two", new long[0], 2f).floatInit("eps", new long[0], 1e-5f)
            .floatInit("gamma", new long[] {w}, gamma).floatInit("beta", new long[] {w}, beta)
            .node("Add", List.of("a", "b"), List.of("x"))
            .node("ReduceMean", List.of("x"), List.of("m"), OnnxModelBuilder.ints("axes", -1))
            .node("Sub", List.of("x", "m"), List.of("d"))
            .node("Pow", List.of("d", "two"), List.of("d2"))
            .node("ReduceMean", List.of("d2"), List.of("v"), OnnxModelBuilder.ints("axes", -1))
            .node("Add", List.of("v", "eps"), List.of("ve"))
            .node("Sqrt", List.of("ve"), List.of("s"))
            .node("Div", List.of("d", "s"), List.of("n"))
            .node("Mul", List.of("n", "gamma"), List.of("g"))
            .node("Add", List.of("g", "beta"), List.of("y"))
            .write(tmp.resolve("add_ln_chain.onnx"));
        Path op = new OnnxModelBuilder(17)
            .input("a", 1, 3, 5, w).input("b", 1, 3, 5, w).output("y", 1, 3, 5, w)
            .floatInit("gamma", new long[] {w}, gamma).floatInit("beta", new long[] {w}, beta)
            .node("Add", List.of("a", "b"), List.of("x"))
            .node("LayerNormalization", List.of("x", "gamma", "beta"), List.of("y"), OnnxModelBuilder.intAttr("axis", -1))
            .write(tmp.resolve("add_ln_op.onnx"));
        Map<String, Tensor> in = Map.of(
            "a", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(3, 5, w), new SplittableRandom(6)),
            "b", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(3, 5, w), new SplittableRandom(7)));
        for (Path file : List.of(chain, op)) {
            try (Session s = Session.open(file, 2);
                 Session plain = Session.open(dev.sluice.graph.OnnxImporter.load(file), 2, dev.sluice.kernels.OpRegistry.cpu(),
                     dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)) {
                assertEquals(Map.of("sluice:AddLayerNorm", 1), ModelCheck.opHistogram(s.model()), file.toString());
                assertEquals(Map.of("Add", 1, "LayerNormalization", 1), ModelCheck.opHistogram(plain.model()), file.toString());
                Tensor ours = s.run(in).get("y");
                assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, in).get("y")));
                assertTrue(ours.sameBits(plain.run(in).get("y")), "fused and unfused bits differ: " + file);
            }
        }
    }

    private static float[] rnd(SplittableRandom r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble(-1, 1) * scale);
        return a;
    }
}
