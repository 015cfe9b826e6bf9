package dev.sluice.kernels.cpu.core;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Bulk conversions between tensors and Java arrays, and small attribute/type checks, for the NN family. */
public final class NnArrays {
    private NnArrays() {}

    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    /** The elements as float (a bulk copy for float32, a conversion otherwise). */
    public static float[] floats(Tensor t) { return t.toFloatArray(); }

    public static double[] doubles(Tensor t) {
        int n = Math.toIntExact(t.elementCount());
        double[] r = new double[n];
        if (t.dtype() == DType.FLOAT64) {
            MemorySegment.copy(t.data(), ValueLayout.JAVA_DOUBLE, 0, r, 0, n);
        } else if (t.dtype() == DType.FLOAT32) {
            MemorySegment d = t.data();
            for (int i = 0; i < n; i++) r[i] = d.getAtIndex(F32, i);
        } else {
            for (int i = 0; i < n; i++) r[i] = t.getDouble(i);
        }
        return r;
    }

    /** Writes every element of out from v (converting to out's dtype). */
    public static void store(Tensor out, float[] v) {
        int n = Math.toIntExact(out.elementCount());
        if (out.dtype() == DType.FLOAT32) MemorySegment.copy(v, 0, out.data(), F32, 0, n);
        else for (int i = 0; i < n; i++) out.setDouble(i, v[i]);
    }

    public static void store(Tensor out, double[] v) {
        int n = Math.toIntExact(out.elementCount());
        if (out.dtype() == DType.FLOAT64) {
            MemorySegment.copy(v, 0, out.data(), ValueLayout.JAVA_DOUBLE, 0, n);
        } else if (out.dtype() == DType.FLOAT32) {
            MemorySegment d = out.data();
            for (int i = 0; i < n; i++) d.setAtIndex(F32, i, (float) v[i]);
        } else {
            for (int i = 0; i < n; i++) out.setDouble(i, v[i]);
        }
    }

    /** The tensor itself if float32, else a float32 copy: kernels that only have a float32 path use it. */
    public static Tensor asF32(Tensor t) {
        if (t.dtype() == DType.FLOAT32) return t;
        Tensor r = Tensor.allocate(DType.FLOAT32, t.shape());
        int n = Math.toIntExact(t.elementCount());
        for (int i = 0; i < n; i++) r.setFloat(i, (float) t.getDouble(i));
        return r;
    }

    /**
     * Type inference's check that the given inputs (those present and typed) have input 0's type: the spec binds them
     * to one type parameter T. A model that breaks this is invalid (ONNX Runtime refuses to load it); the kernels
     * would otherwise read each tensor in its own type and return numbers no reference defines.
     */
    public static void requireOneType(dev.sluice.kernels.InferContext ctx, String... names) {
        DType first = ctx.inputType(0).dtype();
        if (first == null) return;
        for (int i = 1; i < names.length && i < ctx.inputCount(); i++) {
            DType t = ctx.hasInput(i) ? ctx.inputType(i).dtype() : null;
            if (t != null && t != first) {
                throw new KernelException(ctx.opType() + " needs " + String.join(", ", names) + " of one type (the spec's T), got "
                    + names[0] + " " + first + " and " + names[i] + " " + t + ": the model is invalid");
            }
        }
    }

    public static void requireFloat(DType t, String what) {
        if (t != null && !t.isFloatingPoint()) {
            throw new KernelException(what + " needs a floating-point tensor, got " + t);
        }
    }

    /** A long[] attribute, or dflt when absent. */
    public static long[] ints(Attributes a, String name, long[] dflt) {
        long[] v = a.getInts(name);
        return v == null ? dflt : v;
    }

    public static long[] filled(int n, long v) {
        long[] r = new long[n];
        java.util.Arrays.fill(r, v);
        return r;
    }

    /** Known dim value or -1. */
    public static long known(TensorType t, int i) {
        Dim d = t.shape().dim(i);
        return d.isKnown() ? d.value() : -1;
    }

    public static Dim dimOrUnknown(long v) { return v < 0 ? Dim.UNKNOWN : Dim.of(v); }
}
