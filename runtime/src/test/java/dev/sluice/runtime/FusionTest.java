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

    /**
     * PyTorch's exported LayerNorm over the last axis of value x, as its ONNX chain (ReduceMean, Sub, Pow 2,
     * ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta) into {@code out}; the caller adds the initializers two,
     * eps, gamma and beta. Node order in the file does not matter to the importer, which sorts.
     */
    private static OnnxModelBuilder exportedLayerNorm(OnnxModelBuilder b, String out) {
        return b
            .node("ReduceMean", List.of("x"), List.of("m"), OnnxModelBuilder.ints("axes", -1))
            .node("Sub", List.of("x", "m"), List.of("d"))
            .node("Pow", List.of("d", "two"), List.of("d2"))
            .node("ReduceMean", List.of("d2"), List.of("v"), OnnxModelBuilder.ints("axes", -1))
            .node("Add", List.of("v", "eps"), List.of("ve"))
            .node("Sqrt", List.of("ve"), List.of("s"))
            .node("Div", List.of("d", "s"), List.of("n"))
            .node("Mul", List.of("n", "gamma"), List.of("g"))
            .node("Add", List.of("g", "beta"), List.of(out));
    }

    @Test
    void pytorchLayerNormAndGeluChainsFuse() throws Exception {
        int w = 8;
        float[] gamma = new float[w], beta = new float[w];
        for (int i = 0; i < w; i++) { gamma[i] = 0.5f + i * 0.1f; beta[i] = i * 0.05f - 0.2f; }
        Path file = exportedLayerNorm(new OnnxModelBuilder(13), "ln")
            .input("x", 1, 2, 3, w).output("y", 1, 2, 3, w)
            .floatInit("two", new long[0], 2f).floatInit("eps", new long[0], 1e-5f)
            .floatInit("gamma", new long[] {w}, gamma).floatInit("beta", new long[] {w}, beta)
            .floatInit("sqrt2", new long[0], (float) Math.sqrt(2)).floatInit("one", new long[0], 1f)
            .floatInit("half", new long[0], 0.5f)
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
     * Any sequence of per-channel (or scalar) constant Mul and Add steps and BatchNormalizations after a conv folds
     * into its weight and bias, so the activation after them fuses too (PP-LCNet, PP-OCRv4's backbone, puts a
     * learnable scalar Mul and Add after every conv, before Paddle's HardSwish chain). A constant that is not per
     * channel (one value per column here) must not fold. Reference: ONNX Runtime.
     */
    @Test
    void convMulAddStepsFoldBeforeTheActivation() throws Exception {
        int c = 3, m = 5, h = 6, w = 8;
        SplittableRandom r = new SplittableRandom(17);
        float[] var = rnd(r, m, 0.5f);
        for (int j = 0; j < m; j++) var[j] = Math.abs(var[j]) + 0.1f;
        Path file = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, m, h, w)
            .floatInit("w1", new long[] {m, c, 3, 3}, rnd(r, m * c * 9, 0.5f)).floatInit("b1", new long[] {m}, rnd(r, m, 0.3f))
            .floatInit("w2", new long[] {m, 1, 3, 3}, rnd(r, m * 9, 0.5f)).floatInit("w3", new long[] {m, m, 1, 1}, rnd(r, m * m, 0.5f))
            .floatInit("s1", new long[] {1}, -1.7f).floatInit("t1", new long[] {1}, 0.45f)
            .floatInit("s2", new long[] {1}, 0.6f).floatInit("t2", new long[] {1}, -0.3f)
            .floatInit("sc", new long[] {1, m, 1, 1}, rnd(r, m, 2f)).floatInit("tc", new long[] {m, 1, 1}, rnd(r, m, 1f))
            .floatInit("g", new long[] {m}, rnd(r, m, 1f)).floatInit("be", new long[] {m}, rnd(r, m, 1f))
            .floatInit("mu", new long[] {m}, rnd(r, m, 0.2f)).floatInit("var", new long[] {m}, var)
            .floatInit("cols", new long[] {w}, rnd(r, w, 1f))
            .floatInit("three", new long[0], 3f).floatInit("zero", new long[0], 0f).floatInit("six", new long[0], 6f)
            // conv, scalar Mul and Add, HardSwish chain, then a scalar Mul and Add (into the activation)
            .node("Conv", List.of("x", "w1", "b1"), List.of("c1"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
            .node("Mul", List.of("s1", "c1"), List.of("m1"))
            .node("Add", List.of("m1", "t1"), List.of("a1"))
            .node("Add", List.of("a1", "three"), List.of("a3"))
            .node("Clip", List.of("a3", "zero", "six"), List.of("k1"))
            .node("Mul", List.of("a1", "k1"), List.of("p1"))
            .node("Div", List.of("p1", "six"), List.of("h1"))
            .node("Mul", List.of("h1", "s2"), List.of("m2"))
            .node("Add", List.of("m2", "t2"), List.of("a2"))
            // depthwise conv, per-channel Mul, BN, per-channel Add, Relu
            .node("Conv", List.of("a2", "w2"), List.of("c2"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1), OnnxModelBuilder.intAttr("group", m))
            .node("Mul", List.of("c2", "sc"), List.of("m3"))
            .node("BatchNormalization", List.of("m3", "g", "be", "mu", "var"), List.of("n3"))
            .node("Add", List.of("tc", "n3"), List.of("a4"))
            .node("Relu", List.of("a4"), List.of("h2"))
            // pointwise conv, then a Mul by one value per column: not an affine step of the conv's channels
            .node("Conv", List.of("h2", "w3"), List.of("c3"))
            .node("Mul", List.of("c3", "cols"), List.of("y"))
            .write(tmp.resolve("conv_mul_add.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(6));
        try (Session s = Session.open(file, 2)) {
            assertEquals(Map.of("sluice:FusedConv", 2, "Conv", 1, "Mul", 1), ModelCheck.opHistogram(s.model()));
            List<dev.sluice.graph.Node> convs = s.model().graph().nodes().stream().filter(n -> n.opType().equals("FusedConv")).toList();
            assertEquals("HardSwishChain", convs.get(0).attributes().getString("activation", null));
            // the scalar Mul and Add after the chain went into the activation
            assertEquals(0.6f, convs.get(0).attributes().getFloat("activation_post_scale", Float.NaN));
            assertEquals(-0.3f, convs.get(0).attributes().getFloat("activation_post_shift", Float.NaN));
            assertEquals("Relu", convs.get(1).attributes().getString("activation", null));
            Tensor ours = s.run(Map.of("x", x)).get("y");
            assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, Map.of("x", x)).get("y")));
        }
    }

    /**
     * Paddle's HardSwish chain and the scalar Mul and Add after it, fused into a conv's activation, give the bits of
     * the unfused ops (the kernel multiplies, then adds, each rounded), with and without each of the two; and ORT's
     * values.
     */
    @Test
    void scalarAffineAfterTheHardSwishChainKeepsTheUnfusedBits() throws Exception {
        int c = 4, m = 6, h = 5, w = 19;
        SplittableRandom r = new SplittableRandom(23);
        for (String[] post : new String[][] {{"Mul", "Add"}, {"Mul"}, {"Add"}}) {
            OnnxModelBuilder b = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, m, h, w)
                .floatInit("w1", new long[] {m, c, 3, 3}, rnd(r, m * c * 9, 0.5f)).floatInit("b1", new long[] {m}, rnd(r, m, 0.3f))
                .floatInit("s", new long[] {1}, 0.63296586f).floatInit("t", new long[] {1}, -0.54658866f)
                .floatInit("three", new long[0], 3f).floatInit("zero", new long[0], 0f).floatInit("six", new long[0], 6f)
                .node("Conv", List.of("x", "w1", "b1"), List.of("c1"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
                .node("Add", List.of("c1", "three"), List.of("a3"))
                .node("Clip", List.of("a3", "zero", "six"), List.of("k1"))
                .node("Mul", List.of("c1", "k1"), List.of("p1"))
                .node("Div", List.of("p1", "six"), List.of("h0"));
            String last = "h0";
            for (int i = 0; i < post.length; i++) {
                String out = i == post.length - 1 ? "y" : "h" + (i + 1);
                b.node(post[i], List.of(post[i].equals("Mul") ? "s" : last, post[i].equals("Mul") ? last : "t"), List.of(out));
                last = out;
            }
            Path file = b.write(tmp.resolve("hswish_affine" + post.length + post[0] + ".onnx"));
            Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(8));
            assertFusesKeepingBits(file, Map.of("x", x), "y", Map.of("sluice:FusedConv", 1), String.join(",", post));
        }
    }

    /**
     * SiLU written as Sigmoid(c) and Mul(c, Sigmoid(c)) (EfficientNet's and YOLO's activation) after a full, a
     * depthwise and a pointwise conv, and after a MatMul with bias, in either Mul operand order, fuses into the
     * producer's activation with the unfused ops' bits (the Sigmoid kernel's code, then one multiply), and ORT's
     * values. Widths leave scalar tails.
     */
    @Test
    void siluAfterConvAndMatMulFusesWithTheUnfusedBits() throws Exception {
        int c = 6, h = 5, w = 19;
        SplittableRandom r = new SplittableRandom(31);
        for (boolean xFirst : new boolean[] {true, false}) {
            Path file = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, c, h, 7)
                .floatInit("w1", new long[] {c, c, 3, 3}, rnd(r, c * c * 9, 0.5f)).floatInit("b1", new long[] {c}, rnd(r, c, 0.3f))
                .floatInit("w2", new long[] {c, 1, 3, 3}, rnd(r, c * 9, 0.5f))
                .floatInit("w3", new long[] {c, c, 1, 1}, rnd(r, c * c, 0.5f))
                .floatInit("wm", new long[] {w, 7}, rnd(r, w * 7, 0.5f)).floatInit("bm", new long[] {7}, rnd(r, 7, 0.3f))
                .node("Conv", List.of("x", "w1", "b1"), List.of("c1"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
                .node("Sigmoid", List.of("c1"), List.of("s1")).node("Mul", xFirst ? List.of("c1", "s1") : List.of("s1", "c1"), List.of("a1"))
                .node("Conv", List.of("a1", "w2"), List.of("c2"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1), OnnxModelBuilder.intAttr("group", c))
                .node("Sigmoid", List.of("c2"), List.of("s2")).node("Mul", xFirst ? List.of("s2", "c2") : List.of("c2", "s2"), List.of("a2"))
                .node("Conv", List.of("a2", "w3"), List.of("c3"))
                .node("Sigmoid", List.of("c3"), List.of("s3")).node("Mul", List.of("c3", "s3"), List.of("a3"))
                .node("MatMul", List.of("a3", "wm"), List.of("m")).node("Add", List.of("m", "bm"), List.of("mb"))
                .node("Sigmoid", List.of("mb"), List.of("s4")).node("Mul", List.of("mb", "s4"), List.of("y"))
                .write(tmp.resolve("silu" + xFirst + ".onnx"));
            Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(9));
            var fused = assertFusesKeepingBits(file, Map.of("x", x), "y", Map.of("sluice:FusedConv", 3, "sluice:FusedMatMul", 1),
                "x first " + xFirst);
            for (var n : fused.graph().nodes()) assertEquals("Silu", n.attributes().getString("activation", null), n.name());
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
        Path chain = exportedLayerNorm(new OnnxModelBuilder(13), "y")
            .input("a", 1, 3, 5, w).input("b", 1, 3, 5, w).output("y", 1, 3, 5, w)
            .floatInit("two", new long[0], 2f).floatInit("eps", new long[0], 1e-5f)
            .floatInit("gamma", new long[] {w}, gamma).floatInit("beta", new long[] {w}, beta)
            .node("Add", List.of("a", "b"), List.of("x"))
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

    /**
     * PP-OCR det's head: ConvTranspose (grouped here), Add of a per-channel constant, BatchNormalization, Relu,
     * then a ConvTranspose with overlapping windows, Add of a scalar constant, Sigmoid: both fold into
     * sluice.FusedConvTranspose nodes (the Add and BN into weight and bias, Relu / Sigmoid as their activation)
     * that match ONNX Runtime; the replaced constants are dropped.
     */
    @Test
    void convTransposeAddBatchNormActivationChainsFuse() throws Exception {
        int c = 4, group = 2, mg = 3, m = group * mg, h = 5, w = 7;
        SplittableRandom r = new SplittableRandom(31);
        float[] var = rnd(r, m, 0.5f);
        for (int j = 0; j < m; j++) var[j] = Math.abs(var[j]) + 0.1f;
        int oh = 2 * h, ow = 2 * w, oh2 = (oh - 1) * 2 + 3, ow2 = (ow - 1) * 2 + 3;
        Path file = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, 1, oh2, ow2)
            .floatInit("w1", new long[] {c, mg, 2, 2}, rnd(r, c * mg * 4, 0.5f))
            .floatInit("c1", new long[] {1, m, 1, 1}, rnd(r, m, 0.5f))
            .floatInit("g", new long[] {m}, rnd(r, m, 1f)).floatInit("be", new long[] {m}, rnd(r, m, 1f))
            .floatInit("mu", new long[] {m}, rnd(r, m, 0.2f)).floatInit("var", new long[] {m}, var)
            .floatInit("w2", new long[] {m, 1, 3, 3}, rnd(r, m * 9, 0.5f))
            .floatInit("c2", new long[] {1, 1, 1, 1}, 0.25f)
            .node("ConvTranspose", List.of("x", "w1"), List.of("t1"), OnnxModelBuilder.ints("strides", 2, 2),
                OnnxModelBuilder.intAttr("group", group))
            .node("Add", List.of("c1", "t1"), List.of("a1"))
            .node("BatchNormalization", List.of("a1", "g", "be", "mu", "var"), List.of("n1"),
                OnnxModelBuilder.floatAttr("epsilon", 1e-3f))
            .node("Relu", List.of("n1"), List.of("r1"))
            .node("ConvTranspose", List.of("r1", "w2"), List.of("t2"), OnnxModelBuilder.ints("strides", 2, 2))
            .node("Add", List.of("t2", "c2"), List.of("a2"))
            .node("Sigmoid", List.of("a2"), List.of("y"))
            .write(tmp.resolve("convtranspose_head.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(8));
        try (Session s = Session.open(file, 2)) {
            assertEquals(Map.of("sluice:FusedConvTranspose", 2), ModelCheck.opHistogram(s.model()));
            var nodes = s.model().graph().nodes();
            assertEquals("Relu", nodes.get(0).attributes().getString("activation", null));
            assertEquals("Sigmoid", nodes.get(1).attributes().getString("activation", null));
            assertEquals(4, s.model().graph().initializers().size(), "folded weights and biases replace the originals: "
                + s.model().graph().initializers().keySet());
            Tensor ours = s.run(Map.of("x", x)).get("y");
            assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, Map.of("x", x)).get("y")));
        }
    }

    /**
     * A squeeze-excitation block as PP-OCR det exports it: Conv without bias, GlobalAveragePool, Conv, Add of a
     * per-channel constant, Relu, Conv, Add, HardSigmoid (non-default alpha / beta), Mul(x, s), Add(x, that).
     * The Conv + Add (+ activation) pairs become FusedConv nodes with that bias, and the tail one
     * sluice.ChannelScaleResidual whose bits equal the unfused Mul and Add; all of it matches ONNX Runtime.
     */
    @Test
    void squeezeExcitationBlockFuses() throws Exception {
        int c = 5, m = 8, q = 3, h = 6, w = 9;
        SplittableRandom r = new SplittableRandom(37);
        Path file = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, m, h, w)
            .floatInit("w0", new long[] {m, c, 3, 3}, rnd(r, m * c * 9, 0.5f))
            .floatInit("w1", new long[] {q, m, 1, 1}, rnd(r, q * m, 0.5f)).floatInit("b1", new long[] {1, q, 1, 1}, rnd(r, q, 0.5f))
            .floatInit("w2", new long[] {m, q, 1, 1}, rnd(r, m * q, 0.5f)).floatInit("b2", new long[] {m, 1, 1}, rnd(r, m, 0.5f))
            .node("Conv", List.of("x", "w0"), List.of("f"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
            .node("GlobalAveragePool", List.of("f"), List.of("p"))
            .node("Conv", List.of("p", "w1"), List.of("s1"))
            .node("Add", List.of("s1", "b1"), List.of("s2"))
            .node("Relu", List.of("s2"), List.of("s3"))
            .node("Conv", List.of("s3", "w2"), List.of("s4"))
            .node("Add", List.of("b2", "s4"), List.of("s5"))
            .node("HardSigmoid", List.of("s5"), List.of("g"), OnnxModelBuilder.floatAttr("alpha", 0.3f),
                OnnxModelBuilder.floatAttr("beta", 0.4f))
            .node("Mul", List.of("g", "f"), List.of("fg"))
            .node("Add", List.of("f", "fg"), List.of("y"))
            .write(tmp.resolve("se_block.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(9));
        try (Session s = Session.open(file, 2);
             Session plain = Session.open(dev.sluice.graph.OnnxImporter.load(file), 2, dev.sluice.kernels.OpRegistry.cpu(),
                 dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)) {
            // the first Conv has three readers: it stays a Conv
            assertEquals(Map.of("Conv", 1, "GlobalAveragePool", 1, "sluice:FusedConv", 2, "sluice:ChannelScaleResidual", 1),
                ModelCheck.opHistogram(s.model()));
            Tensor ours = s.run(Map.of("x", x)).get("y");
            assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, Map.of("x", x)).get("y")));
            assertNull(Tolerance.DEFAULT.mismatch(ours, plain.run(Map.of("x", x)).get("y")));
        }
    }

    /**
     * Two residual block ends: a depthwise stride-2 Conv with TensorFlow's asymmetric pads and a bias, plus a
     * MaxPool shortcut computed after it in node order, then Relu; and a pointwise Conv, BatchNormalization (folded),
     * then Add(x, that) without an activation. Both become sluice.FusedConvAdd, placed where the residual exists;
     * the first gives the unfused nodes' bits, both match ONNX Runtime. A residual that broadcasts stays an Add.
     */
    @Test
    void residualBlockEndsFuseIntoConvAdd() throws Exception {
        int c = 4, h = 8, w = 10;
        SplittableRandom r = new SplittableRandom(43);
        float[] var = rnd(r, c, 0.5f);
        for (int i = 0; i < c; i++) var[i] = 0.5f + Math.abs(var[i]);
        Path file = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, c, h / 2, w / 2).output("z", 1, 1, c, h, w)
            .output("q", 1, 1, c, h, w)
            .floatInit("w0", new long[] {c, 1, 3, 3}, rnd(r, c * 9, 0.5f)).floatInit("b0", new long[] {c}, rnd(r, c, 0.5f))
            .floatInit("w1", new long[] {c, c, 1, 1}, rnd(r, c * c, 0.5f))
            .floatInit("g", new long[] {c}, rnd(r, c, 1f)).floatInit("be", new long[] {c}, rnd(r, c, 1f))
            .floatInit("mu", new long[] {c}, rnd(r, c, 0.3f)).floatInit("va", new long[] {c}, var)
            .floatInit("w2", new long[] {c, c, 3, 3}, rnd(r, c * c * 9, 0.5f)).floatInit("row", new long[] {1, 1, 1, w}, rnd(r, w, 1f))
            .node("Conv", List.of("x", "w0", "b0"), List.of("t"), OnnxModelBuilder.ints("pads", 0, 0, 1, 1),
                OnnxModelBuilder.ints("strides", 2, 2), OnnxModelBuilder.intAttr("group", c))
            .node("MaxPool", List.of("x"), List.of("p"), OnnxModelBuilder.ints("kernel_shape", 2, 2), OnnxModelBuilder.ints("strides", 2, 2))
            .node("Add", List.of("t", "p"), List.of("s"))
            .node("Relu", List.of("s"), List.of("y"))
            .node("Conv", List.of("x", "w1"), List.of("u"))
            .node("BatchNormalization", List.of("u", "g", "be", "mu", "va"), List.of("v"))
            .node("Add", List.of("x", "v"), List.of("z"))
            // the residual [1, 1, 1, w] broadcasts: not fused
            .node("Conv", List.of("x", "w2"), List.of("k"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
            .node("Exp", List.of("row"), List.of("e"))
            .node("Add", List.of("k", "e"), List.of("q"))
            .write(tmp.resolve("residual_ends.onnx"));
        Map<String, Tensor> in = Map.of("x", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(13)));
        try (Session s = Session.open(file, 2);
             Session plain = Session.open(dev.sluice.graph.OnnxImporter.load(file), 2, dev.sluice.kernels.OpRegistry.cpu(),
                 dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)) {
            Map<String, Integer> ops = ModelCheck.opHistogram(s.model());
            assertEquals(2, ops.get("sluice:FusedConvAdd"), ops.toString());
            assertEquals(1, ops.get("Add"), ops.toString());
            Result ours = s.run(in), unfused = plain.run(in);
            Map<String, Tensor> ort = OrtReference.run(file, in);
            assertTrue(ours.get("y").sameBits(unfused.get("y")), "fused and unfused bits differ");
            for (String o : List.of("y", "z", "q")) assertNull(Tolerance.DEFAULT.mismatch(ours.get(o), ort.get(o)), o);
        }
    }

    /** sluice.ChannelScaleResidual gives the unfused Mul and Add's bits, for a gate of batch 1 over a batch of 2 too. */
    @Test
    void channelScaleResidualMatchesMulAndAddBits() throws Exception {
        int c = 3, h = 5, w = 7; // planes of 35: vector bodies and scalar tails
        for (long sn : new long[] {2, 1}) {
            Path file = new OnnxModelBuilder(13).input("x", 1, 2, c, h, w).input("s", 1, sn, c, 1, 1).output("y", 1, 2, c, h, w)
                .node("Mul", List.of("x", "s"), List.of("xs"))
                .node("Add", List.of("xs", "x"), List.of("y"))
                .write(tmp.resolve("scale_residual" + sn + ".onnx"));
            Map<String, Tensor> in = Map.of(
                "x", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(2, c, h, w), new SplittableRandom(10)),
                "s", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(sn, c, 1, 1), new SplittableRandom(11)));
            assertFusesKeepingBits(file, in, "y", Map.of("sluice:ChannelScaleResidual", 1), "gate batch " + sn);
        }
    }

    /**
     * The patterns leave the nodes alone when an inner value has a second reader (or is a graph output), when
     * the added constant is not one value per channel, or when the gate varies along the height.
     */
    @Test
    void perChannelFusionsRefuseWhatTheyCannotFold() throws Exception {
        int c = 3, h = 4, w = 5;
        SplittableRandom r = new SplittableRandom(41);
        float[] wt = rnd(r, c * c * 4, 0.5f), wc = rnd(r, c * c, 0.5f);
        Map<String, Tensor> in = Map.of("x", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(12)));
        record Case(String name, OnnxModelBuilder model, Map<String, Integer> ops) {}
        List<Case> cases = List.of(
            // ConvTranspose's output read by the Add and a Relu: nothing folds
            new Case("ct_two_readers", new OnnxModelBuilder(13).input("x", 1, 1, c, h, w)
                .output("y", 1, 1, c, 2 * h, 2 * w).output("z", 1, 1, c, 2 * h, 2 * w)
                .floatInit("w", new long[] {c, c, 2, 2}, wt).floatInit("b", new long[] {1, c, 1, 1}, rnd(r, c, 1f))
                .node("ConvTranspose", List.of("x", "w"), List.of("t"), OnnxModelBuilder.ints("strides", 2, 2))
                .node("Add", List.of("t", "b"), List.of("y"))
                .node("Relu", List.of("t"), List.of("z")),
                Map.of("ConvTranspose", 1, "Add", 1, "Relu", 1)),
            // a constant that varies along the width is no bias; the Relu after it is not the ConvTranspose's
            new Case("ct_not_per_channel", new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, c, 2 * h, 2 * w)
                .floatInit("w", new long[] {c, c, 2, 2}, wt).floatInit("b", new long[] {1, 1, 1, 2 * w}, rnd(r, 2 * w, 1f))
                .node("ConvTranspose", List.of("x", "w"), List.of("t"), OnnxModelBuilder.ints("strides", 2, 2))
                .node("Add", List.of("t", "b"), List.of("a"))
                .node("Relu", List.of("a"), List.of("y")),
                Map.of("ConvTranspose", 1, "Add", 1, "Relu", 1)),
            // the conv's output is also a graph output
            new Case("conv_output_read", new OnnxModelBuilder(13).input("x", 1, 1, c, h, w)
                .output("y", 1, 1, c, h, w).output("t", 1, 1, c, h, w)
                .floatInit("w", new long[] {c, c, 1, 1}, wc).floatInit("b", new long[] {1, c, 1, 1}, rnd(r, c, 1f))
                .node("Conv", List.of("x", "w"), List.of("t"))
                .node("Add", List.of("t", "b"), List.of("y")),
                Map.of("Conv", 1, "Add", 1)),
            // a [1, c, h, 1] constant is per channel and row: no bias
            new Case("conv_not_per_channel", new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, c, h, w)
                .floatInit("w", new long[] {c, c, 1, 1}, wc).floatInit("b", new long[] {1, c, h, 1}, rnd(r, c * h, 1f))
                .node("Conv", List.of("x", "w"), List.of("t"))
                .node("Add", List.of("t", "b"), List.of("y")),
                Map.of("Conv", 1, "Add", 1)),
            // the product x * s has a second reader
            new Case("gate_product_read", new OnnxModelBuilder(13).input("x", 1, 1, c, h, w)
                .output("y", 1, 1, c, h, w).output("z", 1, 1, c, h, w)
                .floatInit("s", new long[] {1, c, 1, 1}, rnd(r, c, 1f))
                .node("Mul", List.of("x", "s"), List.of("p"))
                .node("Add", List.of("x", "p"), List.of("y"))
                .node("Relu", List.of("p"), List.of("z")),
                Map.of("Mul", 1, "Add", 1, "Relu", 1)),
            // a gate that varies along the height
            new Case("gate_not_per_channel", new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, c, h, w)
                .floatInit("s", new long[] {1, c, h, 1}, rnd(r, c * h, 1f))
                .node("Mul", List.of("x", "s"), List.of("p"))
                .node("Add", List.of("x", "p"), List.of("y")),
                Map.of("Mul", 1, "Add", 1)));
        for (Case k : cases) {
            Path file = k.model().write(tmp.resolve(k.name() + ".onnx"));
            try (Session s = Session.open(file, 2)) {
                assertEquals(k.ops(), ModelCheck.opHistogram(s.model()), k.name());
                Map<String, Tensor> ours = s.run(in).asMap(), ref = OrtReference.run(file, in);
                for (var e : ref.entrySet()) assertNull(Tolerance.DEFAULT.mismatch(ours.get(e.getKey()), e.getValue()), k.name());
            }
        }
    }

    /**
     * TF exports write a floor after LeakyRelu as a Max by a constant (openWakeWord's embedder: Max(LeakyRelu(x), -0.4)
     * after every conv): a Max and a Min by scalar constants (of any rank up to the value's) fold into the fused
     * conv as its clamp, and the result matches ONNX Runtime; a Max by a per-channel constant is not a clamp and stays.
     */
    @Test
    void maxAndMinByScalarsAfterLeakyReluFoldIntoTheConv() throws Exception {
        int c = 3, m = 5, h = 6, w = 11;
        SplittableRandom r = new SplittableRandom(17);
        Path file = new OnnxModelBuilder(13).input("x", 1, 1, c, h, w).output("y", 1, 1, m, h, w).output("z", 1, 1, m, h, w)
            .floatInit("w1", new long[] {m, c, 3, 3}, rnd(r, m * c * 9, 0.6f)).floatInit("b1", new long[] {m}, rnd(r, m, 0.3f))
            .floatInit("w2", new long[] {m, m, 1, 3}, rnd(r, m * m * 3, 0.6f)).floatInit("b2", new long[] {m}, rnd(r, m, 0.3f))
            .floatInit("w3", new long[] {m, m, 1, 1}, rnd(r, m * m, 0.6f))
            .floatInit("floor", new long[] {1, 1, 1, 1}, -0.4f).floatInit("cap", new long[0], 0.9f)
            .floatInit("perChannel", new long[] {1, m, 1, 1}, rnd(r, m, 0.5f))
            .node("Conv", List.of("x", "w1", "b1"), List.of("c1"), OnnxModelBuilder.ints("pads", 1, 1, 1, 1))
            .node("LeakyRelu", List.of("c1"), List.of("l1"), OnnxModelBuilder.floatAttr("alpha", 0.2f))
            .node("Max", List.of("l1", "floor"), List.of("h1"))
            .node("Conv", List.of("h1", "w2", "b2"), List.of("c2"), OnnxModelBuilder.ints("pads", 0, 1, 0, 1))
            .node("LeakyRelu", List.of("c2"), List.of("l2"), OnnxModelBuilder.floatAttr("alpha", 0.2f))
            .node("Max", List.of("floor", "l2"), List.of("m2"))
            .node("Min", List.of("m2", "cap"), List.of("y"))
            .node("Conv", List.of("y", "w3"), List.of("c3"))
            .node("LeakyRelu", List.of("c3"), List.of("l3"), OnnxModelBuilder.floatAttr("alpha", 0.1f))
            .node("Max", List.of("l3", "perChannel"), List.of("z"))
            .write(tmp.resolve("leaky_clamp.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, c, h, w), new SplittableRandom(5));
        try (Session s = Session.open(file, 2)) {
            Map<String, Integer> ops = ModelCheck.opHistogram(s.model());
            assertEquals(Map.of("sluice:FusedConv", 3, "Max", 1), ops, "the scalar Max / Min fold, the per-channel Max stays: " + ops);
            Map<String, Tensor> in = Map.of("x", x), ours = s.run(in).asMap(), ref = OrtReference.run(file, in);
            for (var e : ref.entrySet()) assertNull(Tolerance.DEFAULT.mismatch(ours.get(e.getKey()), e.getValue()), e.getKey());
        }
    }

    /**
     * Opens {@code file} fused for the CPU and unfused (standard ops), asserts the fused graph's op histogram, that
     * output {@code out} of the fused run has the unfused run's bits and ONNX Runtime's values, and returns the fused
     * graph for further checks.
     */
    static dev.sluice.graph.Model assertFusesKeepingBits(Path file, Map<String, Tensor> in, String out,
                                                         Map<String, Integer> fusedOps, String label) throws Exception {
        try (Session s = Session.open(file, 2);
             Session plain = Session.open(dev.sluice.graph.OnnxImporter.load(file), 2, dev.sluice.kernels.OpRegistry.cpu(),
                 dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)) {
            assertEquals(fusedOps, ModelCheck.opHistogram(s.model()), label);
            Tensor ours = s.run(in).get(out);
            assertTrue(ours.sameBits(plain.run(in).get(out)), "fused and unfused bits differ: " + label);
            assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, in).get(out)), label);
            return s.model();
        }
    }

    static float[] rnd(SplittableRandom r, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (r.nextDouble(-1, 1) * scale);
        return a;
    }

    /**
     * The chain dynamic quantizers export (DynamicQuantizeLinear shared by two MatMulIntegers, each with its Cast,
     * scale Mul and, for one, a bias Add) fuses into two sluice.DynamicQuantMatMul nodes and matches ORT.
     */
    @Test
    void dynamicQuantizationChainsFuse() throws Exception {
        int k = 37, n = 19, n2 = 6;
        SplittableRandom r = new SplittableRandom(31);
        int[] w = new int[k * n], w2 = new int[k * n2], wzp = new int[n];
        for (int i = 0; i < w.length; i++) w[i] = r.nextInt(256) - 128;
        for (int i = 0; i < w2.length; i++) w2[i] = r.nextInt(256) - 128;
        for (int j = 0; j < n; j++) wzp[j] = r.nextInt(21) - 10;
        Path file = new OnnxModelBuilder(11)
            .input("x", 1, 1, 5, k).output("y", 1, 1, 5, n).output("y2", 1, 1, 5, n2)
            .byteInit("w", 3, new long[] {k, n}, w).byteInit("wzp", 3, new long[] {n}, wzp)
            .byteInit("w2", 3, new long[] {k, n2}, w2).byteInit("w2zp", 3, new long[0], 3)
            .floatInit("ws", new long[] {n}, rnd(r, n, 0.01f)).floatInit("ws2", new long[0], 0.004f)
            .floatInit("bias", new long[] {n}, rnd(r, n, 1f))
            .node("DynamicQuantizeLinear", List.of("x"), List.of("xq", "xs", "xz"))
            .node("Mul", List.of("xs", "ws"), List.of("s"))
            .node("MatMulInteger", List.of("xq", "w", "xz", "wzp"), List.of("acc"))
            .node("Cast", List.of("acc"), List.of("accf"), OnnxModelBuilder.intAttr("to", 1))
            .node("Mul", List.of("accf", "s"), List.of("mm"))
            .node("Add", List.of("bias", "mm"), List.of("y"))
            .node("Mul", List.of("xs", "ws2"), List.of("s2"))
            .node("MatMulInteger", List.of("xq", "w2", "xz", "w2zp"), List.of("acc2"))
            .node("Cast", List.of("acc2"), List.of("acc2f"), OnnxModelBuilder.intAttr("to", 1))
            .node("Mul", List.of("acc2f", "s2"), List.of("y2"))
            .write(tmp.resolve("dyn_quant.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, 5, k), new SplittableRandom(4));
        try (Session s = Session.open(file, 2)) {
            assertEquals(Map.of("sluice:DynamicQuantMatMul", 2), ModelCheck.opHistogram(s.model()), "both chains and their quantizer should fuse");
            Map<String, Tensor> ours = s.run(Map.of("x", x)).asMap(), ref = OrtReference.runExact(file, Map.of("x", x));
            for (String o : List.of("y", "y2")) assertNull(Tolerance.DEFAULT.mismatch(ours.get(o), ref.get(o)), o);
        }
    }
}
