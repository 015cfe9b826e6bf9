package dev.sluice.kernels.cpu.elementwise;

import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.ElementwiseMath;
import java.util.List;

/**
 * SwiGLU (opset 28): Y = A·sigmoid(alpha·A)·B, the Swish-gated linear unit of Llama-style MLPs, with gate A and
 * value B of one float type and one shape (the op does not broadcast). Each element is computed in double and
 * rounded once. Reads A[i] and B[i] before writing Y[i], so Y may take over A's memory.
 */
final class SwiGluKernel implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

    @Override public boolean inPlaceSafe() { return true; }

    @Override public void execute(ExecContext ctx) {
        Tensor a = ctx.input(0), b = ctx.input(1);
        String op = ctx.opType();
        if (!a.dtype().isFloatingPoint()) throw new KernelException(op + " needs float inputs, got " + a.dtype());
        ElementwiseOps.requireSame(op, a, b);
        if (!a.shape().equals(b.shape())) {
            throw new KernelException(op + " needs A and B of one shape (it does not broadcast), got " + a.shape() + " and " + b.shape());
        }
        double alpha = ctx.attributes().getFloat("alpha", 1.0f);
        Tensor y = ctx.output(0, a.dtype(), a.shape());
        ElementwiseUnaryOps.chunks(ElementwiseOps.par(ctx), a.elementCount(), (from, to) -> {
            for (long i = from; i < to; i++) {
                double g = a.getDouble(i);
                y.setDouble(i, g * ElementwiseMath.sigmoid(alpha * g) * b.getDouble(i));
            }
        });
    }
}
