package dev.sluice.runtime.serve;

import dev.sluice.graph.Value;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Between the protocol's raw tensors and Sluice tensors. Checks a request tensor against the model input it
 * feeds (datatype, rank, fixed dimensions, the config's overrides, BOOL elements being 0 or 1) and names the
 * input and the dimension in every refusal.
 */
final class TensorCodec {
    private TensorCodec() {}

    /** The protocol's view of a model tensor: symbolic and unknown dimensions become -1. */
    static long[] protocolShape(SymShape s) {
        if (!s.hasRank()) return new long[0];
        long[] out = new long[s.rank()];
        for (int i = 0; i < out.length; i++) out[i] = s.dim(i) instanceof Dim.Known k ? k.value() : -1;
        return out;
    }

    /** Checks {@code t} against the model input {@code v} (and its config override), then copies it into a tensor. */
    static Tensor toTensor(InferTensor t, Value v, ModelMetadata.TensorMetadata override) {
        String where = "input '" + t.name() + "'";
        DType want = v.type().dtype();
        if (t.datatype() == Datatype.BYTES) {
            throw ServeException.badRequest(where + ": datatype BYTES is not supported; the model takes " + (want == null ? "a numeric tensor" : Datatype.of(want)));
        }
        if (want != null && t.datatype().dtype() != want) {
            throw ServeException.badRequest(where + ": datatype is " + t.datatype() + " but the model takes " + Datatype.of(want));
        }
        long[] declared = override != null && override.shape() != null ? override.shape() : (v.type().shape().hasRank() ? protocolShape(v.type().shape()) : null);
        if (declared != null) {
            if (declared.length != t.shape().length) {
                throw ServeException.badRequest(where + ": shape " + Arrays.toString(t.shape()) + " has rank " + t.shape().length
                    + " but the model takes rank " + declared.length + " " + Arrays.toString(declared));
            }
            for (int i = 0; i < declared.length; i++) {
                if (declared[i] >= 0 && declared[i] != t.shape()[i]) {
                    throw ServeException.badRequest(where + ": shape " + Arrays.toString(t.shape()) + " dimension " + i + " is "
                        + t.shape()[i] + " but the model takes " + declared[i] + " (" + Arrays.toString(declared) + ")");
                }
            }
        }
        DType dt = t.datatype().dtype();
        if (dt == DType.BOOL) {
            for (int i = 0; i < t.data().length; i++) {
                if ((t.data()[i] & 0xFF) > 1) throw ServeException.badRequest(where + " (BOOL) element " + i + " is " + (t.data()[i] & 0xFF) + ", not 0 or 1");
            }
        }
        Tensor out = Tensor.allocate(dt, Shape.of(t.shape()));
        copyIn(t.data(), out.data());
        return out;
    }

    /** The tensor's elements in the protocol's raw form (little-endian). */
    static InferTensor fromTensor(String name, Tensor t) {
        byte[] b = new byte[Math.toIntExact(t.byteSize())];
        copyOut(t.data(), b);
        return new InferTensor(name, Datatype.of(t.dtype()), t.shape().dims(), b, java.util.Map.of());
    }

    private static void copyIn(byte[] src, MemorySegment dst) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) throw new IllegalStateException("big-endian hosts are not supported");
        MemorySegment.copy(src, 0, dst, ValueLayout.JAVA_BYTE, 0, src.length);
    }

    private static void copyOut(MemorySegment src, byte[] dst) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) throw new IllegalStateException("big-endian hosts are not supported");
        MemorySegment.copy(src, ValueLayout.JAVA_BYTE, 0, dst, 0, dst.length);
    }
}
