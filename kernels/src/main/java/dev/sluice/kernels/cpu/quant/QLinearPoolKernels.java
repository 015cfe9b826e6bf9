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
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * com.microsoft QLinearGlobalAveragePool and QLinearAveragePool over per-tensor quantized 8-bit tensors, channels
 * first ([N, C, spatial...]) or, with {@code channels_last = 1}, channels last ([N, spatial..., C]). Inputs X,
 * x_scale, x_zero_point, y_scale, y_zero_point; Y has X's type.
 *
 * <p>Arithmetic, as ONNX Runtime does it. Global: the exact integer sum of a channel's image, less zp_x times the
 * image size, as float, times {@code x_scale / size / y_scale} (float32, in that order), rounded half to even, plus
 * zp_y, saturated. Windowed: each element dequantized to float32 and summed in the window's row-major order,
 * divided by the window's count, then quantized.
 */
final class QLinearPoolKernels {
    private QLinearPoolKernels() {}

    private static final ValueLayout.OfByte B = ValueLayout.JAVA_BYTE;

    /** Index arithmetic of one image layout: element (n, c, spatial p) of an [N, C, S] or [N, S, C] tensor. */
    private record Layout(boolean channelsLast, long channels, long spatial) {
        long index(long n, long c, long p) {
            return channelsLast ? (n * spatial + p) * channels + c : (n * channels + c) * spatial + p;
        }
    }

    private static boolean channelsLast(Attributes at) { return at.getInt("channels_last", 0) != 0; }

    private static String where(ExecContext ctx) { return ctx.opType() + " '" + ctx.nodeName() + "'"; }

    static final class GlobalAverage implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            SymShape xs = ctx.inputType(0).shape();
            DType t = ctx.inputType(0).dtype();
            if (!xs.hasRank()) return List.of(TensorType.of(t, SymShape.UNKNOWN_RANK));
            boolean last = channelsLast(ctx.attributes());
            List<Dim> out = new ArrayList<>();
            for (int i = 0; i < xs.rank(); i++) {
                boolean keep = i == 0 || i == (last ? xs.rank() - 1 : 1);
                out.add(keep ? xs.dim(i) : Dim.of(1));
            }
            return List.of(TensorType.of(t, new SymShape(out)));
        }

        @Override
        public void execute(ExecContext ctx) {
            if (ctx.inputCount() < 5) throw new KernelException(where(ctx) + " needs 5 inputs, got " + ctx.inputCount());
            DType t = QLinearElementwiseKernels.eightBit(ctx, 0, "X");
            Tensor x = ctx.input(0);
            if (x.rank() < 3) throw new KernelException(where(ctx) + ": X must have rank >= 3, got " + x.shape());
            QParam px = QParam.read(ctx, 1, 2, t, "x"), py = QParam.read(ctx, 3, 4, t, "y");
            boolean last = channelsLast(ctx.attributes());
            int r = x.rank(), cAxis = last ? r - 1 : 1;
            long[] od = new long[r];
            for (int i = 0; i < r; i++) od[i] = i == 0 || i == cAxis ? x.shape().dim(i) : 1;
            long batch = od[0], channels = od[cAxis], size = x.elementCount() / Math.max(1, batch * channels);
            Tensor y = ctx.output(0, t, Shape.of(od));
            if (size == 0) throw new KernelException(where(ctx) + ": empty image " + x.shape());
            Layout in = new Layout(last, channels, size);
            float scale = px.scale() / (float) size / py.scale();
            long bias = -(long) px.zeroPoint() * size;
            MemorySegment xd = x.data(), yd = y.data();
            boolean unsigned = t == DType.UINT8;
            for (long n = 0; n < batch; n++) {
                for (long c = 0; c < channels; c++) {
                    long sum = 0;
                    for (long p = 0; p < size; p++) {
                        byte v = xd.get(B, in.index(n, c, p));
                        sum += unsigned ? v & 0xFF : v;
                    }
                    yd.set(B, n * channels + c, py.saturate(Math.rint((float) (sum + bias) * scale)));
                }
            }
        }
    }

    /** Windows resolved against concrete spatial sizes. */
    record Windows(int[] in, int[] kernel, int[] strides, int[] padBegin, int[] padEnd, int[] out) {
        static Windows of(Attributes at, long[] inSpatial, String where) {
            int r = inSpatial.length;
            long[] ks = at.getInts("kernel_shape");
            if (ks == null || ks.length != r) throw new KernelException(where + ": kernel_shape must give " + r + " sizes, got " + (ks == null ? "none" : java.util.Arrays.toString(ks)));
            long[] st = at.getInts("strides"), pads = at.getInts("pads");
            if (st != null && st.length != r) throw new KernelException(where + ": strides must give " + r + " sizes");
            if (pads != null && pads.length != 2 * r) throw new KernelException(where + ": pads must give " + 2 * r + " sizes");
            if (at.getInts("dilations") != null) {
                for (long d : at.getInts("dilations")) if (d != 1) throw new KernelException(where + ": dilations other than 1 are not supported");
            }
            boolean ceil = at.getInt("ceil_mode", 0) != 0;
            String autoPad = at.getString("auto_pad", "NOTSET");
            int[] k = new int[r], s = new int[r], pb = new int[r], pe = new int[r], in = new int[r], o = new int[r];
            for (int i = 0; i < r; i++) {
                in[i] = (int) inSpatial[i];
                k[i] = (int) ks[i];
                s[i] = st != null ? (int) st[i] : 1;
                if (k[i] < 1 || s[i] < 1) throw new KernelException(where + ": kernel_shape and strides must be positive");
                switch (autoPad) {
                    case "NOTSET" -> {
                        pb[i] = pads != null ? (int) pads[i] : 0;
                        pe[i] = pads != null ? (int) pads[i + r] : 0;
                    }
                    case "VALID" -> { pb[i] = 0; pe[i] = 0; }
                    case "SAME_UPPER", "SAME_LOWER" -> {
                        int outLen = (in[i] + s[i] - 1) / s[i];
                        int total = Math.max(0, (outLen - 1) * s[i] + k[i] - in[i]);
                        pb[i] = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                        pe[i] = total - pb[i];
                    }
                    default -> throw new KernelException(where + ": unknown auto_pad '" + autoPad + "'");
                }
                long span = (long) in[i] + pb[i] + pe[i] - k[i];
                if (span < 0) throw new KernelException(where + ": kernel " + k[i] + " is larger than the padded input " + (in[i] + pb[i] + pe[i]));
                long len = ceil ? Math.ceilDiv(span, s[i]) + 1 : span / s[i] + 1;
                // a last window that would start inside the end padding is dropped (ceil mode)
                if (ceil && (len - 1) * s[i] >= (long) in[i] + pb[i]) len--;
                o[i] = (int) len;
            }
            return new Windows(in, k, s, pb, pe, o);
        }
    }

    static final class Average implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            SymShape xs = ctx.inputType(0).shape();
            DType t = ctx.inputType(0).dtype();
            if (!xs.hasRank()) return List.of(TensorType.of(t, SymShape.UNKNOWN_RANK));
            boolean last = channelsLast(ctx.attributes());
            int r = xs.rank() - 2, s0 = last ? 1 : 2;
            long[] sp = new long[r];
            boolean known = true;
            for (int i = 0; i < r; i++) {
                if (!xs.dim(s0 + i).isKnown()) { known = false; break; }
                sp[i] = xs.dim(s0 + i).value();
            }
            List<Dim> out = new ArrayList<>(xs.dims());
            if (known) {
                Windows w = Windows.of(ctx.attributes(), sp, ctx.opType() + " '" + ctx.nodeName() + "'");
                for (int i = 0; i < r; i++) out.set(s0 + i, Dim.of(w.out()[i]));
            } else for (int i = 0; i < r; i++) out.set(s0 + i, Dim.UNKNOWN);
            return List.of(TensorType.of(t, new SymShape(out)));
        }

        @Override
        public void execute(ExecContext ctx) {
            if (ctx.inputCount() < 5) throw new KernelException(where(ctx) + " needs 5 inputs, got " + ctx.inputCount());
            DType t = QLinearElementwiseKernels.eightBit(ctx, 0, "X");
            Tensor x = ctx.input(0);
            if (x.rank() < 3) throw new KernelException(where(ctx) + ": X must have rank >= 3, got " + x.shape());
            QParam px = QParam.read(ctx, 1, 2, t, "x"), py = QParam.read(ctx, 3, 4, t, "y");
            boolean last = channelsLast(ctx.attributes());
            boolean includePad = ctx.attributes().getInt("count_include_pad", 0) != 0;
            int rank = x.rank(), r = rank - 2, s0 = last ? 1 : 2, cAxis = last ? rank - 1 : 1;
            long[] inSp = new long[r];
            for (int i = 0; i < r; i++) inSp[i] = x.shape().dim(s0 + i);
            Windows w = Windows.of(ctx.attributes(), inSp, where(ctx));
            long[] od = x.shape().dims();
            long inSize = 1, outSize = 1;
            for (int i = 0; i < r; i++) { od[s0 + i] = w.out()[i]; inSize *= w.in()[i]; outSize *= w.out()[i]; }
            long batch = od[0], channels = od[cAxis];
            Tensor y = ctx.output(0, t, Shape.of(od));
            Layout in = new Layout(last, channels, inSize), out = new Layout(last, channels, outSize);
            float[] deq = new float[256];
            for (int i = 0; i < 256; i++) deq[i] = px.dequantize((byte) i);
            MemorySegment xd = x.data(), yd = y.data();
            int[] oc = new int[r], lo = new int[r], hi = new int[r], pos = new int[r];
            for (long op = 0; op < outSize; op++) {
                // the window of this output position: [lo, hi) per axis, clipped to the input
                long rem = op;
                for (int i = r - 1; i >= 0; i--) { oc[i] = (int) (rem % w.out()[i]); rem /= w.out()[i]; }
                long count = 1, valid = 1;
                for (int i = 0; i < r; i++) {
                    int start = oc[i] * w.strides()[i] - w.padBegin()[i];
                    int end = Math.min(start + w.kernel()[i], w.in()[i] + w.padEnd()[i]);
                    count *= end - start;
                    lo[i] = Math.max(start, 0);
                    hi[i] = Math.min(end, w.in()[i]);
                    valid *= Math.max(0, hi[i] - lo[i]);
                }
                float divisor = includePad ? count : valid;
                for (long n = 0; n < batch; n++) {
                    for (long c = 0; c < channels; c++) {
                        float sum = 0;
                        if (valid > 0) {
                            System.arraycopy(lo, 0, pos, 0, r);
                            while (true) {
                                long flat = 0;
                                for (int i = 0; i < r; i++) flat = flat * w.in()[i] + pos[i];
                                sum += deq[xd.get(B, in.index(n, c, flat)) & 0xFF];
                                int i = r - 1;
                                while (i >= 0 && ++pos[i] == hi[i]) { pos[i] = lo[i]; i--; }
                                if (i < 0) break;
                            }
                        }
                        yd.set(B, out.index(n, c, op), py.quantize(valid == 0 ? 0f : sum / divisor));
                    }
                }
            }
        }
    }
}
