package dev.sluice.runtime;

import static dev.sluice.runtime.fixtures.OnnxModelBuilder.intAttr;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import ai.onnx.proto.OnnxMl;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Half-precision models as users export them for GPUs (model.half(), or fp16 weights with Casts around the float32
 * parts), against ONNX Runtime 1.29. ORT's CPU provider computes many fp16 ops in float32 and rounds once, Sluice
 * rounds where the graph says; both are within a few fp16 roundings of float64, hence {@link #FP16}.
 */
class HalfPrecisionTest {
    @TempDir Path tmp;

    /** Four fp16 ulps (2^-11 each) relative, plus 2e-3 absolute for values that cancel near zero. */
    private static final Tolerance FP16 = new Tolerance(2e-3, 4.0 / 2048);

    private static final int FLOAT = 1, FLOAT16 = 10;

    private static Tensor half(SplittableRandom r, long... dims) {
        Tensor t = Tensor.allocate(DType.FLOAT16, Shape.of(dims));
        for (long i = 0; i < t.elementCount(); i++) t.setDouble(i, r.nextDouble() * 2 - 1);
        return t;
    }

    private static float[] values(SplittableRandom r, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + r.nextDouble() * (hi - lo));
        return v;
    }

    /**
     * The TorchScript exporter writes model.half() BERT and GPT-2 with float32 activations flowing into a
     * LayerNormalization whose Scale and B are fp16. The spec binds X, Scale and B to one type T; ONNX Runtime refuses
     * to load such a model. Sluice used to run it and return float32 numbers that no reference defines.
     */
    @Test
    void layerNormWithScaleOfAnotherTypeIsRefusedNamingTheNode() throws Exception {
        SplittableRandom r = new SplittableRandom(1);
        Path file = new OnnxModelBuilder(17).input("x", FLOAT, 2, 8).output("y", FLOAT, 2, 8)
            .floatInit("w32", new long[] {8}, values(r, 8, 0.5, 1.5)).floatInit("b32", new long[] {8}, values(r, 8, -0.1, 0.1))
            .node("Cast", List.of("w32"), List.of("w"), intAttr("to", FLOAT16))
            .node("Cast", List.of("b32"), List.of("b"), intAttr("to", FLOAT16))
            .node("LayerNormalization", List.of("x", "w", "b"), List.of("y"), intAttr("axis", -1))
            .write(tmp.resolve("ln-mixed.onnx"));
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(2, 8));
        SluiceException e = assertThrows(SluiceException.class, () -> {
            try (Session s = Session.open(file, SessionOptions.builder().threads(1).build()); Result res = s.run(Map.of("x", x))) {
                res.asMap();
            }
        });
        assertTrue(e.getMessage().contains("LayerNormalization") && e.getMessage().contains("Scale float16"), e.getMessage());
    }

    /**
     * The same invalid mix for the other ops that read a weight in its own type: Conv, ConvTranspose, Gemm and
     * InstanceNormalization with a float32 input and fp16 weights ran silently before (MatMul, Add, Concat and the
     * other elementwise ops already refused).
     */
    @Test
    void weightOpsWithWeightsOfAnotherTypeAreRefused() throws Exception {
        SplittableRandom r = new SplittableRandom(2);
        record Case(String op, long[] x, long[] w, long[] y, OnnxMl.AttributeProto... attrs) {}
        List<Case> cases = List.of(
            new Case("Conv", new long[] {1, 3, 4, 4}, new long[] {2, 3, 1, 1}, new long[] {1, 2, 4, 4}),
            new Case("ConvTranspose", new long[] {1, 3, 4, 4}, new long[] {3, 2, 1, 1}, new long[] {1, 2, 4, 4}),
            new Case("Gemm", new long[] {2, 4}, new long[] {4, 3}, new long[] {2, 3}),
            new Case("InstanceNormalization", new long[] {1, 3, 2, 2}, new long[] {3}, new long[] {1, 3, 2, 2}));
        for (Case c : cases) {
            OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT, c.x()).output("y", FLOAT, c.y())
                .floatInit("w32", c.w(), values(r, (int) Shape.of(c.w()).elementCount(), -1, 1))
                .node("Cast", List.of("w32"), List.of("w"), intAttr("to", FLOAT16));
            List<String> ins = c.op().equals("InstanceNormalization") ? List.of("x", "w", "w") : List.of("x", "w");
            Path file = b.node(c.op(), ins, List.of("y"), c.attrs()).write(tmp.resolve(c.op() + "-mixed.onnx"));
            Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(c.x()));
            SluiceException e = assertThrows(SluiceException.class, () -> {
                try (Session s = Session.open(file, SessionOptions.builder().threads(1).build()); Result res = s.run(Map.of("x", x))) {
                    res.asMap();
                }
            }, c.op());
            assertTrue(e.getMessage().contains(c.op()) && e.getMessage().contains("float16"), e.getMessage());
        }
    }

    /**
     * A pre-norm transformer block in fp16 (LayerNormalization, MatMul, Softmax, Gelu written out with Erf) next to the
     * mixed form autocast exports hold: the same block with its LayerNormalization and Softmax in float32 between
     * Casts. Both against ORT at the fp16 tolerance.
     */
    @Test
    void fp16AndMixedTransformerBlocksMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(7);
        int d = 32, t = 6;
        for (boolean mixed : new boolean[] {false, true}) {
            OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", FLOAT16, 2, t, d).output("y", FLOAT16, 2, t, d);
            b.floatInit("g32", new long[] {d}, values(r, d, 0.5, 1.5)).floatInit("be32", new long[] {d}, values(r, d, -0.2, 0.2))
                .floatInit("wq32", new long[] {d, d}, values(r, d * d, -0.3, 0.3))
                .floatInit("wk32", new long[] {d, d}, values(r, d * d, -0.3, 0.3))
                .floatInit("wv32", new long[] {d, d}, values(r, d * d, -0.3, 0.3))
                .floatInit("half32", new long[] {}, 0.5f).floatInit("one32", new long[] {}, 1f)
                .floatInit("rs2_32", new long[] {}, (float) (1 / Math.sqrt(2)));
            for (String w : List.of("wq", "wk", "wv", "half", "one", "rs2_")) {
                b.node("Cast", List.of(w + "32"), List.of(w), intAttr("to", FLOAT16));
            }
            if (mixed) {
                b.node("Cast", List.of("x"), List.of("x32"), intAttr("to", FLOAT))
                    .node("LayerNormalization", List.of("x32", "g32", "be32"), List.of("n32"), intAttr("axis", -1))
                    .node("Cast", List.of("n32"), List.of("n"), intAttr("to", FLOAT16));
            } else {
                b.node("Cast", List.of("g32"), List.of("g"), intAttr("to", FLOAT16))
                    .node("Cast", List.of("be32"), List.of("be"), intAttr("to", FLOAT16))
                    .node("LayerNormalization", List.of("x", "g", "be"), List.of("n"), intAttr("axis", -1));
            }
            b.node("MatMul", List.of("n", "wq"), List.of("q"))
                .node("MatMul", List.of("n", "wk"), List.of("k"))
                .node("MatMul", List.of("n", "wv"), List.of("v"))
                .node("Transpose", List.of("k"), List.of("kt"), OnnxModelBuilder.ints("perm", 0, 2, 1))
                .node("MatMul", List.of("q", "kt"), List.of("s"));
            if (mixed) {
                b.node("Cast", List.of("s"), List.of("s32"), intAttr("to", FLOAT))
                    .node("Softmax", List.of("s32"), List.of("p32"), intAttr("axis", -1))
                    .node("Cast", List.of("p32"), List.of("p"), intAttr("to", FLOAT16));
            } else {
                b.node("Softmax", List.of("s"), List.of("p"), intAttr("axis", -1));
            }
            b.node("MatMul", List.of("p", "v"), List.of("a"))
                .node("Mul", List.of("a", "rs2_"), List.of("ar"))
                .node("Erf", List.of("ar"), List.of("e"))
                .node("Add", List.of("e", "one"), List.of("e1"))
                .node("Mul", List.of("a", "e1"), List.of("ae"))
                .node("Mul", List.of("ae", "half"), List.of("gelu"))
                .node("Add", List.of("x", "gelu"), List.of("y"));
            Path file = b.write(tmp.resolve(mixed ? "block-mixed.onnx" : "block-fp16.onnx"));
            Map<String, Tensor> in = Map.of("x", half(r, 2, t, d));
            Map<String, Tensor> ref = OrtReference.run(file, in);
            try (Session s = Session.open(file, SessionOptions.builder().threads(2).build()); Result res = s.run(in)) {
                assertNull(FP16.mismatch(res.asMap().get("y"), ref.get("y")), (mixed ? "mixed" : "fp16") + " block");
            }
        }
    }
}
