package dev.sluice.kernels.cpu.contrib;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;

/** The operand checks the contrib kernels share: float32 only, and per-column parameters of the hidden size. */
final class Operands {
    private Operands() {}

    /** Input i's inferred type, refused when it is known and not float32. */
    static TensorType float32(InferContext ctx, int i) {
        TensorType t = ctx.inputType(i);
        if (t.dtype() != null && t.dtype() != DType.FLOAT32) {
            throw new KernelException(ctx.opType() + " supports float32 only; input " + i + " is " + t);
        }
        return t;
    }

    /** The tensor, refused unless it is float32. */
    static Tensor float32(Tensor t, String op, String what) {
        if (t.dtype() != DType.FLOAT32) throw new KernelException(op + " supports float32 only; " + what + " is " + t.type());
        return t;
    }

    /**
     * A per-column parameter (gamma, beta, a bias) of {@code n} float32 elements: a 1-D tensor, or one whose leading
     * dims are all 1. Returns its memory (a tensor's own: native, see AttentionKernel's note on heap segments).
     */
    static MemorySegment columns(Tensor t, int n, String op, String what) {
        float32(t, op, what);
        boolean leadingOnes = t.rank() >= 1 && t.shape().dim(t.rank() - 1) == n && t.elementCount() == n;
        if (!leadingOnes) throw new KernelException(op + " " + what + " must have shape [" + n + "] (the last dim of the input), got " + t.shape());
        return t.data();
    }

    /** The last dim of a tensor of rank >= 1, refused for scalars. */
    static int lastDim(Tensor t, String op, String what) {
        if (t.rank() < 1) throw new KernelException(op + " " + what + " must have rank >= 1, got a scalar");
        return Math.toIntExact(t.shape().dim(t.rank() - 1));
    }
}
