package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * com.microsoft QLinearSoftmax (inputs X, X_scale, X_zp?, Y_scale, Y_zp?; attributes opset, axis) as ONNX Runtime
 * computes it: softmax is unchanged by a shift, so X's zero point plays no part; each row is shifted so its largest
 * value sits at the top of a 256-entry float table of {@code exp((d + shift) * x_scale)} for d = x - max in
 * [-255, 0], with {@code shift = max(0, ln(FLT_MAX / D) - 5) / x_scale} (D the reduced length) keeping the row sum
 * finite. The row sum is accumulated in float in element order; each output is
 * {@code rint(e * floor(1 / y_scale) / sum) + y_zp}, saturated.
 *
 * <p>The reduced axis: before opset 13 every axis from {@code axis} on (default 1), from opset 13 the one axis
 * (default -1). One difference from ORT, on purpose: ORT's int8 path wraps a value above 127 around to negative
 * (a 1/256 output scale with zero point -128 sends a probability of 1 to -128); this kernel saturates it to 127.
 */
final class QLinearSoftmaxKernel implements OpKernel {
    private static final ValueLayout.OfByte B = ValueLayout.JAVA_BYTE;

    @Override
    public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

    @Override
    public void execute(ExecContext ctx) {
        String where = ctx.opType() + " '" + ctx.nodeName() + "'";
        if (ctx.inputCount() < 4) throw new KernelException(where + " needs at least 4 inputs, got " + ctx.inputCount());
        if (!ctx.attributes().has("opset")) throw new KernelException(where + " needs the attribute opset");
        DType t = QLinearElementwiseKernels.eightBit(ctx, 0, "X");
        QParam px = QParam.read(ctx, 1, 2, t, "X"), py = QParam.read(ctx, 3, 4, t, "Y");
        Tensor x = ctx.input(0);
        int rank = x.rank();
        if (rank == 0) throw new KernelException(where + ": X must have rank >= 1");
        long opset = ctx.attributes().getInt("opset");
        int axis;
        try {
            axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", opset < 13 ? 1 : -1), rank);
        } catch (RuntimeException e) {
            throw new KernelException(where + ": axis " + ctx.attributes().getInt("axis", 0) + " out of range for rank " + rank);
        }
        Shape s = x.shape();
        // rows of D elements, element j of row (o, i) at (o * D + j) * inner + i
        long outer = s.product(0, axis), d = opset < 13 ? s.product(axis, rank) : s.dim(axis), inner = opset < 13 ? 1 : s.product(axis + 1, rank);
        Tensor y = ctx.output(0, t, s);
        if (x.elementCount() == 0) return;
        float[] table = table(px.scale(), d);
        float yScale = (float) Math.floor(1.0f / py.scale());
        MemorySegment xd = x.data(), yd = y.data();
        for (long o = 0; o < outer; o++) {
            for (long i = 0; i < inner; i++) {
                long base = o * d * inner + i;
                int max = Integer.MIN_VALUE;
                for (long j = 0; j < d; j++) max = Math.max(max, px.value(xd.get(B, base + j * inner)));
                float sum = 0;
                for (long j = 0; j < d; j++) sum += table[255 - max + px.value(xd.get(B, base + j * inner))];
                for (long j = 0; j < d; j++) {
                    float e = table[255 - max + px.value(xd.get(B, base + j * inner))];
                    double q = sum == 0 ? 0 : Math.rint(e * yScale / sum);
                    yd.set(B, base + j * inner, py.saturate(q));
                }
            }
        }
    }

    /** table[255 + d] = exp((d + shift) * xScale) for d in [-255, 0], as float (computed in double, as ORT does). */
    static float[] table(float xScale, long reduceLength) {
        double shift = Math.log(Float.MAX_VALUE / (float) reduceLength);
        shift = Math.max(0.0, shift - 5) / xScale;
        float[] t = new float[256];
        for (int i = 0; i < 256; i++) t[i] = (float) Math.exp((i - 255 + shift) * (double) xScale);
        return t;
    }
}
