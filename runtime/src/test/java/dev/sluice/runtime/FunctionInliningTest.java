package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.graph.ModelException;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models that call model-local functions (ModelProto.functions, as exporters write modules and composite ops) run
 * as ONNX Runtime runs them: attributes passed by reference or defaulted, a function calling another, a function
 * with two outputs, and value names inside a body that clash with the graph's (and with its formal names). Bad
 * function definitions are refused with the function named.
 */
class FunctionInliningTest {
    @TempDir Path tmp;

    private static final int FLOAT = 1;
    private static final String DOMAIN = "local.fn";

    private static OnnxMl.NodeProto node(String domain, String op, List<String> in, List<String> out, OnnxMl.AttributeProto... attrs) {
        OnnxMl.NodeProto.Builder b = OnnxMl.NodeProto.newBuilder().setDomain(domain).setOpType(op).addAllInput(in).addAllOutput(out);
        for (OnnxMl.AttributeProto a : attrs) b.addAttribute(a);
        return b.build();
    }

    private static OnnxMl.AttributeProto floatAttr(String name, float v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    private static OnnxMl.AttributeProto floatRef(String name, String ref) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.FLOAT).setRefAttrName(ref).build();
    }

    private static OnnxMl.OperatorSetIdProto opset(String domain, long v) {
        return OnnxMl.OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(v).build();
    }

    private static OnnxMl.ValueInfoProto value(String name, long... dims) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
        for (long d : dims) s.addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
            .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(FLOAT).setShape(s))).build();
    }

    /** ScaledTanh(X; alpha = 2) = tanh(alpha * X), its alpha a Constant made from the call's attribute. */
    private static OnnxMl.FunctionProto scaledTanh(long bodyOpset) {
        return OnnxMl.FunctionProto.newBuilder().setDomain(DOMAIN).setName("ScaledTanh").addInput("X").addOutput("Y")
            .addAttributeProto(floatAttr("alpha", 2f))
            .addNode(node("", "Constant", List.of(), List.of("a"), floatRef("value_float", "alpha")))
            .addNode(node("", "Mul", List.of("X", "a"), List.of("t")))
            .addNode(node("", "Tanh", List.of("t"), List.of("Y")))
            .addOpsetImport(opset("", bodyOpset)).build();
    }

    /** Block(X, W) = (ScaledTanh(X W), X W): it calls ScaledTanh with its default alpha and has a second output. */
    private static OnnxMl.FunctionProto block() {
        return OnnxMl.FunctionProto.newBuilder().setDomain(DOMAIN).setName("Block").addInput("X").addInput("W")
            .addOutput("Y").addOutput("M")
            .addNode(node("", "MatMul", List.of("X", "W"), List.of("M")))
            .addNode(node(DOMAIN, "ScaledTanh", List.of("M"), List.of("Y")))
            .addOpsetImport(opset("", 17)).addOpsetImport(opset(DOMAIN, 1)).build();
    }

    private Path write(String name, List<OnnxMl.FunctionProto> functions, OnnxMl.GraphProto graph) throws Exception {
        OnnxMl.ModelProto m = OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("sluice-test")
            .addOpsetImport(opset("", 17)).addOpsetImport(opset(DOMAIN, 1))
            .addAllFunctions(functions).setGraph(graph).build();
        Path file = tmp.resolve(name);
        Files.write(file, m.toByteArray());
        return file;
    }

    private static OnnxMl.TensorProto weights(int k, int n, SplittableRandom r) {
        OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName("w").setDataType(FLOAT).addDims(k).addDims(n);
        for (int i = 0; i < k * n; i++) t.addFloatData((float) (r.nextDouble() * 2 - 1));
        return t.build();
    }

    @Test
    void nestedCallsWithAttributesMatchOnnxRuntime() throws Exception {
        SplittableRandom r = new SplittableRandom(3);
        // the graph's own values are named "t" and "a" as the body's are: inlining must keep them apart
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("main")
            .addInput(value("x", 3, 4)).addInitializer(weights(4, 5, r)).addOutput(value("y", 3, 5)).addOutput(value("a", 3, 5))
            .addNode(node(DOMAIN, "Block", List.of("x", "w"), List.of("t", "M")))
            .addNode(node(DOMAIN, "ScaledTanh", List.of("t"), List.of("y"), floatAttr("alpha", 0.5f)))
            .addNode(node("", "Sigmoid", List.of("M"), List.of("a")))
            .build();
        Path file = write("functions.onnx", List.of(scaledTanh(17), block()), g);
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(3, 4));
        for (int i = 0; i < 12; i++) x.setFloat(i, (float) (r.nextDouble() * 4 - 2));
        Map<String, Tensor> ref = OrtReference.run(file, Map.of("x", x));
        try (Session s = Session.open(file, 2)) {
            Map<String, Tensor> ours = s.run(Map.of("x", x)).asMap();
            for (var e : ref.entrySet()) {
                assertNull(Tolerance.DEFAULT.mismatch(ours.get(e.getKey()), e.getValue()), "output '" + e.getKey() + "'");
            }
        }
    }

    @Test
    void aFunctionThatCallsItselfIsRefused() throws Exception {
        OnnxMl.FunctionProto loop = OnnxMl.FunctionProto.newBuilder().setDomain(DOMAIN).setName("Again").addInput("X").addOutput("Y")
            .addNode(node(DOMAIN, "Again", List.of("X"), List.of("Y"))).addOpsetImport(opset("", 17)).build();
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("main").addInput(value("x", 2)).addOutput(value("y", 2))
            .addNode(node(DOMAIN, "Again", List.of("x"), List.of("y"))).build();
        Path file = write("recursive.onnx", List.of(loop), g);
        ModelException e = assertThrows(ModelException.class, () -> OnnxImporter.load(file));
        assertTrue(e.getMessage().contains("local.fn.Again") && e.getMessage().contains("calls itself"), e.getMessage());
    }

    @Test
    void aBodyWrittenForAnotherOpsetIsRefused() throws Exception {
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("main").addInput(value("x", 2)).addOutput(value("y", 2))
            .addNode(node(DOMAIN, "ScaledTanh", List.of("x"), List.of("y"))).build();
        Path file = write("opsets.onnx", List.of(scaledTanh(13)), g);
        ModelException e = assertThrows(ModelException.class, () -> OnnxImporter.load(file));
        assertTrue(e.getMessage().contains("ScaledTanh") && e.getMessage().contains("opset 13"), e.getMessage());
    }
}
