package dev.sluice.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Malformed and hostile models: each must be refused at import with a {@link ModelException} that names the
 * file and the part at fault, before anything large is allocated, without reading outside the model's folder
 * and without blocking on a FIFO.
 */
class BadModelTest {
    @TempDir Path tmp;

    private static OnnxMl.ValueInfoProto value(String name, long... dims) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
        for (long d : dims) s.addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
            .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    private static OnnxMl.NodeProto.Builder node(String name, String op, String in, String out) {
        return OnnxMl.NodeProto.newBuilder().setName(name).setOpType(op).addInput(in).addOutput(out);
    }

    private Path write(Path dir, OnnxMl.GraphProto.Builder g, long opset) throws Exception {
        Files.createDirectories(dir);
        Path f = dir.resolve("m.onnx");
        Files.write(f, OnnxMl.ModelProto.newBuilder().setIrVersion(8)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(opset)).setGraph(g).build().toByteArray());
        return f;
    }

    /** y = x + w, w an initializer. */
    private static OnnxMl.GraphProto.Builder addGraph(OnnxMl.TensorProto.Builder w) {
        return OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 3)).addOutput(value("y", 3)).addInitializer(w)
            .addNode(OnnxMl.NodeProto.newBuilder().setName("add").setOpType("Add").addInput("x").addInput("w").addOutput("y"));
    }

    private static OnnxMl.TensorProto.Builder external(String location, String offset, long... dims) {
        var t = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1)
            .setDataLocation(OnnxMl.TensorProto.DataLocation.EXTERNAL)
            .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue(location));
        if (offset != null) t.addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("offset").setValue(offset));
        for (long d : dims) t.addDims(d);
        return t;
    }

    private static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    private static ModelException refused(Path model, String... mustMention) {
        ModelException e = assertThrows(ModelException.class, () -> OnnxImporter.load(model));
        for (String m : mustMention) assertTrue(e.getMessage().contains(m), "should mention '" + m + "': " + e.getMessage());
        return e;
    }

    private static boolean mkfifo(Path p) {
        try {
            return new ProcessBuilder("mkfifo", p.toString()).inheritIO().start().waitFor() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    // --- reading outside the model's folder ---

    @Test
    void externalDataThroughAFileSymlinkLeadingOutIsRefused() throws Exception {
        Path outside = Files.write(tmp.resolve("secret.bin"), floats(7, 8, 9));
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        Files.createSymbolicLink(dir.resolve("w.bin"), outside);
        refused(write(dir, addGraph(external("w.bin", null, 3)), 13), "'w.bin'", "escapes the folder", "m.onnx");
    }

    @Test
    void externalDataThroughAFolderSymlinkLeadingOutIsRefused() throws Exception {
        Path outside = tmp.resolve("elsewhere");
        Files.createDirectories(outside);
        Files.write(outside.resolve("w.bin"), floats(7, 8, 9));
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        Files.createSymbolicLink(dir.resolve("weights"), outside);
        refused(write(dir, addGraph(external("weights/w.bin", null, 3)), 13), "'weights/w.bin'", "escapes the folder");
    }

    @Test
    void absoluteAndClimbingLocationsAreRefused() throws Exception {
        Path outside = Files.write(tmp.resolve("secret.bin"), floats(7, 8, 9));
        Path dir = tmp.resolve("model");
        refused(write(dir, addGraph(external(outside.toString(), null, 3)), 13), "absolute path");
        refused(write(dir, addGraph(external("../secret.bin", null, 3)), 13), "escapes the folder");
    }

    @Test
    void aSymlinkThatStaysInsideTheFolderIsRead() throws Exception {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir.resolve("blobs"));
        Files.write(dir.resolve("blobs").resolve("w0"), floats(1, 2, 3));
        Files.createSymbolicLink(dir.resolve("w.bin"), Path.of("blobs", "w0"));
        Tensor w = OnnxImporter.load(write(dir, addGraph(external("w.bin", null, 3)), 13)).graph().initializers().get("w");
        assertArrayEquals(new float[] {1, 2, 3}, w.toFloatArray());
    }

    @Test
    void aFifoAsExternalDataIsRefusedWithoutBlocking() throws Exception {
        Path dir = tmp.resolve("model");
        Files.createDirectories(dir);
        assumeTrue(mkfifo(dir.resolve("w.bin")), "mkfifo is available");
        Path m = write(dir, addGraph(external("w.bin", null, 3)), 13);
        // a blocking open would hang here: the build's fork timeout (surefire) then fails the run
        refused(m, "'w.bin'", "not a regular file");
    }

    @Test
    void aFifoAsModelOrTensorFileIsRefusedWithoutBlocking() throws Exception {
        Path fifo = tmp.resolve("m.onnx");
        assumeTrue(mkfifo(fifo), "mkfifo is available");
        // a blocking open would hang here: the build's fork timeout (surefire) then fails the run
        refused(fifo, "not a regular file");
        ModelException e = assertThrows(ModelException.class, () -> TensorProtos.read(fifo));
        assertTrue(e.getMessage().contains("not a regular file"), e.getMessage());
    }

    // --- allocation from claimed sizes ---

    @Test
    void hugeDimsOverSmallRawDataAreRefusedBeforeAllocating() throws Exception {
        var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(1 << 20).addDims(1 << 20)
            .setRawData(ByteString.copyFrom(new byte[100]));
        refused(write(tmp, addGraph(w), 13), "'w'", "4398046511104 bytes of raw data but has 100");
    }

    @Test
    void hugeDimsOverFewTypedValuesAreRefusedBeforeAllocating() throws Exception {
        var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(7).addDims(3_000_000_000L).addInt64Data(1).addInt64Data(2);
        refused(write(tmp, addGraph(w), 13), "'w'", "has 2 values, expected 3000000000");
    }

    @Test
    void hugeDimsOverASmallExternalFileAreRefusedBeforeAllocating() throws Exception {
        Files.write(tmp.resolve("w.bin"), floats(1, 2, 3));
        refused(write(tmp, addGraph(external("w.bin", null, 1L << 40)), 13), "'w'", "too short", "the file has 12");
    }

    @Test
    void overflowingDimsAreNamedNotARawArithmeticError() throws Exception {
        var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(1L << 32).addDims(1L << 32).addDims(4)
            .setRawData(ByteString.copyFrom(new byte[12]));
        refused(write(tmp, addGraph(w), 13), "'w'", "[4294967296, 4294967296, 4]", "2^63");
    }

    @Test
    void badExternalOffsetsAreNamed() throws Exception {
        Files.write(tmp.resolve("w.bin"), floats(1, 2, 3));
        refused(write(tmp, addGraph(external("w.bin", "twelve", 3)), 13), "'w'", "offset 'twelve'");
        refused(write(tmp, addGraph(external("w.bin", "-4", 3)), 13), "'w'", "negative external data offset");
        // offset + length overflows: must not pass the size check and read nothing (silent zeros)
        refused(write(tmp, addGraph(external("w.bin", Long.toString(Long.MAX_VALUE - 4), 3)), 13), "'w'", "too short");
    }

    @Test
    void anEmptyTensorFileSaysSo() throws Exception {
        Path blank = Files.write(tmp.resolve("input_0.pb"), new byte[0]);
        ModelException e = assertThrows(ModelException.class, () -> TensorProtos.read(blank));
        assertTrue(e.getMessage().contains("input_0.pb") && e.getMessage().contains("an empty file"), e.getMessage());
    }

    // --- invalid graphs ---

    @Test
    void twoNodesWritingOneValueAreRefused() throws Exception {
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 3)).addOutput(value("y", 3))
            .addNode(node("first", "Relu", "x", "y")).addNode(node("second", "Neg", "x", "y"));
        refused(write(tmp, g, 13), "'second' (Neg)", "'y'", "'first' (Relu)");
    }

    @Test
    void aNodeOverwritingAGraphInputOrAnInitializerIsRefused() throws Exception {
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 3)).addOutput(value("y", 3))
            .addNode(node("clobber", "Neg", "x", "x")).addNode(node("out", "Relu", "x", "y"));
        refused(write(tmp, g, 13), "'clobber' (Neg)", "writes 'x'", "graph input");
        var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(3).setRawData(ByteString.copyFrom(floats(1, 2, 3)));
        var g2 = addGraph(w).addNode(node("clobber", "Neg", "x", "w"));
        refused(write(tmp, g2, 13), "'clobber' (Neg)", "writes 'w'", "initializer");
    }

    @Test
    void duplicateGraphInputsAndInitializersAreRefused() throws Exception {
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 3)).addInput(value("x", 4)).addOutput(value("y", 3))
            .addNode(node("n", "Relu", "x", "y"));
        refused(write(tmp, g, 13), "graph input 'x' is listed twice");
        var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(3).setRawData(ByteString.copyFrom(floats(1, 2, 3)));
        refused(write(tmp, addGraph(w).addInitializer(w), 13), "initializer 'w' is defined twice");
    }

    @Test
    void anOpsetFarBeyondAnyOnnxReleaseIsRefused() throws Exception {
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 3)).addOutput(value("y", 3))
            .addNode(node("n", "Relu", "x", "y"));
        refused(write(tmp, g, 100000), "opset 100000", "1 to " + OnnxImporter.MAX_OPSET);
        refused(write(tmp, g, 1L << 33), "opset 8589934592");
        assertEquals(17, OnnxImporter.load(write(tmp, g, 17)).defaultOpset());
        // the default domain imported twice at different versions: the last one used to win silently
        Path twice = tmp.resolve("twice.onnx");
        Files.write(twice, OnnxMl.ModelProto.newBuilder().setIrVersion(8)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13))
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("ai.onnx").setVersion(9)).setGraph(g).build().toByteArray());
        refused(twice, "'ai.onnx' twice", "13 and 9");
    }

    @Test
    void aCycleIsNamedAsOne() throws Exception {
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 3)).addOutput(value("y", 3))
            .addNode(OnnxMl.NodeProto.newBuilder().setName("a").setOpType("Add").addInput("x").addInput("c").addOutput("b"))
            .addNode(node("b_node", "Relu", "b", "c"))
            .addNode(node("out", "Neg", "b", "y"));
        refused(write(tmp, g, 13), "cycle", "'a' (Add)", "'b_node' (Relu)");
    }

    @Test
    void foldingAnAbsurdShapeIsNotARawOverflow() throws Exception {
        // ConstantOfShape of [2^40, 2^40]: too large to fold (and to run); load-time inference must not blow up
        var shape = OnnxMl.TensorProto.newBuilder().setName("s").setDataType(7).addDims(2).addInt64Data(1L << 40).addInt64Data(1L << 40);
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 3)).addOutput(value("y"))
            .addInitializer(shape).addNode(node("big", "ConstantOfShape", "s", "y"));
        Model m = OnnxImporter.load(write(tmp, g, 13));
        try {
            TypeInference.run(m, OpRegistry.cpu(), Map.of(), true);
        } catch (SluiceException e) {
            assertTrue(e.getMessage().contains("'big'"), e.getMessage());
        }
    }
}
