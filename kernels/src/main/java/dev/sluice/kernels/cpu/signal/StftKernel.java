package dev.sluice.kernels.cpu.signal;

import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.List;

/**
 * STFT (opset 17): the short-time Fourier transform of a real [batch, length, 1] or complex [batch, length, 2]
 * signal. Frame f covers samples [f·frame_step, f·frame_step + frame_length), multiplied by the window (all ones
 * when absent); frames = (length - frame_length) / frame_step + 1, so a partial last frame is dropped. Each frame
 * gets a DFT of length frame_length: all of its bins, or the first frame_length/2+1 with onesided=1 (the default).
 * Output [batch, frames, bins, 2] in the signal's type.
 *
 * <p>frame_length defaults to the window's length, and without either to the whole signal (one frame). A window
 * whose length differs from frame_length is refused: the spec does not say how such a window lines up with a
 * frame.
 */
final class StftKernel implements OpKernel {
    /** The framing of one call. */
    private record Framing(long step, int frameLength, long frames, long bins) {}

    @Override
    public List<TensorType> infer(InferContext ctx) {
        TensorType in = ctx.inputType(0);
        SymShape s = in.shape();
        boolean onesided = ctx.attributes().getInt("onesided", 1) != 0;
        Dim batch = s.hasRank() && s.rank() == 3 ? s.dim(0) : Dim.UNKNOWN;
        Long step = SignalOps.constantScalar(ctx, 1);
        Long frameLength = SignalOps.absent(ctx, 3) ? null : SignalOps.constantScalar(ctx, 3);
        if (frameLength == null && SignalOps.absent(ctx, 3) && !SignalOps.absent(ctx, 2)) {
            SymShape w = ctx.inputType(2).shape();
            if (w.hasRank() && w.rank() == 1 && w.dim(0) instanceof Dim.Known k) frameLength = k.value();
        }
        if (frameLength == null && SignalOps.absent(ctx, 3) && SignalOps.absent(ctx, 2) && s.hasRank() && s.rank() == 3
                && s.dim(1) instanceof Dim.Known len) {
            frameLength = len.value(); // neither given: one frame of the whole signal
        }
        Dim frames = Dim.UNKNOWN, bins = Dim.UNKNOWN;
        if (frameLength != null) {
            bins = Dim.of(onesided ? frameLength / 2 + 1 : frameLength);
            if (step != null && step > 0 && s.hasRank() && s.rank() == 3 && s.dim(1) instanceof Dim.Known len
                    && len.value() >= frameLength) {
                frames = Dim.of((len.value() - frameLength) / step + 1);
            }
        }
        return List.of(new TensorType(in.dtype(), SymShape.of(batch, frames, bins, Dim.of(2))));
    }

    @Override
    public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0);
        String op = ctx.opType();
        if (!x.dtype().isFloatingPoint()) throw new KernelException(op + " signal must be a float type, got " + x.dtype());
        if (x.rank() != 3 || (x.shape().dim(2) != 1 && x.shape().dim(2) != 2)) {
            throw new KernelException(op + " signal must be [batch, length, 1 or 2], got " + x.shape());
        }
        int components = (int) x.shape().dim(2);
        long length = x.shape().dim(1);
        long step = SignalOps.scalar(ctx.input(1), op, "frame_step");
        if (step < 1) throw new KernelException(op + " frame_step must be positive, got " + step);
        Tensor window = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
        if (window != null && window.rank() != 1) throw new KernelException(op + " window must be 1-D, got " + window.shape());
        if (window != null && !window.dtype().isFloatingPoint()) {
            throw new KernelException(op + " window must be a float type, got " + window.dtype());
        }
        Long given = SignalOps.optionalScalar(ctx, 3, "frame_length");
        long fl = given != null ? given : window != null ? window.shape().dim(0) : length;
        int frameLength = SignalOps.positiveInt(fl, op, "frame_length");
        if (window != null && window.shape().dim(0) != frameLength) {
            throw new KernelException(op + " window has " + window.shape().dim(0) + " samples but frame_length is "
                + frameLength + "; only a window of the frame's length is supported");
        }
        if (length < frameLength) {
            throw new KernelException(op + " signal of " + length + " samples is shorter than one frame of " + frameLength);
        }
        boolean onesided = ctx.attributes().getInt("onesided", 1) != 0;
        Framing f = new Framing(step, frameLength, (length - frameLength) / step + 1,
            onesided ? frameLength / 2 + 1 : frameLength);
        long batch = x.shape().dim(0);
        Tensor y = ctx.output(0, x.dtype(), Shape.of(batch, f.frames(), f.bins(), 2));
        double[] w = new double[frameLength];
        for (int k = 0; k < frameLength; k++) w[k] = window == null ? 1.0 : window.getDouble(k);
        run(x, components, w, y, f, batch, ctx.parallelism());
    }

    private static void run(Tensor x, int components, double[] w, Tensor y, Framing f, long batch, Parallelism par) {
        long count = batch * f.frames();
        if (count == 0) return;
        long length = x.shape().dim(1);
        int n = f.frameLength();
        Fft fft = Fft.of(n);
        Parallelism p = par == null ? Parallelism.SEQUENTIAL : par;
        int tasks = (int) Math.min(count, Math.max(1, p.threads() * 4L));
        long work = (count / tasks) * n * (32 - Integer.numberOfLeadingZeros(n));
        p.forEach(tasks, work, t -> {
            double[] re = new double[n], im = new double[n];
            Fft.Scratch scratch = fft.newScratch();
            for (long c = count * t / tasks; c < count * (t + 1) / tasks; c++) {
                long b = c / f.frames(), frame = c % f.frames();
                long start = b * length + frame * f.step();
                for (int k = 0; k < n; k++) {
                    long at = (start + k) * components;
                    re[k] = x.getDouble(at) * w[k];
                    im[k] = components == 2 ? x.getDouble(at + 1) * w[k] : 0;
                }
                fft.transform(re, im, false, scratch);
                long out = c * f.bins() * 2;
                for (int k = 0; k < f.bins(); k++) {
                    y.setDouble(out + 2L * k, re[k]);
                    y.setDouble(out + 2L * k + 1, im[k]);
                }
            }
        });
    }
}
