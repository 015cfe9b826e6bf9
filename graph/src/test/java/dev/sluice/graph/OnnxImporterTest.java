package dev.sluice.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OnnxImporterTest {
    @TempDir Path tmp;

    private static OnnxMl.ValueInfoProto value(String name, int elem, Object... dims) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            var b = OnnxMl.TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String p) b.setDimParam(p); else b.setDimValue(((Number) d).longValue());
            s.addDim(b);
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
            .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(elem).setShape(s))).build();
    }

    private Path write(OnnxMl.GraphProto.Builder g) throws Exception {
        Path f = tmp.resolve("m.onnx");
        Files.write(f, OnnxMl.ModelProto.newBuilder().setIrVersion(8)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build().toByteArray());
        return f;
    }

    private static OnnxMl.TensorProto.Builder externalWeight(long offset) {
        return OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(3)
            .setDataLocation(OnnxMl.TensorProto.DataLocation.EXTERNAL)
            .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue("weights.bin"))
            .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("offset").setValue(Long.toString(offset)))
            .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("length").setValue("12"));
    }

    private static OnnxMl.GraphProto.Builder addGraph(OnnxMl.TensorProto.Builder weight) {
        return OnnxMl.GraphProto.newBuilder().setName("g")
            .addInput(value("x", 1, "batch", 3)).addOutput(value("y", 1, "batch", 3))
            .addInitializer(weight)
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("w").addOutput("y")
                .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("note").setType(OnnxMl.AttributeProto.AttributeType.STRINGS)
                    .addStrings(com.google.protobuf.ByteString.copyFromUtf8("kept"))));
    }

    @Test
    void readsExternalDataAndSymbolicDims() throws Exception {
        ByteBuffer b = ByteBuffer.allocate(8 + 12).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0xdeadbeefL); // 8 bytes of something else first: the offset must be honoured
        b.putFloat(1.5f).putFloat(-2f).putFloat(4f);
        Files.write(tmp.resolve("weights.bin"), b.array());
        Model m = OnnxImporter.load(write(addGraph(externalWeight(8))));
        Tensor w = m.graph().initializers().get("w");
        assertArrayEquals(new float[] {1.5f, -2f, 4f}, w.toFloatArray());
        assertEquals(new Dim.Symbol("batch"), m.graph().inputs().get(0).type().shape().dim(0));
        assertEquals(13, m.defaultOpset());
        Attr note = m.graph().nodes().get(0).attributes().get("note");
        assertEquals(java.util.List.of("kept"), ((Attr.Strs) note).values());
    }

    @Test
    void typedFieldsAreRead() throws Exception {
        var w = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(7).addDims(3).addInt64Data(5).addInt64Data(-6).addInt64Data(7);
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 7, 3)).addOutput(value("y", 7, 3))
            .addInitializer(w).addNode(OnnxMl.NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("w").addOutput("y"));
        Tensor t = OnnxImporter.load(write(g)).graph().initializers().get("w");
        assertEquals(DType.INT64, t.dtype());
        assertArrayEquals(new long[] {5, -6, 7}, t.toLongArray());
    }

    @Test
    void missingOrShortExternalDataIsNamed() throws Exception {
        Path f = write(addGraph(externalWeight(0)));
        ModelException e = assertThrows(ModelException.class, () -> OnnxImporter.load(f));
        assertTrue(e.getMessage().contains("weights.bin") && e.getMessage().contains("'w'"), e.getMessage());
        Files.write(tmp.resolve("weights.bin"), new byte[5]);
        e = assertThrows(ModelException.class, () -> OnnxImporter.load(f));
        assertTrue(e.getMessage().contains("too short"), e.getMessage());
    }

    @Test
    void undefinedValuesAreNamed() throws Exception {
        var g = OnnxMl.GraphProto.newBuilder().setName("g").addInput(value("x", 1, 3)).addOutput(value("y", 1, 3))
            .addNode(OnnxMl.NodeProto.newBuilder().setName("adder").setOpType("Add").addInput("x").addInput("ghost").addOutput("y"));
        ModelException e = assertThrows(ModelException.class, () -> OnnxImporter.load(write(g)));
        assertTrue(e.getMessage().contains("'adder'") && e.getMessage().contains("'ghost'"), e.getMessage());
    }
}
