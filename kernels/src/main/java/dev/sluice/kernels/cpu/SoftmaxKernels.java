package dev.sluice.kernels.cpu;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at {@code axis} (default 1) and
 * normalized over the whole second part; from 13 on it is normalized along the single axis (default -1).
 */
final class SoftmaxKernels {
    private SoftmaxKernels() {}

    static final class Softmax implements OpKernel {
        private final boolean log;

        Softmax(boolean log) { this.log = log; }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = ctx.inputType(0);
            NnArrays.requireFloat(x.dtype(), ctx.opType());
            return List.of(x);
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            NnArrays.requireFloat(x.dtype(), ctx.opType());
            Shape s = x.shape();
            int rank = s.rank();
            boolean legacy = ctx.opset() < 13;
            int axis = (int) ctx.attributes().getInt("axis", legacy ? 1 : -1);
            long outer, n, inner;
            if (rank == 0) {
                outer = 1; n = 1; inner = 1;
            } else {
                // a legacy axis may equal rank (the whole tensor is one row)
                int a = legacy && axis == rank ? rank : Shape.normalizeAxis(axis, rank);
                if (legacy) {
                    outer = s.product(0, a);
                    n = s.product(a, rank);
                    inner = 1;
                } else {
                    outer = s.product(0, a);
                    n = s.dim(a);
                    inner = s.product(a + 1, rank);
                }
            }
            Tensor y = ctx.output(0, x.dtype(), s);
            if (y.elementCount() == 0) return;
            int ni = Math.toIntExact(n);
            long fin = inner;
            boolean f32 = x.dtype() == DType.FLOAT32;
            ctx.parallelism().forEach(Math.toIntExact(outer * inner), 4L * ni, t -> {
                long o = t / fin, i = t % fin;
                long base = o * ni * fin + i;
                double[] v = new double[ni];
                MemorySegment xd = x.data(), yd = y.data();
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < ni; j++) {
                    long at = base + j * fin;
                    v[j] = f32 ? xd.getAtIndex(NnArrays.F32, at) : x.getDouble(at);
                    if (v[j] > max) max = v[j];
                }
                double sum = 0;
                for (int j = 0; j < ni; j++) sum += Math.exp(v[j] - max);
                double logSum = Math.log(sum);
                for (int j = 0; j < ni; j++) {
                    double r = log ? v[j] - max - logSum : Math.exp(v[j] - max) / sum;
                    long at = base + j * fin;
                    if (f32) yd.setAtIndex(NnArrays.F32, at, (float) r);
                    else y.setDouble(at, r);
                }
            });
        }
    }
}
