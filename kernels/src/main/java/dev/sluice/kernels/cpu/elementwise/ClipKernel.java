package dev.sluice.kernels.cpu.elementwise;

import static dev.sluice.kernels.cpu.elementwise.ElementwiseOps.dtypeOf;
import static dev.sluice.kernels.cpu.elementwise.ElementwiseOps.par;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.util.List;


/**
 * Clip: float32 through {@link ClipLoop}'s vector loop split over the threads, the other float types in double, the
 * integer types exactly (uint64 unsigned); bounds from attributes before opset 11, from scalar inputs after. The
 * lower bound applies first, so where min > max every element becomes max, as ONNX defines.
 */
final class ClipKernel implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        return List.of(new TensorType(dtypeOf(ctx, 0), ctx.inputType(0).shape()));
    }

    @Override public boolean inPlaceSafe() { return true; }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0);
        DType t = x.dtype();
        Tensor out = ctx.output(0, t, x.shape());
        long n = x.elementCount();
        Tensor lo = null, hi = null;
        double dlo = Double.NEGATIVE_INFINITY, dhi = Double.POSITIVE_INFINITY;
        if (ctx.opset() < 11) {
            dlo = ctx.attributes().getFloat("min", Float.NEGATIVE_INFINITY);
            dhi = ctx.attributes().getFloat("max", Float.POSITIVE_INFINITY);
        } else {
            lo = bound(ctx, 1);
            hi = bound(ctx, 2);
            if (lo != null) dlo = lo.getDouble(0);
            if (hi != null) dhi = hi.getDouble(0);
        }
        if (t == DType.FLOAT32) {
            float flo = (float) dlo, fhi = (float) dhi;
            MemorySegment xs = x.data(), os = out.data();
            ElementwiseUnaryOps.chunks(par(ctx), n, (from, to) -> ClipLoop.clip(xs, os, from, to, flo, fhi));
        } else if (t.isFloatingPoint()) {
            for (long i = 0; i < n; i++) {
                double v = x.getDouble(i);
                if (v < dlo) v = dlo;
                if (v > dhi) v = dhi;
                out.setDouble(i, v);
            }
        } else if (t == DType.BOOL) {
            throw new KernelException("Clip does not take bool input");
        } else {
            boolean u64 = t == DType.UINT64;
            boolean hasLo = lo != null, hasHi = hi != null;
            long llo = hasLo ? lo.getLong(0) : 0, lhi = hasHi ? hi.getLong(0) : 0;
            for (long i = 0; i < n; i++) {
                long v = x.getLong(i);
                if (hasLo && (u64 ? Long.compareUnsigned(v, llo) : Long.compare(v, llo)) < 0) v = llo;
                if (hasHi && (u64 ? Long.compareUnsigned(v, lhi) : Long.compare(v, lhi)) > 0) v = lhi;
                out.setLong(i, v);
            }
        }
    }

    private static Tensor bound(ExecContext ctx, int i) {
        if (i >= ctx.inputCount() || !ctx.hasInput(i)) return null;
        Tensor b = ctx.input(i);
        if (b.elementCount() == 0) return null;
        if (b.elementCount() != 1) throw new KernelException("Clip bound must be a scalar, got shape " + b.shape());
        if (b.dtype() != ctx.input(0).dtype()) {
            throw new KernelException("Clip bound type " + b.dtype() + " differs from input type " + ctx.input(0).dtype());
        }
        return b;
    }
}
