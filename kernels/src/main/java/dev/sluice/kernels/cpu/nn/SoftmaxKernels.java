package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
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
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Softmax and LogSoftmax. Before opset 13 the input is coerced to 2-D at {@code axis} (default 1) and
 * normalized over the whole second part; from 13 on it is normalized along the single axis (default -1).
 */
final class SoftmaxKernels {
    private SoftmaxKernels() {}

    static final class Softmax implements OpKernel {
        private final boolean log;

        Softmax(boolean log) { this.log = log; }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = ctx.inputType(0);
            NnArrays.requireFloat(x.dtype(), ctx.opType());
            return List.of(x);
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            NnArrays.requireFloat(x.dtype(), ctx.opType());
            Shape s = x.shape();
            int rank = s.rank();
            boolean legacy = ctx.opset() < 13;
            int axis = (int) ctx.attributes().getInt("axis", legacy ? 1 : -1);
            long outer, n, inner;
            if (rank == 0) {
                outer = 1; n = 1; inner = 1;
            } else {
                // a legacy axis may equal rank (the whole tensor is one row)
                int a = legacy && axis == rank ? rank : Shape.normalizeAxis(axis, rank);
                if (legacy) {
                    outer = s.product(0, a);
                    n = s.product(a, rank);
                    inner = 1;
                } else {
                    outer = s.product(0, a);
                    n = s.dim(a);
                    inner = s.product(a + 1, rank);
                }
            }
            Tensor y = ctx.output(0, x.dtype(), s);
            if (y.elementCount() == 0) return;
            int ni = Math.toIntExact(n);
            long fin = inner;
            boolean f32 = x.dtype() == DType.FLOAT32;
            if (f32 && inner == 1) {
                // contiguous float rows: the vector form, one row per index
                MemorySegment xd = x.data(), yd = y.data();
                ctx.parallelism().forEach(Math.toIntExact(outer), 4L * ni, r -> {
                    long base = (long) r * ni;
                    if (log) logSoftmaxRow(xd, base, yd, base, ni);
                    else softmaxRow(xd, base, yd, base, ni);
                });
                return;
            }
            ctx.parallelism().forEach(Math.toIntExact(outer * inner), 4L * ni, t -> {
                long o = t / fin, i = t % fin;
                long base = o * ni * fin + i;
                double[] v = new double[ni];
                MemorySegment xd = x.data(), yd = y.data();
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < ni; j++) {
                    long at = base + j * fin;
                    v[j] = f32 ? xd.getAtIndex(NnArrays.F32, at) : x.getDouble(at);
                    if (v[j] > max) max = v[j];
                }
                double sum = 0;
                for (int j = 0; j < ni; j++) sum += Math.exp(v[j] - max);
                double logSum = Math.log(sum);
                for (int j = 0; j < ni; j++) {
                    double r = log ? v[j] - max - logSum : Math.exp(v[j] - max) / sum;
                    long at = base + j * fin;
                    if (f32) yd.setAtIndex(NnArrays.F32, at, (float) r);
                    else y.setDouble(at, r);
                }
            });
        }
    }

    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final int L = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** Rotations of a vector by L/2, L/4, ..., 1 lanes (for {@link #rowMax}'s tree). */
    private static final List<VectorShuffle<Float>> ROTATIONS = rotations();

    private static List<VectorShuffle<Float>> rotations() {
        List<VectorShuffle<Float>> r = new java.util.ArrayList<>();
        for (int h = L / 2; h >= 1; h /= 2) r.add(VectorShuffle.iota(S, h, 1, true));
        return List.copyOf(r);
    }

    /**
     * The largest of x[off, off+n) (NaN if any is NaN): lane-wise max, then the lanes combined by lane-wise
     * max too. Max is exact, so the order does not change the result; the lanes are combined by rotations, not
     * by reduceLanes, to stay clear of tier-dependent NaN and signed-zero handling.
     */
    static float rowMax(MemorySegment x, long off, int n) {
        FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int j = 0;
        for (; j <= n - L; j += L) m = m.max(FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER));
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector v = FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER, k);
            m = m.max(FloatVector.broadcast(S, Float.NEGATIVE_INFINITY).blend(v, k));
        }
        // a tree of lane-wise maxes against the vector rotated by L/2, L/4, ..., 1 lanes: Math.max's order (NaN
        // above all, -0 below +0) is total, so any grouping gives the lane-by-lane walk's result, with the same
        // lane-wise max as the loop above and none of reduceLanes; a third of the walk's time on short rows
        for (int h = 0; h < ROTATIONS.size(); h++) m = m.max(m.rearrange(ROTATIONS.get(h)));
        return m.lane(0);
    }

    /**
     * y[yo, yo+n) = softmax(x[xo, xo+n)) in float32: e^(x - max) by {@link VectorMath#exp}, summed per lane
     * and then lane by lane, and divided by the sum. The tail runs the same vector code under a mask, so each
     * element's bits depend on the row alone, not on where it starts. x and y may be the same memory. Each
     * pass is its own small method, which C1 and C2 compile early (see NormKernels.layerNormRow).
     */
    static void softmaxRow(MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        float sum = expAndSum(x, xo, y, yo, n, rowMax(x, xo, n));
        divideRow(y, yo, n, sum);
    }

    /** y = e^(x - max), returning the sum of those in the fixed lane order. */
    private static float expAndSum(MemorySegment x, long xo, MemorySegment y, long yo, int n, float max) {
        FloatVector mv = FloatVector.broadcast(S, max);
        FloatVector sum = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER).sub(mv));
            e.intoMemorySegment(y, (yo + j) * 4, ORDER);
            sum = sum.add(e);
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, k).sub(mv));
            e.intoMemorySegment(y, (yo + j) * 4, ORDER, k);
            sum = sum.add(FloatVector.zero(S).blend(e, k));
        }
        // the lanes summed first to last, a fixed order whatever the JIT does (see VectorMath), written in place:
        // a helper call taking the vector may be left out of line in this big compile (C2's
        // NodeCountInliningCutoff, depending on what was compiled before), and then the vector is boxed per row
        float s = 0f;
        for (int i = 0; i < L; i++) s += sum.lane(i);
        return s;
    }

    private static void divideRow(MemorySegment y, long yo, int n, float sum) {
        FloatVector sv = FloatVector.broadcast(S, sum);
        int j = 0;
        for (; j <= n - L; j += L) {
            long at = (yo + j) * 4;
            FloatVector.fromMemorySegment(S, y, at, ORDER).div(sv).intoMemorySegment(y, at, ORDER);
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            long at = (yo + j) * 4;
            FloatVector.fromMemorySegment(S, y, at, ORDER, k).div(sv).intoMemorySegment(y, at, ORDER, k);
        }
    }

    /** y = x - max - log(sum e^(x - max)) over one contiguous float row, like {@link #softmaxRow}. */
    static void logSoftmaxRow(MemorySegment x, long xo, MemorySegment y, long yo, int n) {
        float max = rowMax(x, xo, n);
        FloatVector mv = FloatVector.broadcast(S, max);
        FloatVector sum = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) {
            sum = sum.add(VectorMath.exp(FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER).sub(mv)));
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector e = VectorMath.exp(FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, k).sub(mv));
            sum = sum.add(FloatVector.zero(S).blend(e, k));
        }
        float total = 0f; // the lanes first to last, in place, as in expAndSum
        for (int i = 0; i < L; i++) total += sum.lane(i);
        // StrictMath: one call per row, and its bits do not depend on the JIT
        FloatVector ls = FloatVector.broadcast(S, (float) StrictMath.log(total));
        for (j = 0; j <= n - L; j += L) {
            FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER).sub(mv).sub(ls).intoMemorySegment(y, (yo + j) * 4, ORDER);
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, k).sub(mv).sub(ls).intoMemorySegment(y, (yo + j) * 4, ORDER, k);
        }
    }
}
