package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.Attributes;
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
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Resize (opsets 10, 11, 13, 18, 19) and the deprecated Upsample.
 *
 * <p>Nearest mode maps each output coordinate to one input coordinate per axis and gathers. Linear and cubic
 * modes are separable: the N-D interpolation of the ONNX reference is the tensor product of 1-D ones, so
 * they run as one 1-D pass per resized axis, each with per-output-coordinate taps and weights.
 */
final class ResizeKernels {
    private ResizeKernels() {}

    private enum Mode { NEAREST, LINEAR, CUBIC }

    /** Everything the interpolation needs, resolved from inputs, attributes and opset. */
    private record Params(Mode mode, String ctm, String nearestMode, double cubicA, boolean excludeOutside,
                          double extrapolation, boolean antialias, boolean legacyNearest) {
        static Params of(Attributes at, int opset, boolean upsample) {
            String m = at.getString("mode", "nearest").toLowerCase(java.util.Locale.ROOT);
            Mode mode = switch (m) {
                case "nearest" -> Mode.NEAREST;
                case "linear", "bilinear", "trilinear" -> Mode.LINEAR;
                case "cubic", "bicubic" -> Mode.CUBIC;
                default -> throw new KernelException("unknown resize mode '" + m + "'");
            };
            // opset 10 Resize and Upsample behave like ORT: asymmetric coordinates, floor (upsampling) nearest
            boolean legacy = upsample || opset < 11;
            String ctm = legacy ? "asymmetric" : at.getString("coordinate_transformation_mode", "half_pixel");
            return new Params(mode, ctm, at.getString("nearest_mode", "round_prefer_floor"), at.getFloat("cubic_coeff_a", -0.75f),
                    at.getInt("exclude_outside", 0) != 0, at.getFloat("extrapolation_value", 0f),
                    at.getInt("antialias", 0) != 0, legacy);
        }
    }

    static final class Resize implements OpKernel {
        private final boolean upsample;

        Resize(boolean upsample) { this.upsample = upsample; }

        private int scalesInput(int opset) { return upsample || opset < 11 ? 1 : 2; }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = ctx.inputType(0);
            if (!x.shape().hasRank()) return List.of(new TensorType(x.dtype(), SymShape.UNKNOWN_RANK));
            int rank = x.shape().rank();
            Attributes at = ctx.attributes();
            int si = scalesInput(ctx.opset());
            double[] scales = null;
            long[] sizes = null;
            if (upsample && ctx.opset() < 9) {
                float[] f = at.getFloats("scales");
                if (f != null) { scales = new double[f.length]; for (int i = 0; i < f.length; i++) scales[i] = f[i]; }
            } else {
                Tensor s = ctx.inputCount() > si && ctx.hasInput(si) ? ctx.constantInput(si) : null;
                boolean scalesGiven = ctx.inputCount() > si && ctx.hasInput(si);
                if (s != null && s.elementCount() > 0) scales = s.toDoubleArray();
                else if (s != null || !scalesGiven) {
                    Tensor z = si == 2 && ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.constantInput(3) : null;
                    if (z != null) sizes = z.toLongArray();
                }
            }
            long[] axes = at.getInts("axes");
            List<Dim> out = new ArrayList<>();
            boolean keepAspect = !at.getString("keep_aspect_ratio_policy", "stretch").equals("stretch");
            for (int i = 0; i < rank; i++) out.add(Dim.UNKNOWN);
            if (scales != null || (sizes != null && !keepAspect)) {
                int[] axisList = axisList(axes, rank, scales != null ? scales.length : sizes.length);
                for (int i = 0; i < rank; i++) out.set(i, x.shape().dim(i));
                for (int j = 0; j < axisList.length; j++) {
                    int a = axisList[j];
                    if (sizes != null) out.set(a, Dim.of(sizes[j]));
                    else {
                        Dim d = x.shape().dim(a);
                        out.set(a, d.isKnown() ? Dim.of((long) Math.floor(d.value() * scales[j])) : Dim.UNKNOWN);
                    }
                }
            }
            return List.of(new TensorType(x.dtype(), new SymShape(out)));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            int rank = x.rank();
            Attributes at = ctx.attributes();
            int opset = ctx.opset();
            Params p = Params.of(at, opset, upsample);
            long[] in = x.shape().dims();
            double[] scale = new double[rank];
            long[] out = new long[rank];
            java.util.Arrays.fill(scale, 1.0);
            int si = scalesInput(opset);
            double[] scalesIn = null;
            long[] sizesIn = null;
            if (upsample && opset < 9) {
                float[] f = at.getFloats("scales");
                if (f == null) throw new KernelException("Upsample needs the scales attribute");
                scalesIn = new double[f.length];
                for (int i = 0; i < f.length; i++) scalesIn[i] = f[i];
            } else {
                if (ctx.inputCount() > si && ctx.hasInput(si) && ctx.input(si).elementCount() > 0) scalesIn = ctx.input(si).toDoubleArray();
                if (si == 2 && ctx.inputCount() > 3 && ctx.hasInput(3) && ctx.input(3).elementCount() > 0) sizesIn = ctx.input(3).toLongArray();
            }
            if ((scalesIn == null) == (sizesIn == null)) throw new KernelException("Resize needs exactly one of scales and sizes");
            int[] axes = axisList(at.getInts("axes"), rank, scalesIn != null ? scalesIn.length : sizesIn.length);
            for (int i = 0; i < rank; i++) out[i] = in[i];
            if (scalesIn != null) {
                for (int j = 0; j < axes.length; j++) {
                    int a = axes[j];
                    if (scalesIn[j] <= 0) throw new KernelException("Resize scales must be positive");
                    scale[a] = scalesIn[j];
                    out[a] = (long) Math.floor(in[a] * scalesIn[j]);
                }
            } else {
                String policy = at.getString("keep_aspect_ratio_policy", "stretch");
                if (policy.equals("stretch")) {
                    for (int j = 0; j < axes.length; j++) {
                        int a = axes[j];
                        out[a] = sizesIn[j];
                        scale[a] = (double) sizesIn[j] / in[a];
                    }
                } else {
                    double s = policy.equals("not_larger") ? Double.MAX_VALUE : 0;
                    for (int j = 0; j < axes.length; j++) {
                        double r = (double) sizesIn[j] / in[axes[j]];
                        s = policy.equals("not_larger") ? Math.min(s, r) : Math.max(s, r);
                    }
                    for (int a : axes) {
                        scale[a] = s;
                        out[a] = Math.round(s * in[a]);
                    }
                }
            }
            double[] roi = new double[2 * rank];
            for (int i = 0; i < rank; i++) roi[rank + i] = 1;
            if (!upsample && opset >= 11 && p.ctm.equals("tf_crop_and_resize") && ctx.hasInput(1) && ctx.input(1).elementCount() > 0) {
                double[] r = ctx.input(1).toDoubleArray();
                if (r.length != 2 * axes.length) throw new KernelException("Resize roi must have " + 2 * axes.length + " values");
                for (int j = 0; j < axes.length; j++) {
                    roi[axes[j]] = r[j];
                    roi[rank + axes[j]] = r[axes.length + j];
                }
            }
            Tensor y = ctx.output(0, x.dtype(), Shape.of(out));
            if (y.elementCount() == 0) return;
            if (x.elementCount() == 0) throw new KernelException("Resize of an empty input to a non-empty output");
            if (p.mode == Mode.NEAREST) nearest(x, y, in, out, scale, roi, p, ctx);
            else separable(x, y, in, out, scale, roi, p, ctx);
        }
    }

    private static int[] axisList(long[] axes, int rank, int count) {
        int[] r = new int[count];
        if (axes == null) {
            if (count != rank) throw new KernelException("Resize scales/sizes have " + count + " values for rank " + rank);
            for (int i = 0; i < rank; i++) r[i] = i;
            return r;
        }
        if (axes.length != count) throw new KernelException("Resize axes and scales/sizes differ in length");
        for (int i = 0; i < count; i++) r[i] = Shape.normalizeAxis((int) axes[i], rank);
        return r;
    }

    /** The input coordinate an output coordinate maps to, per coordinate_transformation_mode. */
    private static double original(double xo, double scale, long inLen, long outLen, double roiStart, double roiEnd, String ctm) {
        // like the ONNX reference, lengths in the formulas are the unrounded scale * input length
        double outF = scale * inLen;
        return switch (ctm) {
            case "half_pixel" -> (xo + 0.5) / scale - 0.5;
            case "half_pixel_symmetric" -> {
                double adj = outLen / (scale * inLen);
                double center = inLen / 2.0;
                yield center * (1 - adj) + (xo + 0.5) / scale - 0.5;
            }
            case "pytorch_half_pixel" -> outF > 1 ? (xo + 0.5) / scale - 0.5 : 0;
            case "align_corners" -> outF == 1 ? 0 : xo * (inLen - 1) / (outF - 1);
            case "asymmetric" -> xo / scale;
            case "tf_half_pixel_for_nn" -> (xo + 0.5) / scale;
            case "tf_crop_and_resize" -> outF > 1
                    ? roiStart * (inLen - 1) + xo * (roiEnd - roiStart) * (inLen - 1) / (outF - 1)
                    : 0.5 * (roiStart + roiEnd) * (inLen - 1);
            default -> throw new KernelException("unknown coordinate_transformation_mode '" + ctm + "'");
        };
    }

    private static boolean outside(double x, long inLen, Params p) {
        return p.ctm.equals("tf_crop_and_resize") && (x < 0 || x > inLen - 1);
    }

    /** Per axis, the input index of each output coordinate, or -1 for the extrapolation value. */
    private static int[] nearestIndex(long inLen, long outLen, double scale, double rs, double re, Params p) {
        int[] idx = new int[(int) outLen];
        for (int o = 0; o < outLen; o++) {
            double x = original(o, scale, inLen, outLen, rs, re, p.ctm);
            if (outside(x, inLen, p)) { idx[o] = -1; continue; }
            long i;
            if (p.legacyNearest) {
                i = scale < 1 ? (long) Math.ceil(x) : (long) Math.floor(x);
            } else {
                double f = Math.floor(x), r = x - f;
                boolean up = r != 0 && switch (p.nearestMode) {
                    case "round_prefer_floor" -> r > 0.5;
                    case "round_prefer_ceil" -> r >= 0.5;
                    case "floor" -> false;
                    case "ceil" -> true;
                    default -> throw new KernelException("unknown nearest_mode '" + p.nearestMode + "'");
                };
                i = (long) f + (up ? 1 : 0);
            }
            idx[o] = (int) Math.max(0, Math.min(inLen - 1, i));
        }
        return idx;
    }

    private static void nearest(Tensor x, Tensor y, long[] in, long[] out, double[] scale, double[] roi, Params p, ExecContext ctx) {
        int rank = in.length;
        int[][] idx = new int[rank][];
        for (int a = 0; a < rank; a++) idx[a] = nearestIndex(in[a], out[a], scale[a], roi[a], roi[rank + a], p);
        long[] inStride = Shape.of(in).strides();
        if (rank == 0) { y.setDouble(0, x.getDouble(0)); return; }
        int last = rank - 1;
        int rowLen = (int) out[last];
        long rows = y.elementCount() / rowLen;
        boolean f32 = x.dtype() == dev.sluice.kernels.DType.FLOAT32;
        double extra = p.extrapolation;
        if (f32 && rank >= 2) {
            nearestF32(x, y, idx, out, inStride, rowLen, rows, (int) in[last], (float) extra, ctx);
            return;
        }
        ctx.parallelism().forEach(Math.toIntExact(rows), row -> {
            // decode the row's leading coordinates into an input offset, or mark it as extrapolated
            long rem = row, off = 0;
            boolean ext = false;
            for (int a = last - 1; a >= 0; a--) {
                int o = (int) (rem % out[a]);
                rem /= out[a];
                int i = idx[a][o];
                if (i < 0) ext = true; else off += i * inStride[a];
            }
            long yo = (long) row * rowLen;
            int[] li = idx[last];
            for (int j = 0; j < rowLen; j++) {
                if (ext || li[j] < 0) { y.setDouble(yo + j, extra); continue; }
                long xi = off + li[j];
                if (f32) y.data().setAtIndex(NnArrays.F32, yo + j, x.data().getAtIndex(NnArrays.F32, xi));
                else y.setDouble(yo + j, x.getDouble(xi));
            }
        });
    }

    /**
     * Float32 nearest: per output row, its input row is read once into a buffer and gathered along the last
     * axis; an output row whose input row is the previous one's (upsampling) copies that output row instead.
     * Tasks are runs of consecutive rows, so the copy source is always the task's own previous row.
     */
    private static void nearestF32(Tensor x, Tensor y, int[][] idx, long[] out, long[] inStride, int rowLen, long rows,
                                   int inLen, float extra, ExecContext ctx) {
        int last = idx.length - 1;
        int[] li = idx[last];
        int nRows = Math.toIntExact(rows);
        int per = Math.max(1, Math.min(nRows, (1 << 14) / Math.max(1, rowLen)));
        int tasks = (nRows + per - 1) / per;
        ctx.parallelism().forEach(tasks, (long) per * rowLen, t -> {
            float[][] bufs = NEAREST_ROWS.get();
            if (bufs[0].length < inLen) bufs[0] = new float[inLen];
            if (bufs[1].length < rowLen) bufs[1] = new float[rowLen];
            float[] src = bufs[0], dst = bufs[1];
            long prevOff = Long.MIN_VALUE;
            for (int row = t * per, end = Math.min(nRows, row + per); row < end; row++) {
                long rem = row, off = 0;
                boolean ext = false;
                for (int a = last - 1; a >= 0; a--) {
                    int o = (int) (rem % out[a]);
                    rem /= out[a];
                    int i = idx[a][o];
                    if (i < 0) ext = true; else off += i * inStride[a];
                }
                long yo = (long) row * rowLen;
                if (ext) {
                    java.util.Arrays.fill(dst, 0, rowLen, extra);
                    prevOff = Long.MIN_VALUE;
                } else if (off != prevOff) {
                    MemorySegment.copy(x.data(), NnArrays.F32, off * 4, src, 0, inLen);
                    for (int j = 0; j < rowLen; j++) dst[j] = li[j] < 0 ? extra : src[li[j]];
                    prevOff = off;
                }
                MemorySegment.copy(dst, 0, y.data(), NnArrays.F32, yo * 4, rowLen);
            }
        });
    }

    /** Per-thread input and output row buffers of nearestF32 (its body runs no nested parallel call). */
    private static final ThreadLocal<float[][]> NEAREST_ROWS = ThreadLocal.withInitial(() -> new float[2][0]);

    private static double cubic(double t, double a) {
        t = Math.abs(t);
        if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
        if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
        return 0;
    }

    /** Interpolation taps of one output coordinate along one axis: input indices and weights, or none (extrapolate). */
    private record Taps(int[] index, double[] weight) {}

    private static Taps taps(double x, long inLen, double scale, Params p) {
        double f = Math.floor(x), r = x - f;
        int base = (int) f;
        double sk = p.antialias && scale < 1 ? scale : 1;
        double support = p.mode == Mode.LINEAR ? 1 : 2;
        int start = (int) Math.floor(-support / sk) + 1;
        int n = 2 - 2 * start;
        int[] idx = new int[n];
        double[] w = new double[n];
        double sum = 0;
        for (int t = 0; t < n; t++) {
            int i = start + t;
            double d = (i - r) * sk;
            double v = p.mode == Mode.LINEAR ? Math.max(0, 1 - Math.abs(d)) : cubic(d, p.cubicA);
            long pos = (long) base + i;
            if (p.excludeOutside && (pos < 0 || pos >= inLen)) v = 0;
            idx[t] = (int) Math.max(0, Math.min(inLen - 1, pos));
            w[t] = v;
            sum += v;
        }
        if ((p.excludeOutside || sk != 1) && sum != 0) for (int t = 0; t < n; t++) w[t] /= sum;
        return new Taps(idx, w);
    }

    private static void separable(Tensor x, Tensor y, long[] in, long[] out, double[] scale, double[] roi, Params p, ExecContext ctx) {
        int rank = in.length;
        double[] cur = NnArrays.doubles(x);
        long[] dims = in.clone();
        boolean crop = p.ctm.equals("tf_crop_and_resize");
        for (int a = 0; a < rank; a++) {
            if (in[a] == out[a] && scale[a] == 1.0 && !crop) continue;
            long inLen = in[a], outLen = out[a];
            Taps[] taps = new Taps[(int) outLen];
            for (int o = 0; o < outLen; o++) {
                double xo = original(o, scale[a], inLen, outLen, roi[a], roi[rank + a], p.ctm);
                taps[o] = outside(xo, inLen, p) ? null : taps(xo, inLen, scale[a], p);
            }
            long outer = 1, inner = 1;
            for (int i = 0; i < a; i++) outer *= dims[i];
            for (int i = a + 1; i < rank; i++) inner *= dims[i];
            double[] src = cur;
            double[] dst = new double[Math.toIntExact(outer * outLen * inner)];
            int ni = (int) inner, nIn = (int) inLen, nOut = (int) outLen;
            ctx.parallelism().forEach(Math.toIntExact(outer * outLen), t -> {
                int ob = t / nOut, o = t % nOut;
                int d0 = t * ni;
                Taps tp = taps[o];
                if (tp == null) { java.util.Arrays.fill(dst, d0, d0 + ni, p.extrapolation); return; }
                for (int k = 0; k < tp.index.length; k++) {
                    double w = tp.weight[k];
                    if (w == 0) continue;
                    int s0 = (ob * nIn + tp.index[k]) * ni;
                    for (int i = 0; i < ni; i++) dst[d0 + i] += w * src[s0 + i];
                }
            });
            cur = dst;
            dims[a] = outLen;
        }
        NnArrays.store(y, cur);
    }
}
