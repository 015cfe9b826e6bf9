package dev.sluice.kernels.cpu.shape;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * The shape / data-movement / indexing family: ops that move, select or create elements without arithmetic on
 * them. Kernels live in {@link ShapeViewKernels} (reshaping and metadata), {@link ShapeSourceKernels} (ops that
 * make tensors: Constant, Range, Cast...), {@link MovementKernels} (strided copies) and {@link IndexKernels}
 * (gather / scatter / selection); this class registers them and holds what they share.
 */
public final class ShapeOps {
    private ShapeOps() {}

    public static void register(OpRegistry r) {
        ShapeViewKernels.register(r);
        ShapeSourceKernels.register(r);
        MovementKernels.register(r);
        IndexKernels.register(r);
    }

    /** An op given as its two functions. */
    record FnKernel(Function<InferContext, List<TensorType>> inferFn, Consumer<ExecContext> execFn, boolean inPlace)
            implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return inferFn.apply(ctx); }
        @Override public void execute(ExecContext ctx) { execFn.accept(ctx); }
        @Override public boolean inPlaceSafe() { return inPlace; }
    }

    static OpKernel kernel(Function<InferContext, List<TensorType>> infer, Consumer<ExecContext> exec) {
        return new FnKernel(infer, exec, false);
    }

    /** An op whose output 0 is input 0's bytes unchanged (Reshape, Identity...), so it may reuse that memory. */
    static OpKernel sameBytesKernel(Function<InferContext, List<TensorType>> infer, Consumer<ExecContext> exec) {
        return new FnKernel(infer, exec, true);
    }

    // ---- inference helpers ----

    static TensorType inType(InferContext c, int i) {
        TensorType t = c.inputType(i);
        return t == null ? TensorType.UNKNOWN : t;
    }

    /** The constant integer values of optional input i, or null if absent or not constant. */
    static long[] constLongs(InferContext c, int i) {
        if (i >= c.inputCount() || !c.hasInput(i)) return null;
        Tensor t = c.constantInput(i);
        return t == null ? null : t.toLongArray();
    }

    static boolean present(InferContext c, int i) { return i < c.inputCount() && c.hasInput(i); }

    static boolean present(ExecContext c, int i) { return i < c.inputCount() && c.hasInput(i); }

    static List<TensorType> one(DType dtype, SymShape shape) { return List.of(TensorType.of(dtype, shape)); }

    static List<TensorType> one(TensorType t) { return List.of(t); }

    /** Length of a 1-D input from its type, or -1 when that is not known. */
    static long length1d(InferContext c, int i) {
        if (!present(c, i)) return -1;
        SymShape s = inType(c, i).shape();
        if (s.hasRank() && s.rank() == 1 && s.dim(0).isKnown()) return s.dim(0).value();
        return -1;
    }

    static List<Dim> dims(SymShape s) { return new ArrayList<>(s.dims()); }

    // ---- execution helpers ----

    static int axis(long axis, int rank) {
        if (axis < -rank || axis >= rank) throw new KernelException("axis " + axis + " out of range for rank " + rank);
        return (int) (axis < 0 ? axis + rank : axis);
    }

    /** Normalizes axes and rejects duplicates. */
    static int[] axes(long[] axes, int rank) {
        int[] r = new int[axes.length];
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < axes.length; i++) {
            r[i] = axis(axes[i], rank);
            if (seen[r[i]]) throw new KernelException("axis " + axes[i] + " given twice");
            seen[r[i]] = true;
        }
        return r;
    }

    /** The integer list of an input since {@code sinceOpset}, the attribute before; null if neither is given. */
    static long[] intsArgument(ExecContext c, int input, String attr, int sinceOpset) {
        if (c.opset() >= sinceOpset) return present(c, input) ? c.input(input).toLongArray() : null;
        return c.attributes().getInts(attr);
    }

    static long[] intsArgument(InferContext c, int input, String attr, int sinceOpset) {
        if (c.opset() >= sinceOpset) return constLongs(c, input);
        return c.attributes().getInts(attr);
    }

    static boolean intsArgumentKnown(InferContext c, int input, int sinceOpset) {
        return c.opset() < sinceOpset || !present(c, input) || c.constantInput(input) != null;
    }

    static DType indexCheck(Tensor indices) {
        DType d = indices.dtype();
        if (d != DType.INT64 && d != DType.INT32) throw new KernelException("indices must be int32 or int64, got " + d);
        return d;
    }

    /** Wraps a negative index and bounds-checks it. */
    static long index(long idx, long dim, String what) {
        long r = idx < 0 ? idx + dim : idx;
        if (r < 0 || r >= dim) throw new KernelException(what + " index " + idx + " out of range [" + -dim + ", " + (dim - 1) + "]");
        return r;
    }
}
