package dev.sluice.kernels.cpu.vision;

import dev.sluice.kernels.Attributes;
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
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.List;

/**
 * ONNX RoiAlign (opsets 10, 16): pools each region of interest of a {@code [N, C, H, W]} feature map into an
 * {@code output_height x output_width} grid, each bin the average (or maximum) of bilinear samples on a regular
 * {@code grid_h x grid_w} lattice inside it.
 *
 * <p>Semantics are ORT's, which the ONNX reference copies: a sample more than one pixel outside the map is zero;
 * one within that margin is clamped onto the edge; {@code sampling_ratio = 0} takes {@code ceil(bin size)} samples
 * per bin; {@code output_half_pixel} (opset 10's only behaviour) forces a malformed ROI to at least 1x1 while
 * {@code half_pixel} shifts by half a pixel and does not. Max mode is ORT's, not the paper's: each sample is the
 * largest of its four weighted corner terms (not the interpolated value), and a bin is the largest of those.
 * Region geometry runs in the input's precision (float for float16/float32) so that bin sizes and adaptive
 * sample counts land on the same side of every integer as in ORT.
 */
final class RoiAlign implements OpKernel {
    /** Most samples one ROI may take (adaptive sampling grows with the ROI's size; garbage boxes must not exhaust memory). */
    static final long MAX_SAMPLES = 1L << 24;

    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0);
        Attributes at = ctx.attributes();
        // the ROI count is rois' first dim, or batch_indices' when only that one is a known number
        Dim rois = leading(ctx.inputType(1)), indices = leading(ctx.inputType(2));
        if (!rois.isKnown() && indices.isKnown()) rois = indices;
        Dim channels = x.shape().hasRank() && x.shape().rank() == 4 ? x.shape().dim(1) : Dim.UNKNOWN;
        return List.of(new TensorType(x.dtype(), SymShape.of(rois, channels,
                Dim.of(at.getInt("output_height", 1)), Dim.of(at.getInt("output_width", 1)))));
    }

    private static Dim leading(TensorType t) {
        return t.shape().hasRank() && t.shape().rank() >= 1 ? t.shape().dim(0) : Dim.UNKNOWN;
    }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0), rois = ctx.input(1), batchIndices = ctx.input(2);
        Attributes at = ctx.attributes();
        NnArrays.requireFloat(x.dtype(), "RoiAlign X");
        NnArrays.requireFloat(rois.dtype(), "RoiAlign rois");
        if (x.rank() != 4) throw new KernelException("RoiAlign X must be [N, C, H, W], got " + x.shape());
        if (rois.rank() != 2 || rois.shape().dim(1) != 4) throw new KernelException("RoiAlign rois must be [num_rois, 4], got " + rois.shape());
        if (batchIndices.rank() != 1 || batchIndices.shape().dim(0) != rois.shape().dim(0)) {
            throw new KernelException("RoiAlign batch_indices must be [num_rois] = [" + rois.shape().dim(0) + "], got " + batchIndices.shape());
        }
        if (batchIndices.dtype().isFloatingPoint()) throw new KernelException("RoiAlign batch_indices must be int64, got " + batchIndices.dtype());
        String mode = at.getString("mode", "avg");
        boolean max = switch (mode) {
            case "avg" -> false;
            case "max" -> true;
            default -> throw new KernelException("RoiAlign mode must be 'avg' or 'max', got '" + mode + "'");
        };
        String ctm = ctx.opset() < 16 ? "output_half_pixel" : at.getString("coordinate_transformation_mode", "half_pixel");
        boolean halfPixel = switch (ctm) {
            case "half_pixel" -> true;
            case "output_half_pixel" -> false;
            default -> throw new KernelException("RoiAlign coordinate_transformation_mode must be 'half_pixel' or 'output_half_pixel', got '" + ctm + "'");
        };
        long oh = at.getInt("output_height", 1), ow = at.getInt("output_width", 1), ratio = at.getInt("sampling_ratio", 0);
        if (oh < 1 || ow < 1) throw new KernelException("RoiAlign output_height and output_width must be >= 1, got " + oh + " x " + ow);
        if (ratio < 0 || ratio > Integer.MAX_VALUE) throw new KernelException("RoiAlign sampling_ratio must be in [0, 2^31), got " + ratio);
        if (oh * ow > Integer.MAX_VALUE) throw new KernelException("RoiAlign output_height x output_width is too large: " + oh + " x " + ow);
        double scale = at.getFloat("spatial_scale", 1f);

        int n = Math.toIntExact(x.shape().dim(0)), channels = Math.toIntExact(x.shape().dim(1));
        int h = Math.toIntExact(x.shape().dim(2)), w = Math.toIntExact(x.shape().dim(3));
        int count = Math.toIntExact(rois.shape().dim(0));
        long[] batch = batchIndices.toLongArray();
        for (int r = 0; r < count; r++) {
            if (batch[r] < 0 || batch[r] >= n) throw new KernelException("RoiAlign batch_indices[" + r + "] = " + batch[r] + " is outside [0, " + n + ")");
        }
        Tensor y = ctx.output(0, x.dtype(), Shape.of(count, channels, oh, ow));
        if (y.elementCount() == 0) return;
        if (h == 0 || w == 0) throw new KernelException("RoiAlign X has an empty feature map " + x.shape() + " to pool from");
        boolean single = x.dtype() != DType.FLOAT64;
        double[] data = NnArrays.doubles(x), box = NnArrays.doubles(rois);
        double[] out = new double[Math.toIntExact(y.elementCount())];
        int bins = Math.toIntExact(oh * ow);
        int plane = h * w;
        // ROIs run in parallel; each writes only its own output rows
        ctx.parallelism().forEach(count, (long) channels * bins * 4, r -> {
            Region g = Region.of(box, r * 4, scale, halfPixel, (int) oh, (int) ow, (int) ratio, single);
            double samples = (double) Math.max(g.gridH(), 0) * Math.max(g.gridW(), 0) * bins;
            if (samples > MAX_SAMPLES) {
                throw new KernelException("RoiAlign ROI " + r + " " + java.util.Arrays.toString(java.util.Arrays.copyOfRange(box, r * 4, r * 4 + 4))
                        + " needs " + g.gridH() + " x " + g.gridW() + " samples per bin (" + (long) samples + " in all, more than "
                        + MAX_SAMPLES + "); a smaller sampling_ratio or ROI bounds them");
            }
            Samples smp = g.samples(h, w, single);
            for (int c = 0; c < channels; c++) {
                int src = Math.toIntExact(((long) batch[r] * channels + c) * plane);
                int dst = (r * channels + c) * bins;
                for (int bin = 0; bin < bins; bin++) out[dst + bin] = max ? smp.max(data, src, bin) : smp.avg(data, src, bin);
            }
        });
        NnArrays.store(y, out);
    }

    /** Rounds to float32 when the op computes in single precision (exact for one +, -, * or / of floats). */
    static double fr(double v, boolean single) { return single ? (float) v : v; }

    /** One ROI's bins: start, bin size and samples per bin along each axis. */
    private record Region(double startH, double startW, double binH, double binW, int gridH, int gridW, int oh, int ow) {
        static Region of(double[] box, int at, double scale, boolean halfPixel, int oh, int ow, int ratio, boolean single) {
            double offset = halfPixel ? 0.5 : 0.0;
            double sw = fr(fr(box[at] * scale, single) - offset, single), sh = fr(fr(box[at + 1] * scale, single) - offset, single);
            double ew = fr(fr(box[at + 2] * scale, single) - offset, single), eh = fr(fr(box[at + 3] * scale, single) - offset, single);
            double rw = fr(ew - sw, single), rh = fr(eh - sh, single);
            if (!halfPixel) { rw = Math.max(rw, 1.0); rh = Math.max(rh, 1.0); }
            double binH = fr(rh / oh, single), binW = fr(rw / ow, single);
            int gh = ratio > 0 ? ratio : (int) Math.ceil(binH), gw = ratio > 0 ? ratio : (int) Math.ceil(binW); // (int) saturates
            return new Region(sh, sw, binH, binW, gh, gw, oh, ow);
        }

        /** Corner offsets and weights of every sample of every bin, shared by all channels. */
        Samples samples(int h, int w, boolean single) {
            int gh = Math.max(gridH, 0), gw = Math.max(gridW, 0), per = gh * gw;
            int[] pos = new int[oh * ow * per * 4];
            double[] wt = new double[pos.length];
            int k = 0;
            for (int ph = 0; ph < oh; ph++) {
                for (int pw = 0; pw < ow; pw++) {
                    for (int iy = 0; iy < gh; iy++) {
                        double yy = fr(fr(startH + fr(ph * binH, single), single) + fr(fr((iy + 0.5) * binH, single) / gridH, single), single);
                        for (int ix = 0; ix < gw; ix++, k += 4) {
                            double xx = fr(fr(startW + fr(pw * binW, single), single) + fr(fr((ix + 0.5) * binW, single) / gridW, single), single);
                            bilinear(yy, xx, h, w, pos, wt, k, single);
                        }
                    }
                }
            }
            return new Samples(pos, wt, per, Math.max(gridH * gridW, 1));
        }
    }

    /** Fills the four corners of sample (y, x) at k; a sample beyond the one-pixel margin keeps zero weights. */
    private static void bilinear(double y, double x, int h, int w, int[] pos, double[] wt, int k, boolean single) {
        if (y < -1.0 || y > h || x < -1.0 || x > w) return;
        if (y <= 0) y = 0;
        if (x <= 0) x = 0;
        int yLow = (int) y, xLow = (int) x, yHigh, xHigh;
        if (yLow >= h - 1) { yHigh = yLow = h - 1; y = yLow; } else yHigh = yLow + 1;
        if (xLow >= w - 1) { xHigh = xLow = w - 1; x = xLow; } else xHigh = xLow + 1;
        double ly = fr(y - yLow, single), lx = fr(x - xLow, single), hy = fr(1 - ly, single), hx = fr(1 - lx, single);
        pos[k] = yLow * w + xLow;
        pos[k + 1] = yLow * w + xHigh;
        pos[k + 2] = yHigh * w + xLow;
        pos[k + 3] = yHigh * w + xHigh;
        wt[k] = fr(hy * hx, single);
        wt[k + 1] = fr(hy * lx, single);
        wt[k + 2] = fr(ly * hx, single);
        wt[k + 3] = fr(ly * lx, single);
    }

    /** Precomputed samples: {@code per} samples of four corners for each bin. */
    private record Samples(int[] pos, double[] wt, int per, int divisor) {
        double avg(double[] data, int src, int bin) {
            double sum = 0;
            for (int k = bin * per * 4, end = k + per * 4; k < end; k += 4) {
                sum += wt[k] * data[src + pos[k]] + wt[k + 1] * data[src + pos[k + 1]]
                        + wt[k + 2] * data[src + pos[k + 2]] + wt[k + 3] * data[src + pos[k + 3]];
            }
            return sum / divisor;
        }

        double max(double[] data, int src, int bin) {
            double best = 0;
            boolean first = true;
            for (int k = bin * per * 4, end = k + per * 4; k < end; k += 4) {
                double v = Math.max(Math.max(wt[k] * data[src + pos[k]], wt[k + 1] * data[src + pos[k + 1]]),
                        Math.max(wt[k + 2] * data[src + pos[k + 2]], wt[k + 3] * data[src + pos[k + 3]]));
                best = first ? v : Math.max(best, v);
                first = false;
            }
            return best;
        }
    }
}
