package dev.sluice.kernels.cpu.quant;

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
import java.util.ArrayList;
import java.util.List;

/** ConvInteger and QLinearConv: N-d grouped convolution over zero-point-shifted integers, exact in long. */
final class IntegerConvKernels {
    private IntegerConvKernels() {}

    /** Pads, strides and dilations resolved against concrete spatial sizes. */
    record Geometry(int[] in, int[] kernel, int[] strides, int[] dilations, int[] padBegin, int[] out) {
        static Geometry of(Attributes at, long[] inSpatial, long[] kernelSpatial) {
            int r = inSpatial.length;
            long[] ks = at.getInts("kernel_shape");
            int[] k = new int[r], s = new int[r], d = new int[r], pb = new int[r], pe = new int[r], in = new int[r], o = new int[r];
            long[] st = at.getInts("strides"), di = at.getInts("dilations"), pads = at.getInts("pads");
            String autoPad = at.getString("auto_pad", "NOTSET");
            for (int i = 0; i < r; i++) {
                in[i] = (int) inSpatial[i];
                k[i] = (int) (ks != null ? ks[i] : kernelSpatial[i]);
                s[i] = st != null ? (int) st[i] : 1;
                d[i] = di != null ? (int) di[i] : 1;
                int ext = (k[i] - 1) * d[i] + 1;
                switch (autoPad) {
                    case "NOTSET" -> {
                        pb[i] = pads != null ? (int) pads[i] : 0;
                        pe[i] = pads != null ? (int) pads[i + r] : 0;
                    }
                    case "VALID" -> { pb[i] = 0; pe[i] = 0; }
                    case "SAME_UPPER", "SAME_LOWER" -> {
                        int outLen = (in[i] + s[i] - 1) / s[i];
                        int total = Math.max(0, (outLen - 1) * s[i] + ext - in[i]);
                        pb[i] = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                        pe[i] = total - pb[i];
                    }
                    default -> throw new KernelException("unknown auto_pad '" + autoPad + "'");
                }
                o[i] = (in[i] + pb[i] + pe[i] - ext) / s[i] + 1;
                if (o[i] < 0) o[i] = 0;
            }
            return new Geometry(in, k, s, d, pb, o);
        }
    }

    /** acc[n][m][out spatial] = Σ (x - xzp)(w - wzp[m]); padding reads as the zero point, i.e. contributes 0. */
    static long[] accumulate(Tensor x, long xzp, Tensor w, Tensor wzp, Attributes at, long[] outShape) {
        Shape xs = x.shape(), ws = w.shape();
        if (xs.rank() < 3 || ws.rank() != xs.rank()) throw new KernelException("conv expects X [N,C,...] and W of the same rank, got " + xs + ", " + ws);
        int r = xs.rank() - 2;
        int batch = (int) xs.dim(0), c = (int) xs.dim(1), m = (int) ws.dim(0), cg = (int) ws.dim(1);
        int group = (int) at.getInt("group", 1);
        if (cg * group != c || m % group != 0) throw new KernelException("channels " + c + " / group " + group + " do not fit W " + ws);
        long[] inSp = new long[r], kSp = new long[r];
        for (int i = 0; i < r; i++) { inSp[i] = xs.dim(2 + i); kSp[i] = ws.dim(2 + i); }
        Geometry g = Geometry.of(at, inSp, kSp);
        outShape[0] = batch;
        outShape[1] = m;
        int outSize = 1, inSize = 1, kSize = 1;
        for (int i = 0; i < r; i++) { outShape[2 + i] = g.out()[i]; outSize *= g.out()[i]; inSize *= g.in()[i]; kSize *= g.kernel()[i]; }
        if (wzp != null && wzp.elementCount() != 1 && wzp.elementCount() != m) throw new KernelException("w_zero_point shape " + wzp.shape() + " for " + m + " filters");
        long[] acc = new long[batch * m * outSize];
        int mPerGroup = m / group;
        if (isEightBit(x.dtype()) && isEightBit(w.dtype()) && (long) cg * kSize <= (1 << 15)) {
            lowered(x, xzp, w, wzp, g, batch, c, m, cg, group, acc);
            return acc;
        }
        int[] oc = new int[r], kc = new int[r];
        // per kernel offset and output position, the input coordinate along each spatial axis
        for (int n = 0; n < batch; n++) {
            for (int f = 0; f < m; f++) {
                int grp = f / mPerGroup;
                long wz = wzp == null ? 0 : wzp.getLong(wzp.elementCount() == 1 ? 0 : f);
                for (int op = 0; op < outSize; op++) {
                    unflatten(op, g.out(), oc);
                    long s = 0;
                    for (int kp = 0; kp < kSize; kp++) {
                        unflatten(kp, g.kernel(), kc);
                        int inFlat = 0;
                        boolean inside = true;
                        for (int i = 0; i < r && inside; i++) {
                            int pos = oc[i] * g.strides()[i] - g.padBegin()[i] + kc[i] * g.dilations()[i];
                            if (pos < 0 || pos >= g.in()[i]) inside = false;
                            inFlat = inFlat * g.in()[i] + pos;
                        }
                        if (!inside) continue;
                        for (int ch = 0; ch < cg; ch++) {
                            long xv = x.getLong(((long) n * c + grp * cg + ch) * inSize + inFlat) - xzp;
                            long wv = w.getLong(((long) f * cg + ch) * kSize + kp) - wz;
                            s += xv * wv;
                        }
                    }
                    acc[(n * m + f) * outSize + op] = s;
                }
            }
        }
        return acc;
    }

    private static boolean isEightBit(DType t) { return t == DType.UINT8 || t == DType.INT8; }

    /** Output positions per lowered block: bounds the operand to ROWS x (channels x kernel) floats. */
    private static final int ROWS = 256;

    /**
     * The same sums as the direct loop, as matrix products on {@link QuantGemm}'s exact int8 kernel: per image and
     * group, a block of output positions becomes rows of (channel, kernel offset) operands {@code x - x_zp} (0 where
     * the window reaches into the padding, which reads as the zero point), the group's filters a packed weight
     * (column f, per-filter zero points), and the int32 product lands in {@code acc}'s [n][f][position] layout.
     * Exact, as the direct loop is: every partial sum is an integer the product represents exactly (see
     * QuantGemm), and the total fits int32 for any depth below 2^15 channels x kernel (255 * 255 * 2^15 < 2^31).
     */
    private static void lowered(Tensor x, long xzp, Tensor w, Tensor wzp, Geometry g, int batch, int c, int m, int cg, int group, long[] acc) {
        int r = g.in().length, outSize = 1, inSize = 1, kSize = 1;
        for (int i = 0; i < r; i++) { outSize *= g.out()[i]; inSize *= g.in()[i]; kSize *= g.kernel()[i]; }
        int depth = cg * kSize, mg = m / group;
        boolean xu = x.dtype() == DType.UINT8;
        java.lang.foreign.MemorySegment xd = x.data(), wd = w.data();
        // per kernel offset: its coordinates; per output position: the window's first input coordinate
        int[][] kc = new int[kSize][r], start = new int[outSize][r];
        for (int kp = 0; kp < kSize; kp++) unflatten(kp, g.kernel(), kc[kp]);
        int[] oc = new int[r];
        for (int op = 0; op < outSize; op++) {
            unflatten(op, g.out(), oc);
            for (int i = 0; i < r; i++) start[op][i] = oc[i] * g.strides()[i] - g.padBegin()[i];
        }
        // the group's filters as a depth x mg weight (row ch * kSize + kp), packed once per group
        Int8Panels[] packed = new Int8Panels[group];
        for (int grp = 0; grp < group; grp++) {
            byte[] b = new byte[depth * mg];
            float[] zps = new float[mg];
            for (int j = 0; j < mg; j++) {
                int f = grp * mg + j;
                zps[j] = wzp == null ? 0 : wzp.getLong(wzp.elementCount() == 1 ? 0 : f);
                for (int q = 0; q < depth; q++) b[q * mg + j] = wd.get(java.lang.foreign.ValueLayout.JAVA_BYTE, (long) f * depth + q);
            }
            packed[grp] = new Int8Panels(java.lang.foreign.MemorySegment.ofArray(b), 0, w.dtype(), depth, mg, zps);
        }
        int[] prod = new int[ROWS * mg], sums = new int[ROWS];
        for (int n = 0; n < batch; n++) {
            for (int grp = 0; grp < group; grp++) {
                long xBase = ((long) n * c + (long) grp * cg) * inSize;
                for (int r0 = 0; r0 < outSize; r0 += ROWS) {
                    int rows = Math.min(ROWS, outSize - r0);
                    float[] a = QuantGemm.operandWithZeroRow(rows, depth);
                    for (int i = 0; i < rows; i++) {
                        int[] st = start[r0 + i];
                        int row = i * depth;
                        for (int kp = 0; kp < kSize; kp++) {
                            int inFlat = 0;
                            boolean inside = true;
                            for (int d = 0; d < r && inside; d++) {
                                int pos = st[d] + kc[kp][d] * g.dilations()[d];
                                if (pos < 0 || pos >= g.in()[d]) inside = false;
                                inFlat = inFlat * g.in()[d] + pos;
                            }
                            for (int ch = 0; ch < cg; ch++) {
                                float v = 0;
                                if (inside) {
                                    byte q = xd.get(java.lang.foreign.ValueLayout.JAVA_BYTE, xBase + (long) ch * inSize + inFlat);
                                    v = (xu ? q & 0xFF : q) - xzp;
                                }
                                a[row + ch * kSize + kp] = v;
                            }
                        }
                    }
                    QuantGemm.rowSums(a, rows, depth, sums);
                    Int8Panels wp = packed[grp];
                    QuantGemm.multiply(a, sums, rows, wp, 0, QuantGemm.tiles(rows), 0, wp.panels, null, null, 0, prod, 0);
                    for (int j = 0; j < mg; j++) {
                        long o = ((long) n * m + grp * mg + j) * outSize + r0;
                        for (int i = 0; i < rows; i++) acc[(int) (o + i)] = prod[i * mg + j];
                    }
                }
            }
        }
    }

    private static void unflatten(int flat, int[] dims, int[] coords) {
        for (int i = dims.length - 1; i >= 0; i--) { coords[i] = flat % dims[i]; flat /= dims[i]; }
    }

    static SymShape inferShape(InferContext ctx, int xIndex, int wIndex) {
        SymShape xs = ctx.inputType(xIndex).shape(), ws = ctx.inputType(wIndex).shape();
        if (!xs.hasRank()) return ws.hasRank() ? SymShape.unknownDims(ws.rank()) : SymShape.UNKNOWN_RANK;
        int r = xs.rank() - 2;
        List<Dim> out = new ArrayList<>();
        out.add(xs.dim(0));
        out.add(ws.hasRank() ? ws.dim(0) : Dim.UNKNOWN);
        boolean known = true;
        long[] inSp = new long[r], kSp = new long[r];
        for (int i = 0; i < r; i++) {
            if (!xs.dim(2 + i).isKnown()) { known = false; break; }
            inSp[i] = xs.dim(2 + i).value();
            long[] ks = ctx.attributes().getInts("kernel_shape");
            if (ks != null) kSp[i] = ks[i];
            else if (ws.hasRank() && ws.dim(2 + i).isKnown()) kSp[i] = ws.dim(2 + i).value();
            else { known = false; break; }
        }
        if (known) {
            Geometry g = Geometry.of(ctx.attributes(), inSp, kSp);
            for (int i = 0; i < r; i++) out.add(Dim.of(g.out()[i]));
        } else for (int i = 0; i < r; i++) out.add(Dim.UNKNOWN);
        return new SymShape(out);
    }

    static final class ConvInteger implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) { return List.of(TensorType.of(DType.INT32, inferShape(ctx, 0, 1))); }

        @Override
        public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), w = ctx.input(1);
            long xzp = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2).getLong(0) : 0;
            Tensor wzp = ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.input(3) : null;
            long[] os = new long[x.rank()];
            long[] acc = accumulate(x, xzp, w, wzp, ctx.attributes(), os);
            Tensor y = ctx.output(0, DType.INT32, Shape.of(os));
            for (int i = 0; i < acc.length; i++) y.setLong(i, acc[i]);
        }
    }

    static final class QLinearConv implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(ctx.inputType(7).dtype(), inferShape(ctx, 0, 3)));
        }

        @Override
        public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), xScale = ctx.input(1), xzp = ctx.input(2);
            Tensor w = ctx.input(3), wScale = ctx.input(4), wzp = ctx.input(5);
            Tensor yScale = ctx.input(6), yzp = ctx.input(7);
            Tensor bias = ctx.inputCount() > 8 && ctx.hasInput(8) ? ctx.input(8) : null;
            long[] os = new long[x.rank()];
            long[] acc = accumulate(x, xzp.getLong(0), w, wzp, ctx.attributes(), os);
            DType ot = yzp.dtype();
            Tensor y = ctx.output(0, ot, Shape.of(os));
            int m = (int) os[1];
            int outSize = (int) Shape.of(os).product(2, os.length);
            float xs = xScale.getFloat(0), ys = yScale.getFloat(0);
            long z = yzp.getLong(0);
            for (int i = 0; i < acc.length; i++) {
                int f = (i / outSize) % m;
                long a = acc[i] + (bias == null ? 0 : bias.getLong(f));
                float ws = wScale.getFloat(wScale.elementCount() == 1 ? 0 : f);
                float v = a * (xs * ws / ys);
                y.setLong(i, QuantizeKernels.saturate(Math.rint(v), z, ot));
            }
        }
    }
}
