package dev.sluice.kernels.cpu.reduce;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Pooling: MaxPool (with Indices), AveragePool, LpPool, their Global forms, and MaxUnpool. Values are
 * computed in double, which is exact for the integer types MaxPool allows.
 *
 * <p>Windows are resolved per spatial axis first (which input positions each output position reads, and how
 * many taps fall inside the explicit padding), so the inner loops are plain products of index lists.
 */
public final class PoolKernels {
    /** MaxPool, AveragePool, LpPool, their Global forms and MaxUnpool. */
    public static void register(OpRegistry r) {
        r.register("MaxPool", new PoolKernels.Pool(PoolKernels.Kind.MAX, r.options().vectorMaxPool()));
        r.register("AveragePool", new PoolKernels.Pool(PoolKernels.Kind.AVG));
        r.register("LpPool", new PoolKernels.Pool(PoolKernels.Kind.LP));
        r.register("GlobalMaxPool", new PoolKernels.GlobalPool(PoolKernels.Kind.MAX));
        r.register("GlobalAveragePool", new PoolKernels.GlobalPool(PoolKernels.Kind.AVG));
        r.register("GlobalLpPool", new PoolKernels.GlobalPool(PoolKernels.Kind.LP));
        r.register("MaxUnpool", new PoolKernels.MaxUnpool());
    }

    private PoolKernels() {}

    enum Kind { MAX, AVG, LP }

    /**
     * Per axis and output coordinate: the valid input coordinates read and the taps inside explicit padding;
     * the axis' kernel size, stride, dilation and begin padding they came from.
     */
    private record AxisTaps(int[][] valid, int[] padded, int k, int s, int d, int pb) {
        static AxisTaps of(int in, int out, int k, int s, int d, int pb, int pe) {
            int[][] valid = new int[out][];
            int[] padded = new int[out];
            int[] buf = new int[k];
            for (int o = 0; o < out; o++) {
                int n = 0, p = 0;
                for (int t = 0; t < k; t++) {
                    int i = o * s - pb + t * d;
                    if (i >= -pb && i < in + pe) p++;
                    if (i >= 0 && i < in) buf[n++] = i;
                }
                valid[o] = java.util.Arrays.copyOf(buf, n);
                padded[o] = p;
            }
            return new AxisTaps(valid, padded, k, s, d, pb);
        }
    }

    private static List<TensorType> inferPool(InferContext ctx, boolean global) {
        TensorType x = ctx.inputType(0);
        List<TensorType> res = new ArrayList<>();
        if (!x.shape().hasRank()) {
            res.add(new TensorType(x.dtype(), SymShape.UNKNOWN_RANK));
        } else {
            int rank = x.shape().rank();
            if (rank < 3) throw new KernelException(ctx.opType() + " input must have rank >= 3");
            List<Dim> out = new ArrayList<>(x.shape().dims().subList(0, 2));
            if (global) {
                for (int i = 2; i < rank; i++) out.add(Dim.of(1));
            } else {
                Attributes at = ctx.attributes();
                long[] k = at.getInts("kernel_shape");
                if (k == null) throw new KernelException(ctx.opType() + " needs kernel_shape");
                long[] in = new long[rank - 2];
                for (int i = 0; i < in.length; i++) in[i] = NnArrays.known(x, i + 2);
                int[] o = WindowGeometry.of(in, k, at, at.getInt("ceil_mode", 0) != 0).out();
                for (int v : o) out.add(NnArrays.dimOrUnknown(v));
            }
            res.add(new TensorType(x.dtype(), new SymShape(out)));
        }
        if (ctx.outputCount() > 1) res.add(new TensorType(DType.INT64, res.get(0).shape()));
        return res;
    }

    static final class Pool implements OpKernel {
        private final Kind kind;
        /** Float MaxPool in vector lanes ({@link WindowMax}); from the registry's {@code KernelOptions}. */
        private final boolean vectorMax;

        Pool(Kind kind) { this(kind, false); }

        Pool(Kind kind, boolean vectorMax) { this.kind = kind; this.vectorMax = vectorMax; }

        @Override public List<TensorType> infer(InferContext ctx) { return inferPool(ctx, false); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            if (x.rank() < 3) throw new KernelException(ctx.opType() + " input must have rank >= 3, got " + x.shape());
            if (kind != Kind.MAX) NnArrays.requireFloat(x.dtype(), ctx.opType());
            Attributes at = ctx.attributes();
            long[] k = at.getInts("kernel_shape");
            if (k == null) throw new KernelException(ctx.opType() + " needs kernel_shape");
            long[] xd = x.shape().dims();
            WindowGeometry g = WindowGeometry.of(java.util.Arrays.copyOfRange(xd, 2, xd.length), k, at, at.getInt("ceil_mode", 0) != 0);
            long[] od = xd.clone();
            for (int i = 0; i < g.rank(); i++) od[i + 2] = g.out()[i];
            Shape os = Shape.of(od);
            Tensor y = ctx.output(0, x.dtype(), os);
            boolean withIndices = kind == Kind.MAX && ctx.outputCount() > 1;
            Tensor idx = withIndices ? ctx.output(1, DType.INT64, os) : null;
            boolean countPad = at.getInt("count_include_pad", 0) != 0;
            double p = at.getFloat("p", 2f); // a float before opset 2, an int after
            boolean colMajor = at.getInt("storage_order", 0) != 0;
            pool(x, y, idx, g, kind, vectorMax, countPad, p, colMajor, ctx);
        }
    }

    private static void pool(Tensor x, Tensor y, Tensor idxOut, WindowGeometry g, Kind kind, boolean vectorMax, boolean countPad, double p,
                             boolean colMajor, ExecContext ctx) {
        int r = g.rank();
        if (r > 3) throw new KernelException(ctx.opType() + " supports at most 3 spatial axes, got " + r);
        // pad to three axes with unit leading ones: one loop nest serves 1-D, 2-D and 3-D
        int[] in = new int[3], out = new int[3];
        AxisTaps[] taps = new AxisTaps[3];
        for (int a = 0; a < 3; a++) {
            int src = a - (3 - r);
            if (src < 0) {
                in[a] = 1;
                out[a] = 1;
                taps[a] = AxisTaps.of(1, 1, 1, 1, 1, 0, 0);
            } else {
                in[a] = g.in()[src];
                out[a] = g.out()[src];
                taps[a] = AxisTaps.of(in[a], out[a], g.kernel()[src], g.strides()[src], g.dilations()[src],
                        g.padBegin()[src], g.padEnd()[src]);
            }
        }
        long planes = x.shape().dim(0) * x.shape().dim(1);
        int inPlane = in[0] * in[1] * in[2], outPlane = out[0] * out[1] * out[2];
        if (x.dtype() == DType.FLOAT32 && idxOut == null && kind != Kind.LP) {
            poolF32(x, y, in, out, taps, kind, vectorMax, countPad, Math.toIntExact(planes), inPlane, outPlane, ctx);
            return;
        }
        double[] xv = NnArrays.doubles(x);
        double[] yv = new double[Math.toIntExact(y.elementCount())];
        long[] iv = idxOut == null ? null : new long[yv.length];
        ctx.parallelism().forEach(Math.toIntExact(planes), pl -> {
            int xo = pl * inPlane, yo = pl * outPlane;
            for (int o0 = 0; o0 < out[0]; o0++) {
                int[] v0 = taps[0].valid[o0];
                for (int o1 = 0; o1 < out[1]; o1++) {
                    int[] v1 = taps[1].valid[o1];
                    for (int o2 = 0; o2 < out[2]; o2++) {
                        int[] v2 = taps[2].valid[o2];
                        int yi = yo + (o0 * out[1] + o1) * out[2] + o2;
                        if (kind == Kind.MAX) {
                            double best = Double.NEGATIVE_INFINITY;
                            int bestAt = -1;
                            for (int a : v0) for (int b : v1) for (int c : v2) {
                                int xi = (a * in[1] + b) * in[2] + c;
                                double v = xv[xo + xi];
                                if (v > best || bestAt < 0) {
                                    best = v;
                                    bestAt = colMajor ? a + b * in[0] + c * in[0] * in[1] : xi;
                                }
                            }
                            yv[yi] = best;
                            if (iv != null) iv[yi] = (long) pl * inPlane + bestAt;
                        } else {
                            double s = 0;
                            for (int a : v0) for (int b : v1) for (int c : v2) {
                                double v = xv[xo + (a * in[1] + b) * in[2] + c];
                                s += kind == Kind.AVG ? v : Math.pow(Math.abs(v), p);
                            }
                            if (kind == Kind.AVG) {
                                long cnt = countPad
                                        ? (long) taps[0].padded[o0] * taps[1].padded[o1] * taps[2].padded[o2]
                                        : (long) v0.length * v1.length * v2.length;
                                yv[yi] = s / cnt;
                            } else {
                                yv[yi] = Math.pow(s, 1.0 / p);
                            }
                        }
                    }
                }
            }
        });
        NnArrays.store(y, yv);
        if (idxOut != null) for (int i = 0; i < iv.length; i++) idxOut.setLong(i, iv[i]);
    }

    /**
     * Float32 MaxPool / AveragePool without indices, plane by plane straight from and to the tensors' memory
     * (no double copies of the whole input and output): the same comparisons, and the same double sums
     * divided and rounded once, as the general path.
     */
    private static void poolF32(Tensor x, Tensor y, int[] in, int[] out, AxisTaps[] taps, Kind kind, boolean vectorMax, boolean countPad,
                                int planes, int inPlane, int outPlane, ExecContext ctx) {
        long window = (long) taps[0].valid[0].length * taps[1].valid[0].length * taps[2].valid[0].length;
        if (kind == Kind.MAX && vectorMax) {
            maxF32(x, y, in, out, taps, planes, inPlane, outPlane, window, ctx);
            return;
        }
        ctx.parallelism().forEach(planes, (long) outPlane * Math.max(1, window) + inPlane, pl -> {
            float[][] buf = POOL_PLANES.get();
            if (buf[0].length < inPlane) buf[0] = new float[inPlane];
            if (buf[1].length < outPlane) buf[1] = new float[outPlane];
            float[] xv = buf[0], yv = buf[1];
            MemorySegment.copy(x.data(), NnArrays.F32, (long) pl * inPlane * 4, xv, 0, inPlane);
            for (int o0 = 0; o0 < out[0]; o0++) {
                int[] v0 = taps[0].valid[o0];
                for (int o1 = 0; o1 < out[1]; o1++) {
                    int[] v1 = taps[1].valid[o1];
                    int yRow = (o0 * out[1] + o1) * out[2];
                    for (int o2 = 0; o2 < out[2]; o2++) {
                        int[] v2 = taps[2].valid[o2];
                        if (kind == Kind.MAX) {
                            float best = Float.NEGATIVE_INFINITY;
                            boolean any = false;
                            for (int a : v0) for (int b : v1) {
                                int row = (a * in[1] + b) * in[2];
                                for (int c : v2) {
                                    float v = xv[row + c];
                                    if (v > best || !any) { best = v; any = true; }
                                }
                            }
                            yv[yRow + o2] = best;
                        } else {
                            double sum = 0;
                            for (int a : v0) for (int b : v1) {
                                int row = (a * in[1] + b) * in[2];
                                for (int c : v2) sum += xv[row + c];
                            }
                            long cnt = countPad
                                    ? (long) taps[0].padded[o0] * taps[1].padded[o1] * taps[2].padded[o2]
                                    : (long) v0.length * v1.length * v2.length;
                            yv[yRow + o2] = (float) (sum / cnt);
                        }
                    }
                }
            }
            MemorySegment.copy(yv, 0, y.data(), NnArrays.F32, (long) pl * outPlane * 4, outPlane);
        });
    }

    /**
     * Float32 MaxPool by {@link WindowMax}: the window's input rows per output row (offsets within a plane, in
     * window order) and the column geometry are resolved once per call; each plane is copied into a buffer with
     * the slack WindowMax reads past its end, pooled there and copied out.
     */
    private static void maxF32(Tensor x, Tensor y, int[] in, int[] out, AxisTaps[] taps, int planes, int inPlane,
                               int outPlane, long window, ExecContext ctx) {
        int[][] rows = new int[out[0] * out[1]][];
        for (int o0 = 0; o0 < out[0]; o0++) {
            for (int o1 = 0; o1 < out[1]; o1++) {
                int[] v0 = taps[0].valid[o0], v1 = taps[1].valid[o1];
                int[] r = new int[v0.length * v1.length];
                int n = 0;
                for (int a : v0) for (int b : v1) r[n++] = (a * in[1] + b) * in[2];
                rows[o0 * out[1] + o1] = r;
            }
        }
        WindowMax.Columns cols = WindowMax.Columns.of(in[2], out[2], taps[2].k, taps[2].s, taps[2].d, taps[2].pb,
                taps[2].valid);
        ctx.parallelism().forEach(planes, (long) outPlane * Math.max(1, window) + inPlane, pl -> {
            float[][] buf = POOL_PLANES.get();
            if (buf[0].length < inPlane + WindowMax.SLACK) buf[0] = new float[inPlane + WindowMax.SLACK];
            if (buf[1].length < outPlane) buf[1] = new float[outPlane];
            if (buf[2].length < cols.scratch()) buf[2] = new float[cols.scratch()];
            MemorySegment.copy(x.data(), NnArrays.F32, (long) pl * inPlane * 4, buf[0], 0, inPlane);
            WindowMax.plane(buf[0], 0, rows, cols, buf[1], 0, buf[2]);
            MemorySegment.copy(buf[1], 0, y.data(), NnArrays.F32, (long) pl * outPlane * 4, outPlane);
        });
    }

    /** Per-thread input and output plane buffers of poolF32 (its body runs no nested parallel call). */
    private static final ThreadLocal<float[][]> POOL_PLANES = ThreadLocal.withInitial(() -> new float[3][0]);

    static final class GlobalPool implements OpKernel {
        private final Kind kind;

        GlobalPool(Kind kind) { this.kind = kind; }

        @Override public List<TensorType> infer(InferContext ctx) { return inferPool(ctx, true); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            if (x.rank() < 3) throw new KernelException(ctx.opType() + " input must have rank >= 3, got " + x.shape());
            NnArrays.requireFloat(x.dtype(), ctx.opType());
            long[] od = x.shape().dims();
            for (int i = 2; i < od.length; i++) od[i] = 1;
            Tensor y = ctx.output(0, x.dtype(), Shape.of(od));
            int planes = Math.toIntExact(od[0] * od[1]);
            int size = Math.toIntExact(x.shape().product(2, x.rank()));
            double p = ctx.attributes().getFloat("p", 2f);
            if (x.dtype() == DType.FLOAT32 && kind != Kind.LP) {
                globalF32(x, y, planes, size, kind, ctx);
                return;
            }
            ctx.parallelism().forEach(planes, pl -> {
                long base = (long) pl * size;
                double acc = kind == Kind.MAX ? Double.NEGATIVE_INFINITY : 0;
                for (int i = 0; i < size; i++) {
                    double v = x.getDouble(base + i);
                    acc = switch (kind) {
                        case MAX -> Math.max(acc, v);
                        case AVG -> acc + v;
                        case LP -> acc + Math.pow(Math.abs(v), p);
                    };
                }
                y.setDouble(pl, switch (kind) {
                    case MAX -> acc;
                    case AVG -> acc / size;
                    case LP -> Math.pow(acc, 1.0 / p);
                });
            });
        }
    }

    /**
     * Float32 global max / average, one plane per index, read straight from the segment by vectors. The
     * average sums in double over {@link #SUM_LANES} interleaved partial sums (element i goes to sum i mod
     * SUM_LANES), combined in a fixed order: independent add chains instead of one, and the same bits
     * whatever the JIT tier or the vector width, since each partial sum sees its elements in index order.
     */
    private static void globalF32(Tensor x, Tensor y, int planes, int size, Kind kind, ExecContext ctx) {
        MemorySegment xs = x.data(), ys = y.data();
        ctx.parallelism().forEach(planes, size, pl -> {
            long base = (long) pl * size * 4;
            float r = kind == Kind.MAX ? planeMax(xs, base, size) : (float) (planeSum(xs, base, size) / size);
            ys.setAtIndex(NnArrays.F32, pl, r);
        });
    }

    private static final jdk.incubator.vector.VectorSpecies<Float> FS = jdk.incubator.vector.FloatVector.SPECIES_256;
    private static final jdk.incubator.vector.VectorSpecies<Double> DS = jdk.incubator.vector.DoubleVector.SPECIES_256;
    /** Partial sums of a plane average: four 4-lane double vectors, fed by two 8-lane float vectors. */
    static final int SUM_LANES = 16;
    private static final java.nio.ByteOrder ORDER = java.nio.ByteOrder.nativeOrder();

    /** planeSum's lane buffer per thread: one a call was a global pool's only steady-state heap allocation. */
    private static final ThreadLocal<double[]> SUM_PARTS = ThreadLocal.withInitial(() -> new double[SUM_LANES]);

    /** The sum in double of {@code n} floats at byte {@code base} of xs (see {@link #globalF32} for the order). */
    static double planeSum(MemorySegment xs, long base, int n) {
        var s0 = jdk.incubator.vector.DoubleVector.zero(DS);
        var s1 = s0;
        var s2 = s0;
        var s3 = s0;
        int i = 0;
        for (; i + SUM_LANES <= n; i += SUM_LANES) {
            var a = jdk.incubator.vector.FloatVector.fromMemorySegment(FS, xs, base + i * 4L, ORDER);
            var b = jdk.incubator.vector.FloatVector.fromMemorySegment(FS, xs, base + (i + 8) * 4L, ORDER);
            s0 = s0.add(a.convertShape(jdk.incubator.vector.VectorOperators.F2D, DS, 0));
            s1 = s1.add(a.convertShape(jdk.incubator.vector.VectorOperators.F2D, DS, 1));
            s2 = s2.add(b.convertShape(jdk.incubator.vector.VectorOperators.F2D, DS, 0));
            s3 = s3.add(b.convertShape(jdk.incubator.vector.VectorOperators.F2D, DS, 1));
        }
        double[] part = SUM_PARTS.get(); // every lane is written below before it is read
        s0.intoArray(part, 0);
        s1.intoArray(part, 4);
        s2.intoArray(part, 8);
        s3.intoArray(part, 12);
        for (int k = 0; i < n; i++, k++) part[k] += xs.get(NnArrays.F32, base + i * 4L);
        for (int w = SUM_LANES / 2; w >= 1; w /= 2) for (int k = 0; k < w; k++) part[k] += part[k + w];
        return part[0];
    }

    /** The largest of {@code n} floats at byte {@code base} of xs; NaN if any is NaN (as Math.max). */
    static float planeMax(MemorySegment xs, long base, int n) {
        var m = jdk.incubator.vector.FloatVector.broadcast(FS, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (; i + 8 <= n; i += 8) m = m.max(jdk.incubator.vector.FloatVector.fromMemorySegment(FS, xs, base + i * 4L, ORDER));
        float r = Float.NEGATIVE_INFINITY;
        for (int k = 0; k < 8; k++) r = Math.max(r, m.lane(k));
        for (; i < n; i++) r = Math.max(r, xs.get(NnArrays.F32, base + i * 4L));
        return r;
    }

    static final class MaxUnpool implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = ctx.inputType(0);
            if (ctx.inputCount() > 2 && ctx.hasInput(2)) {
                Tensor os = ctx.constantInput(2);
                if (os != null) return List.of(TensorType.of(x.dtype(), Shape.of(os.toLongArray())));
                return List.of(new TensorType(x.dtype(), x.shape().hasRank() ? SymShape.unknownDims(x.shape().rank()) : SymShape.UNKNOWN_RANK));
            }
            if (!x.shape().hasRank()) return List.of(new TensorType(x.dtype(), SymShape.UNKNOWN_RANK));
            List<Dim> out = new ArrayList<>(x.shape().dims().subList(0, 2));
            long[] in = new long[x.shape().rank() - 2];
            for (int i = 0; i < in.length; i++) in[i] = NnArrays.known(x, i + 2);
            for (long v : defaultOut(in, ctx.attributes())) out.add(NnArrays.dimOrUnknown(v));
            return List.of(new TensorType(x.dtype(), new SymShape(out)));
        }

        private static long[] defaultOut(long[] in, Attributes at) {
            int r = in.length;
            long[] k = at.getInts("kernel_shape");
            if (k == null || k.length != r) throw new KernelException("MaxUnpool needs kernel_shape for " + r + " spatial axes");
            long[] s = NnArrays.ints(at, "strides", NnArrays.filled(r, 1));
            long[] pads = NnArrays.ints(at, "pads", NnArrays.filled(2 * r, 0));
            long[] o = new long[r];
            for (int i = 0; i < r; i++) o[i] = in[i] < 0 ? -1 : (in[i] - 1) * s[i] + k[i] - pads[i] - pads[i + r];
            return o;
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), ind = ctx.input(1);
            if (!ind.shape().equals(x.shape())) throw new KernelException("MaxUnpool indices shape " + ind.shape() + " differs from X " + x.shape());
            long[] xd = x.shape().dims();
            long[] sp = defaultOut(java.util.Arrays.copyOfRange(xd, 2, xd.length), ctx.attributes());
            long[] dflt = xd.clone();
            System.arraycopy(sp, 0, dflt, 2, sp.length);
            Shape ds = Shape.of(dflt);
            Shape os = ctx.inputCount() > 2 && ctx.hasInput(2) ? Shape.of(ctx.input(2).toLongArray()) : ds;
            if (os.rank() != ds.rank()) throw new KernelException("MaxUnpool output_shape " + os + " has the wrong rank");
            Tensor y = ctx.output(0, x.dtype(), os);
            long total = y.elementCount();
            for (long i = 0; i < total; i++) y.setDouble(i, 0);
            // indices address the default-sized output (what MaxPool saw); a larger output_shape keeps coordinates
            long[] oStride = os.strides();
            long dTotal = ds.elementCount();
            for (long i = 0; i < x.elementCount(); i++) {
                long at = ind.getLong(i);
                if (at < 0 || at >= dTotal) throw new KernelException("MaxUnpool index " + at + " is outside the pooled input of " + dTotal + " elements");
                long rem = at, dst = 0;
                boolean inside = true;
                for (int d = ds.rank() - 1; d >= 0; d--) {
                    long c = rem % ds.dim(d);
                    rem /= ds.dim(d);
                    if (c >= os.dim(d)) inside = false;
                    dst += c * oStride[d];
                }
                if (inside) y.setDouble(dst, x.getDouble(i));
            }
        }
    }
}
