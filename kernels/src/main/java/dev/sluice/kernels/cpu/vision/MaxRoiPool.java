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
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.List;

/**
 * ONNX MaxRoiPool (opset 1), Fast R-CNN's ROI pooling: each region {@code (batch, x1, y1, x2, y2)} of rois
 * {@code [num_rois, 5]} is scaled, its corners rounded half away from zero to whole pixels (inclusive at both
 * ends, at least one pixel each way), divided into {@code pooled_shape} bins with floor / ceil edges clipped to the
 * map, and each bin's maximum taken; an empty bin is 0. This is Caffe's rule, which ORT follows.
 */
final class MaxRoiPool implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0), rois = ctx.inputType(1);
        long[] pooled = ctx.attributes().getInts("pooled_shape");
        Dim count = rois.shape().hasRank() && rois.shape().rank() == 2 ? rois.shape().dim(0) : Dim.UNKNOWN;
        Dim channels = x.shape().hasRank() && x.shape().rank() == 4 ? x.shape().dim(1) : Dim.UNKNOWN;
        Dim ph = pooled != null && pooled.length == 2 ? Dim.of(pooled[0]) : Dim.UNKNOWN, pw = pooled != null && pooled.length == 2 ? Dim.of(pooled[1]) : Dim.UNKNOWN;
        return List.of(new TensorType(x.dtype(), SymShape.of(count, channels, ph, pw)));
    }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0), rois = ctx.input(1);
        NnArrays.requireFloat(x.dtype(), "MaxRoiPool X");
        NnArrays.requireFloat(rois.dtype(), "MaxRoiPool rois");
        long[] pooled = ctx.attributes().getInts("pooled_shape");
        if (pooled == null || pooled.length != 2 || pooled[0] < 1 || pooled[1] < 1) {
            throw new KernelException("MaxRoiPool needs pooled_shape of two positive sizes, got " + (pooled == null ? "none" : java.util.Arrays.toString(pooled)));
        }
        if (x.rank() != 4) throw new KernelException("MaxRoiPool X must be [N, C, H, W], got " + x.shape());
        if (rois.rank() != 2 || rois.shape().dim(1) != 5) throw new KernelException("MaxRoiPool rois must be [num_rois, 5], got " + rois.shape());
        double scale = ctx.attributes().getFloat("spatial_scale", 1f);
        int n = Math.toIntExact(x.shape().dim(0)), channels = Math.toIntExact(x.shape().dim(1));
        int h = Math.toIntExact(x.shape().dim(2)), w = Math.toIntExact(x.shape().dim(3));
        int count = Math.toIntExact(rois.shape().dim(0)), ph = Math.toIntExact(pooled[0]), pw = Math.toIntExact(pooled[1]);
        Tensor y = ctx.output(0, x.dtype(), Shape.of(count, channels, ph, pw));
        if (y.elementCount() == 0) return;
        boolean single = rois.dtype() != dev.sluice.kernels.DType.FLOAT64; // corners scale in the rois' precision, as in ORT
        double[] data = NnArrays.doubles(x), box = NnArrays.doubles(rois), out = new double[Math.toIntExact(y.elementCount())];
        for (int r = 0; r < count; r++) {
            double batchValue = box[r * 5];
            long batch = (long) batchValue;
            if (batch != batchValue || batch < 0 || batch >= n) {
                throw new KernelException("MaxRoiPool rois[" + r + "] has batch index " + batchValue + ", not an integer in [0, " + n + ")");
            }
            long sw = roundAway(RoiAlign.fr(box[r * 5 + 1] * scale, single)), sh = roundAway(RoiAlign.fr(box[r * 5 + 2] * scale, single));
            long ew = roundAway(RoiAlign.fr(box[r * 5 + 3] * scale, single)), eh = roundAway(RoiAlign.fr(box[r * 5 + 4] * scale, single));
            // float bin sizes, as ORT computes them
            float binH = (float) Math.max(eh - sh + 1, 1) / ph, binW = (float) Math.max(ew - sw + 1, 1) / pw;
            for (int c = 0; c < channels; c++) {
                int src = Math.toIntExact((batch * channels + c) * h * w), dst = (r * channels + c) * ph * pw;
                for (int i = 0; i < ph; i++) {
                    long hs = clip((long) Math.floor(i * binH) + sh, h), he = clip((long) Math.ceil((i + 1) * binH) + sh, h);
                    for (int j = 0; j < pw; j++) {
                        long ws = clip((long) Math.floor(j * binW) + sw, w), we = clip((long) Math.ceil((j + 1) * binW) + sw, w);
                        double best = he <= hs || we <= ws ? 0 : Double.NEGATIVE_INFINITY;
                        for (long a = hs; a < he; a++) for (long b = ws; b < we; b++) best = Math.max(best, data[(int) (src + a * w + b)]);
                        out[dst + i * pw + j] = best;
                    }
                }
            }
        }
        NnArrays.store(y, out);
    }

    /** C's round: halves go away from zero (Math.round sends -2.5 to -2). */
    private static long roundAway(double v) { return (long) (v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5)); }

    private static long clip(long v, int len) { return Math.min(Math.max(v, 0), len); }
}
