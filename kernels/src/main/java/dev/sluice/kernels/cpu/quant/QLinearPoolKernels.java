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
import dev.sluice.kernels.cpu.core.WindowGeometry;
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

    /**
     * The pooling windows for concrete spatial sizes: the geometry every window op shares (auto_pad, pads, strides,
     * ceil_mode), after this op's own checks (kernel_shape given, no dilation).
     */
    static WindowGeometry windows(Attributes at, long[] inSpatial, String where) {
        long[] ks = at.getInts("kernel_shape");
        if (ks == null || ks.length != inSpatial.length) {
            throw new KernelException(where + ": kernel_shape must give " + inSpatial.length + " sizes, got " + (ks == null ? "none" : java.util.Arrays.toString(ks)));
        }
        long[] dil = at.getInts("dilations");
        if (dil != null) for (long d : dil) if (d != 1) throw new KernelException(where + ": dilations other than 1 are not supported");
        return WindowGeometry.of(inSpatial, ks, at, at.getInt("ceil_mode", 0) != 0);
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
                WindowGeometry w = windows(ctx.attributes(), sp, ctx.opType() + " '" + ctx.nodeName() + "'");
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
            WindowGeometry w = windows(ctx.attributes(), inSp, where(ctx));
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
