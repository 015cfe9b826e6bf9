package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.core.ScratchPool;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * ConvTranspose on float32 (other float types convert through float32): a GEMM of the weights and the input into
 * columns, then col2im scatter-adds of those columns into the output, with the bias and activation applied once every
 * tap of an output element is summed. Shares Conv's attribute, bias and window helpers ({@link ConvKernels}).
 */
final class ConvTransposeKernels {
    private ConvTransposeKernels() {}

    /** ConvTranspose's output sizes and begin pads from output_shape / output_padding / pads / auto_pad. */
    record TransposeGeometry(WindowGeometry w, int[] out) {
        static TransposeGeometry of(long[] in, long[] kernel, Attributes at) {
            int r = in.length;
            long[] s = NnArrays.ints(at, "strides", NnArrays.filled(r, 1));
            long[] d = NnArrays.ints(at, "dilations", NnArrays.filled(r, 1));
            long[] pads = NnArrays.ints(at, "pads", NnArrays.filled(2 * r, 0));
            long[] op = NnArrays.ints(at, "output_padding", NnArrays.filled(r, 0));
            long[] os = at.getInts("output_shape");
            if (os != null && os.length == r + 2) os = java.util.Arrays.copyOfRange(os, 2, os.length);
            if (kernel.length != r || s.length != r || d.length != r || pads.length != 2 * r || op.length != r
                    || (os != null && os.length != r)) {
                throw new KernelException("ConvTranspose attributes do not match " + r + " spatial axes");
            }
            String autoPad = at.getString("auto_pad", "NOTSET");
            int[] k = new int[r], st = new int[r], dl = new int[r], pb = new int[r], pe = new int[r], out = new int[r], ins = new int[r];
            for (int i = 0; i < r; i++) {
                k[i] = Math.toIntExact(kernel[i]);
                st[i] = Math.toIntExact(s[i]);
                dl[i] = Math.toIntExact(d[i]);
                ins[i] = (int) in[i];
                long span = (long) (k[i] - 1) * dl[i] + 1;
                long full = in[i] < 0 ? -1 : st[i] * (in[i] - 1) + op[i] + span;
                boolean same = autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER");
                if (os != null || same) {
                    long o = os != null ? os[i] : (in[i] < 0 ? -1 : in[i] * st[i]);
                    out[i] = (int) o;
                    if (full >= 0 && o >= 0) {
                        long total = Math.max(0, full - o);
                        // the spec puts the odd unit at the end only for SAME_UPPER
                        pb[i] = (int) (autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2);
                        pe[i] = (int) (total - pb[i]);
                    }
                } else {
                    if (!autoPad.equals("VALID")) {
                        pb[i] = Math.toIntExact(pads[i]);
                        pe[i] = Math.toIntExact(pads[i + r]);
                    }
                    out[i] = full < 0 ? -1 : (int) (full - pb[i] - pe[i]);
                    if (full >= 0 && out[i] < 0) throw new KernelException("ConvTranspose pads exceed the output size");
                }
            }
            return new TransposeGeometry(new WindowGeometry(ins, k, st, dl, pb, pe, out), out);
        }
    }

    /**
     * sluice.FusedConvTranspose: ConvTranspose with an activation (see Activation) applied to each finished
     * output row after the bias, while it is in cache. The fusion pass emits it for a ConvTranspose whose
     * per-channel Add and BatchNormalization it folded into the weight and bias, and for the activation after.
     */
    static final class FusedConvTranspose extends ConvTranspose {
        @Override Activation activation(Attributes at) { return Activation.of(at); }
    }

    static class ConvTranspose implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return ConvKernels.inferWindowed(ctx, true); }

        Activation activation(Attributes at) { return Activation.NONE; }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), w = ctx.input(1);
            if (x.rank() < 3 || w.rank() != x.rank()) {
                throw new KernelException("ConvTranspose needs input rank >= 3 and a weight of the same rank, got " + x.shape() + " and " + w.shape());
            }
            NnArrays.requireFloat(x.dtype(), "ConvTranspose");
            Attributes at = ctx.attributes();
            int group = Math.toIntExact(at.getInt("group", 1));
            long[] xd = x.shape().dims();
            int n = (int) xd[0], c = (int) xd[1];
            if (group <= 0 || w.shape().dim(0) != c || c % group != 0) {
                throw new KernelException("ConvTranspose channels do not fit: input " + x.shape() + ", weight " + w.shape() + ", group " + group);
            }
            int mg = (int) w.shape().dim(1), m = mg * group;
            long[] k = ConvKernels.kernelShape(at, w.shape().dims());
            TransposeGeometry tg = TransposeGeometry.of(java.util.Arrays.copyOfRange(xd, 2, xd.length), k, at);
            long[] od = new long[xd.length];
            od[0] = n;
            od[1] = m;
            for (int i = 0; i < tg.out.length; i++) od[i + 2] = tg.out[i];
            Tensor y = ctx.output(0, x.dtype(), Shape.of(od));
            if (y.elementCount() == 0) return;
            float[] b = ConvKernels.bias(ctx, 2, m);
            Activation act = activation(at);
            if (x.dtype() == DType.FLOAT32 && w.dtype() == DType.FLOAT32) {
                convTranspose(x.data(), w.data(), b, y.data(), n, c, mg, group, tg.w, ctx.parallelism(), act);
            } else {
                Tensor yf = Tensor.allocate(DType.FLOAT32, y.shape());
                convTranspose(NnArrays.asF32(x).data(), NnArrays.asF32(w).data(), b, yf.data(), n, c, mg, group, tg.w,
                        ctx.parallelism(), act);
                NnArrays.store(y, yf.toFloatArray());
            }
        }
    }

    /**
     * Float32 transposed convolution. Geometry is that of the forward convolution from y to x: in() is the
     * transposed op's input (x) size, out() its output (y) size.
     */
    static void convTranspose(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int mg, int group,
                              WindowGeometry g0, Parallelism par) {
        convTranspose(x, w, bias, y, n, c, mg, group, g0, par, Activation.NONE);
    }

    /** The same, applying {@code act} to every output element after its bias and all its taps are summed. */
    static void convTranspose(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int mg, int group,
                              WindowGeometry g0, Parallelism par, Activation act) {
        WindowGeometry g = g0.as2d();
        int cg = c / group, m = mg * group;
        int inSize = Math.toIntExact(g.inSize()), outSize = Math.toIntExact(g.outSize()), ks = Math.toIntExact(g.kernelSize());
        int rows = mg * ks;
        // col[(o, kpos), pixel] = sum_ci W[ci, o, kpos] * x[ci, pixel], rows ld apart
        int mr = DirectConv.rowsPerTile(rows), ld = ConvKernels.roundUp(inSize, DirectConv.NT);
        float[] col = ScratchPool.take(Math.multiplyExact(ConvKernels.roundUp(rows, mr), ld));
        try {
            for (int gi = 0; gi < group; gi++) {
                // the weight's group slice is cg x rows: packed as its transpose, rows x cg
                float[] wp = DirectConv.pack(w, (long) gi * cg * rows, rows, cg, mr, true);
                for (int ni = 0; ni < n; ni++) {
                    DirectConv.product(x, ((long) ni * c + (long) gi * cg) * inSize, cg, inSize, wp, rows, mr, col, ld, par);
                    int fni = ni, fgi = gi;
                    if (g.rank() == 2) {
                        // tasks: output channels x bands of output rows (a one-channel layer still splits)
                        int oh = g.out()[0], ow = g.out()[1];
                        int bands = Math.max(1, Math.min(oh, 4 * par.threads() / mg)), rowsPer = (oh + bands - 1) / bands;
                        int nbands = (oh + rowsPer - 1) / rowsPer;
                        par.forEach(mg * nbands, ((long) ks * inSize + outSize) / nbands, t -> {
                            int o = t / nbands, oy0 = (t % nbands) * rowsPer, oy1 = Math.min(oh, oy0 + rowsPer);
                            col2imRows(col, o * ks * ld, ld, g, bias == null ? 0f : bias[fgi * mg + o], oy0, oy1,
                                    y, ((long) fni * m + (long) fgi * mg + o) * outSize, act);
                        });
                    } else {
                        par.forEach(mg, (long) ks * inSize + outSize, o -> {
                            float[] acc = ConvKernels.scratch(0, outSize);
                            java.util.Arrays.fill(acc, 0, outSize, bias == null ? 0f : bias[fgi * mg + o]);
                            col2imNd(col, o * ks * ld, ld, g, acc);
                            act.biasAndApply(acc, 0, outSize, 0f);
                            MemorySegment.copy(acc, 0, y, NnArrays.F32, (((long) fni * m + (long) fgi * mg + o) * outSize) * 4, outSize);
                        });
                    }
                }
            }
        } finally {
            ScratchPool.give(col);
        }
    }

    /**
     * Output rows [oy0, oy1) of one 2-D output channel: the bias, plus its columns (kernel position rows
     * {@code ld} apart from {@code co}) scatter-added tap by tap in kernel order, into y at {@code yo}.
     * The sums run in column phases (output columns ox = qx * sw + px as plane px, column qx), where each
     * input row lands on a contiguous run, then the phases are interleaved into whole rows. Each output
     * element is the bias plus at most one term per tap in kernel order, whatever the band or the phases.
     * {@code act} then maps each whole output row (lanes start at the row's start, in any band).
     */
    private static void col2imRows(float[] col, int co, int ld, WindowGeometry g, float bias, int oy0, int oy1,
                                   MemorySegment y, long yo, Activation act) {
        int h = g.in()[0], wd = g.in()[1], ow = g.out()[1];
        int kh = g.kernel()[0], kw = g.kernel()[1], sh = g.strides()[0], sw = g.strides()[1];
        int dh = g.dilations()[0], dw = g.dilations()[1], ph = g.padBegin()[0], pw = g.padBegin()[1];
        int wq = (ow + sw - 1) / sw, rows = oy1 - oy0, plane = rows * wq;
        float[] acc = ConvKernels.scratch(0, sw * plane);
        java.util.Arrays.fill(acc, 0, sw * plane, bias);
        for (int ky = 0; ky < kh; ky++) {
            for (int kx = 0; kx < kw; kx++) {
                int src = co + (ky * kw + kx) * ld;
                int base = kx * dw - pw, px = Math.floorMod(base, sw), shift = Math.floorDiv(base, sw);
                // input column ix lands on output column ix*sw + base: phase px, column ix + shift
                int lo = ConvKernels.firstValid(base, sw, 0, wd), hi = ConvKernels.endValid(base, sw, ow, lo, wd);
                if (hi <= lo) continue;
                for (int iy = 0; iy < h; iy++) {
                    int oy = iy * sh - ph + ky * dh;
                    if (oy < oy0 || oy >= oy1) continue;
                    int s = src + iy * wd, d = px * plane + (oy - oy0) * wq + shift;
                    for (int ix = lo; ix < hi; ix++) acc[d + ix] += col[s + ix];
                }
            }
        }
        float[] row = sw == 1 ? acc : ConvKernels.scratch(1, wq * sw);
        for (int r = 0; r < rows; r++) {
            int from = r * wq;
            if (sw == 2) {
                zipPairs(acc, from, from + plane, wq, row);
            } else if (sw > 2) {
                for (int px = 0; px < sw; px++) {
                    for (int q = 0, at = px * plane + from; q < wq; q++) row[q * sw + px] = acc[at + q];
                }
            }
            act.biasAndApply(row, sw == 1 ? from : 0, ow, 0f);
            MemorySegment.copy(row, sw == 1 ? from : 0, y, NnArrays.F32, (yo + (long) (oy0 + r) * ow) * 4, ow);
        }
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> S = Gemm32.SPECIES;
    private static final int L = S.length();
    /** Output lane i of a zipped pair of vectors takes lane i / 2 of the (low or high) halves of its sources. */
    private static final jdk.incubator.vector.VectorShuffle<Float> ZIP_LO =
            jdk.incubator.vector.VectorShuffle.fromOp(S, i -> i / 2),
            ZIP_HI = jdk.incubator.vector.VectorShuffle.fromOp(S, i -> L / 2 + i / 2);
    /** The odd lanes: filled from the second source. */
    private static final jdk.incubator.vector.VectorMask<Float> ODD_LANES =
            jdk.incubator.vector.VectorMask.fromLong(S, 0xAAAAAAAAAAAAAAAAL & ((1L << L) - 1));

    /** row[2q] = a[ea + q], row[2q + 1] = a[oa + q] for q in [0, n): a plain copy, zipped by vector permutes. */
    private static void zipPairs(float[] a, int ea, int oa, int n, float[] row) {
        int q = 0;
        for (; q + L <= n; q += L) {
            jdk.incubator.vector.FloatVector e = jdk.incubator.vector.FloatVector.fromArray(S, a, ea + q),
                    o = jdk.incubator.vector.FloatVector.fromArray(S, a, oa + q);
            e.rearrange(ZIP_LO).blend(o.rearrange(ZIP_LO), ODD_LANES).intoArray(row, 2 * q);
            e.rearrange(ZIP_HI).blend(o.rearrange(ZIP_HI), ODD_LANES).intoArray(row, 2 * q + L);
        }
        for (; q < n; q++) {
            row[2 * q] = a[ea + q];
            row[2 * q + 1] = a[oa + q];
        }
    }

    private static void col2imNd(float[] col, int co, int ld, WindowGeometry g, float[] acc) {
        int r = g.rank(), ks = (int) g.kernelSize(), inSize = (int) g.inSize();
        int[] in = g.in(), out = g.out(), kern = g.kernel();
        int[] kc = new int[r], ic = new int[r];
        for (int kidx = 0; kidx < ks; kidx++) {
            int t = kidx;
            for (int d = r - 1; d >= 0; d--) { kc[d] = t % kern[d]; t /= kern[d]; }
            for (int p = 0; p < inSize; p++) {
                int q = p;
                for (int d = r - 1; d >= 0; d--) { ic[d] = q % in[d]; q /= in[d]; }
                int idx = 0;
                boolean ok = true;
                for (int d = 0; d < r; d++) {
                    int o = ic[d] * g.strides()[d] - g.padBegin()[d] + kc[d] * g.dilations()[d];
                    if (o < 0 || o >= out[d]) { ok = false; break; }
                    idx = idx * out[d] + o;
                }
                if (ok) acc[idx] += col[co + kidx * ld + p];
            }
        }
    }
}
