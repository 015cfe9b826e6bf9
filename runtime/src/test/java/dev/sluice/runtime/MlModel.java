package dev.sluice.runtime;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes one-node (or few-node) models of the ai.onnx.ml domain for tests, importing both the default opset and
 * the ML opset, with the attribute kinds those ops use (strings, float lists, tensors). Dimensions given as -1 are
 * left symbolic ("N").
 */
final class MlModel {
    static final int FLOAT = 1, UINT8 = 2, INT32 = 6, INT64 = 7, DOUBLE = 11;

    private final OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder().setName("ml");
    private final int mlOpset;

    MlModel(int mlOpset) { this.mlOpset = mlOpset; }

    MlModel input(String name, int type, long... dims) { graph.addInput(info(name, type, dims)); return this; }

    MlModel output(String name, int type, long... dims) { graph.addOutput(info(name, type, dims)); return this; }

    /** A node of the ai.onnx.ml domain. */
    MlModel node(String op, List<String> in, List<String> out, OnnxMl.AttributeProto... attrs) {
        return node("ai.onnx.ml", op, in, out, attrs);
    }

    MlModel node(String domain, String op, List<String> in, List<String> out, OnnxMl.AttributeProto... attrs) {
        OnnxMl.NodeProto.Builder n = OnnxMl.NodeProto.newBuilder().setOpType(op).setDomain(domain)
            .setName(out.get(0) + "_" + op).addAllInput(in).addAllOutput(out);
        for (OnnxMl.AttributeProto a : attrs) n.addAttribute(a);
        graph.addNode(n);
        return this;
    }

    Path write(Path file) throws IOException {
        OnnxMl.ModelProto m = OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("sluice-test")
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("ai.onnx.ml").setVersion(mlOpset))
            .setGraph(graph).build();
        Files.write(file, m.toByteArray());
        return file;
    }

    private static OnnxMl.ValueInfoProto info(String name, int type, long... dims) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(d < 0 ? OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam("N")
                : OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
            .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(type).setShape(s))).build();
    }

    static OnnxMl.AttributeProto ints(String name, long... v) {
        var a = OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.INTS);
        for (long x : v) a.addInts(x);
        return a.build();
    }

    static OnnxMl.AttributeProto ints(String name, List<Long> v) {
        return ints(name, v.stream().mapToLong(Long::longValue).toArray());
    }

    static OnnxMl.AttributeProto floats(String name, float... v) {
        var a = OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.FLOATS);
        for (float x : v) a.addFloats(x);
        return a.build();
    }

    static OnnxMl.AttributeProto floats(String name, List<Float> v) {
        var a = OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.FLOATS);
        for (float x : v) a.addFloats(x);
        return a.build();
    }

    static OnnxMl.AttributeProto intAttr(String name, long v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.INT).setI(v).build();
    }

    static OnnxMl.AttributeProto floatAttr(String name, float v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.FLOAT).setF(v).build();
    }

    static OnnxMl.AttributeProto str(String name, String v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.STRING)
            .setS(ByteString.copyFromUtf8(v)).build();
    }

    static OnnxMl.AttributeProto strs(String name, List<String> v) {
        var a = OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.STRINGS);
        for (String x : v) a.addStrings(ByteString.copyFromUtf8(x));
        return a.build();
    }

    /** A tensor attribute of doubles (ONNX type 11), floats (1), int64 (7) or uint8 (2), of shape [values.length]. */
    static OnnxMl.AttributeProto tensor(String name, int type, double... values) {
        int width = switch (type) { case DOUBLE, INT64 -> 8; case FLOAT -> 4; case UINT8 -> 1; default -> throw new IllegalArgumentException("type " + type); };
        ByteBuffer b = ByteBuffer.allocate(values.length * width).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            switch (type) {
                case DOUBLE -> b.putDouble(v);
                case FLOAT -> b.putFloat((float) v);
                case INT64 -> b.putLong((long) v);
                default -> b.put((byte) v);
            }
        }
        OnnxMl.TensorProto t = OnnxMl.TensorProto.newBuilder().setName(name).setDataType(type).addDims(values.length)
            .setRawData(ByteString.copyFrom(b.array())).build();
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.TENSOR).setT(t).build();
    }
}
