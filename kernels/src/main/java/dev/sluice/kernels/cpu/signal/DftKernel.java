package dev.sluice.kernels.cpu.signal;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
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
import java.util.ArrayList;
import java.util.List;

/**
 * DFT: a one-dimensional discrete Fourier transform along one axis of a real [..., 1] or complex [..., 2]
 * signal (the last dimension holds the components). Opset 17-19 name the axis by attribute (default 1); opset 20
 * by an optional third input (default -2). The axis counts the component dimension in the rank, and may not be it.
 *
 * <p>The transform length n is the dft_length input, else the axis length, except for the inverse of a one-sided
 * spectrum, whose default is 2·(axis length - 1). The signal is zero-padded or truncated to n along the axis.
 * Forward: n complex bins, or the first n/2+1 with onesided=1. Inverse: scaled by 1/n, n complex samples, or with
 * onesided=1 (numpy's irfft) n real samples from the first n/2+1 bins taken as half of a Hermitian spectrum, the
 * imaginary parts of the DC and (even n) Nyquist bins ignored. A forward onesided=1 on a complex input keeps the
 * first n/2+1 bins, as the ONNX reference does (the spec only says such a spectrum has no symmetry to exploit). All
 * arithmetic is in double; the output has the input's type.
 */
final class DftKernel implements OpKernel {
    /** Where the transform runs and what it produces, from the input shape, attributes and scalar inputs. */
    private record Geometry(int axis, long inLen, int n, long outLen, int outComponents) {}

    @Override
    public List<TensorType> infer(InferContext ctx) {
        TensorType in = ctx.inputType(0);
        SymShape s = in.shape();
        if (!s.hasRank()) return List.of(new TensorType(in.dtype(), SymShape.UNKNOWN_RANK));
        int rank = s.rank();
        Attributes a = ctx.attributes();
        boolean inverse = a.getInt("inverse", 0) != 0, onesided = a.getInt("onesided", 0) != 0;
        int outComponents = inverse && onesided ? 1 : 2;
        Long axisValue = ctx.opset() < 20 ? Long.valueOf(a.getInt("axis", 1))
            : SignalOps.absent(ctx, 2) ? Long.valueOf(-2) : SignalOps.constantScalar(ctx, 2);
        List<Dim> dims = new ArrayList<>(s.dims());
        dims.set(rank - 1, Dim.of(outComponents));
        if (axisValue == null) {
            for (int i = 0; i < rank - 1; i++) dims.set(i, Dim.UNKNOWN);
            return List.of(new TensorType(in.dtype(), new SymShape(dims)));
        }
        int axis = normalizeAxis(axisValue, rank, ctx.opType());
        Long n = SignalOps.absent(ctx, 1) ? null : SignalOps.constantScalar(ctx, 1);
        Dim out = Dim.UNKNOWN;
        if (n == null && SignalOps.absent(ctx, 1) && s.dim(axis) instanceof Dim.Known k) {
            n = inverse && onesided ? 2 * (k.value() - 1) : k.value();
        }
        if (n != null) out = Dim.of(!inverse && onesided ? n / 2 + 1 : n);
        dims.set(axis, out);
        return List.of(new TensorType(in.dtype(), new SymShape(dims)));
    }

    @Override
    public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0);
        String op = ctx.opType();
        if (!x.dtype().isFloatingPoint()) throw new KernelException(op + " input must be a float type, got " + x.dtype());
        int rank = x.rank();
        if (rank < 2) throw new KernelException(op + " input must have rank >= 2 ([..., signal, 1 or 2]), got " + x.shape());
        int components = (int) x.shape().dim(rank - 1);
        if (components != 1 && components != 2) {
            throw new KernelException(op + " input's last dimension must be 1 (real) or 2 (complex), got " + x.shape());
        }
        Attributes a = ctx.attributes();
        boolean inverse = a.getInt("inverse", 0) != 0, onesided = a.getInt("onesided", 0) != 0;
        long axisValue = ctx.opset() < 20 ? a.getInt("axis", 1) : orDefault(SignalOps.optionalScalar(ctx, 2, "axis"), -2);
        int axis = normalizeAxis(axisValue, rank, op);
        long inLen = x.shape().dim(axis);
        Long given = SignalOps.optionalScalar(ctx, 1, "dft_length");
        long nValue = given != null ? given : inverse && onesided ? 2 * (inLen - 1) : inLen;
        int n = SignalOps.positiveInt(nValue, op, given != null ? "dft_length" : "length (from axis " + axis + " of " + x.shape() + ")");
        long outLen = !inverse && onesided ? n / 2 + 1 : n;
        Geometry g = new Geometry(axis, inLen, n, outLen, inverse && onesided ? 1 : 2);
        long[] od = x.shape().dims();
        od[axis] = g.outLen();
        od[rank - 1] = g.outComponents();
        Tensor y = ctx.output(0, x.dtype(), Shape.of(od));
        run(x, components, y, g, inverse, onesided, ctx.parallelism());
    }

    private static long orDefault(Long v, long dflt) { return v == null ? dflt : v; }

    private static int normalizeAxis(long axis, int rank, String op) {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a > rank - 2) {
            throw new KernelException(op + " axis " + axis + " is outside [-" + rank + ", -2] and [0, " + (rank - 2)
                + "] for rank " + rank + " (the last dimension holds the components)");
        }
        return (int) a;
    }

    /** Transforms every lane (each position off the axis) of x into y; lanes are spread over the pool. */
    private static void run(Tensor x, int components, Tensor y, Geometry g, boolean inverse, boolean onesided,
                            Parallelism par) {
        Shape s = x.shape();
        long outer = s.product(0, g.axis()), inner = s.product(g.axis() + 1, s.rank() - 1);
        long lanes = outer * inner;
        if (lanes == 0) return;
        Fft fft = Fft.of(g.n());
        Parallelism p = par == null ? Parallelism.SEQUENTIAL : par;
        int tasks = (int) Math.min(lanes, Math.max(1, p.threads() * 4L));
        long work = (lanes / tasks) * g.n() * (32 - Integer.numberOfLeadingZeros(g.n()));
        p.forEach(tasks, work, t -> {
            double[] re = new double[g.n()], im = new double[g.n()];
            Fft.Scratch scratch = fft.newScratch();
            for (long lane = lanes * t / tasks; lane < lanes * (t + 1) / tasks; lane++) {
                long o = lane / inner, i = lane % inner;
                long inBase = o * g.inLen() * inner + i, outBase = o * g.outLen() * inner + i;
                if (inverse && onesided) {
                    hermitian(x, components, inBase, inner, g.inLen(), g.n(), re, im);
                } else {
                    gather(x, components, inBase, inner, g.inLen(), g.n(), re, im);
                }
                fft.transform(re, im, inverse, scratch);
                double scale = inverse ? 1.0 / g.n() : 1.0;
                for (long k = 0; k < g.outLen(); k++) {
                    long at = (outBase + k * inner) * g.outComponents();
                    y.setDouble(at, re[(int) k] * scale);
                    if (g.outComponents() == 2) y.setDouble(at + 1, im[(int) k] * scale);
                }
            }
        });
    }

    /** re/im ← the lane starting at base (step inner), zero-padded or truncated to n. */
    private static void gather(Tensor x, int components, long base, long inner, long len, int n, double[] re, double[] im) {
        for (int k = 0; k < n; k++) {
            if (k < len) {
                long at = (base + k * inner) * components;
                re[k] = x.getDouble(at);
                im[k] = components == 2 ? x.getDouble(at + 1) : 0;
            } else {
                re[k] = 0;
                im[k] = 0;
            }
        }
    }

    /**
     * re/im ← the full spectrum of length n whose first n/2+1 bins are the lane (zero past its end) and whose
     * other bins are their conjugate mirror images, so that the inverse transform is real.
     */
    private static void hermitian(Tensor x, int components, long base, long inner, long len, int n, double[] re, double[] im) {
        int half = n / 2;
        for (int k = 0; k <= half; k++) {
            if (k < len) {
                long at = (base + k * inner) * components;
                re[k] = x.getDouble(at);
                im[k] = components == 2 ? x.getDouble(at + 1) : 0;
            } else {
                re[k] = 0;
                im[k] = 0;
            }
        }
        im[0] = 0;
        if (n % 2 == 0) im[half] = 0;
        for (int k = half + 1; k < n; k++) {
            re[k] = re[n - k];
            im[k] = -im[n - k];
        }
    }
}
