package dev.sluice.kernels.cpu.nn;

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
import dev.sluice.kernels.cpu.core.Broadcast;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.core.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * Normalizations: BatchNormalization (inference and training mode), InstanceNormalization,
 * LayerNormalization, MeanVarianceNormalization and LRN. Statistics are accumulated in double, except
 * float32 LayerNormalization (the spec's default stash_type is float32), which runs as vectors in float.
 * Its row, {@link #layerNormRow}, is public for the fused layer norms of ONNX Runtime's ops ({@code cpu.contrib}).
 */
public final class NormKernels {
    private NormKernels() {}

    private static TensorType sameAsInput(InferContext ctx) {
        TensorType x = ctx.inputType(0);
        NnArrays.requireFloat(x.dtype(), ctx.opType());
        return x;
    }

    // ------------------------------------------------------------------ BatchNormalization

    static final class BatchNorm implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = sameAsInput(ctx);
            List<TensorType> r = new ArrayList<>();
            r.add(x);
            for (int i = 1; i < ctx.outputCount(); i++) {
                TensorType stat = ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.inputType(3) : TensorType.UNKNOWN;
                DType dt = stat.dtype() != null ? stat.dtype() : x.dtype();
                SymShape s = x.shape().hasRank() && x.shape().rank() >= 2 ? SymShape.of(x.shape().dim(1)) : SymShape.unknownDims(1);
                r.add(new TensorType(dt, s));
            }
            return r;
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            NnArrays.requireFloat(x.dtype(), "BatchNormalization");
            if (x.rank() < 1) throw new KernelException("BatchNormalization input must have rank >= 1");
            Attributes at = ctx.attributes();
            double eps = at.getFloat("epsilon", 1e-5f);
            double momentum = at.getFloat("momentum", 0.9f);
            long n = x.shape().dim(0);
            int c = x.rank() >= 2 ? (int) x.shape().dim(1) : 1;
            long inner = x.rank() >= 2 ? x.shape().product(2, x.rank()) : 1;
            if (x.rank() == 1) n = x.shape().dim(0);
            double[] scale = NnArrays.doubles(ctx.input(1)), bias = NnArrays.doubles(ctx.input(2));
            Tensor meanT = ctx.input(3), varT = ctx.input(4);
            double[] mean = NnArrays.doubles(meanT), var = NnArrays.doubles(varT);
            if (scale.length != c || bias.length != c || mean.length != c || var.length != c) {
                throw new KernelException("BatchNormalization parameters must have " + c + " elements");
            }
            boolean training = ctx.opset() >= 14 ? at.getInt("training_mode", 0) != 0 : ctx.outputCount() > 1;
            double[] useMean = mean, useVar = var;
            if (training) {
                // batch statistics over every axis but the channel one; the variance is the population one
                double[] bm = new double[c], bv = new double[c];
                double count = (double) n * inner;
                for (int ch = 0; ch < c; ch++) {
                    double s = 0;
                    for (long b = 0; b < n; b++) {
                        long base = (b * c + ch) * inner;
                        for (long i = 0; i < inner; i++) s += x.getDouble(base + i);
                    }
                    double mu = s / count, q = 0;
                    for (long b = 0; b < n; b++) {
                        long base = (b * c + ch) * inner;
                        for (long i = 0; i < inner; i++) { double d = x.getDouble(base + i) - mu; q += d * d; }
                    }
                    bm[ch] = mu;
                    bv[ch] = q / count;
                }
                useMean = bm;
                useVar = bv;
            }
            double[] a = new double[c], b0 = new double[c];
            for (int ch = 0; ch < c; ch++) {
                a[ch] = scale[ch] / Math.sqrt(useVar[ch] + eps);
                b0[ch] = bias[ch] - useMean[ch] * a[ch];
            }
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            int planes = Math.toIntExact(n * c);
            int fc = c;
            ctx.parallelism().forEach(planes, inner, pl -> {
                int ch = pl % fc;
                long base = (long) pl * inner;
                double av = a[ch], bv = b0[ch];
                if (x.dtype() == DType.FLOAT32) {
                    float af = (float) av, bf = (float) bv;
                    for (long i = 0; i < inner; i++) {
                        y.data().setAtIndex(NnArrays.F32, base + i, x.data().getAtIndex(NnArrays.F32, base + i) * af + bf);
                    }
                } else {
                    for (long i = 0; i < inner; i++) y.setDouble(base + i, x.getDouble(base + i) * av + bv);
                }
            });
            if (training) {
                Shape cs = Shape.of(c);
                if (ctx.outputCount() > 1) {
                    Tensor om = ctx.output(1, meanT.dtype(), cs);
                    for (int ch = 0; ch < c; ch++) om.setDouble(ch, mean[ch] * momentum + useMean[ch] * (1 - momentum));
                }
                if (ctx.outputCount() > 2) {
                    Tensor ov = ctx.output(2, varT.dtype(), cs);
                    for (int ch = 0; ch < c; ch++) ov.setDouble(ch, var[ch] * momentum + useVar[ch] * (1 - momentum));
                }
                if (ctx.outputCount() > 3) {
                    Tensor sm = ctx.output(3, meanT.dtype(), cs);
                    for (int ch = 0; ch < c; ch++) sm.setDouble(ch, useMean[ch]);
                }
                if (ctx.outputCount() > 4) {
                    Tensor sv = ctx.output(4, varT.dtype(), cs);
                    for (int ch = 0; ch < c; ch++) sv.setDouble(ch, useVar[ch]);
                }
            }
        }
    }

    // ------------------------------------------------------------------ InstanceNormalization

    static final class InstanceNorm implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            NnArrays.requireOneType(ctx, "input", "scale", "B");
            return List.of(sameAsInput(ctx));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            NnArrays.requireFloat(x.dtype(), "InstanceNormalization");
            if (x.rank() < 3) throw new KernelException("InstanceNormalization input must have rank >= 3, got " + x.shape());
            double eps = ctx.attributes().getFloat("epsilon", 1e-5f);
            int c = (int) x.shape().dim(1);
            int inner = Math.toIntExact(x.shape().product(2, x.rank()));
            double[] scale = NnArrays.doubles(ctx.input(1)), bias = NnArrays.doubles(ctx.input(2));
            if (scale.length != c || bias.length != c) throw new KernelException("InstanceNormalization scale and B must have " + c + " elements");
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            ctx.parallelism().forEach(Math.toIntExact(x.shape().dim(0) * c), pl -> {
                int ch = pl % c;
                long base = (long) pl * inner;
                normalizeRow(x, y, base, inner, eps, scale[ch], bias[ch]);
            });
        }
    }

    /**
     * y = s * (x - mean) / sqrt(var + eps) + b over one contiguous run of n elements: the sum and the squared
     * differences in double, in order from zero, by InstanceNormParts' functions, which the nodes a plane too large for
     * a device is split into use too (the same terms in the same order: the same bits).
     */
    private static void normalizeRow(Tensor x, Tensor y, long base, int n, double eps, double s, double b) {
        double mean = InstanceNormParts.mean(InstanceNormParts.sum(x, base, n, 0), n);
        double inv = InstanceNormParts.inverse(InstanceNormParts.squares(x, base, n, mean, 0), n, eps);
        InstanceNormParts.normalize(x, y, base, n, mean, inv, s, b);
    }

    // ------------------------------------------------------------------ LayerNormalization

    /**
     * LayerNormalization, and sluice.AddLayerNorm (a, b, scale[, bias]): LayerNormalization of a + b, the
     * residual Add the fusion pass folds in (same shapes, float32), computed as the Add kernel would and
     * normalized in the same pass over each row.
     */
    static final class LayerNorm implements OpKernel {
        private final boolean withAdd;

        LayerNorm() { this(false); }

        LayerNorm(boolean withAdd) { this.withAdd = withAdd; }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = sameAsInput(ctx);
            if (withAdd) {
                TensorType r = ctx.inputType(1);
                if (x.dtype() != DType.FLOAT32 || r.dtype() != null && r.dtype() != DType.FLOAT32) {
                    throw new KernelException("AddLayerNorm needs float32 inputs, got " + x + " and " + r);
                }
                boolean ranked = x.shape().hasRank() && r.shape().hasRank();
                x = new TensorType(DType.FLOAT32, ranked ? Broadcast.shape(List.of(x.shape(), r.shape())) : SymShape.UNKNOWN_RANK);
            }
            requireScaleAndBiasOf(x.dtype(), ctx.inputType(withAdd ? 2 : 1).dtype(),
                ctx.inputCount() > (withAdd ? 3 : 2) && ctx.hasInput(withAdd ? 3 : 2) ? ctx.inputType(withAdd ? 3 : 2).dtype() : null);
            List<TensorType> r = new ArrayList<>();
            r.add(x);
            if (ctx.outputCount() > 1) {
                DType st = statType(ctx.attributes(), x.dtype());
                SymShape s = SymShape.UNKNOWN_RANK;
                if (x.shape().hasRank()) {
                    int rank = x.shape().rank();
                    int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), rank);
                    List<Dim> d = new ArrayList<>(x.shape().dims().subList(0, axis));
                    for (int i = axis; i < rank; i++) d.add(Dim.of(1));
                    s = new SymShape(d);
                }
                for (int i = 1; i < ctx.outputCount(); i++) r.add(new TensorType(st, s));
            }
            return r;
        }

        /**
         * X, Scale and B share the type parameter T. A model that breaks this (the TorchScript exporter writes one for
         * model.half() BERT and GPT-2: float32 activations into an fp16 Scale) is invalid, and ONNX Runtime refuses to
         * load it; computing it anyway would hand back numbers no reference defines, so it is refused here too.
         */
        private static void requireScaleAndBiasOf(DType x, DType scale, DType bias) {
            if (x == null) return;
            if (scale != null && scale != x || bias != null && bias != x) {
                throw new KernelException("LayerNormalization needs X, Scale and B of one type (the spec's T), got X "
                    + x + ", Scale " + scale + (bias == null ? "" : ", B " + bias) + ": the model is invalid");
            }
        }

        private static DType statType(Attributes at, DType x) {
            long stash = at.getInt("stash_type", 1);
            return stash == 1 ? DType.FLOAT32 : stash == 11 ? DType.FLOAT64 : x;
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            NnArrays.requireFloat(x.dtype(), "LayerNormalization");
            int o = withAdd ? 1 : 0;
            Tensor res = withAdd ? ctx.input(1) : null;
            if (res != null && (x.dtype() != DType.FLOAT32 || res.dtype() != DType.FLOAT32)) {
                throw new KernelException("AddLayerNorm needs float32 inputs, got " + x.type() + " and " + res.type());
            }
            if (res != null && !res.shape().equals(x.shape())) {
                // a broadcasting Add (the fusion pass cannot always see shapes): materialize the sum first
                x = broadcastSum(x, res);
                res = null;
            }
            Attributes at = ctx.attributes();
            int rank = x.rank();
            int axis = Shape.normalizeAxis((int) at.getInt("axis", -1), rank);
            double eps = at.getFloat("epsilon", 1e-5f);
            long outer = x.shape().product(0, axis);
            int inner = Math.toIntExact(x.shape().product(axis, rank));
            Shape normShape = Shape.of(java.util.Arrays.copyOfRange(x.shape().dims(), axis, rank));
            Tensor scale = ctx.input(1 + o), bias = ctx.inputCount() > 2 + o && ctx.hasInput(2 + o) ? ctx.input(2 + o) : null;
            requireScaleAndBiasOf(x.dtype(), scale.dtype(), bias == null ? null : bias.dtype());
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            long[] sd = x.shape().dims();
            for (int i = axis; i < rank; i++) sd[i] = 1;
            DType st = statType(at, x.dtype());
            Tensor meanOut = ctx.outputCount() > 1 ? ctx.output(1, st, Shape.of(sd)) : null;
            Tensor invOut = ctx.outputCount() > 2 ? ctx.output(2, st, Shape.of(sd)) : null;
            if (x.dtype() == DType.FLOAT32) {
                MemorySegment ws = floatRow(scale, normShape, "Scale"), bs = bias == null ? null : floatRow(bias, normShape, "B");
                MemorySegment xd = x.data(), rd = res == null ? null : res.data(), yd = y.data();
                float feps = (float) eps;
                ctx.parallelism().forEach(Math.toIntExact(outer), 4L * inner, row -> {
                    long base = (long) row * inner;
                    long stats = layerNormRow(xd, base, rd, base, yd, base, inner, ws, bs, feps);
                    if (meanOut != null) meanOut.setDouble(row, Float.intBitsToFloat((int) (stats >>> 32)));
                    if (invOut != null) invOut.setDouble(row, Float.intBitsToFloat((int) stats));
                });
                return;
            }
            double[] w = broadcastTo(scale, normShape, "Scale");
            double[] b = bias == null ? null : broadcastTo(bias, normShape, "B");
            Tensor xf = x;
            ctx.parallelism().forEach(Math.toIntExact(outer), row -> {
                long base = (long) row * inner;
                double[] v = new double[inner];
                double sum = 0;
                for (int i = 0; i < inner; i++) {
                    v[i] = xf.getDouble(base + i);
                    sum += v[i];
                }
                double mean = sum / inner, q = 0;
                for (int i = 0; i < inner; i++) { double d = v[i] - mean; q += d * d; }
                double inv = 1.0 / Math.sqrt(q / inner + eps);
                for (int i = 0; i < inner; i++) {
                    double r = (v[i] - mean) * inv * w[i] + (b == null ? 0 : b[i]);
                    y.setDouble(base + i, r);
                }
                if (meanOut != null) meanOut.setDouble(row, mean);
                if (invOut != null) invOut.setDouble(row, inv);
            });
        }
    }

    /** a + b with numpy broadcasting, each element the float sum the Add kernel stores. */
    private static Tensor broadcastSum(Tensor a, Tensor b) {
        Shape out = Broadcast.shape(a.shape(), b.shape());
        long[] sa = Broadcast.stridesFor(a.shape(), out), sb = Broadcast.stridesFor(b.shape(), out);
        Tensor t = Tensor.allocate(DType.FLOAT32, out);
        for (long i = 0; i < t.elementCount(); i++) {
            t.setFloat(i, a.getFloat(Broadcast.map(i, out, sa)) + b.getFloat(Broadcast.map(i, out, sb)));
        }
        return t;
    }

    /**
     * A scale or bias as float32 memory of the normalized size: the tensor's own when it already is, else a
     * native copy (never a heap segment: see AttentionKernel's scratch on mixing heap and native segments).
     */
    private static MemorySegment floatRow(Tensor t, Shape normShape, String what) {
        if (t.dtype() == DType.FLOAT32 && t.shape().equals(normShape)) return t.data();
        double[] broadcast = broadcastTo(t, normShape, what);
        Tensor f = Tensor.allocate(DType.FLOAT32, Shape.of(broadcast.length));
        for (int i = 0; i < broadcast.length; i++) f.setFloat(i, (float) broadcast[i]);
        return f.data();
    }

    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final int L = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /**
     * One float32 LayerNormalization row: v = x (+ r, the residual of a fused Add, when r is not null),
     * mean and variance of v in float (lane sums, then the lanes first to last: a fixed order), then
     * y = (v - mean) * inv * w + b with inv = 1 / sqrt(var + eps); b may be null. With r, v is first stored in
     * y (exactly the float sum a separate Add would store) and normalized there. Returns the mean and inv as
     * float bits, mean in the high half. The passes are separate small methods: C1 gives up on one large
     * vector method ("out of virtual registers"), which then never reaches C2 and runs 100x slower.
     */
    public static long layerNormRow(MemorySegment x, long xo, MemorySegment r, long ro, MemorySegment y, long yo, int n,
                             MemorySegment w, MemorySegment b, float eps) {
        float sum;
        if (r != null) {
            sum = addAndSum(x, xo, r, ro, y, yo, n);
            x = y;
            xo = yo;
        } else {
            sum = rowSum(x, xo, n);
        }
        float mean = sum / n;
        float inv = 1f / (float) Math.sqrt(squaredDeviations(x, xo, n, mean) / n + eps);
        normalize(x, xo, y, yo, n, mean, inv, w, b);
        return (long) Float.floatToRawIntBits(mean) << 32 | (Float.floatToRawIntBits(inv) & 0xffffffffL);
    }

    private static float rowSum(MemorySegment x, long xo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) acc = acc.add(FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER));
        // masked-off lanes load as 0
        if (j < n) acc = acc.add(FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, S.indexInRange(j, n)));
        float s = 0f; // the lanes first to last, in place (see SoftmaxKernels.expAndSum)
        for (int i = 0; i < L; i++) s += acc.lane(i);
        return s;
    }

    /** y = x + r (the Add kernel's float sums), returning their sum like {@link #rowSum}. */
    private static float addAndSum(MemorySegment x, long xo, MemorySegment r, long ro, MemorySegment y, long yo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER)
                    .add(FloatVector.fromMemorySegment(S, r, (ro + j) * 4, ORDER));
            v.intoMemorySegment(y, (yo + j) * 4, ORDER);
            acc = acc.add(v);
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, k)
                    .add(FloatVector.fromMemorySegment(S, r, (ro + j) * 4, ORDER, k));
            v.intoMemorySegment(y, (yo + j) * 4, ORDER, k);
            acc = acc.add(v); // masked-off lanes are 0 + 0
        }
        float s = 0f; // the lanes first to last, in place (see SoftmaxKernels.expAndSum)
        for (int i = 0; i < L; i++) s += acc.lane(i);
        return s;
    }

    private static float squaredDeviations(MemorySegment x, long xo, int n, float mean) {
        FloatVector mv = FloatVector.broadcast(S, mean);
        FloatVector q = FloatVector.zero(S);
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector d = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER).sub(mv);
            q = d.fma(d, q);
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector d = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, k).sub(mv);
            d = FloatVector.zero(S).blend(d, k);
            q = d.fma(d, q);
        }
        float s = 0f; // the lanes first to last, in place (see SoftmaxKernels.expAndSum)
        for (int i = 0; i < L; i++) s += q.lane(i);
        return s;
    }

    private static void normalize(MemorySegment x, long xo, MemorySegment y, long yo, int n, float mean, float inv,
                                  MemorySegment w, MemorySegment b) {
        FloatVector mv = FloatVector.broadcast(S, mean), iv = FloatVector.broadcast(S, inv);
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector d = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER).sub(mv).mul(iv)
                    .mul(FloatVector.fromMemorySegment(S, w, (long) j * 4, ORDER));
            if (b != null) d = d.add(FloatVector.fromMemorySegment(S, b, (long) j * 4, ORDER));
            d.intoMemorySegment(y, (yo + j) * 4, ORDER);
        }
        if (j < n) {
            VectorMask<Float> k = S.indexInRange(j, n);
            FloatVector d = FloatVector.fromMemorySegment(S, x, (xo + j) * 4, ORDER, k).sub(mv).mul(iv)
                    .mul(FloatVector.fromMemorySegment(S, w, (long) j * 4, ORDER, k));
            if (b != null) d = d.add(FloatVector.fromMemorySegment(S, b, (long) j * 4, ORDER, k));
            d.intoMemorySegment(y, (yo + j) * 4, ORDER, k);
        }
    }

    /** The values of t broadcast (unidirectionally) to shape target, as a dense array. */
    static double[] broadcastTo(Tensor t, Shape target, String what) {
        if (!Broadcast.shape(t.shape(), target).equals(target)) {
            throw new KernelException(what + " of shape " + t.shape() + " does not broadcast to " + target);
        }
        int n = Math.toIntExact(target.elementCount());
        double[] r = new double[n];
        if (t.shape().equals(target)) {
            for (int i = 0; i < n; i++) r[i] = t.getDouble(i);
            return r;
        }
        long[] s = Broadcast.stridesFor(t.shape(), target);
        for (int i = 0; i < n; i++) r[i] = t.getDouble(Broadcast.map(i, target, s));
        return r;
    }

    // ------------------------------------------------------------------ MeanVarianceNormalization

    static final class Mvn implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return List.of(sameAsInput(ctx)); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            NnArrays.requireFloat(x.dtype(), "MeanVarianceNormalization");
            int rank = x.rank();
            long[] axes = NnArrays.ints(ctx.attributes(), "axes", new long[] {0, 2, 3});
            boolean[] reduced = new boolean[rank];
            for (long a : axes) reduced[Shape.normalizeAxis((int) a, rank)] = true;
            // kept-coordinates index of each element: elements sharing it form one statistics group
            long[] dims = x.shape().dims();
            long[] keptStride = new long[rank];
            long groups = 1;
            for (int d = rank - 1; d >= 0; d--) {
                if (!reduced[d]) { keptStride[d] = groups; groups *= dims[d]; }
            }
            int total = Math.toIntExact(x.elementCount());
            int[] group = new int[total];
            for (int i = 0; i < total; i++) {
                long rem = i, gidx = 0;
                for (int d = rank - 1; d >= 0; d--) {
                    long c = rem % dims[d];
                    rem /= dims[d];
                    gidx += c * keptStride[d];
                }
                group[i] = (int) gidx;
            }
            int ng = Math.toIntExact(groups);
            double[] sum = new double[ng], sq = new double[ng], cnt = new double[ng];
            double[] v = NnArrays.doubles(x);
            for (int i = 0; i < total; i++) { sum[group[i]] += v[i]; cnt[group[i]]++; }
            for (int gi = 0; gi < ng; gi++) sum[gi] /= Math.max(cnt[gi], 1);
            for (int i = 0; i < total; i++) { double d = v[i] - sum[group[i]]; sq[group[i]] += d * d; }
            double[] out = new double[total];
            for (int i = 0; i < total; i++) {
                int gi = group[i];
                out[i] = (v[i] - sum[gi]) / (Math.sqrt(sq[gi] / Math.max(cnt[gi], 1)) + 1e-9);
            }
            NnArrays.store(ctx.output(0, x.dtype(), x.shape()), out);
        }
    }

    // ------------------------------------------------------------------ LRN

    static final class Lrn implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return List.of(sameAsInput(ctx)); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            NnArrays.requireFloat(x.dtype(), "LRN");
            if (x.rank() < 3) throw new KernelException("LRN input must have rank >= 3, got " + x.shape());
            Attributes at = ctx.attributes();
            double alpha = at.getFloat("alpha", 1e-4f), beta = at.getFloat("beta", 0.75f), bias = at.getFloat("bias", 1f);
            int size = Math.toIntExact(at.getInt("size"));
            int c = (int) x.shape().dim(1);
            int inner = Math.toIntExact(x.shape().product(2, x.rank()));
            int lo = (size - 1) / 2, hi = size - 1 - lo;
            double[] v = NnArrays.doubles(x);
            double[] out = new double[v.length];
            int n = (int) x.shape().dim(0);
            ctx.parallelism().forEach(n * c, pl -> {
                int b = pl / c, ch = pl % c;
                int c0 = Math.max(0, ch - lo), c1 = Math.min(c - 1, ch + hi);
                for (int i = 0; i < inner; i++) {
                    double s = 0;
                    for (int cc = c0; cc <= c1; cc++) { double e = v[(b * c + cc) * inner + i]; s += e * e; }
                    int at0 = pl * inner + i;
                    out[at0] = v[at0] / Math.pow(bias + alpha / size * s, beta);
                }
            });
            NnArrays.store(ctx.output(0, x.dtype(), x.shape()), out);
        }
    }
}
