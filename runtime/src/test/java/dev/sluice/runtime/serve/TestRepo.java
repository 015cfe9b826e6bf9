package dev.sluice.runtime.serve;

import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

/** Writes a small model repository for the serving tests. */
final class TestRepo {
    private TestRepo() {}

    static final int FLOAT = 1, UINT32 = 12, BOOL = 9, INT64 = 7;

    /** affine: y[N,3] = x[N,4] · W + b, W and b seeded random (about 1 KB of weights with {@code width} 3). */
    static Path affine(Path dir, String name, long seed, int hidden) throws IOException {
        Random r = new Random(seed);
        float[] w = new float[4 * hidden], b = new float[hidden];
        for (int i = 0; i < w.length; i++) w[i] = r.nextFloat() * 2 - 1;
        for (int i = 0; i < b.length; i++) b[i] = r.nextFloat();
        Path f = version(dir, name, 1);
        return new OnnxModelBuilder(13)
            .inputSym("x", FLOAT, "batch", 4)
            .outputSym("y", FLOAT, "batch", hidden)
            .floatInit("W", new long[] {4, hidden}, w)
            .floatInit("B", new long[] {hidden}, b)
            .node("MatMul", List.of("x", "W"), List.of("xw"))
            .node("Add", List.of("xw", "B"), List.of("y"))
            .write(f);
    }

    /** scale: y = x * 2 + 1, elementwise (a batch of rows gives each row's bits exactly). */
    static Path scale(Path dir, String name) throws IOException {
        Path f = version(dir, name, 1);
        return new OnnxModelBuilder(13)
            .inputSym("x", FLOAT, "batch", 3)
            .outputSym("y", FLOAT, "batch", 3)
            .floatInit("two", new long[] {}, 2f)
            .floatInit("one", new long[] {}, 1f)
            .node("Mul", List.of("x", "two"), List.of("x2"))
            .node("Add", List.of("x2", "one"), List.of("y"))
            .write(f);
    }

    /** mymodel, the protocol specification's example: input0 UINT32[2,2], input1 BOOL[3]; output0 = float(input0), output1 = not input1. */
    static Path specModel(Path dir) throws IOException {
        Path f = version(dir, "mymodel", 1);
        return new OnnxModelBuilder(13)
            .input("input0", UINT32, 2, 2)
            .input("input1", BOOL, 3)
            .output("output0", FLOAT, 2, 2)
            .output("output1", BOOL, 3)
            .node("Cast", List.of("input0"), List.of("output0"), OnnxModelBuilder.intAttr("to", FLOAT))
            .node("Not", List.of("input1"), List.of("output1"))
            .write(f);
    }

    /** deep: {@code layers} MatMuls of seeded [4,4] weights (64 bytes each) in a chain, x[N,4] to y[N,4]. */
    static Path deep(Path dir, String name, int layers, long seed) throws IOException {
        Random r = new Random(seed);
        OnnxModelBuilder b = new OnnxModelBuilder(13).inputSym("x", FLOAT, "batch", 4).outputSym("y", FLOAT, "batch", 4);
        String prev = "x";
        for (int i = 0; i < layers; i++) {
            float[] w = new float[16];
            for (int j = 0; j < w.length; j++) w[j] = r.nextFloat() - 0.5f;
            b.floatInit("W" + i, new long[] {4, 4}, w);
            String out = i == layers - 1 ? "y" : "h" + i;
            b.node("MatMul", List.of(prev, "W" + i), List.of(out));
            prev = out;
        }
        return b.write(version(dir, name, 1));
    }

    static Path version(Path dir, String name, int v) throws IOException {
        Path d = dir.resolve(name).resolve(Integer.toString(v));
        Files.createDirectories(d);
        return d.resolve("model.onnx");
    }

    static void config(Path dir, String name, String json) throws IOException {
        Files.writeString(dir.resolve(name).resolve("config.json"), json);
    }
}
