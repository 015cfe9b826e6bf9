package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every budget above the stated minimum plans and runs, also where the arena's free bytes suffice but are split.
 * Found on CLIP's vision tower at 25%: its QuickGELU (h * 1.702, Sigmoid, times h) loads the 128-byte constant
 * beside the resident residual, the residual is then evicted, and the constant, left mid-arena, splits the free
 * bytes so that no gap holds the Mul's whole output; a FusedMatMul's first tile likewise placed its output where
 * no gap beside it held the tile's scratch. The builder refused such budgets during emission ("no room for its
 * output", "no room for a tile's scratch") although the node's need fit. The model here is two CLIP-like encoder
 * layers of CLIP's vision sizes; each budget's output is compared bit for bit with the plain run.
 */
class FragmentedArenaTest {
    @TempDir Path tmp;

    @Test
    void everyBudgetOfAClipLikeEncoderPlansAndKeepsTheBits() throws Exception {
        SplittableRandom rnd = new SplittableRandom(11);
        int tokens = 65, width = 128, hidden = 256, headDim = 32;
        OnnxModelBuilder b = new OnnxModelBuilder(17).input("x", 1, 1, tokens, width).output("y", 1, 1, tokens, width)
            .floatInit("k", new long[] {}, 1.702f).floatInit("sc", new long[] {}, 0.42f)
            .longInit("s4", new long[] {4}, 1, tokens, -1, headDim).longInit("s3", new long[] {3}, 1, tokens, -1);
        norm(b, rnd, "pre", "x", width);
        String prev = "pre";
        for (int layer = 0; layer < 2; layer++) {
            String p = "l" + layer + "_";
            norm(b, rnd, p + "ln1", prev, width);
            for (String q : List.of("q", "k", "v")) {
                linear(b, rnd, p + q, p + "ln1", width, width);
                b.node("Reshape", List.of(p + q, "s4"), List.of(p + q + "r"));
            }
            b.node("Transpose", List.of(p + "qr"), List.of(p + "qt"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .node("Transpose", List.of(p + "vr"), List.of(p + "vt"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .node("Transpose", List.of(p + "kr"), List.of(p + "kt"), OnnxModelBuilder.ints("perm", 0, 2, 3, 1))
                .node("Mul", List.of(p + "qt", "sc"), List.of(p + "qs"))
                .node("Mul", List.of(p + "kt", "sc"), List.of(p + "ks"))
                .node("MatMul", List.of(p + "qs", p + "ks"), List.of(p + "scores"))
                .node("Softmax", List.of(p + "scores"), List.of(p + "sm"), OnnxModelBuilder.intAttr("axis", -1))
                .node("MatMul", List.of(p + "sm", p + "vt"), List.of(p + "av"))
                .node("Transpose", List.of(p + "av"), List.of(p + "at"), OnnxModelBuilder.ints("perm", 0, 2, 1, 3))
                .node("Reshape", List.of(p + "at", "s3"), List.of(p + "ar"));
            linear(b, rnd, p + "o", p + "ar", width, width);
            b.node("Add", List.of(prev, p + "o"), List.of(p + "r1"));
            norm(b, rnd, p + "ln2", p + "r1", width);
            linear(b, rnd, p + "h", p + "ln2", width, hidden);
            // QuickGELU: h * sigmoid(1.702 h), the scalar Mul whose constant was stranded mid-arena
            b.node("Mul", List.of(p + "h", "k"), List.of(p + "s"))
                .node("Sigmoid", List.of(p + "s"), List.of(p + "g"))
                .node("Mul", List.of(p + "h", p + "g"), List.of(p + "a"));
            linear(b, rnd, p + "o2", p + "a", hidden, width);
            String next = layer == 1 ? "y" : p + "r";
            b.node("Add", List.of(p + "r1", p + "o2"), List.of(next));
            prev = next;
        }
        Path file = b.write(tmp.resolve("clip_like.onnx"));
        Tensor x = InputSources.random(DType.FLOAT32, Shape.of(1, tokens, width), new SplittableRandom(4));
        Tensor plain;
        try (Session s = Session.open(file, 2)) {
            plain = s.run(Map.of("x", x)).get("y");
        }
        // 22-27% stranded the QuickGELU Mul's output, 31% and 33% a FusedMatMul tile's scratch
        List<String> failures = new ArrayList<>();
        for (int percent = 20; percent <= 34; percent++) {
            SessionOptions opts = SessionOptions.builder().threads(2).devices("cpu", "throttled:" + percent + "%").build();
            try (Session s = Session.open(file, opts)) {
                if (!plain.sameBits(s.run(Map.of("x", x)).get("y"))) failures.add(percent + "%: bits differ");
            } catch (MemGraphException e) {
                failures.add(percent + "%: " + e.getMessage());
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    private static void norm(OnnxModelBuilder b, SplittableRandom rnd, String name, String in, int width) {
        b.floatInit(name + "_g", new long[] {width}, values(rnd, width)).floatInit(name + "_b", new long[] {width}, values(rnd, width))
            .node("LayerNormalization", List.of(in, name + "_g", name + "_b"), List.of(name), OnnxModelBuilder.intAttr("axis", -1),
                OnnxModelBuilder.floatAttr("epsilon", 1e-5f));
    }

    /** MatMul then Add(bias, product), as torch.onnx writes a Linear. */
    private static void linear(OnnxModelBuilder b, SplittableRandom rnd, String name, String in, int from, int to) {
        b.floatInit(name + "_w", new long[] {from, to}, values(rnd, from * to)).floatInit(name + "_bias", new long[] {to}, values(rnd, to))
            .node("MatMul", List.of(in, name + "_w"), List.of(name + "_m"))
            .node("Add", List.of(name + "_bias", name + "_m"), List.of(name));
    }

    private static float[] values(SplittableRandom rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1) * 0.2f;
        return v;
    }
}
