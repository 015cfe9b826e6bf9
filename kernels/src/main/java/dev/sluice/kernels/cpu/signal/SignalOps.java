package dev.sluice.kernels.cpu.signal;

import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;

/**
 * The signal-processing family: DFT (opset 17 with the axis attribute, opset 20 with the axis input), STFT and
 * MelWeightMatrix, the ops of audio front ends. All transforms share {@link Fft}, which is O(n log n) for every
 * length. (The Hann/Hamming/Blackman window generators live with the nn family.)
 */
public final class SignalOps {
    private SignalOps() {}

    public static void register(OpRegistry r) {
        r.register("DFT", new DftKernel());
        r.register("STFT", new StftKernel());
        r.register("MelWeightMatrix", new MelWeightMatrixKernel());
    }

    /** Optional input i as a one-element integer, or null when absent or given as an empty name. */
    static Long optionalScalar(ExecContext ctx, int i, String what) {
        if (i >= ctx.inputCount() || !ctx.hasInput(i)) return null;
        return scalar(ctx.input(i), ctx.opType(), what);
    }

    /** The value of a one-element integer tensor, or an error naming the op and the input. */
    static long scalar(Tensor t, String op, String what) {
        if (t.elementCount() != 1) throw new KernelException(op + " " + what + " must be a scalar, got shape " + t.shape());
        if (!t.dtype().isInteger()) throw new KernelException(op + " " + what + " must be an integer, got " + t.dtype());
        return t.getLong(0);
    }

    /** Optional input i as a constant one-element integer known to inference, or null. */
    static Long constantScalar(InferContext ctx, int i) {
        if (i >= ctx.inputCount() || !ctx.hasInput(i)) return null;
        Tensor t = ctx.constantInput(i);
        if (t == null || t.elementCount() != 1 || !t.dtype().isInteger()) return null;
        return t.getLong(0);
    }

    /** True when inference can tell input i is absent (so a default applies), false when present or unsure. */
    static boolean absent(InferContext ctx, int i) { return i >= ctx.inputCount() || !ctx.hasInput(i); }

    /** A length-like value as an int, or an error naming what it is. */
    static int positiveInt(long v, String op, String what) {
        if (v < 1 || v > Fft.MAX_LENGTH) throw new KernelException(op + " " + what + " " + v + " is outside [1, " + Fft.MAX_LENGTH + "]");
        return (int) v;
    }
}
