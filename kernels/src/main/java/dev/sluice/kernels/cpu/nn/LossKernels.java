package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.List;

/** NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (opset 12+), sharing one weighted NLL core. */
final class LossKernels {
    private LossKernels() {}

    static void register(dev.sluice.kernels.OpRegistry r) {
        r.register("NegativeLogLikelihoodLoss", new Loss(false));
        r.register("SoftmaxCrossEntropyLoss", new Loss(true));
    }

    static final class Loss implements OpKernel {
        private final boolean softmax;

        Loss(boolean softmax) { this.softmax = softmax; }

        @Override
        public List<TensorType> infer(InferContext ctx) {
            String reduction = ctx.attributes().getString("reduction", "mean");
            TensorType x = ctx.inputType(0);
            List<TensorType> out = new ArrayList<>();
            SymShape lossShape;
            if (!reduction.equals("none")) lossShape = SymShape.of();
            else if (ctx.inputType(1).shape().hasRank()) lossShape = ctx.inputType(1).shape();
            else if (x.shape().hasRank()) {
                List<Dim> d = new ArrayList<>(x.shape().dims());
                d.remove(1);
                lossShape = new SymShape(d);
            } else lossShape = SymShape.UNKNOWN_RANK;
            out.add(TensorType.of(x.dtype(), lossShape));
            if (ctx.outputCount() > 1) out.add(x);
            return out;
        }

        @Override
        public void execute(ExecContext ctx) {
            Attributes at = ctx.attributes();
            String reduction = at.getString("reduction", "mean");
            if (!reduction.equals("none") && !reduction.equals("sum") && !reduction.equals("mean")) {
                throw new KernelException("unknown reduction '" + reduction + "'");
            }
            boolean hasIgnore = at.has("ignore_index");
            long ignore = at.getInt("ignore_index", 0);
            Tensor x = ctx.input(0), target = ctx.input(1);
            Tensor weight = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
            Shape xs = x.shape();
            if (xs.rank() < 2) throw new KernelException("input must have rank >= 2, got " + xs);
            int n = (int) xs.dim(0), c = (int) xs.dim(1);
            int inner = (int) xs.product(2, xs.rank());
            if (target.elementCount() != (long) n * inner) {
                throw new KernelException("target shape " + target.shape() + " does not match input " + xs);
            }
            if (weight != null && weight.elementCount() != c) throw new KernelException("weight shape " + weight.shape() + " for " + c + " classes");
            double[] v = x.toDoubleArray();
            if (softmax) logSoftmaxAxis1(v, n, c, inner);
            double[] loss = new double[n * inner];
            double lossSum = 0, weightSum = 0;
            for (int b = 0; b < n; b++) {
                for (int k = 0; k < inner; k++) {
                    int idx = b * inner + k;
                    long t = target.getLong(idx);
                    if (hasIgnore && t == ignore) { loss[idx] = 0; continue; }
                    if (t < 0 || t >= c) throw new KernelException("target " + t + " outside [0, " + c + ")");
                    double w = weight == null ? 1.0 : weight.getDouble(t);
                    double l = -v[(b * c + (int) t) * inner + k] * w;
                    loss[idx] = l;
                    lossSum += l;
                    weightSum += w;
                }
            }
            DType dt = x.dtype();
            if (reduction.equals("none")) {
                Tensor o = ctx.output(0, dt, target.shape());
                for (int i = 0; i < loss.length; i++) o.setDouble(i, loss[i]);
            } else {
                Tensor o = ctx.output(0, dt, Shape.SCALAR);
                o.setDouble(0, reduction.equals("sum") ? lossSum : lossSum / weightSum);
            }
            if (softmax && ctx.outputCount() > 1) {
                Tensor lp = ctx.output(1, dt, xs);
                for (int i = 0; i < v.length; i++) lp.setDouble(i, v[i]);
            }
        }
    }

    /** In place: v[n, c, inner] becomes its log-softmax over c. */
    static void logSoftmaxAxis1(double[] v, int n, int c, int inner) {
        for (int b = 0; b < n; b++) {
            for (int k = 0; k < inner; k++) {
                int base = b * c * inner + k;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < c; j++) max = Math.max(max, v[base + j * inner]);
                double s = 0;
                for (int j = 0; j < c; j++) s += Math.exp(v[base + j * inner] - max);
                double lse = max + Math.log(s);
                for (int j = 0; j < c; j++) v[base + j * inner] -= lse;
            }
        }
    }
}
