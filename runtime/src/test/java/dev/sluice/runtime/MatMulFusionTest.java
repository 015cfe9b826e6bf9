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

/**
 * The MatMul and attention patterns (FusionTest has the conv and norm ones) fuse into sluice.FusedMatMul and
 * sluice.Attention, match ONNX Runtime, and keep the unfused graph's bits.
 */
class MatMulFusionTest {
    @TempDir Path tmp;

    /**
     * A MatMul by a constant B with no bias after it (LLaMA's projections) becomes a sluice.FusedMatMul too, so its B
     * is packed once; one followed by a residual Add of another activation keeps that Add. Large enough for the
     * blocked GEMM over two threads; the unfused bits and ORT's values.
     */
    @Test
    void matMulByAConstantWithoutBiasFuses() throws Exception {
        SplittableRandom r = new SplittableRandom(37);
        int k = 96, n = 200;
        Path file = new OnnxModelBuilder(13).input("x", 1, 2, 64, k).output("y", 1, 2, 64, k)
            .floatInit("w1", new long[] {k, n}, FusionTest.rnd(r, k * n, 0.2f)).floatInit("w2", new long[] {n, k}, FusionTest.rnd(r, n * k, 0.2f))
            .node("MatMul", List.of("x", "w1"), List.of("h")).node("Relu", List.of("h"), List.of("hr"))
            .node("MatMul", List.of("hr", "w2"), List.of("o")).node("Add", List.of("o", "x"), List.of("y"))
            .write(tmp.resolve("matmul_nobias.onnx"));
        Tensor x = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(2, 64, k), new SplittableRandom(10));
        try (Session s = Session.open(file, 2);
             Session plain = Session.open(dev.sluice.graph.OnnxImporter.load(file), 2, dev.sluice.kernels.OpRegistry.cpu(),
                 dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS)) {
            assertEquals(Map.of("sluice:FusedMatMul", 2, "Add", 1), ModelCheck.opHistogram(s.model()));
            for (int run = 0; run < 2; run++) { // the second run reads B from the packed cache
                Tensor ours = s.run(Map.of("x", x)).get("y");
                assertTrue(ours.sameBits(plain.run(Map.of("x", x)).get("y")), "fused and unfused bits differ, run " + run);
                assertNull(Tolerance.DEFAULT.mismatch(ours, OrtReference.run(file, Map.of("x", x)).get("y")));
            }
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
            .floatInit("w", new long[] {k, n}, FusionTest.rnd(r, k * n, 0.5f)).floatInit("b", new long[] {n}, FusionTest.rnd(r, n, 0.5f))
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
     * bits; also with one query row (Gemm32's matrix-vector path), a Mul scale and no mask, and on both of the
     * kernel's product paths (SmallHeads for heads within one Gemm32 K run, Gemm32 past it).
     */
    @Test
    void attentionChainFuses() throws Exception {
        // also a head of 70 keys (a 64-column panel and a narrow one) of 40 dims, and one deeper than a Gemm32 K run (300)
        for (int[] c : new int[][] {{2, 13, 3, 8, 1}, {1, 1, 2, 16, 0}, {1, 20, 4, 5, 2}, {1, 70, 2, 40, 1}, {1, 9, 2, 300, 0}}) {
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
            FusionTest.assertFusesKeepingBits(file, in, "y", Map.of("sluice:Attention", 1), "case " + java.util.Arrays.toString(c));
        }
    }

    /**
     * Decoding: one query row against many keys (a KV cache) fuses into sluice.Attention whose bits equal the unfused
     * ops', the scores' matrix-vector product included (read from K's rows, in the unfused MatMul's order over K^T),
     * at key counts with and without Gemm32's scalar tail and a depth past its matrix-vector K run, with query zeros.
     */
    @Test
    void decodingAttentionKeepsTheUnfusedBits() throws Exception {
        for (int[] c : new int[][] {{37, 4, 16, 4}, {64, 2, 64, 2}, {130, 2, 1030, 2}, {40, 3, 16, 1}}) {
            int lk = c[0], h = c[1], d = c[2], hk = c[3];
            SplittableRandom r = new SplittableRandom(41 + lk);
            Path file = new OnnxModelBuilder(13)
                .input("q", 1, 1, 1, h, d).input("k", 1, 1, lk, hk, d).input("v", 1, 1, lk, hk, d).input("mask", 1, 1, 1, 1, lk)
                .output("y", 1, 1, 1, h, d)
                .floatInit("scale", new long[0], (float) Math.sqrt(d))
                .node("Transpose", List.of("q"), List.of("qt"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .node("Transpose", List.of("k"), List.of("kt"), OnnxModelBuilder.ints("perm", 0, 2, 3, 1))
                .node("Transpose", List.of("v"), List.of("vt"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .node("MatMul", List.of("qt", "kt"), List.of("s"))
                .node("Div", List.of("s", "scale"), List.of("s1"))
                .node("Add", List.of("s1", "mask"), List.of("s2"))
                .node("Softmax", List.of("s2"), List.of("p"), OnnxModelBuilder.intAttr("axis", 3))
                .node("MatMul", List.of("p", "vt"), List.of("o"))
                .node("Transpose", List.of("o"), List.of("y"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .write(tmp.resolve("decode" + lk + ".onnx"));
            Tensor q = InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, 1, h, d), r);
            for (int i = 0; i < h * d; i += 5) q.setFloat(i, 0f); // skipped depths
            Tensor mask = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, 1, 1, lk));
            for (int j = 0; j < lk; j++) mask.setFloat(j, j % 7 == 3 ? -10000f : 0f);
            Map<String, Tensor> in = Map.of("q", q, "mask", mask,
                "k", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, lk, hk, d), r),
                "v", InputSources.random(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, lk, hk, d), r));
            FusionTest.assertFusesKeepingBits(file, in, "y", Map.of("sluice:Attention", 1), "case " + java.util.Arrays.toString(c));
        }
    }
}
