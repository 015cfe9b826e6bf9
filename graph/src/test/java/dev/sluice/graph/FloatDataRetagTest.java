package dev.sluice.graph;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Packed {@code float_data} retagged as raw data: the values the parser then sees are the ones written, and only
 * FLOAT tensors with one packed field and no raw data of their own are touched. The expected values are the
 * literals the test writes, read back by protobuf itself or by the importer.
 */
class FloatDataRetagTest {
    @TempDir Path tmp;

    private static float[] ramp(int n, float step) {
        float[] w = new float[n];
        for (int i = 0; i < n; i++) w[i] = (i - n / 2) * step;
        return w;
    }

    private static OnnxMl.TensorProto floatData(String name, float[] v) {
        var t = OnnxMl.TensorProto.newBuilder().setName(name).setDataType(1).addDims(v.length);
        for (float f : v) t.addFloatData(f);
        return t.build();
    }

    private static byte[] le(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.array();
    }

    private static OnnxMl.ValueInfoProto vi(String name, int n) {
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder().setTensorType(
            OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(OnnxMl.TensorShapeProto.newBuilder()
                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(n))))).build();
    }

    /** A Constant's attribute (big), an initializer, one in an If's branch, and tensors the retag must leave alone. */
    private static OnnxMl.ModelProto model(float[] big, float[] small, float[] inBranch) {
        OnnxMl.GraphProto branch = OnnxMl.GraphProto.newBuilder().setName("then").addOutput(vi("t", inBranch.length))
            .addInitializer(floatData("tc", inBranch))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Identity").addInput("tc").addOutput("t")).build();
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("g")
            .addInput(vi("x", big.length)).addOutput(vi("y", big.length)).addOutput(vi("z", inBranch.length))
            .addInitializer(floatData("s", small))
            .addInitializer(OnnxMl.TensorProto.newBuilder().setName("i").setDataType(7).addDims(2).addInt64Data(-3).addInt64Data(1L << 40))
            .addInitializer(OnnxMl.TensorProto.newBuilder().setName("cond").setDataType(9).addDims(1).setRawData(ByteString.copyFrom(new byte[] {1})))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Constant").addOutput("c")
                .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("value").setType(OnnxMl.AttributeProto.AttributeType.TENSOR)
                    .setT(floatData("", big))))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("c").addOutput("a"))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Mul").addInput("a").addInput("s").addOutput("y"))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("If").addInput("cond").addOutput("z")
                .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("then_branch").setType(OnnxMl.AttributeProto.AttributeType.GRAPH).setG(branch))
                .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("else_branch").setType(OnnxMl.AttributeProto.AttributeType.GRAPH).setG(branch)))
            .build();
        return OnnxMl.ModelProto.newBuilder().setIrVersion(8)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build();
    }

    private static MemorySegment native_(byte[] b, Arena a) {
        MemorySegment s = a.allocate(b.length);
        MemorySegment.copy(b, 0, s, ValueLayout.JAVA_BYTE, 0, b.length);
        return s;
    }

    @Test
    void retaggedFieldsParseAsRawDataOfTheSameBytes() throws Exception {
        float[] big = ramp(3000, 0.125f), small = {2.5f, -1f}, inBranch = {7f, Float.NaN, -0f};
        byte[] bytes = model(big, small, inBranch).toByteArray();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = native_(bytes, a);
            long expected = 4L * (big.length + small.length + inBranch.length * 2);
            assertEquals(expected, FloatDataRetag.retaggableBytes(s));
            assertEquals(expected, FloatDataRetag.retag(s));
            assertEquals(0, FloatDataRetag.retaggableBytes(s), "a second walk finds nothing left to retag");
            OnnxMl.ModelProto p = OnnxMl.ModelProto.parseFrom(s.toArray(ValueLayout.JAVA_BYTE));
            OnnxMl.GraphProto g = p.getGraph();
            OnnxMl.TensorProto c = g.getNode(0).getAttribute(0).getT();
            assertEquals(0, c.getFloatDataCount());
            assertArrayEquals(le(big), c.getRawData().toByteArray());
            assertArrayEquals(le(small), g.getInitializer(0).getRawData().toByteArray());
            assertArrayEquals(le(inBranch), g.getNode(3).getAttribute(0).getG().getInitializer(0).getRawData().toByteArray());
            // the int64 and bool tensors are as written
            assertEquals(java.util.List.of(-3L, 1L << 40), g.getInitializer(1).getInt64DataList());
            assertArrayEquals(new byte[] {1}, g.getInitializer(2).getRawData().toByteArray());
        }
    }

    @Test
    void leavesTensorsItMustNotTouch() throws Exception {
        // FLOAT with raw data as well, COMPLEX64 (float_data holds pairs), and an unpacked float element
        var both = OnnxMl.TensorProto.newBuilder().setName("b").setDataType(1).addDims(1).addFloatData(1f)
            .setRawData(ByteString.copyFrom(le(new float[] {2f})));
        var complex = OnnxMl.TensorProto.newBuilder().setName("k").setDataType(14).addDims(1).addFloatData(1f).addFloatData(2f);
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("g").addInitializer(both).addInitializer(complex).build();
        byte[] model = OnnxMl.ModelProto.newBuilder().setGraph(g).build().toByteArray();
        // a tensor written by hand: data_type FLOAT, float_data as one unpacked element (tag 0x25) and one packed field
        byte[] tensor = {0x10, 0x01, 0x25, 0, 0, (byte) 0x80, 0x3f, 0x22, 0x04, 0, 0, 0, 0x40};
        byte[] graph = new byte[2 + tensor.length];
        graph[0] = 0x2A; // GraphProto.initializer (5), length-delimited
        graph[1] = (byte) tensor.length;
        System.arraycopy(tensor, 0, graph, 2, tensor.length);
        byte[] handMade = new byte[2 + graph.length];
        handMade[0] = 0x3A; // ModelProto.graph (7)
        handMade[1] = (byte) graph.length;
        System.arraycopy(graph, 0, handMade, 2, graph.length);
        try (Arena a = Arena.ofConfined()) {
            for (byte[] m : new byte[][] {model, handMade}) {
                MemorySegment s = native_(m, a);
                assertEquals(0, FloatDataRetag.retag(s));
                assertArrayEquals(m, s.toArray(ValueLayout.JAVA_BYTE));
            }
            OnnxMl.TensorProto hand = OnnxMl.ModelProto.parseFrom(handMade).getGraph().getInitializer(0);
            assertEquals(java.util.List.of(1f, 2f), hand.getFloatDataList(), "the hand-made tensor is what the walk was shown");
        }
    }

    @Test
    void truncatedOrGarbledBytesEndTheWalkWithoutWriting() {
        byte[] bytes = model(ramp(100, 1f), new float[] {1f}, new float[] {2f}).toByteArray();
        try (Arena a = Arena.ofConfined()) {
            for (int cut : new int[] {1, 5, bytes.length / 2, bytes.length - 1}) {
                byte[] part = java.util.Arrays.copyOf(bytes, cut);
                MemorySegment s = native_(part, a);
                FloatDataRetag.retag(s);
                // only whole tensors before the cut may change, and only their tag byte: the parser judges the rest
                byte[] after = s.toArray(ValueLayout.JAVA_BYTE);
                int changed = 0;
                for (int i = 0; i < cut; i++) if (after[i] != part[i]) {
                    assertEquals(0x22, part[i]);
                    assertEquals(0x4A, after[i]);
                    changed++;
                }
                assertTrue(changed <= 4, "four float tensors: the Constant, s, and tc in each branch");
            }
            MemorySegment junk = native_(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff}, a);
            assertEquals(0, FloatDataRetag.retag(junk));
        }
    }

    private static byte[] wrap(int tag, byte[] payload) {
        java.io.ByteArrayOutputStream o = new java.io.ByteArrayOutputStream();
        o.write(tag);
        for (long v = payload.length; ; v >>>= 7) {
            if (v < 0x80) { o.write((int) v); break; }
            o.write((int) (v & 0x7f) | 0x80);
        }
        o.writeBytes(payload);
        return o.toByteArray();
    }

    @Test
    void deeplyNestedSubgraphsEndTheWalkInsteadOfTheStack() {
        // graph{node{attribute{g{ ... }}}} 3000 times over a float tensor: deeper than the walk goes
        byte[] inner = wrap(0x2A, new byte[] {0x10, 0x01, 0x22, 0x04, 0, 0, (byte) 0x80, 0x3f}); // GraphProto.initializer
        for (int i = 0; i < 3000; i++) inner = wrap(0x0A, wrap(0x2A, wrap(0x32, inner))); // node(1){attribute(5){g(6){...}}}
        byte[] model = wrap(0x3A, inner);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = native_(model, a);
            assertEquals(0, FloatDataRetag.retag(s));
            assertArrayEquals(model, s.toArray(ValueLayout.JAVA_BYTE));
        }
    }

    @Test
    void importOfAFileOfMostlyFloatDataGivesTheWrittenValues() throws Exception {
        float[] big = ramp(5000, 0.03125f), small = {2.5f}, inBranch = {7f, -0.5f, 3f};
        Path f = tmp.resolve("float-data.onnx");
        byte[] bytes = model(big, small, inBranch).toByteArray();
        Files.write(f, bytes);
        try (Arena a = Arena.ofConfined()) {
            assertTrue(FloatDataRetag.retaggableBytes(native_(bytes, a)) * 2 > bytes.length, "the file takes the retag path");
        }
        Model m = OnnxImporter.load(f);
        Tensor c = ((Attr.TensorValue) m.graph().nodes().stream().filter(n -> n.opType().equals("Constant")).findFirst()
            .orElseThrow().attributes().get("value")).value();
        assertArrayEquals(big, c.toFloatArray());
        assertArrayEquals(small, m.graph().initializers().get("s").toFloatArray());
        Node iff = m.graph().nodes().stream().filter(n -> n.opType().equals("If")).findFirst().orElseThrow();
        Graph branch = (Graph) ((Attr.Graph) iff.attributes().get("then_branch")).value();
        assertArrayEquals(inBranch, branch.initializers().get("tc").toFloatArray());
        assertArrayEquals(new long[] {-3, 1L << 40}, m.graph().initializers().get("i").toLongArray());
        assertFalse(c.isClosed());
    }
}
