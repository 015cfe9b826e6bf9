package dev.sluice.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Tensor;
import java.lang.ref.Reference;
import java.lang.ref.WeakReference;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Collection;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An imported model holds no protobuf object: once the importer returns, the parsed message (with its copy or
 * view of every weight) can be collected, and the weights live once, natively, in one segment.
 */
class ImportRetentionTest {
    @TempDir Path tmp;

    /** Raw-data weights (big and small), a typed-field weight, a Constant's tensor attribute, an If with a subgraph. */
    private static OnnxMl.ModelProto model() {
        float[] w = new float[4096];
        for (int i = 0; i < w.length; i++) w[i] = i * 0.25f - 7f;
        ByteBuffer raw = ByteBuffer.allocate(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : w) raw.putFloat(f);
        raw.flip();
        var vi = (java.util.function.BiFunction<String, Integer, OnnxMl.ValueInfoProto>) (name, n) -> OnnxMl.ValueInfoProto.newBuilder()
            .setName(name).setType(OnnxMl.TypeProto.newBuilder().setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1)
                .setShape(OnnxMl.TensorShapeProto.newBuilder().addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(n))))).build();
        OnnxMl.GraphProto branch = OnnxMl.GraphProto.newBuilder().setName("then").addOutput(vi.apply("t", 2))
            .addInitializer(OnnxMl.TensorProto.newBuilder().setName("tc").setDataType(1).addDims(2).addFloatData(1f).addFloatData(2f))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Identity").addInput("tc").addOutput("t")).build();
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("g")
            .addInput(vi.apply("x", 4096)).addOutput(vi.apply("y", 4096)).addOutput(vi.apply("z", 2))
            .addInitializer(OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(4096).setRawData(ByteString.copyFrom(raw)))
            .addInitializer(OnnxMl.TensorProto.newBuilder().setName("s").setDataType(1).addDims(1).addFloatData(3f))
            .addInitializer(OnnxMl.TensorProto.newBuilder().setName("cond").setDataType(9).addDims(1).setRawData(ByteString.copyFrom(new byte[] {1})))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Constant").addOutput("c")
                .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("value").setType(OnnxMl.AttributeProto.AttributeType.TENSOR)
                    .setT(OnnxMl.TensorProto.newBuilder().setDataType(1).addDims(1).setRawData(ByteString.copyFrom(new byte[] {0, 0, (byte) 0x80, 0x3f})))))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Add").addInput("x").addInput("w").addOutput("a"))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Mul").addInput("a").addInput("s").addOutput("m"))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Add").addInput("m").addInput("c").addOutput("y"))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("If").addInput("cond").addOutput("z")
                .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("then_branch").setType(OnnxMl.AttributeProto.AttributeType.GRAPH).setG(branch))
                .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("else_branch").setType(OnnxMl.AttributeProto.AttributeType.GRAPH).setG(branch)))
            .build();
        return OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("test")
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(13)).setGraph(g).build();
    }

    @Test void theParsedMessageIsCollectableOnceImported() throws Exception {
        OnnxMl.ModelProto proto = OnnxImporter.parse(model().toByteArray(), "m.onnx");
        WeakReference<Object> message = new WeakReference<>(proto);
        WeakReference<Object> weight = new WeakReference<>(proto.getGraph().getInitializer(0));
        Model m = OnnxImporter.convert(proto, tmp.resolve("m.onnx"));
        proto = null;
        for (int i = 0; i < 100 && (message.get() != null || weight.get() != null); i++) {
            System.gc();
            Thread.sleep(10);
        }
        assertNull(message.get(), "the imported model keeps the parsed ModelProto reachable");
        assertNull(weight.get(), "the imported model keeps an initializer's TensorProto reachable");
        assertEquals(4096, m.graph().initializers().get("w").shape().elementCount());
        Reference.reachabilityFence(m);
    }

    @Test void aModelLoadedFromAFileHoldsNoProtobufObjectAndItsWeightsAreRight() throws Exception {
        Path f = tmp.resolve("m.onnx");
        Files.write(f, model().toByteArray());
        Model m = OnnxImporter.load(f);
        String found = protobufIn(m);
        if (found != null) fail("the model holds a protobuf object: " + found);
        Tensor w = m.graph().initializers().get("w");
        for (int i = 0; i < 4096; i++) assertEquals(i * 0.25f - 7f, w.getFloat(i), "w[" + i + "]");
        assertEquals(3f, m.graph().initializers().get("s").getFloat(0));
        Tensor c = ((Attr.TensorValue) m.graph().nodes().get(0).attributes().asMap().get("value")).value();
        assertEquals(1f, c.getFloat(0));
        // every initializer of the main graph sits in one native segment, block after block
        long prev = -1;
        for (Tensor t : m.graph().initializers().values()) {
            long start = t.data().address() - Tensor.BLOCK_PREFIX;
            if (prev >= 0) assertEquals(prev, start, "initializers are not side by side");
            prev = start + Tensor.blockBytes(t.byteSize());
        }
    }

    @Test void theFieldWalkFindsAProtobufObjectWhereThereIsOne() {
        // the walk must be able to fail: a graph whose attribute smuggles a protobuf message is caught
        Graph g = new Graph("g", java.util.List.of(), java.util.List.of(), java.util.List.of(), Map.of(), Map.of());
        record Holder(Object o, Graph g) {}
        assertTrue(protobufIn(new Holder(OnnxMl.TensorProto.getDefaultInstance(), g)) != null);
        assertNull(protobufIn(new Holder("plain", g)));
    }

    /** A path to the first protobuf object reachable from {@code root} through Sluice objects and collections, or null. */
    static String protobufIn(Object root) {
        Set<Object> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Object[]> todo = new ArrayDeque<>();
        todo.push(new Object[] {root, root.getClass().getSimpleName()});
        while (!todo.isEmpty()) {
            Object[] e = todo.pop();
            Object o = e[0];
            String path = (String) e[1];
            if (o == null || !seen.add(o)) continue;
            String cls = o.getClass().getName();
            if (cls.startsWith("ai.onnx.") || cls.startsWith("com.google.protobuf.")) return path + " (" + cls + ")";
            if (o instanceof Collection<?> c) {
                int i = 0;
                for (Object x : c) todo.push(new Object[] {x, path + "[" + i++ + "]"});
            } else if (o instanceof Map<?, ?> mp) {
                for (var x : mp.entrySet()) {
                    todo.push(new Object[] {x.getKey(), path + ".key"});
                    todo.push(new Object[] {x.getValue(), path + "[" + x.getKey() + "]"});
                }
            } else if (o instanceof Object[] arr) {
                for (int i = 0; i < arr.length; i++) todo.push(new Object[] {arr[i], path + "[" + i + "]"});
            } else if (!cls.startsWith("java.") && !cls.startsWith("jdk.") && !cls.startsWith("sun.")) {
                for (Class<?> k = o.getClass(); k != null && k != Object.class; k = k.getSuperclass()) {
                    for (Field f : k.getDeclaredFields()) {
                        if (Modifier.isStatic(f.getModifiers()) || f.getType().isPrimitive()) continue;
                        try {
                            f.setAccessible(true);
                            todo.push(new Object[] {f.get(o), path + "." + f.getName()});
                        } catch (ReflectiveOperationException | RuntimeException ex) {
                            // a field of a class this test cannot open holds nothing of the importer's
                        }
                    }
                }
            }
        }
        return null;
    }
}
