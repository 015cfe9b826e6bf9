package dev.sluice.kernels.cpu.vision;

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
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.util.Arrays;
import java.util.List;

/**
 * ONNX DeformConv (opset 19): a convolution whose kernel taps are moved, per output position, by learned offsets
 * and optionally scaled by a mask (deformable convolution v1 / v2, torchvision's deform_conv2d), over any number of
 * spatial axes (models use 2-D; the ONNX reference and ORT implement only that).
 *
 * <p>For each batch the kernel gathers the deformed taps into columns, {@code [C * prod(kernel), prod(out)]}: tap
 * k of channel c at output position o is X[c] sampled multilinearly (bilinearly in 2-D) at
 * {@code o * stride - padBegin + k * dilation + offset}, per axis, pixels outside the map counting as zero, times
 * the mask. Offsets ({@code r} per tap, first axis first) and the mask come from the channel's
 * {@code offset_group}. Then each of the {@code group} weight blocks multiplies its slice of the columns (float32
 * through the project GEMM; float64 by a plain product), and the bias is added.
 */
final class DeformConv implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0), w = ctx.inputType(1), off = ctx.inputType(2);
        SymShape xs = x.shape(), ws = w.shape(), os = off.shape();
        int rank = xs.hasRank() ? xs.rank() : ws.hasRank() ? ws.rank() : os.hasRank() ? os.rank() : -1;
        if (rank < 3) return List.of(new TensorType(x.dtype(), SymShape.UNKNOWN_RANK));
        Dim[] out = new Dim[rank];
        Arrays.fill(out, Dim.UNKNOWN);
        out[0] = xs.hasRank() ? xs.dim(0) : os.hasRank() ? os.dim(0) : Dim.UNKNOWN;
        if (ws.hasRank()) out[1] = ws.dim(0);
        // the output's spatial size is the offset's (whose shape the attributes must agree with)
        if (os.hasRank() && os.rank() == rank) for (int i = 2; i < rank; i++) out[i] = os.dim(i);
        return List.of(new TensorType(x.dtype(), SymShape.of(out)));
    }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0), w = ctx.input(1), offset = ctx.input(2);
        Tensor bias = ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.input(3) : null;
        Tensor mask = ctx.inputCount() > 4 && ctx.hasInput(4) ? ctx.input(4) : null;
        NnArrays.requireFloat(x.dtype(), "DeformConv X");
        int r = x.rank() - 2;
        if (r < 1) throw new KernelException("DeformConv X must be [N, C, D1, ...], got " + x.shape());
        if (w.rank() != r + 2 || offset.rank() != r + 2) {
            throw new KernelException("DeformConv W and offset must have X's rank " + (r + 2) + ", got " + w.shape() + " and " + offset.shape());
        }
        Attributes at = ctx.attributes();
        int group = Math.toIntExact(at.getInt("group", 1)), og = Math.toIntExact(at.getInt("offset_group", 1));
        long[] wSpatial = Arrays.copyOfRange(w.shape().dims(), 2, r + 2);
        long[] ks = NnArrays.ints(at, "kernel_shape", wSpatial);
        long[] dil = NnArrays.ints(at, "dilations", NnArrays.filled(r, 1)), st = NnArrays.ints(at, "strides", NnArrays.filled(r, 1));
        long[] pads = NnArrays.ints(at, "pads", NnArrays.filled(2 * r, 0));
        if (ks.length != r || dil.length != r || st.length != r || pads.length != 2 * r) {
            throw new KernelException("DeformConv needs " + r + " kernel_shape, dilations and strides and " + 2 * r + " pads, got "
                    + Arrays.toString(ks) + ", " + Arrays.toString(dil) + ", " + Arrays.toString(st) + ", " + Arrays.toString(pads));
        }
        int n = Math.toIntExact(x.shape().dim(0)), c = Math.toIntExact(x.shape().dim(1)), oc = Math.toIntExact(w.shape().dim(0));
        if (group < 1 || og < 1 || c % group != 0 || oc % group != 0 || w.shape().dim(1) != c / group
                || !Arrays.equals(ks, wSpatial) || c % og != 0) {
            throw new KernelException("DeformConv shapes disagree: X " + x.shape() + ", W " + w.shape() + ", group " + group
                    + ", offset_group " + og + ", kernel_shape " + Arrays.toString(ks));
        }
        int[] size = new int[r], out = new int[r], kernel = new int[r];
        long kk = 1, p = 1;
        for (int d = 0; d < r; d++) {
            size[d] = Math.toIntExact(x.shape().dim(d + 2));
            long o = st[d] < 1 || dil[d] < 1 ? 0 : (size[d] + pads[d] + pads[d + r] - (dil[d] * (ks[d] - 1) + 1)) / st[d] + 1;
            if (o < 1 || pads[d] < 0 || pads[d + r] < 0) {
                throw new KernelException("DeformConv kernel " + Arrays.toString(ks) + " (dilations " + Arrays.toString(dil) + ", strides "
                        + Arrays.toString(st) + ", pads " + Arrays.toString(pads) + ") leaves no output on " + x.shape());
            }
            out[d] = Math.toIntExact(o);
            kernel[d] = (int) ks[d];
            kk *= ks[d];
            p *= o;
        }
        long[] outDims = new long[r + 2], offsetDims = new long[r + 2], maskDims = new long[r + 2];
        outDims[0] = offsetDims[0] = maskDims[0] = n;
        outDims[1] = oc;
        offsetDims[1] = og * kk * r;
        maskDims[1] = og * kk;
        for (int d = 0; d < r; d++) outDims[d + 2] = offsetDims[d + 2] = maskDims[d + 2] = out[d];
        if (!offset.shape().equals(Shape.of(offsetDims))) throw new KernelException("DeformConv offset must be " + Shape.of(offsetDims) + ", got " + offset.shape());
        if (mask != null && !mask.shape().equals(Shape.of(maskDims))) throw new KernelException("DeformConv mask must be " + Shape.of(maskDims) + ", got " + mask.shape());
        if (bias != null && (bias.rank() != 1 || bias.shape().dim(0) != oc)) throw new KernelException("DeformConv B must be [" + oc + "], got " + bias.shape());
        Tensor y = ctx.output(0, x.dtype(), Shape.of(outDims));
        if (y.elementCount() == 0) return;

        int positions = Math.toIntExact(p), taps = Math.toIntExact(kk), plane = Math.toIntExact(x.shape().product(2, r + 2));
        int cg = c / group, ocg = oc / group, kg = cg * taps;
        double[] xd = NnArrays.doubles(x), od = NnArrays.doubles(offset), md = mask == null ? null : NnArrays.doubles(mask);
        double[] bd = bias == null ? null : NnArrays.doubles(bias);
        boolean dbl = x.dtype() == DType.FLOAT64;
        double[] result = new double[Math.toIntExact(y.elementCount())];
        // the columns in the precision of the product that reads them
        int colCount = Math.toIntExact((long) c * taps * positions);
        double[] cols = dbl ? new double[colCount] : null;
        float[] wf = dbl ? null : w.toFloatArray(), colsF = dbl ? null : new float[colCount], prod = dbl ? null : new float[oc * positions];
        double[] wdbl = dbl ? NnArrays.doubles(w) : null;
        for (int b = 0; b < n; b++) {
            int batch = b;
            // the columns of each input channel are independent: fill them in parallel
            ctx.parallelism().forEach(c, (long) taps * positions * 4 * r, ch -> {
                int g = ch / (c / og), src = (batch * c + ch) * plane;
                int[] ki = new int[r], oi = new int[r];
                double[] at2 = new double[r];
                for (int tap = 0; tap < taps; tap++) {
                    unflatten(tap, kernel, ki);
                    int row = (ch * taps + tap) * positions, group2 = (batch * og + g) * taps + tap;
                    int offRow = group2 * r * positions, maskRow = group2 * positions;
                    for (int q = 0; q < positions; q++) {
                        unflatten(q, out, oi);
                        for (int d = 0; d < r; d++) {
                            at2[d] = (double) oi[d] * st[d] - pads[d] + (double) ki[d] * dil[d] + od[offRow + d * positions + q];
                        }
                        double v = multilinear(xd, src, size, at2);
                        if (md != null) v *= md[maskRow + q];
                        if (dbl) cols[row + q] = v;
                        else colsF[row + q] = (float) v;
                    }
                }
            });
            int base = b * oc * positions;
            if (dbl) {
                for (int g = 0; g < group; g++) {
                    for (int o = g * ocg; o < (g + 1) * ocg; o++) {
                        for (int k = 0; k < kg; k++) {
                            double wv = wdbl[o * kg + k];
                            int from = (g * kg + k) * positions, to = base + o * positions;
                            for (int q = 0; q < positions; q++) result[to + q] += wv * cols[from + q];
                        }
                    }
                }
            } else {
                Parallelism par = ctx.parallelism();
                for (int g = 0; g < group; g++) {
                    Gemm32.sgemm(false, false, ocg, positions, kg, 1f, wf, g * ocg * kg, kg, colsF, g * kg * positions, positions,
                            0f, prod, g * ocg * positions, positions, par);
                }
                for (int i = 0; i < oc * positions; i++) result[base + i] = prod[i];
            }
            if (bd != null) for (int o = 0; o < oc; o++) for (int q = 0; q < positions; q++) result[base + o * positions + q] += bd[o];
        }
        NnArrays.store(y, result);
    }

    /** The multi-index of flat index i in a row-major box of these sizes. */
    private static void unflatten(int i, int[] sizes, int[] idx) {
        for (int d = sizes.length - 1; d >= 0; d--) {
            idx[d] = i % sizes[d];
            i /= sizes[d];
        }
    }

    /**
     * X's plane (from {@code src}) sampled at a fractional position by multilinear interpolation over the 2^r
     * surrounding pixels, those outside the map counting as zero (bilinear for r = 2).
     */
    static double multilinear(double[] xd, int src, int[] size, double[] pos) {
        int r = size.length;
        for (int d = 0; d < r; d++) if (!(pos[d] > -1 && pos[d] < size[d])) return 0; // every corner is outside; also NaN
        double v = 0;
        corners:
        for (int corner = 0; corner < 1 << r; corner++) {
            double wgt = 1;
            int at = 0;
            for (int d = 0; d < r; d++) {
                double f = Math.floor(pos[d]);
                int i = (int) f + (corner >> (r - 1 - d) & 1);
                if (i < 0 || i >= size[d]) continue corners;
                double frac = pos[d] - f;
                wgt *= (corner >> (r - 1 - d) & 1) == 1 ? frac : 1 - frac;
                at = at * size[d] + i;
            }
            v += wgt * xd[src + at];
        }
        return v;
    }
}
