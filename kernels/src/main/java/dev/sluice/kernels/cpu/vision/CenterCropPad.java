package dev.sluice.kernels.cpu.vision;

import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * ONNX CenterCropPad (opset 18): resizes the chosen axes to the given lengths around the centre, cropping where
 * the axis is longer and zero-padding where it is shorter. When the difference is odd the extra element goes to
 * the end (crop: one more cut at the end; pad: one more zero at the end). Any element type: the data is moved as
 * bytes.
 */
final class CenterCropPad implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType in = ctx.inputType(0);
        if (!in.shape().hasRank()) return List.of(in);
        int rank = in.shape().rank();
        Tensor shape = ctx.constantInput(1);
        int[] axes = axes(ctx.attributes().getInts("axes"), rank);
        List<Dim> out = new ArrayList<>(in.shape().dims());
        long[] len = shape == null ? null : shape.toLongArray();
        for (int a : axes) out.set(a, Dim.UNKNOWN);
        if (len != null && len.length == axes.length) for (int i = 0; i < axes.length; i++) if (len[i] >= 0) out.set(axes[i], Dim.of(len[i]));
        return List.of(new TensorType(in.dtype(), new SymShape(out)));
    }

    private static int[] axes(long[] given, int rank) {
        if (given == null) {
            int[] all = new int[rank];
            for (int i = 0; i < rank; i++) all[i] = i;
            return all;
        }
        int[] r = new int[given.length];
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < given.length; i++) {
            long a = given[i] < 0 ? given[i] + rank : given[i];
            if (a < 0 || a >= rank) throw new KernelException("CenterCropPad axis " + given[i] + " is outside rank " + rank);
            if (seen[(int) a]) throw new KernelException("CenterCropPad axes repeat axis " + given[i]);
            seen[(int) a] = true;
            r[i] = (int) a;
        }
        return r;
    }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0), shapeT = ctx.input(1);
        if (shapeT.dtype().isFloatingPoint()) throw new KernelException("CenterCropPad shape must be int64, got " + shapeT.dtype());
        int rank = x.rank();
        int[] axes = axes(ctx.attributes().getInts("axes"), rank);
        long[] len = shapeT.toLongArray();
        if (len.length != axes.length) {
            throw new KernelException("CenterCropPad shape has " + len.length + " entries for " + axes.length + " axes " + Arrays.toString(axes));
        }
        long[] in = x.shape().dims(), out = in.clone();
        long[] srcStart = new long[rank], dstStart = new long[rank], count = in.clone();
        for (int i = 0; i < axes.length; i++) {
            int a = axes[i];
            if (len[i] < 0) throw new KernelException("CenterCropPad shape[" + i + "] = " + len[i] + " is negative");
            out[a] = len[i];
            if (len[i] < in[a]) { srcStart[a] = (in[a] - len[i]) / 2; count[a] = len[i]; }
            else { dstStart[a] = (len[i] - in[a]) / 2; count[a] = in[a]; }
        }
        Tensor y = ctx.output(0, x.dtype(), Shape.of(out));
        long total = y.byteSize();
        y.data().fill((byte) 0);
        long moved = 1;
        for (long c : count) moved *= c;
        if (moved == 0 || total == 0) return;
        int es = x.dtype().byteSize();
        long[] si = Shape.of(in).strides(), so = Shape.of(out).strides();
        if (rank == 0) { y.data().copyFrom(x.data()); return; }
        // copy row by row along the innermost axis
        long rows = moved / count[rank - 1];
        long[] idx = new long[rank];
        for (long row = 0; row < rows; row++) {
            long s = 0, d = 0;
            for (int a = 0; a < rank; a++) {
                s += (srcStart[a] + idx[a]) * si[a];
                d += (dstStart[a] + idx[a]) * so[a];
            }
            java.lang.foreign.MemorySegment.copy(x.data(), s * es, y.data(), d * es, count[rank - 1] * es);
            for (int a = rank - 2; a >= 0; a--) {
                if (++idx[a] < count[a]) break;
                idx[a] = 0;
            }
        }
    }
}
