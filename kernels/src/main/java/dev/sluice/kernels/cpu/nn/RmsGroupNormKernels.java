package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.core.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The normalizations of opsets 18 to 23 that LLM and diffusion exports emit: RMSNormalization (opset 23) and
 * GroupNormalization (opsets 18 and 21). Their older siblings are in {@link NormKernels}.
 *
 * <p>RMSNormalization of float32 runs as vectors in float (the spec's default stash_type is float32): the sum of
 * squares per lane, the lanes then added first to last (a fixed order, so the bits do not depend on the JIT), then
 * y = x * inv * w. Other float types, and GroupNormalization, accumulate in double.
 */
public final class RmsGroupNormKernels {
    private RmsGroupNormKernels() {}

    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final int L = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private static TensorType floatInput(InferContext ctx) {
        TensorType x = ctx.inputType(0);
        NnArrays.requireFloat(x.dtype(), ctx.opType() + " '" + ctx.nodeName() + "'");
        return x;
    }

    /** stash_type 1 (float32) or 11 (double): the only precisions the spec allows for the statistics. */
    private static void checkStash(Attributes at, String op, String node) {
        long stash = at.getInt("stash_type", 1);
        if (stash != 1 && stash != 11) {
            throw new KernelException(op + " '" + node + "': stash_type " + stash + " is not supported (1 = float32 or 11 = double)");
        }
    }

    // ------------------------------------------------------------------ RMSNormalization

    /** RMSNormalization-23: y = x / sqrt(mean(x^2 over axes [axis, rank)) + epsilon) * scale. */
    static final class RmsNorm implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            checkStash(ctx.attributes(), "RMSNormalization", ctx.nodeName());
            return List.of(floatInput(ctx));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), scale = ctx.input(1);
            String where = "RMSNormalization '" + ctx.nodeName() + "'";
            NnArrays.requireFloat(x.dtype(), where);
            NnArrays.requireFloat(scale.dtype(), where + " scale");
            Attributes at = ctx.attributes();
            checkStash(at, "RMSNormalization", ctx.nodeName());
            int rank = x.rank();
            if (rank < 1) throw new KernelException(where + ": input must have rank >= 1, got a scalar");
            long axisAttr = at.getInt("axis", -1);
            if (axisAttr < -rank || axisAttr >= rank) {
                throw new KernelException(where + ": axis " + axisAttr + " is out of range for rank " + rank);
            }
            int axis = Shape.normalizeAxis((int) axisAttr, rank);
            float eps = at.getFloat("epsilon", 1e-5f);
            long outer = x.shape().product(0, axis);
            int inner = Math.toIntExact(x.shape().product(axis, rank));
            Shape normShape = Shape.of(java.util.Arrays.copyOfRange(x.shape().dims(), axis, rank));
            double[] w = NormKernels.broadcastTo(scale, normShape, where + " scale");
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            if (y.elementCount() == 0) return;
            if (x.dtype() == DType.FLOAT32) {
                Tensor wf = Tensor.allocate(DType.FLOAT32, Shape.of(inner)); // native, like the tensors (see NormKernels.floatRow)
                for (int i = 0; i < inner; i++) wf.setFloat(i, (float) w[i]);
                MemorySegment xd = x.data(), yd = y.data(), wd = wf.data();
                ctx.parallelism().forEach(Math.toIntExact(outer), 3L * inner, row -> {
                    long base = (long) row * inner;
                    rmsRow(xd, base, yd, base, inner, wd, eps);
                });
                return;
            }
            ctx.parallelism().forEach(Math.toIntExact(outer), 3L * inner, row -> {
                long base = (long) row * inner;
                double q = 0;
                for (int i = 0; i < inner; i++) { double v = x.getDouble(base + i); q += v * v; }
                double inv = 1.0 / Math.sqrt(q / inner + eps);
                for (int i = 0; i < inner; i++) y.setDouble(base + i, x.getDouble(base + i) * inv * w[i]);
            });
        }
    }

    /**
     * One RMS-normalized float32 row: y[yo, yo+n) = x * inv * w with inv = 1 / sqrt(sum(x^2) / n + eps), the sum by
     * per-lane FMAs, then the lanes first to last (a fixed order, as the LayerNormalization row); y may be x, w is
     * the normalized-shape scale from index 0. RMSNormalization's row, and ONNX Runtime's simplified and skip
     * simplified layer norms (contrib). Returns inv.
     */
    public static float rmsRow(MemorySegment x, long xo, MemorySegment y, long yo, int n, MemorySegment w, float eps) {
        float inv = 1f / (float) Math.sqrt(sumOfSquares(x, xo, n) / n + eps);
        FloatVector iv = FloatVector.broadcast(S, inv);
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER).mul(iv)
                    .mul(FloatVector.fromMemorySegment(S, w, (long) j * 4, ORDER)).intoMemorySegment(y, (yo + j) * 4, ORDER);
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, k).mul(iv)
                    .mul(FloatVector.fromMemorySegment(S, w, (long) j * 4, ORDER, k)).intoMemorySegment(y, (yo + j) * 4, ORDER, k);
        }
        return inv;
    }

    /** The sum of x^2 over x[off, off+n): per-lane FMAs, then the lanes first to last. */
    private static float sumOfSquares(MemorySegment x, long off, int n) {
        FloatVector q = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER);
            q = v.fma(v, q);
        }
        if (j < n) {
            // masked-off lanes load as 0 and add 0
            FloatVector v = FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER, S.indexInRange(j, n));
            q = v.fma(v, q);
        }
        float s = 0f;
        for (int i = 0; i < L; i++) s += q.lane(i);
        return s;
    }

    // ------------------------------------------------------------------ GroupNormalization

    /**
     * GroupNormalization: x [N, C, D1, ...] split into num_groups groups of C / num_groups consecutive channels;
     * each (sample, group) is normalized by its own mean and (population) variance, then scaled and shifted. The
     * node's opset decides what scale and bias hold: one value per group up to opset 20 (GroupNormalization-18),
     * one per channel from opset 21 on.
     */
    static final class GroupNorm implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            checkStash(ctx.attributes(), "GroupNormalization", ctx.nodeName());
            return List.of(floatInput(ctx));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            String where = "GroupNormalization '" + ctx.nodeName() + "'";
            NnArrays.requireFloat(x.dtype(), where);
            if (x.rank() < 2) throw new KernelException(where + ": input must have rank >= 2 ([N, C, ...]), got " + x.shape());
            Attributes at = ctx.attributes();
            checkStash(at, "GroupNormalization", ctx.nodeName());
            long groupsAttr = at.getInt("num_groups");
            int c = Math.toIntExact(x.shape().dim(1));
            if (groupsAttr < 1 || c % groupsAttr != 0) {
                throw new KernelException(where + ": num_groups " + groupsAttr + " must be positive and divide the " + c + " channels");
            }
            int groups = (int) groupsAttr, perGroup = c / groups;
            boolean perChannel = ctx.opset() >= 21;
            int want = perChannel ? c : groups;
            double[] scale = NnArrays.doubles(ctx.input(1)), bias = NnArrays.doubles(ctx.input(2));
            if (scale.length != want || bias.length != want || ctx.input(1).rank() != 1 || ctx.input(2).rank() != 1) {
                throw new KernelException(where + " (opset " + ctx.opset() + "): scale and bias must be 1-D with " + want
                        + (perChannel ? " elements (one per channel)" : " elements (one per group; per channel from opset 21)")
                        + ", got " + ctx.input(1).shape() + " and " + ctx.input(2).shape());
            }
            double eps = at.getFloat("epsilon", 1e-5f);
            int inner = Math.toIntExact(x.shape().product(2, x.rank()));
            long groupSize = (long) perGroup * inner;
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            if (y.elementCount() == 0) return;
            boolean f32 = x.dtype() == DType.FLOAT32;
            MemorySegment xd = x.data(), yd = y.data();
            ctx.parallelism().forEach(Math.toIntExact(x.shape().dim(0) * groups), 3 * groupSize, t -> {
                int g = t % groups;
                long base = t * groupSize;
                double sum = 0;
                if (f32) for (long i = 0; i < groupSize; i++) sum += xd.getAtIndex(NnArrays.F32, base + i);
                else for (long i = 0; i < groupSize; i++) sum += x.getDouble(base + i);
                double mean = sum / groupSize, q = 0;
                if (f32) for (long i = 0; i < groupSize; i++) { double d = xd.getAtIndex(NnArrays.F32, base + i) - mean; q += d * d; }
                else for (long i = 0; i < groupSize; i++) { double d = x.getDouble(base + i) - mean; q += d * d; }
                double inv = 1.0 / Math.sqrt(q / groupSize + eps);
                for (int ch = 0; ch < perGroup; ch++) {
                    int k = perChannel ? g * perGroup + ch : g;
                    double s = scale[k] * inv, b = bias[k] - mean * s;
                    long off = base + (long) ch * inner;
                    if (f32) {
                        for (int i = 0; i < inner; i++) yd.setAtIndex(NnArrays.F32, off + i, (float) (xd.getAtIndex(NnArrays.F32, off + i) * s + b));
                    } else {
                        for (int i = 0; i < inner; i++) y.setDouble(off + i, x.getDouble(off + i) * s + b);
                    }
                }
            });
        }
    }
}
