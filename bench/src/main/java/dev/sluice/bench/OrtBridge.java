package dev.sluice.bench;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** ONNX Runtime, the reference engine of the bench: one session, inputs converted once, outputs back to Tensors. */
final class OrtBridge implements AutoCloseable {
    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final Map<String, OnnxTensor> feeds = new LinkedHashMap<>();

    /**
     * A session with N intra-op threads, one inter-op thread, sequential execution, default optimizations.
     * Without {@code spin}, ORT's idle workers do not spin after a run: alternating with Sluice, spinning
     * workers would burn the cores Sluice's next run needs.
     */
    OrtBridge(Path model, int threads, boolean spin) {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            if (!spin) o.addConfigEntry("session.intra_op.allow_spinning", "0");
            o.setInterOpNumThreads(1);
            o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            session = env.createSession(model.toString(), o);
        } catch (OrtException e) {
            throw new SluiceException("ONNX Runtime cannot open " + model + ": " + e.getMessage(), e);
        }
    }

    void setInputs(Map<String, Tensor> inputs) {
        closeFeeds();
        try {
            for (var e : inputs.entrySet()) feeds.put(e.getKey(), toOrt(env, e.getValue()));
        } catch (OrtException e) {
            throw new SluiceException("ONNX Runtime rejects the inputs: " + e.getMessage(), e);
        }
    }

    /** One run; with {@code keep}, the outputs converted to Tensors (else an empty map, to time the run alone). */
    Map<String, Tensor> run(boolean keep) {
        try (OrtSession.Result r = session.run(feeds)) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            if (keep) for (Map.Entry<String, OnnxValue> e : r) out.put(e.getKey(), fromOrt(e.getKey(), e.getValue()));
            return out;
        } catch (OrtException e) {
            throw new SluiceException("ONNX Runtime failed: " + e.getMessage(), e);
        }
    }

    static OnnxTensor toOrt(OrtEnvironment env, Tensor t) throws OrtException {
        ByteBuffer b = t.data().asByteBuffer().order(ByteOrder.nativeOrder());
        return OnnxTensor.createTensor(env, b, t.shape().dims(), javaType(t.dtype()));
    }

    static OnnxJavaType javaType(DType d) {
        return switch (d) {
            case FLOAT32 -> OnnxJavaType.FLOAT;
            case FLOAT64 -> OnnxJavaType.DOUBLE;
            case FLOAT16 -> OnnxJavaType.FLOAT16;
            case INT8 -> OnnxJavaType.INT8;
            case UINT8 -> OnnxJavaType.UINT8;
            case INT16 -> OnnxJavaType.INT16;
            case INT32 -> OnnxJavaType.INT32;
            case INT64 -> OnnxJavaType.INT64;
            case BOOL -> OnnxJavaType.BOOL;
            default -> throw new SluiceException("the ONNX Runtime Java API has no " + d + " tensors");
        };
    }

    static Tensor fromOrt(String name, OnnxValue v) {
        if (!(v instanceof OnnxTensor t)) throw new SluiceException("output '" + name + "' of ONNX Runtime is a " + v.getType() + ", not a tensor");
        DType d = switch (t.getInfo().type) {
            case FLOAT -> DType.FLOAT32;
            case DOUBLE -> DType.FLOAT64;
            case FLOAT16 -> DType.FLOAT16;
            case INT8 -> DType.INT8;
            case UINT8 -> DType.UINT8;
            case INT16 -> DType.INT16;
            case INT32 -> DType.INT32;
            case INT64 -> DType.INT64;
            case BOOL -> DType.BOOL;
            default -> throw new SluiceException("output '" + name + "' has ONNX Runtime type " + t.getInfo().type + ", not compared");
        };
        Tensor r = Tensor.allocate(d, Shape.of(t.getInfo().getShape()));
        ByteBuffer b = t.getByteBuffer();
        MemorySegment.copy(MemorySegment.ofBuffer(b), 0, r.data(), 0, r.byteSize());
        return r;
    }

    private void closeFeeds() {
        for (OnnxTensor t : feeds.values()) t.close();
        feeds.clear();
    }

    @Override public void close() {
        closeFeeds();
        try {
            session.close();
        } catch (OrtException e) {
            throw new SluiceException("ONNX Runtime: " + e.getMessage(), e);
        }
    }
}
