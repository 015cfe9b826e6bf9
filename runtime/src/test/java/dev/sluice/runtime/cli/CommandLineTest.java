package dev.sluice.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.TensorProtos;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line's contract: help for every command, and bad input (malformed model, unknown op, wrong
 * input, missing file) answered by one line naming what and where, a non-zero status and no stack trace.
 */
class CommandLineTest {
    @TempDir Path tmp;

    record Outcome(int status, String out, String err) {}

    static Outcome sluice(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int status = new Main().execute(List.of(args), new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Outcome(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private Path reluModel() throws Exception {
        return new OnnxModelBuilder(13).input("x", 1, 2, 3).output("y", 1, 2, 3)
            .node("Relu", List.of("x"), List.of("y")).write(tmp.resolve("relu.onnx"));
    }

    private static void assertCleanError(Outcome o, String... mustMention) {
        assertNotEquals(0, o.status(), "a failing command must exit non-zero");
        for (String m : mustMention) assertTrue(o.err().contains(m), "error should mention '" + m + "': " + o.err());
        assertFalse(o.err().contains("\tat "), "no stack trace without --verbose: " + o.err());
        assertEquals(1, o.err().strip().lines().count(), "one line: " + o.err());
    }

    @Test
    void helpExplainsEveryCommand() {
        Outcome o = sluice();
        assertEquals(0, o.status());
        for (String c : List.of("info", "run", "test-data", "devices")) {
            assertTrue(o.out().contains(c), "usage lists " + c);
            Outcome h = sluice("help", c);
            assertTrue(h.out().contains("usage: sluice " + c), h.out());
        }
        assertEquals(o.out(), sluice("--help").out());
    }

    @Test
    void profileNodesListsTheSlowestNodesWithConvolutionRates() throws Exception {
        float[] w = new float[3 * 2 * 3 * 3];
        for (int i = 0; i < w.length; i++) w[i] = (i % 7 - 3) / 10f;
        Path m = new OnnxModelBuilder(13).input("x", 1, 1, 2, 5, 5).output("y", 1, 1, 3, 3, 3)
            .floatInit("w", new long[] {3, 2, 3, 3}, w)
            .node("Conv", List.of("x", "w"), List.of("c")).node("Abs", List.of("c"), List.of("y"))
            .write(tmp.resolve("conv.onnx"));
        Outcome o = sluice("run", m.toString(), "--profile", "--runs", "3", "--profile-nodes", "5", "--threads", "1");
        assertEquals(0, o.status(), o.err());
        assertTrue(o.out().contains("the 2 slowest nodes"), o.out());
        List<String> rows = o.out().lines().filter(l -> l.contains(" #")).toList();
        assertEquals(2, rows.size(), o.out());
        for (String r : rows) {
            // the conv row carries its rate and its output shape; the Abs row has no rate
            if (r.contains("Conv")) assertTrue(r.contains("[1,3,3,3]") && r.contains("GFLOP/s"), r);
            else assertTrue(r.contains("Abs") && !r.contains("GFLOP/s"), r);
        }
        Outcome plain = sluice("run", m.toString(), "--profile", "--runs", "3", "--threads", "1");
        assertFalse(plain.out().contains("slowest nodes"), plain.out());
    }

    @Test
    void profileWarmUpLengthIsAnOption() throws Exception {
        Path m = reluModel();
        // no time floor: the warm-up is its minimum of 5 runs (the default 3 s would make thousands of this model)
        Outcome quick = sluice("run", m.toString(), "--profile", "--runs", "3", "--warmup-ms", "0", "--threads", "1");
        assertEquals(0, quick.status(), quick.err());
        assertTrue(quick.out().contains("profile: 5 warm-up runs, 3 profiled runs"), quick.out());
        assertCleanError(sluice("run", m.toString(), "--profile", "--warmup-ms", "-1"), "warmup-ms");
        assertTrue(sluice("help", "run").out().contains("--warmup-ms"));
    }

    @Test
    void missingFile() {
        assertCleanError(sluice("run", tmp.resolve("nope.onnx").toString()), "nope.onnx", "no such file");
        assertCleanError(sluice("info", tmp.resolve("nope.onnx").toString()), "no such file");
    }

    @Test
    void truncatedModel() throws Exception {
        byte[] full = Files.readAllBytes(reluModel());
        Path cut = Files.write(tmp.resolve("cut.onnx"), java.util.Arrays.copyOf(full, full.length / 2));
        assertCleanError(sluice("run", cut.toString()), "cut.onnx", "malformed or truncated");
        Path junk = Files.writeString(tmp.resolve("junk.onnx"), "this is not a model at all");
        assertCleanError(sluice("info", junk.toString()), "junk.onnx");
    }

    @Test
    void everyUnsupportedOpIsListedBeforeRunning() throws Exception {
        Path m = new OnnxModelBuilder(13).input("x", 1, 4).output("y", 1, 4)
            .node("FancyOp", List.of("x"), List.of("a")).node("Relu", List.of("a"), List.of("b"))
            .node("OtherOp", List.of("b"), List.of("y")).write(tmp.resolve("unknown.onnx"));
        Outcome o = sluice("run", m.toString());
        assertCleanError(o, "unknown.onnx", "FancyOp", "OtherOp");
        assertFalse(o.out().contains("output "), "nothing ran");
        Outcome info = sluice("info", m.toString());
        assertEquals(0, info.status());
        assertTrue(info.out().contains("unsupported ops: {FancyOp=1, OtherOp=1}"), info.out());
    }

    @Test
    void wrongInputNameShapeOrDtype() throws Exception {
        Path m = reluModel();
        Path good = tmp.resolve("good.pb"), badShape = tmp.resolve("shape.pb"), badType = tmp.resolve("type.pb");
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), 1, -2, 3, -4, 5, -6), "x", good);
        TensorProtos.write(Tensor.ofFloats(Shape.of(3, 2), 1, 2, 3, 4, 5, 6), "x", badShape);
        TensorProtos.write(Tensor.allocate(DType.INT64, Shape.of(2, 3)), "x", badType);
        assertCleanError(sluice("run", m.toString(), "--input", "z=" + good), "'z'", "x");
        assertCleanError(sluice("run", m.toString(), "--input", "x=" + badShape), "'x'", "[3,2]");
        assertCleanError(sluice("run", m.toString(), "--input", "x=" + badType), "'x'", "int64");
        assertCleanError(sluice("run", m.toString(), "--input", "x=" + tmp.resolve("absent.pb")), "absent.pb");
        Outcome ok = sluice("run", m.toString(), "--input", "x=" + good, "--output-dir", tmp.resolve("out").toString());
        assertEquals(0, ok.status(), ok.err());
        // Relu of the input above, by the ONNX definition: negatives become 0
        Tensor y = TensorProtos.read(tmp.resolve("out").resolve("y.pb"));
        assertTrue(Tensor.ofFloats(Shape.of(2, 3), 1, 0, 3, 0, 5, 0).sameBits(y));
    }

    @Test
    void randomInputsAreAnnounced() throws Exception {
        Outcome o = sluice("run", reluModel().toString());
        assertEquals(0, o.status(), o.err());
        assertTrue(o.out().contains("input x: no file given, using seeded random"), o.out());
        assertTrue(o.out().contains("output y float32[2,3]"), o.out());
    }

    @Test
    void testDataCountsAndFailsOnMismatch() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("case"));
        Files.copy(reluModel(), dir.resolve("model.onnx"));
        Path set0 = Files.createDirectories(dir.resolve("test_data_set_0"));
        Path set1 = Files.createDirectories(dir.resolve("test_data_set_1"));
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), -1, 2, -3, 4, -5, 6), "x", set0.resolve("input_0.pb"));
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), 0, 2, 0, 4, 0, 6), "y", set0.resolve("output_0.pb"));
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), -1, 2, -3, 4, -5, 6), "x", set1.resolve("input_0.pb"));
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), 0, 2, 0, 4, 0, 7), "y", set1.resolve("output_0.pb"));
        Outcome o = sluice("test-data", dir.toString());
        assertEquals(1, o.status());
        assertTrue(o.out().contains("PASS case/test_data_set_0"), o.out());
        assertTrue(o.out().contains("FAIL case/test_data_set_1"), o.out());
        assertTrue(o.out().strip().endsWith("1 passed, 1 failed"), o.out());
    }

    @Test
    void unknownOptionAndCommand() {
        assertNotEquals(0, sluice("frobnicate").status());
        assertCleanError(sluice("run", "--bogus", "x"), "--bogus");
    }
}
