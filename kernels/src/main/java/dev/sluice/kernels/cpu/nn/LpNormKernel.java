package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.List;

/**
 * LpNormalization: each lane along the axis (default -1) divided by its L1 (sum of |x|) or L2 norm, p = 1 or 2
 * (the only orders the spec defines). A lane whose norm is zero gives zeros, as the spec (opset 22) and ONNX
 * Runtime define it, not NaN. Norms are accumulated in double; the output has the input's float type.
 */
final class LpNormKernel implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0);
        if (x.dtype() != null) NnArrays.requireFloat(x.dtype(), ctx.opType());
        return List.of(x);
    }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0);
        String op = ctx.opType();
        NnArrays.requireFloat(x.dtype(), op);
        long p = ctx.attributes().getInt("p", 2);
        if (p != 1 && p != 2) throw new KernelException(op + " p must be 1 or 2, got " + p);
        int rank = x.rank();
        if (rank == 0) throw new KernelException(op + " needs an input of rank >= 1, got a scalar");
        int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), rank);
        long outer = x.shape().product(0, axis), len = x.shape().dim(axis), inner = x.shape().product(axis + 1, rank);
        Tensor y = ctx.output(0, x.dtype(), x.shape());
        long lanes = outer * inner;
        if (lanes == 0 || len == 0) return;
        Parallelism par = ctx.parallelism() == null ? Parallelism.SEQUENTIAL : ctx.parallelism();
        int tasks = (int) Math.min(lanes, Math.max(1, par.threads() * 4L));
        par.forEach(tasks, lanes / tasks * len * 2, t -> {
            for (long lane = lanes * t / tasks; lane < lanes * (t + 1) / tasks; lane++) {
                long base = lane / inner * len * inner + lane % inner;
                double norm = 0;
                for (long k = 0; k < len; k++) {
                    double v = x.getDouble(base + k * inner);
                    norm += p == 1 ? Math.abs(v) : v * v;
                }
                if (p == 2) norm = Math.sqrt(norm);
                for (long k = 0; k < len; k++) {
                    long at = base + k * inner;
                    y.setDouble(at, norm == 0 ? 0 : x.getDouble(at) / norm);
                }
            }
        });
    }
}
