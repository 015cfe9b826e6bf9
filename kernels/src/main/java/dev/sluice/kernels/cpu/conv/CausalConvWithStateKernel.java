package dev.sluice.kernels.cpu.conv;

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
import java.util.List;

/**
 * CausalConvWithState (opset 27): a depthwise 1-D convolution over (batch, channels, length) whose left context is
 * the previous call's state, for streaming decoders. With k the kernel width and P = past_state (zeros when absent,
 * shape (B, C, k - 1)), the padded input is X' = concat(P, X) along length; then
 * {@code y[b,c,t] = bias[c] + sum_j w[c,0,j] * X'[b,c,t+j]}, optionally followed by SiLU (attribute activation:
 * none, silu, or its alias swish), and present_state is X's last k - 1 padded positions.
 *
 * <p>Sums run in double, rounded once to the output type; SiLU is applied to the value already rounded to the
 * output type, as ONNX's reference does (it casts the convolution's result first).
 */
final class CausalConvWithStateKernel implements OpKernel {
    @Override
    public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0), w = ctx.inputType(1);
        if (!x.shape().hasRank() || !w.shape().hasRank()) return List.of(x, TensorType.of(x.dtype(), SymShape.unknownDims(3)));
        Dim state = w.shape().dim(2) instanceof Dim.Known(long k) ? Dim.of(k - 1) : Dim.UNKNOWN;
        return List.of(x, TensorType.of(x.dtype(), SymShape.of(x.shape().dim(0), x.shape().dim(1), state)));
    }

    @Override
    public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0), w = ctx.input(1);
        Tensor bias = ctx.hasInput(2) ? ctx.input(2) : null, past = ctx.hasInput(3) ? ctx.input(3) : null;
        String act = ctx.attributes().getString("activation", "none");
        boolean silu = switch (act) {
            case "none" -> false;
            case "silu", "swish" -> true;
            default -> throw new KernelException(ctx.nodeName() + ": activation '" + act + "' is not none, silu or swish");
        };
        if (x.shape().rank() != 3 || w.shape().rank() != 3) {
            throw new KernelException(ctx.nodeName() + ": input " + x.shape() + " and weight " + w.shape() + " must both be rank 3");
        }
        int b = (int) x.shape().dim(0), c = (int) x.shape().dim(1), len = (int) x.shape().dim(2), k = (int) w.shape().dim(2);
        if (w.shape().dim(0) != c || w.shape().dim(1) != 1 || k < 1) {
            throw new KernelException(ctx.nodeName() + ": weight " + w.shape() + " is not (" + c + ", 1, k) with k >= 1");
        }
        if (past != null && !past.shape().equals(Shape.of(b, c, k - 1))) {
            throw new KernelException(ctx.nodeName() + ": past_state " + past.shape() + " is not (" + b + ", " + c + ", " + (k - 1) + ")");
        }
        DType dt = x.dtype();
        Tensor y = ctx.output(0, dt, x.shape()), state = ctx.output(1, dt, Shape.of(b, c, k - 1));
        int padded = len + k - 1;
        double[] row = new double[padded];
        for (int bi = 0; bi < b; bi++) {
            for (int ci = 0; ci < c; ci++) {
                long base = ((long) bi * c + ci);
                for (int t = 0; t < k - 1; t++) row[t] = past == null ? 0 : past.getDouble(base * (k - 1) + t);
                for (int t = 0; t < len; t++) row[k - 1 + t] = x.getDouble(base * len + t);
                double b0 = bias == null ? 0 : bias.getDouble(ci);
                for (int t = 0; t < len; t++) {
                    double s = 0;
                    for (int j = 0; j < k; j++) s += w.getDouble((long) ci * k + j) * row[t + j];
                    y.setDouble(base * len + t, s + b0);
                    if (silu) {
                        double v = y.getDouble(base * len + t);
                        y.setDouble(base * len + t, v / (1 + Math.exp(-v)));
                    }
                }
                for (int t = 0; t < k - 1; t++) state.setDouble(base * (k - 1) + t, row[len + t]);
            }
        }
    }
}
