package dev.sluice.runtime.cli;

import static dev.sluice.runtime.cli.CommandLineTest.sluice;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.graph.TensorProtos;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.cli.CommandLineTest.Outcome;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bad-input cases of issue #15 through the command line: each ends with one line naming what and where and
 * the user-error status 1 (never 3, the internal-error status), without reading outside the model's folder,
 * without blocking on a FIFO and without running out of memory.
 */
class BadInputCliTest {
    @TempDir Path tmp;

    /** A user error: status 1, one line, the given words, no stack trace and no advice to raise the heap. */
    private static Outcome userError(Outcome o, String... mustMention) {
        assertEquals(1, o.status(), "a user mistake exits 1 (3 is for internal errors): " + o.err());
        for (String m : mustMention) assertTrue(o.err().contains(m), "error should mention '" + m + "': " + o.err());
        assertFalse(o.err().contains("\tat "), "no stack trace: " + o.err());
        assertFalse(o.err().contains("internal error") || o.err().contains("-Xmx"), o.err());
        assertEquals(1, o.err().strip().lines().count(), "one line: " + o.err());
        return o;
    }

    private Path reluModel(Path dir) throws Exception {
        Files.createDirectories(dir);
        return new OnnxModelBuilder(13).input("x", 1, 2, 3).output("y", 1, 2, 3)
            .node("Relu", List.of("x"), List.of("y")).write(dir.resolve("model.onnx"));
    }

    private static OnnxMl.ValueInfoProto value(String name, Object... dims) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            var b = OnnxMl.TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String p) b.setDimParam(p); else b.setDimValue(((Number) d).longValue());
            s.addDim(b);
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
            .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    /** y = Relu(x) with x of the given (possibly symbolic) dims, and an optional initializer w added to it. */
    private Path model(Path file, OnnxMl.TensorProto.Builder w, Object... dims) throws Exception {
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", dims)).addOutput(value("y", dims));
        if (w == null) {
            g.addNode(OnnxMl.NodeProto.newBuilder().setName("relu").setOpType("Relu").addInput("x").addOutput("y"));
        } else {
            g.addInitializer(w).addNode(OnnxMl.NodeProto.newBuilder().setName("add").setOpType("Add").addInput("x").addInput("w").addOutput("y"));
        }
        Files.createDirectories(file.getParent());
        Files.write(file, OnnxMl.ModelProto.newBuilder().setIrVersion(8)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build().toByteArray());
        return file;
    }

    private static OnnxMl.TensorProto.Builder externalWeight(String location, String offset) {
        return OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(3)
            .setDataLocation(OnnxMl.TensorProto.DataLocation.EXTERNAL)
            .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue(location))
            .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("offset").setValue(offset));
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    private static boolean mkfifo(Path p) {
        try {
            return new ProcessBuilder("mkfifo", p.toString()).inheritIO().start().waitFor() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    /** A test-data folder for the Relu model whose set 0 is right (a PASS when nothing else is wrong). */
    private Path reluCase() throws Exception {
        Path dir = tmp.resolve("case");
        reluModel(dir);
        Path set = Files.createDirectories(dir.resolve("test_data_set_0"));
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), -1, 2, -3, 4, -5, 6), "x", set.resolve("input_0.pb"));
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), 0, 2, 0, 4, 0, 6), "y", set.resolve("output_0.pb"));
        return dir;
    }

    // --- reading outside the model's folder ---

    @Test
    void aWeightLinkedOutOfTheFolderIsNotReadNorWrittenOut() throws Exception {
        Path secret = Files.write(tmp.resolve("secret.bin"), floats(7, 8, 9));
        Path dir = tmp.resolve("model");
        Path m = model(dir.resolve("model.onnx"), externalWeight("w.bin", "0"), 3);
        Files.createSymbolicLink(dir.resolve("w.bin"), secret);
        Path out = tmp.resolve("out");
        userError(sluice("run", m.toString(), "--output-dir", out.toString()), "w.bin", "escapes the folder");
        assertFalse(Files.exists(out.resolve("y.pb")), "nothing written");
    }

    @Test
    void aTestDataInputLinkedOutOfTheFolderIsRefused() throws Exception {
        Path dir = reluCase();
        Path outside = tmp.resolve("outside.pb");
        Path in = dir.resolve("test_data_set_0").resolve("input_0.pb");
        Files.move(in, outside);
        Files.createSymbolicLink(in, outside);
        Outcome o = sluice("test-data", dir.toString());
        assertEquals(1, o.status(), o.out());
        assertTrue(o.out().contains("FAIL case/test_data_set_0") && o.out().contains("escapes the folder"), o.out());
    }

    @Test
    void aTestDataSetFolderLinkedOutIsRefused() throws Exception {
        Path dir = reluCase();
        Path outside = tmp.resolve("elsewhere");
        Files.move(dir.resolve("test_data_set_0"), outside);
        Files.createSymbolicLink(dir.resolve("test_data_set_0"), outside);
        Outcome o = sluice("test-data", dir.toString());
        assertEquals(1, o.status(), o.out());
        assertTrue(o.out().contains("escapes the folder"), o.out());
    }

    @Test
    void aFifoAmongTheTestDataDoesNotHang() throws Exception {
        Path dir = reluCase();
        Path in = dir.resolve("test_data_set_0").resolve("input_0.pb");
        Files.delete(in);
        assumeTrue(mkfifo(in), "mkfifo is available");
        // a blocking open would hang here: the build's fork timeout (surefire) then fails the run
        Outcome o = sluice("test-data", dir.toString());
        assertEquals(1, o.status(), o.out());
        assertTrue(o.out().contains("input_0.pb") && o.out().contains("not a regular file"), o.out());
    }

    // --- allocation from claimed sizes ---

    @Test
    void hugeDimSizesAreRefusedBeforeAllocating() throws Exception {
        Path m = model(tmp.resolve("sym.onnx"), null, "n", 4);
        userError(sluice("run", m.toString(), "--dim", "n=100000000000000"), "input 'x'", "1600000000000000 bytes");
        userError(sluice("run", m.toString(), "--dim", "n=4611686018427387904"), "input 'x'", "2^63");
        userError(sluice("run", m.toString(), "--dim", "n=-3"), "--dim n", "negative");
        userError(sluice("run", m.toString(), "--dim", "n=2", "--dim", "n=3"), "--dim n", "twice");
    }

    @Test
    void hugeDeclaredInputSizesAreRefusedBeforeAllocating() throws Exception {
        Path m = model(tmp.resolve("big.onnx"), null, 1_000_000, 1_000_000, 1_000);
        userError(sluice("run", m.toString()), "input 'x'", "4000000000000000 bytes");
    }

    @Test
    void absurdBudgetsAreRefused() throws Exception {
        Path m = reluModel(tmp.resolve("m"));
        userError(sluice("run", m.toString(), "--budget", "NaN%"), "--budget", "NaN%");
        userError(sluice("run", m.toString(), "--budget", "Infinity"), "--budget", "Infinity");
        userError(sluice("run", m.toString(), "--budget", "1e18"), "--budget", "arena");
        userError(sluice("run", m.toString(), "--bandwidth", "-5M"), "--bandwidth");
    }

    @Test
    void anAbsurdShapeComputedWhileRunningIsRefusedByName() throws Exception {
        // ConstantOfShape of a shape that arrives as an input: nothing to fold, the size is known only while running
        var shapeIn = OnnxMl.ValueInfoProto.newBuilder().setName("s").setType(OnnxMl.TypeProto.newBuilder().setTensorType(
            OnnxMl.TypeProto.Tensor.newBuilder().setElemType(7).setShape(OnnxMl.TensorShapeProto.newBuilder()
                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(2)))));
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(shapeIn).addOutput(value("y", "a", "b"))
            .addNode(OnnxMl.NodeProto.newBuilder().setName("fill").setOpType("ConstantOfShape").addInput("s").addOutput("y"));
        Path m = tmp.resolve("fill.onnx");
        Files.write(m, OnnxMl.ModelProto.newBuilder().setIrVersion(8)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build().toByteArray());
        Path s = tmp.resolve("s.pb");
        TensorProtos.write(Tensor.ofLongs(Shape.of(2), 1L << 20, 1L << 20), "s", s); // 4 TiB of float32
        userError(sluice("run", m.toString(), "--input", "s=" + s), "'fill' (ConstantOfShape)", "4398046511104 bytes");
    }

    // --- option mistakes ---

    @Test
    void anInputGivenTwiceIsRefused() throws Exception {
        Path m = reluModel(tmp.resolve("m"));
        Path a = tmp.resolve("a.pb"), b = tmp.resolve("b.pb");
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), 1, 2, 3, 4, 5, 6), "x", a);
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), -1, -2, -3, -4, -5, -6), "x", b);
        userError(sluice("run", m.toString(), "--input", "x=" + a, "--input", "x=" + b), "--input x", "twice");
        userError(sluice("run", m.toString(), "--threads", "2", "--threads", "4"), "--threads", "given 2 times");
    }

    @Test
    void threadAndRunCountsBelowOneAreRefused() throws Exception {
        Path m = reluModel(tmp.resolve("m"));
        userError(sluice("run", m.toString(), "--threads", "0"), "--threads", "at least 1");
        userError(sluice("run", m.toString(), "--threads", "-1"), "--threads", "at least 1");
        userError(sluice("run", m.toString(), "--profile", "--runs", "0"), "--runs", "at least 1");
        userError(sluice("test-data", reluCase().toString(), "--threads", "0"), "--threads", "at least 1");
        userError(sluice("plan", m.toString(), "--threads", "0"), "--threads", "at least 1");
    }

    @Test
    void anExtraTestDataInputIsAnErrorNotIgnored() throws Exception {
        Path dir = reluCase();
        Path set = dir.resolve("test_data_set_0");
        // input_2 after a gap: today's reader stopped at the missing input_1 and never saw it
        TensorProtos.write(Tensor.ofFloats(Shape.of(2, 3), 9, 9, 9, 9, 9, 9), "x", set.resolve("input_2.pb"));
        Outcome o = sluice("test-data", dir.toString());
        assertEquals(1, o.status(), o.out());
        assertTrue(o.out().contains("FAIL") && o.out().contains("input_2.pb") && o.out().contains("no input_1.pb"), o.out());
        // input_1 naming the same model input as input_0: two files for one input
        Files.move(set.resolve("input_2.pb"), set.resolve("input_1.pb"));
        o = sluice("test-data", dir.toString());
        assertEquals(1, o.status(), o.out());
        assertTrue(o.out().contains("input_1.pb") && o.out().contains("already gives"), o.out());
    }

    // --- user mistakes are not internal errors ---

    @Test
    void unwritableOutputPathsAreUserErrors() throws Exception {
        Path m = reluModel(tmp.resolve("m"));
        Path aFile = Files.writeString(tmp.resolve("plain.txt"), "not a folder");
        userError(sluice("run", m.toString(), "--trace", aFile.resolve("t.json").toString()), "--trace", "t.json");
        userError(sluice("run", m.toString(), "--output-dir", aFile.toString()), "--output-dir", "plain.txt");
        userError(sluice("run", m.toString(), "--output-dir", aFile.resolve("sub").toString()), "--output-dir");
        userError(sluice("plan", m.toString(), "--picture", aFile.resolve("p.png").toString()), "--picture", "p.png");
    }

    @Test
    void aBadExternalDataOffsetIsAUserError() throws Exception {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        Files.write(dir.resolve("w.bin"), floats(1, 2, 3));
        Path m = model(dir.resolve("model.onnx"), externalWeight("w.bin", "twelve"), 3);
        userError(sluice("run", m.toString()), "model.onnx", "'w'", "offset 'twelve'");
        Path m2 = model(dir.resolve("model2.onnx"), externalWeight("w.bin", "-8"), 3);
        userError(sluice("run", m2.toString()), "model2.onnx", "'w'", "negative");
    }

    @Test
    void anEmptyTensorFileIsAUserError() throws Exception {
        Path m = reluModel(tmp.resolve("m"));
        Path blank = Files.write(tmp.resolve("blank.pb"), new byte[0]);
        userError(sluice("run", m.toString(), "--input", "x=" + blank), "blank.pb", "an empty file");
    }

    @Test
    void anAbsurdOpsetIsAUserError() throws Exception {
        Path m = new OnnxModelBuilder(100000).input("x", 1, 2).output("y", 1, 2)
            .node("Relu", List.of("x"), List.of("y")).write(tmp.resolve("future.onnx"));
        userError(sluice("run", m.toString()), "future.onnx", "opset 100000");
        userError(sluice("info", m.toString()), "opset 100000");
    }
}
