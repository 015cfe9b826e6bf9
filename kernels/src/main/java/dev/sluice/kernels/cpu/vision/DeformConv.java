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
 * ONNX DeformConv (opset 19), 2-D: a convolution whose kernel taps are moved, per output position, by learned
 * offsets and optionally scaled by a mask (deformable convolution v1 / v2, torchvision's deform_conv2d).
 *
 * <p>For each batch the kernel gathers the deformed taps into columns, {@code [C * kH * kW, oH * oW]}: tap
 * {@code (ki, kj)} of channel c at output {@code (i, j)} is X[c] sampled bilinearly at
 * {@code (i * sH - padTop + ki * dH + dy, j * sW - padLeft + kj * dW + dx)}, pixels outside the map counting as
 * zero, times the mask. The offsets {@code (dy, dx)} and the mask come from the channel group's
 * {@code offset_group}. Then each of the {@code group} weight blocks multiplies its slice of the columns (float32
 * through the project GEMM; float64 by a plain product), and the bias is added. Other spatial ranks are refused
 * with a named error.
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
        if (x.rank() != 4) throw new KernelException("DeformConv supports 2-D inputs [N, C, H, W] only, got " + x.shape());
        if (w.rank() != 4 || offset.rank() != 4) {
            throw new KernelException("DeformConv W and offset must be 4-D for a 4-D X, got " + w.shape() + " and " + offset.shape());
        }
        Attributes at = ctx.attributes();
        int group = Math.toIntExact(at.getInt("group", 1)), og = Math.toIntExact(at.getInt("offset_group", 1));
        long[] ks = NnArrays.ints(at, "kernel_shape", new long[] {w.shape().dim(2), w.shape().dim(3)});
        long[] dil = NnArrays.ints(at, "dilations", new long[] {1, 1}), st = NnArrays.ints(at, "strides", new long[] {1, 1});
        long[] pads = NnArrays.ints(at, "pads", new long[] {0, 0, 0, 0});
        if (ks.length != 2 || dil.length != 2 || st.length != 2 || pads.length != 4) {
            throw new KernelException("DeformConv needs 2 kernel_shape, dilations and strides and 4 pads, got "
                    + Arrays.toString(ks) + ", " + Arrays.toString(dil) + ", " + Arrays.toString(st) + ", " + Arrays.toString(pads));
        }
        int n = Math.toIntExact(x.shape().dim(0)), c = Math.toIntExact(x.shape().dim(1));
        int h = Math.toIntExact(x.shape().dim(2)), wd = Math.toIntExact(x.shape().dim(3));
        int oc = Math.toIntExact(w.shape().dim(0)), kh = (int) ks[0], kw = (int) ks[1], kk = kh * kw;
        if (group < 1 || og < 1 || c % group != 0 || oc % group != 0 || w.shape().dim(1) != c / group
                || w.shape().dim(2) != kh || w.shape().dim(3) != kw || c % og != 0) {
            throw new KernelException("DeformConv shapes disagree: X " + x.shape() + ", W " + w.shape() + ", group " + group
                    + ", offset_group " + og + ", kernel_shape " + Arrays.toString(ks));
        }
        long oh = (h + pads[0] + pads[2] - (dil[0] * (kh - 1) + 1)) / st[0] + 1;
        long ow = (wd + pads[1] + pads[3] - (dil[1] * (kw - 1) + 1)) / st[1] + 1;
        if (oh < 1 || ow < 1 || st[0] < 1 || st[1] < 1 || dil[0] < 1 || dil[1] < 1) {
            throw new KernelException("DeformConv kernel " + Arrays.toString(ks) + " (dilations " + Arrays.toString(dil) + ", strides "
                    + Arrays.toString(st) + ", pads " + Arrays.toString(pads) + ") leaves no output on a " + h + " x " + wd + " map");
        }
        Shape want = Shape.of(n, (long) og * kk * 2, oh, ow);
        if (!offset.shape().equals(want)) throw new KernelException("DeformConv offset must be " + want + ", got " + offset.shape());
        if (mask != null && !mask.shape().equals(Shape.of(n, (long) og * kk, oh, ow))) {
            throw new KernelException("DeformConv mask must be " + Shape.of(n, (long) og * kk, oh, ow) + ", got " + mask.shape());
        }
        if (bias != null && (bias.rank() != 1 || bias.shape().dim(0) != oc)) throw new KernelException("DeformConv B must be [" + oc + "], got " + bias.shape());
        Tensor y = ctx.output(0, x.dtype(), Shape.of(n, oc, oh, ow));
        if (y.elementCount() == 0) return;

        int p = Math.toIntExact(oh * ow), rows = c * kk, cg = c / group, ocg = oc / group, kg = cg * kk;
        double[] xd = NnArrays.doubles(x), od = NnArrays.doubles(offset), md = mask == null ? null : NnArrays.doubles(mask);
        double[] bd = bias == null ? null : NnArrays.doubles(bias);
        boolean dbl = x.dtype() == DType.FLOAT64;
        double[] out = new double[Math.toIntExact(y.elementCount())];
        // the columns in the precision of the product that reads them
        int colCount = Math.toIntExact((long) rows * p);
        double[] cols = dbl ? new double[colCount] : null;
        float[] wf = dbl ? null : w.toFloatArray(), colsF = dbl ? null : new float[colCount], prod = dbl ? null : new float[oc * p];
        double[] wdbl = dbl ? NnArrays.doubles(w) : null;
        for (int b = 0; b < n; b++) {
            int batch = b;
            // the columns of each input channel are independent: fill them in parallel
            ctx.parallelism().forEach(c, (long) kk * p * 4, ch -> {
                int g = ch / (c / og), plane = (batch * c + ch) * h * wd;
                for (int ki = 0; ki < kh; ki++) {
                    for (int kj = 0; kj < kw; kj++) {
                        int tap = ki * kw + kj, row = (ch * kk + tap) * p;
                        int offRow = ((batch * og + g) * kk + tap) * 2 * p, maskRow = ((batch * og + g) * kk + tap) * p;
                        for (int i = 0; i < oh; i++) {
                            for (int j = 0; j < ow; j++) {
                                int q = i * (int) ow + j;
                                double yy = i * st[0] - pads[0] + ki * dil[0] + od[offRow + q];
                                double xx = j * st[1] - pads[1] + kj * dil[1] + od[offRow + p + q];
                                double v = bilinear(xd, plane, h, wd, yy, xx);
                                if (md != null) v *= md[maskRow + q];
                                if (dbl) cols[row + q] = v;
                                else colsF[row + q] = (float) v;
                            }
                        }
                    }
                }
            });
            int base = b * oc * p;
            if (dbl) {
                for (int g = 0; g < group; g++) {
                    for (int o = g * ocg; o < (g + 1) * ocg; o++) {
                        for (int k = 0; k < kg; k++) {
                            double wv = wdbl[o * kg + k];
                            int src = (g * kg + k) * p, dst = base + o * p;
                            for (int q = 0; q < p; q++) out[dst + q] += wv * cols[src + q];
                        }
                    }
                }
            } else {
                Parallelism par = ctx.parallelism();
                for (int g = 0; g < group; g++) {
                    Gemm32.sgemm(false, false, ocg, p, kg, 1f, wf, g * ocg * kg, kg, colsF, g * kg * p, p, 0f, prod, g * ocg * p, p, par);
                }
                for (int i = 0; i < oc * p; i++) out[base + i] = prod[i];
            }
            if (bd != null) for (int o = 0; o < oc; o++) for (int q = 0; q < p; q++) out[base + o * p + q] += bd[o];
        }
        NnArrays.store(y, out);
    }

    /** X's plane sampled at (y, x) by bilinear interpolation, pixels outside the map counting as zero. */
    private static double bilinear(double[] xd, int plane, int h, int w, double y, double x) {
        if (!(y > -1 && y < h && x > -1 && x < w)) return 0; // also NaN offsets
        int y0 = (int) Math.floor(y), x0 = (int) Math.floor(x);
        double ly = y - y0, lx = x - x0, v = 0;
        if (y0 >= 0) {
            if (x0 >= 0) v += (1 - ly) * (1 - lx) * xd[plane + y0 * w + x0];
            if (x0 + 1 < w) v += (1 - ly) * lx * xd[plane + y0 * w + x0 + 1];
        }
        if (y0 + 1 < h) {
            if (x0 >= 0) v += ly * (1 - lx) * xd[plane + (y0 + 1) * w + x0];
            if (x0 + 1 < w) v += ly * lx * xd[plane + (y0 + 1) * w + x0 + 1];
        }
        return v;
    }
}
