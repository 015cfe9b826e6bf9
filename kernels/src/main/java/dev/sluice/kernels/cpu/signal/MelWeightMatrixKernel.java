package dev.sluice.kernels.cpu.signal;

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
 * MelWeightMatrix (opset 17): the [dft_length/2+1, num_mel_bins] matrix that maps a one-sided magnitude
 * spectrum to mel bands, as the ONNX reference defines it. num_mel_bins + 2 points evenly spaced on the mel
 * scale (mel = 2595·log10(1 + hz/700)) from lower_edge_hertz, with a step of (mel(upper) - mel(lower)) /
 * (num_mel_bins + 2), are mapped back to hertz and to spectrogram bins floor((dft_length + 1)·hz /
 * sample_rate); band i is the triangle rising from bin point i to 1 at point i+1 and falling to 0 at point i+2.
 * Computed in double, stored in output_datatype (float by default).
 */
final class MelWeightMatrixKernel implements OpKernel {
    private static DType outType(InferContext ctx) { return outType(ctx.attributes().getInt("output_datatype", 1), ctx.opType()); }

    private static DType outType(long code, String op) {
        if (!DType.isSupportedOnnx((int) code) || !DType.fromOnnx((int) code).isFloatingPoint()) {
            throw new KernelException(op + " output_datatype " + DType.onnxName((int) code) + " is not a supported float type");
        }
        return DType.fromOnnx((int) code);
    }

    @Override
    public List<TensorType> infer(InferContext ctx) {
        Long mels = SignalOps.constantScalar(ctx, 0), dft = SignalOps.constantScalar(ctx, 1);
        Dim rows = dft == null ? Dim.UNKNOWN : Dim.of(dft / 2 + 1);
        Dim cols = mels == null ? Dim.UNKNOWN : Dim.of(mels);
        return List.of(new TensorType(outType(ctx), SymShape.of(rows, cols)));
    }

    @Override
    public void execute(ExecContext ctx) {
        String op = ctx.opType();
        DType dt = outType(ctx.attributes().getInt("output_datatype", 1), op);
        long mels = SignalOps.scalar(ctx.input(0), op, "num_mel_bins");
        long dft = SignalOps.scalar(ctx.input(1), op, "dft_length");
        long rate = SignalOps.scalar(ctx.input(2), op, "sample_rate");
        double lower = hertz(ctx.input(3), op, "lower_edge_hertz"), upper = hertz(ctx.input(4), op, "upper_edge_hertz");
        if (mels < 1) throw new KernelException(op + " num_mel_bins must be positive, got " + mels);
        if (dft < 1) throw new KernelException(op + " dft_length must be positive, got " + dft);
        if (rate < 1) throw new KernelException(op + " sample_rate must be positive, got " + rate);
        if (!(lower >= 0 && lower <= upper)) {
            throw new KernelException(op + " needs 0 <= lower_edge_hertz <= upper_edge_hertz, got " + lower + " and " + upper);
        }
        long rows = dft / 2 + 1;
        if (rows * mels > Integer.MAX_VALUE) throw new KernelException(op + " output " + rows + "x" + mels + " is too large");
        Tensor out = ctx.output(0, dt, Shape.of(rows, mels));
        double[] w = weights((int) mels, dft, rate, lower, upper, op);
        for (int i = 0; i < w.length; i++) out.setDouble(i, w[i]);
    }

    private static double hertz(Tensor t, String op, String what) {
        if (t.elementCount() != 1) throw new KernelException(op + " " + what + " must be a scalar, got shape " + t.shape());
        return t.getDouble(0);
    }

    private static double mel(double hz) { return 2595 * Math.log1p(hz / 700) / Math.log(10); }

    private static double hz(double mel) { return 700 * Math.expm1(mel / 2595 * Math.log(10)); }

    /** The row-major [dft/2+1, mels] weights. */
    static double[] weights(int mels, long dft, long rate, double lower, double upper, String op) {
        int rows = (int) (dft / 2 + 1);
        double low = mel(lower), step = (mel(upper) - low) / (mels + 2);
        long[] bin = new long[mels + 2];
        for (int i = 0; i < bin.length; i++) {
            bin[i] = (long) Math.floor((dft + 1) * hz(i * step + low) / rate);
            if (bin[i] < 0 || bin[i] >= rows) {
                throw new KernelException(op + " mel point " + i + " falls on spectrogram bin " + bin[i] + ", outside [0, "
                    + rows + "): upper_edge_hertz is above the Nyquist frequency of sample_rate " + rate);
            }
        }
        double[] w = new double[rows * mels];
        for (int i = 0; i < mels; i++) {
            long left = bin[i], center = bin[i + 1], right = bin[i + 2];
            if (center == left) {
                w[(int) center * mels + i] = 1;
            } else {
                for (long j = left; j <= center; j++) w[(int) j * mels + i] = (double) (j - left) / (center - left);
            }
            for (long j = center; j < right; j++) w[(int) j * mels + i] = (double) (right - j) / (right - center);
        }
        return w;
    }
}
