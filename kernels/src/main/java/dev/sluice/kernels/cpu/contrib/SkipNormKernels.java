package dev.sluice.kernels.cpu.contrib;

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
import dev.sluice.kernels.cpu.core.VectorMath;
import dev.sluice.kernels.cpu.nn.NormKernels;
import dev.sluice.kernels.cpu.nn.RmsGroupNormKernels;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The residual layer norms ONNX Runtime fuses transformer blocks into, over the last dim (the hidden size H):
 * SkipLayerNormalization (v = input + skip [+ bias], then LayerNormalization with gamma [and beta]) and
 * SkipSimplifiedLayerNormalization (the same v, then RMS normalization v / sqrt(mean(v^2) + eps) * gamma), and
 * SimplifiedLayerNormalization (RMS normalization over the axes from {@code axis} on, no residual).
 *
 * <p>Outputs of the skip forms: output, mean, inv_std_var ([..., 1], float32) and input_skip_bias_sum (v); the
 * layer norm is {@link NormKernels#layerNormRow}, Sluice's LayerNormalization row, run on v. ONNX Runtime's CPU
 * kernel leaves mean and inv_std_var unwritten; here they are the row statistics LayerNormalization would give
 * (SkipSimplifiedLayerNormalization's mean, which an RMS norm does not use, is the mean of v all the same: a kernel
 * cannot tell an output the graph leaves empty from one it reads, so none is left unwritten). The skip is the input's shape, or its
 * trailing dims ([S, H] or [1, S, H] for an input [B, S, H]), repeated over the leading ones.
 */
final class SkipNormKernels {
    private SkipNormKernels() {}

    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final int L = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** The input's dims with the last {@code normalized} ones set to 1: the statistics' shape. */
    private static SymShape statShape(SymShape x, int from) {
        if (!x.hasRank()) return SymShape.UNKNOWN_RANK;
        List<Dim> d = new ArrayList<>(x.dims());
        for (int i = from; i < d.size(); i++) d.set(i, Dim.of(1));
        return new SymShape(d);
    }

    private static Shape statShape(Shape x, int from) {
        long[] d = x.dims();
        for (int i = from; i < d.length; i++) d[i] = 1;
        return Shape.of(d);
    }

    /** SkipLayerNormalization, or SkipSimplifiedLayerNormalization when {@code simplified}. */
    static final class Skip implements OpKernel {
        private final boolean simplified;

        Skip(boolean simplified) { this.simplified = simplified; }

        private String name() { return simplified ? "SkipSimplifiedLayerNormalization" : "SkipLayerNormalization"; }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = Operands.float32(ctx, 0);
            for (int i = 1; i < ctx.inputCount(); i++) if (ctx.hasInput(i)) Operands.float32(ctx, i);
            if (x.shape().hasRank() && x.shape().rank() < 1) throw new KernelException(name() + " input must have rank >= 1, got a scalar");
            List<TensorType> r = new ArrayList<>();
            TensorType y = new TensorType(DType.FLOAT32, x.shape());
            SymShape st = x.shape().hasRank() ? statShape(x.shape(), x.shape().rank() - 1) : SymShape.UNKNOWN_RANK;
            for (int i = 0; i < ctx.outputCount(); i++) r.add(i == 1 || i == 2 ? new TensorType(DType.FLOAT32, st) : y);
            return r;
        }

        @Override public void execute(ExecContext ctx) {
            String op = name();
            Tensor x = Operands.float32(ctx.input(0), op, "input");
            Tensor skip = Operands.float32(ctx.input(1), op, "skip");
            int n = Operands.lastDim(x, op, "input");
            long skipSize = skipSize(x.shape(), skip.shape(), op);
            MemorySegment gamma = Operands.columns(ctx.input(2), n, op, "gamma");
            int betaAt = simplified ? -1 : 3, biasAt = simplified ? 3 : 4;
            MemorySegment beta = betaAt > 0 && ctx.inputCount() > betaAt && ctx.hasInput(betaAt) ? Operands.columns(ctx.input(betaAt), n, op, "beta") : null;
            MemorySegment bias = ctx.inputCount() > biasAt && ctx.hasInput(biasAt) ? Operands.columns(ctx.input(biasAt), n, op, "bias") : null;
            float eps = ctx.attributes().getFloat("epsilon", 1e-12f);
            Tensor y = ctx.output(0, DType.FLOAT32, x.shape());
            Shape st = statShape(x.shape(), x.rank() - 1);
            Tensor mean = ctx.outputCount() > 1 ? ctx.output(1, DType.FLOAT32, st) : null;
            Tensor inv = ctx.outputCount() > 2 ? ctx.output(2, DType.FLOAT32, st) : null;
            Tensor sum = ctx.outputCount() > 3 ? ctx.output(3, DType.FLOAT32, x.shape()) : null;
            if (x.elementCount() == 0) return;
            MemorySegment xd = x.data(), sd = skip.data(), yd = y.data(), vd = sum == null ? yd : sum.data();
            int rows = Math.toIntExact(x.elementCount() / n);
            ctx.parallelism().forEach(rows, 6L * n, r -> {
                long off = (long) r * n;
                addRow(xd, off, sd, off % skipSize, bias, vd, off, n);
                if (simplified) {
                    // before the row is normalized in place
                    if (mean != null) mean.setFloat(r, rowSum(vd, off, n) / n);
                    float iv = RmsGroupNormKernels.rmsRow(vd, off, yd, off, n, gamma, eps);
                    if (inv != null) inv.setFloat(r, iv);
                } else {
                    long stats = NormKernels.layerNormRow(vd, off, null, 0, yd, off, n, gamma, beta, eps);
                    if (mean != null) mean.setFloat(r, Float.intBitsToFloat((int) (stats >>> 32)));
                    if (inv != null) inv.setFloat(r, Float.intBitsToFloat((int) stats));
                }
            });
        }
    }

    /**
     * Elements of the skip, refused unless, its leading 1s dropped, it is the input's trailing dims: then row r of
     * the input adds the skip's elements from (r * H) mod that count on.
     */
    private static long skipSize(Shape x, Shape skip, String op) {
        int lead = 0;
        while (lead < skip.rank() - 1 && skip.dim(lead) == 1) lead++;
        int k = skip.rank() - lead;
        boolean ok = k >= 1 && k <= x.rank();
        for (int i = 0; ok && i < k; i++) ok = skip.dim(skip.rank() - 1 - i) == x.dim(x.rank() - 1 - i);
        if (!ok) throw new KernelException(op + " skip " + skip + " must be the input's shape " + x + " or its trailing dims");
        return Math.max(1, skip.elementCount());
    }

    /** v = x + s (+ b), the tail under a mask as the body. */
    private static void addRow(MemorySegment x, long xo, MemorySegment s, long so, MemorySegment b, MemorySegment v, long vo, int n) {
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector a = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER).add(FloatVector.fromMemorySegment(S, s, (so + j) * 4, ORDER));
            if (b != null) a = a.add(FloatVector.fromMemorySegment(S, b, j * 4L, ORDER));
            a.intoMemorySegment(v, (vo + j) * 4, ORDER);
        }
        if (j < n) {
            VectorMask<Float> m = S.indexInRange(j, n);
            FloatVector a = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, m).add(FloatVector.fromMemorySegment(S, s, (so + j) * 4, ORDER, m));
            if (b != null) a = a.add(FloatVector.fromMemorySegment(S, b, j * 4L, ORDER, m));
            a.intoMemorySegment(v, (vo + j) * 4, ORDER, m);
        }
    }


    private static float rowSum(MemorySegment v, long vo, int n) {
        FloatVector q = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) q = q.add(FloatVector.fromMemorySegment(S, v, (vo + j) * 4, ORDER));
        if (j < n) q = q.add(FloatVector.fromMemorySegment(S, v, (vo + j) * 4, ORDER, S.indexInRange(j, n)));
        float s = 0f;
        for (int i = 0; i < L; i++) s += q.lane(i);
        return s;
    }



    /**
     * SimplifiedLayerNormalization (default domain): RMS normalization of X over the axes from {@code axis} on, times
     * a scale of the normalized shape; outputs Y and, optionally, inv_std_var (X's dims, the normalized ones 1).
     * Statistics in float32 whatever {@code stash_type} says: the input is float32.
     */
    static final class Simplified implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = Operands.float32(ctx, 0);
            Operands.float32(ctx, 1);
            List<TensorType> r = new ArrayList<>();
            r.add(new TensorType(DType.FLOAT32, x.shape()));
            if (ctx.outputCount() > 1) {
                SymShape st = SymShape.UNKNOWN_RANK;
                if (x.shape().hasRank()) {
                    int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), x.shape().rank());
                    st = statShape(x.shape(), axis);
                }
                r.add(new TensorType(DType.FLOAT32, st));
            }
            if (ctx.outputCount() > 2) throw new KernelException("SimplifiedLayerNormalization has 2 outputs (Y, inv_std_var), got " + ctx.outputCount());
            return r;
        }

        @Override public void execute(ExecContext ctx) {
            String op = "SimplifiedLayerNormalization";
            Tensor x = Operands.float32(ctx.input(0), op, "X");
            Tensor scale = Operands.float32(ctx.input(1), op, "scale");
            if (x.rank() < 1) throw new KernelException(op + " X must have rank >= 1, got a scalar");
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), x.rank());
            int n = Math.toIntExact(x.shape().product(axis, x.rank()));
            if (scale.elementCount() != n || scale.rank() > x.rank() - axis && scale.shape().product(0, scale.rank() - (x.rank() - axis)) != 1) {
                throw new KernelException(op + " scale " + scale.shape() + " must have the normalized shape (X's dims from axis " + axis + " of " + x.shape() + ")");
            }
            for (int i = 0; i < Math.min(scale.rank(), x.rank() - axis); i++) {
                if (scale.shape().dim(scale.rank() - 1 - i) != x.shape().dim(x.rank() - 1 - i)) {
                    throw new KernelException(op + " scale " + scale.shape() + " must have the normalized shape (X's dims from axis " + axis + " of " + x.shape() + ")");
                }
            }
            float eps = ctx.attributes().getFloat("epsilon", 1e-5f);
            Tensor y = ctx.output(0, DType.FLOAT32, x.shape());
            Tensor inv = ctx.outputCount() > 1 ? ctx.output(1, DType.FLOAT32, statShape(x.shape(), axis)) : null;
            if (x.elementCount() == 0 || n == 0) return;
            MemorySegment xd = x.data(), yd = y.data(), w = scale.data();
            ctx.parallelism().forEach(Math.toIntExact(x.elementCount() / n), 3L * n, r -> {
                float iv = RmsGroupNormKernels.rmsRow(xd, (long) r * n, yd, (long) r * n, n, w, eps);
                if (inv != null) inv.setFloat(r, iv);
            });
        }
    }
}
