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
import java.util.ArrayList;
import java.util.List;

/**
 * ONNX GridSample (opsets 16, 20, 22): samples {@code X [N, C, D1..Dr]} at the normalized positions of
 * {@code grid [N, O1..Or, r]} (last component first: x indexes Dr), giving {@code [N, C, O1..Or]}. Any number of
 * spatial axes; 2-D and 3-D are what models use.
 *
 * <p>Each position is denormalized per axis ({@code align_corners} maps -1 and 1 to the centres of the end pixels,
 * otherwise to their outer edges) and rounded half to even in nearest mode. The interpolation is the tensor product
 * of per-axis taps (1 nearest, 2 linear, 4 cubic with Keys' a = -0.75), and padding applies to each tap's pixel
 * index, as in ORT and PyTorch: a pixel outside X is zero, the nearest edge pixel ({@code border}), or the pixel
 * reflected at the sampling range's edges ({@code reflection}, truncated to an index). The ONNX reference instead
 * clamps or reflects the continuous coordinate first; for nearest and linear sampling the two agree (the
 * conformance data holds both), for cubic sampling near an edge they differ and this kernel gives ORT's numbers.
 * Coordinates run in the input's precision (float for float16/float32), so roundings fall as in ORT.
 */
final class GridSample implements OpKernel {
    enum Mode { NEAREST, LINEAR, CUBIC }

    enum Padding { ZEROS, BORDER, REFLECTION }

    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0), grid = ctx.inputType(1);
        SymShape xs = x.shape(), gs = grid.shape();
        if (!gs.hasRank()) return List.of(new TensorType(x.dtype(), xs.hasRank() ? SymShape.unknownDims(xs.rank()) : SymShape.UNKNOWN_RANK));
        List<Dim> out = new ArrayList<>();
        Dim n = gs.dim(0);
        if (!n.isKnown() && xs.hasRank() && xs.dim(0).isKnown()) n = xs.dim(0);
        out.add(n);
        out.add(xs.hasRank() && xs.rank() >= 2 ? xs.dim(1) : Dim.UNKNOWN);
        out.addAll(gs.dims().subList(1, gs.rank() - 1));
        return List.of(new TensorType(x.dtype(), new SymShape(out)));
    }

    static Mode mode(String m) {
        return switch (m) {
            case "bilinear", "linear" -> Mode.LINEAR;
            case "nearest" -> Mode.NEAREST;
            case "bicubic", "cubic" -> Mode.CUBIC;
            default -> throw new KernelException("GridSample mode must be linear (bilinear), nearest or cubic (bicubic), got '" + m + "'");
        };
    }

    static Padding padding(String p) {
        return switch (p) {
            case "zeros" -> Padding.ZEROS;
            case "border" -> Padding.BORDER;
            case "reflection" -> Padding.REFLECTION;
            default -> throw new KernelException("GridSample padding_mode must be zeros, border or reflection, got '" + p + "'");
        };
    }

    @Override public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0), grid = ctx.input(1);
        Attributes at = ctx.attributes();
        Mode mode = mode(at.getString("mode", ctx.opset() >= 20 ? "linear" : "bilinear"));
        Padding pad = padding(at.getString("padding_mode", "zeros"));
        boolean align = at.getInt("align_corners", 0) != 0;
        if (!x.dtype().isFloatingPoint()) throw new KernelException("GridSample X must be a floating-point tensor, got " + x.dtype());
        NnArrays.requireFloat(grid.dtype(), "GridSample grid");
        int r = x.rank() - 2;
        if (r < 1) throw new KernelException("GridSample X must be [N, C, D1, ...], got " + x.shape());
        if (grid.rank() != r + 2 || grid.shape().dim(r + 1) != r || grid.shape().dim(0) != x.shape().dim(0)) {
            throw new KernelException("GridSample grid must be [N, O1.." + "O" + r + ", " + r + "] with N = " + x.shape().dim(0)
                    + " for X " + x.shape() + ", got " + grid.shape());
        }
        int n = Math.toIntExact(x.shape().dim(0)), channels = Math.toIntExact(x.shape().dim(1));
        long[] od = new long[r + 2];
        od[0] = n;
        od[1] = channels;
        for (int d = 0; d < r; d++) od[d + 2] = grid.shape().dim(d + 1);
        Tensor y = ctx.output(0, x.dtype(), Shape.of(od));
        if (y.elementCount() == 0) return;
        int[] size = new int[r];
        for (int d = 0; d < r; d++) {
            size[d] = Math.toIntExact(x.shape().dim(d + 2));
            if (size[d] == 0) throw new KernelException("GridSample X has an empty spatial axis: " + x.shape());
        }
        int plane = Math.toIntExact(x.shape().product(2, r + 2));
        int points = Math.toIntExact(grid.shape().product(1, r + 1));
        double[] data = NnArrays.doubles(x), g = NnArrays.doubles(grid);
        double[] out = new double[Math.toIntExact(y.elementCount())];
        // chunks of positions run in parallel, each with its own sampler; every output element is written once
        int chunk = 256, chunks = (points + chunk - 1) / chunk;
        boolean single = x.dtype() != DType.FLOAT64;
        long work = (long) chunk * channels * (mode == Mode.CUBIC ? 16 : 4);
        ctx.parallelism().forEach(n * chunks, work, task -> {
            int b = task / chunks, from = task % chunks * chunk, to = Math.min(points, from + chunk);
            Sampler s = new Sampler(mode, pad, align, size, single);
            for (int p = from; p < to; p++) {
                int taps = s.locate(g, (b * points + p) * r);
                for (int c = 0; c < channels; c++) {
                    out[(b * channels + c) * points + p] = s.sum(data, (b * channels + c) * plane, taps);
                }
            }
        });
        NnArrays.store(y, out);
    }

    /**
     * Turns one grid position into flat offsets and weights in an X plane. Reused across positions; not shared
     * between threads.
     */
    static final class Sampler {
        private final Mode mode;
        private final Padding pad;
        private final boolean align, single;
        private final int[] size;
        private final int r, perAxis;
        private final double[] coord;
        private final int[][] index;
        private final double[][] weight;
        private final int[] offsets;
        private final double[] weights;

        Sampler(Mode mode, Padding pad, boolean align, int[] size, boolean single) {
            this.mode = mode;
            this.pad = pad;
            this.align = align;
            this.size = size;
            this.single = single;
            this.r = size.length;
            this.perAxis = switch (mode) { case NEAREST -> 1; case LINEAR -> 2; case CUBIC -> 4; };
            this.coord = new double[r];
            this.index = new int[r][perAxis];
            this.weight = new double[r][perAxis];
            int combos = 1;
            for (int d = 0; d < r; d++) combos *= perAxis;
            this.offsets = new int[combos];
            this.weights = new double[combos];
        }

        private double fr(double v) { return single ? (float) v : v; }

        private double lo(int d) { return align ? 0 : -0.5; }

        private double hi(int d) { return align ? size[d] - 1 : size[d] - 0.5; }

        /**
         * Locates the position whose r components start at g[at] (x first) and returns how many (offset, weight)
         * taps it has; zero-padded taps outside X are left out.
         */
        int locate(double[] g, int at) {
            for (int d = 0; d < r; d++) {
                double v = fr(g[at + r - 1 - d]), len = size[d];
                double c = align ? fr(fr(fr(v + 1) / 2) * (len - 1)) : fr(fr(fr(fr(v + 1) * len) - 1) / 2);
                coord[d] = mode == Mode.NEAREST ? Math.rint(c) : c;
            }
            for (int d = 0; d < r; d++) {
                double c = coord[d];
                switch (mode) {
                    case NEAREST -> { index[d][0] = pixel((long) c, d); weight[d][0] = 1; }
                    case LINEAR -> {
                        double f = Math.floor(c), t = fr(c - f);
                        index[d][0] = pixel((long) f, d);
                        index[d][1] = pixel((long) f + 1, d);
                        weight[d][0] = fr(1 - t);
                        weight[d][1] = t;
                    }
                    case CUBIC -> {
                        double f = Math.floor(c);
                        cubic(fr(c - f), weight[d]);
                        for (int k = 0; k < 4; k++) index[d][k] = pixel((long) f - 1 + k, d);
                    }
                }
            }
            // the tensor product of the axes' taps, skipping any whose pixel is a zero pad
            int n = 0, combos = offsets.length;
            outer:
            for (int k = 0; k < combos; k++) {
                int off = 0, rest = k;
                double w = 1;
                for (int d = r - 1; d >= 0; d--) {
                    int t = rest % perAxis;
                    rest /= perAxis;
                    int i = index[d][t];
                    if (i < 0) continue outer;
                    w *= weight[d][t];
                    off += i * stride(d);
                }
                offsets[n] = off;
                weights[n++] = w;
            }
            return n;
        }

        private int stride(int d) {
            int s = 1;
            for (int e = d + 1; e < r; e++) s *= size[e];
            return s;
        }

        double sum(double[] data, int base, int taps) {
            double acc = 0;
            for (int k = 0; k < taps; k++) acc += weights[k] * data[base + offsets[k]];
            return acc;
        }

        /** Pixel index i on axis d after padding, or -1 for a zero pad. */
        private int pixel(long i, int d) {
            int len = size[d];
            return switch (pad) {
                case ZEROS -> i >= 0 && i < len ? (int) i : -1;
                case BORDER -> (int) Math.min(Math.max(i, 0), len - 1);
                case REFLECTION -> (int) Math.min(Math.max((long) reflect(i, lo(d), hi(d)), 0), len - 1);
            };
        }

        /** Folds x into [min, max] by reflecting at the edges as often as needed. */
        private double reflect(double x, double min, double max) {
            double range = max - min;
            if (range <= 0) return min;
            if (x < min) {
                double dx = fr(min - x);
                long k = (long) fr(dx / range);
                double rem = fr(dx - fr(k * range));
                return k % 2 == 0 ? fr(min + rem) : fr(max - rem);
            }
            if (x > max) {
                double dx = fr(x - max);
                long k = (long) fr(dx / range);
                double rem = fr(dx - fr(k * range));
                return k % 2 == 0 ? fr(max - rem) : fr(min + rem);
            }
            return x;
        }

        /** Keys' cubic convolution weights (a = -0.75) of the taps at -1, 0, 1, 2 around a fraction t. */
        private void cubic(double t, double[] w) {
            double a = -0.75;
            double t1 = t + 1, t2 = 1 - t, t3 = 2 - t;
            w[0] = fr(((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a);
            w[1] = fr(((a + 2) * t - (a + 3)) * t * t + 1);
            w[2] = fr(((a + 2) * t2 - (a + 3)) * t2 * t2 + 1);
            w[3] = fr(((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a);
        }
    }
}
