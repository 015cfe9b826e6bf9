package dev.sluice.kernels.cpu.elementwise;

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
import dev.sluice.kernels.cpu.core.NnArrays;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * sluice.ChannelScaleResidual (x, s): {@code y = x + x * s}, float32, x of shape [N, C, spatial...] and s one
 * value per batch and channel, [N or 1, C, 1, ...]; a batch of one in x broadcasts against s's batch as in
 * ONNX. It is the squeeze-excitation tail {@code Add(x, Mul(x, s))} the fusion pass finds, in one pass over x
 * instead of two. Each element is rounded as by the two ops ({@code x * s} rounded, then the sum; no fma), so
 * the result has the unfused ops' bits whatever the vector width, the split over threads or a band of rows.
 */
final class ChannelScaleResidual implements OpKernel {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0), s = ctx.inputType(1);
        if (!x.shape().hasRank()) return List.of(new TensorType(x.dtype(), SymShape.UNKNOWN_RANK));
        List<Dim> dims = new ArrayList<>(x.shape().dims());
        Dim xn = dims.getFirst(), sn = s.shape().hasRank() && s.shape().rank() > 0 ? s.shape().dim(0) : Dim.UNKNOWN;
        boolean keep = xn.equals(sn) || sn.isKnown() && sn.value() == 1 || xn.isKnown() && sn.isKnown() && xn.value() == sn.value();
        if (!keep) dims.set(0, xn.isKnown() && xn.value() == 1 && sn.isKnown() ? sn : Dim.UNKNOWN);
        return List.of(new TensorType(x.dtype(), new SymShape(dims)));
    }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0), s = ctx.input(1);
        if (x.dtype() != DType.FLOAT32 || s.dtype() != DType.FLOAT32) {
            throw new KernelException("ChannelScaleResidual takes float32, got " + x.dtype() + " and " + s.dtype());
        }
        int r = x.rank();
        if (r < 2 || s.rank() != r) throw new KernelException("ChannelScaleResidual needs x of rank >= 2 and s of its rank, got " + x.shape() + " and " + s.shape());
        long xn = x.shape().dim(0), sn = s.shape().dim(0), c = x.shape().dim(1);
        boolean perChannel = s.shape().dim(1) == c;
        for (int i = 2; i < r; i++) perChannel &= s.shape().dim(i) == 1;
        long n = xn == sn || sn == 1 ? xn : xn == 1 ? sn : -1;
        if (!perChannel || n < 0) throw new KernelException("ChannelScaleResidual: s " + s.shape() + " is not one value per channel of x " + x.shape());
        long[] od = x.shape().dims();
        od[0] = n;
        Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(od));
        long plane = c == 0 || xn == 0 ? 0 : x.elementCount() / (xn * c);
        if (y.elementCount() == 0) return;
        int planes = Math.toIntExact(n * c);
        MemorySegment xs = x.data(), ss = s.data(), ys = y.data();
        Parallelism par = ElementwiseOps.par(ctx);
        java.util.function.IntConsumer one = p -> {
            long ni = p / c, ci = p % c;
            long xo = ((xn == 1 ? 0 : ni) * c + ci) * plane;
            float sv = ss.getAtIndex(NnArrays.F32, (sn == 1 ? 0 : ni) * c + ci);
            scaleAdd(xs, xo, sv, ys, (long) p * plane, plane);
        };
        if (par.threads() <= 1 || y.elementCount() < ElementwiseRows.PARALLEL_MIN) {
            for (int p = 0; p < planes; p++) one.accept(p);
        } else {
            par.forEach(planes, plane, one);
        }
    }

    /** y[yo + i] = x[xo + i] + x[xo + i] * s for i in [0, len). */
    private static void scaleAdd(MemorySegment x, long xo, float s, MemorySegment y, long yo, long len) {
        FloatVector sv = FloatVector.broadcast(S, s);
        int l = S.length();
        long i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xo + i) * 4, ORDER);
            v.add(v.mul(sv)).intoMemorySegment(y, (yo + i) * 4, ORDER);
        }
        for (; i < len; i++) {
            float v = x.getAtIndex(NnArrays.F32, xo + i);
            y.setAtIndex(NnArrays.F32, yo + i, v + v * s);
        }
    }

    /** Element i of y reads only element i of x (and s, whole): y may take x's memory when x dies here. */
    @Override public boolean inPlaceSafe() { return true; }
}
