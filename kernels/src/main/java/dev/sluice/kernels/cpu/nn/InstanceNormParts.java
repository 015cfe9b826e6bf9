package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.PartialSums;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.List;

/**
 * InstanceNormalization's arithmetic, one (image, channel) plane at a time, and the three nodes a plane too large for
 * a device is split into (memgraph's PlanRewrite): sluice.PlaneSum (x) gives each plane's sum [N, C] in float64,
 * sluice.PlaneSquares (x, sums) the sum of each element's squared difference from its plane's mean, and
 * sluice.PlaneNormalize (x, sums, squares, scale, B) the normalized output. The whole kernel
 * (NormKernels.InstanceNorm) computes a plane with the same functions, so the three nodes give its bits.
 *
 * <p>Order: both sums run over the plane's elements strictly in order, in double, from zero. The sum nodes read a box
 * of x whose planes hold a contiguous run of each plane (whole rows of it, in order) and continue every plane's sum
 * from their partial-sums input ({@link PartialSums#ATTRIBUTE}; the value the tiles before left, float64), so a chain
 * of them adds the same terms in the same order as the whole loop: the same double, bit for bit. The mean and the
 * inverse deviation are computed from the two sums and the whole plane's element count (attribute {@value #COUNT})
 * by the same expressions, and each output element from its own input element alone, so any box of the output may be
 * normalized on its own.
 */
public final class InstanceNormParts {
    private InstanceNormParts() {}

    /** The attribute holding a plane's element count (the whole plane's, whatever box a tile reads). */
    public static final String COUNT = "plane_count";

    /** x[base], ..., x[base + n - 1] added in order to {@code sum}. */
    static double sum(Tensor x, long base, long n, double sum) {
        for (long i = 0; i < n; i++) sum += x.getDouble(base + i);
        return sum;
    }

    /** The squared differences of x[base], ..., x[base + n - 1] from {@code mean}, added in order to {@code q}. */
    static double squares(Tensor x, long base, long n, double mean, double q) {
        for (long i = 0; i < n; i++) { double d = x.getDouble(base + i) - mean; q += d * d; }
        return q;
    }

    static double mean(double sum, long count) { return sum / count; }

    /** 1 / sqrt(variance + eps), the variance the squares' mean. */
    static double inverse(double squares, long count, double eps) { return 1.0 / Math.sqrt(squares / count + eps); }

    /** y = (x - mean) * inv * s + b over a run of n elements. */
    static void normalize(Tensor x, Tensor y, long base, long n, double mean, double inv, double s, double b) {
        for (long i = 0; i < n; i++) y.setDouble(base + i, (x.getDouble(base + i) - mean) * inv * s + b);
    }

    /** [N, C] in float64 from x's type. */
    private static List<TensorType> stats(InferContext ctx) {
        TensorType x = ctx.inputType(0);
        NnArrays.requireFloat(x.dtype(), ctx.opType());
        if (!x.shape().hasRank()) return List.of(new TensorType(DType.FLOAT64, SymShape.UNKNOWN_RANK));
        if (x.shape().rank() < 3) throw new KernelException(ctx.opType() + " input must have rank >= 3, got " + x.shape());
        return List.of(new TensorType(DType.FLOAT64, SymShape.of(x.shape().dim(0), x.shape().dim(1))));
    }

    /** The planes of x (rank >= 3): images x channels, each a contiguous run of {@code inner} elements. */
    private static void requirePlanes(ExecContext ctx, Tensor x) {
        NnArrays.requireFloat(x.dtype(), ctx.opType());
        if (x.rank() < 3) throw new KernelException(ctx.opType() + " input must have rank >= 3, got " + x.shape());
    }

    /** The [N, C] float64 statistics input i, checked against x's planes. */
    private static Tensor statsInput(ExecContext ctx, int i, Tensor x, String what) {
        Tensor s = ctx.input(i);
        if (s.dtype() != DType.FLOAT64 || s.rank() != 2 || s.shape().dim(0) != x.shape().dim(0) || s.shape().dim(1) != x.shape().dim(1)) {
            throw new KernelException(ctx.opType() + " " + ctx.nodeName() + ": " + what + " " + s.type() + " are not float64 ["
                + x.shape().dim(0) + ", " + x.shape().dim(1) + "]");
        }
        return s;
    }

    private static long count(ExecContext ctx) {
        long c = ctx.attributes().getInt(COUNT, 0);
        if (c < 1) throw new KernelException(ctx.opType() + " " + ctx.nodeName() + " needs a positive " + COUNT);
        return c;
    }

    /** sluice.PlaneSum (x[, partial sums]): each plane's elements added in order, from the partial sums if given. */
    static final class PlaneSum implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return stats(ctx); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            requirePlanes(ctx, x);
            int p = PartialSums.input(ctx);
            Tensor from = p >= 0 ? statsInput(ctx, p, x, "partial sums") : null;
            long planes = x.shape().dim(0) * x.shape().dim(1), inner = x.shape().product(2, x.rank());
            Tensor y = ctx.output(0, DType.FLOAT64, Shape.of(x.shape().dim(0), x.shape().dim(1)));
            for (long pl = 0; pl < planes; pl++) y.setDouble(pl, sum(x, pl * inner, inner, from == null ? 0 : from.getDouble(pl)));
        }
    }

    /** sluice.PlaneSquares (x, sums[, partial sums]): each plane's squared differences from its mean, added in order. */
    static final class PlaneSquares implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return stats(ctx); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            requirePlanes(ctx, x);
            Tensor sums = statsInput(ctx, 1, x, "sums");
            int p = PartialSums.input(ctx);
            Tensor from = p >= 0 ? statsInput(ctx, p, x, "partial sums") : null;
            long count = count(ctx), planes = x.shape().dim(0) * x.shape().dim(1), inner = x.shape().product(2, x.rank());
            Tensor y = ctx.output(0, DType.FLOAT64, Shape.of(x.shape().dim(0), x.shape().dim(1)));
            for (long pl = 0; pl < planes; pl++) {
                y.setDouble(pl, squares(x, pl * inner, inner, mean(sums.getDouble(pl), count), from == null ? 0 : from.getDouble(pl)));
            }
        }
    }

    /** sluice.PlaneNormalize (x, sums, squares, scale, B): InstanceNormalization's output from the plane statistics. */
    static final class PlaneNormalize implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = ctx.inputType(0);
            NnArrays.requireFloat(x.dtype(), ctx.opType());
            return List.of(x);
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            requirePlanes(ctx, x);
            Tensor sums = statsInput(ctx, 1, x, "sums"), sq = statsInput(ctx, 2, x, "squares");
            double eps = ctx.attributes().getFloat("epsilon", 1e-5f);
            long count = count(ctx);
            int c = (int) x.shape().dim(1);
            double[] scale = NnArrays.doubles(ctx.input(3)), bias = NnArrays.doubles(ctx.input(4));
            if (scale.length != c || bias.length != c) throw new KernelException(ctx.opType() + " scale and B must have " + c + " elements");
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            long planes = x.shape().dim(0) * c, inner = x.shape().product(2, x.rank());
            ctx.parallelism().forEach(Math.toIntExact(planes), pl -> {
                double s = sums.getDouble(pl), q = sq.getDouble(pl);
                normalize(x, y, pl * inner, inner, mean(s, count), inverse(q, count, eps), scale[pl % c], bias[pl % c]);
            });
        }
    }
}
