package dev.sluice.kernels.cpu.nn;

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
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * The ai.onnx Attention operator (opsets 23 to 25) as LLM exports emit it: Y = softmax(scale * Q K^T [softcapped]
 * + bias) V per query head, where K and V may be grouped (fewer KV heads than query heads: query head h reads KV
 * head h / (qHeads / kvHeads)) and extended by a past cache.
 *
 * <p>Layouts: Q [B, Hq, L, d], K [B, Hkv, Lnew, d], V [B, Hkv, Lnew, dv] (4-D), or Q [B, L, Hq * d], K and V
 * [B, Lnew, Hkv * d|dv] with {@code q_num_heads} / {@code kv_num_heads} (3-D, Y then [B, L, Hq * dv]).
 * past_key / past_value [B, Hkv, P, d|dv] are prepended to the new keys and values (present_key / present_value,
 * outputs 1 and 2, hold the result). The bias of score (b, h, i, j) is the sum of: attn_mask (bool: 0 or -inf;
 * float: added; broadcast right-aligned to [B, Hq, L, *] and padded with -inf up to the total keys P + Lnew),
 * {@code is_causal} (-inf where j > i + offset, offset = P, or nonpad_kv_seqlen[b] - L for an external cache),
 * the opset-25 window ({@code left_window_size}, {@code right_window_size}, same offset), and
 * nonpad_kv_seqlen (opset 24: -inf where j >= nonpad_kv_seqlen[b]). A query row whose bias is -inf everywhere
 * (or whose scores' maximum is -inf) attends to nothing: its weights and its output row are 0, not NaN.
 * Output 3, {@code qk_matmul_output}, is by {@code qk_matmul_output_mode}: 0 the scaled scores, 1 those softcapped,
 * 2 those plus the bias, 3 the softmax weights. (Mode 0 with a softcap follows the spec and ONNX Runtime, before the
 * cap; the onnx package's reference implementation caps it too, but no conformance test covers that case.)
 *
 * <p>float32 and float16 (computed in float32, stored back rounded); {@code softmax_precision} accepts any float
 * type and the softmax runs in float32 (so double asked for gets float). The two products of each head go through
 * {@link AttentionKernel#headScores} and {@link AttentionKernel#headWeighted}, the fused sluice.Attention's loops,
 * straight from the heads' strided rows (a single query's scores excepted: Gemm32's dots over the keys' rows, see
 * execute); the softmax is {@link SoftmaxKernels#softmaxRow}. Work is split over (batch, query head) pairs.
 */
final class OnnxAttentionKernel implements OpKernel {
    private static final int MODE_SCORES = 0, MODE_SOFTCAPPED = 1, MODE_BIASED = 2, MODE_WEIGHTS = 3;

    @Override public List<TensorType> infer(InferContext ctx) {
        String where = "Attention '" + ctx.nodeName() + "'";
        TensorType q = ctx.inputType(0), k = ctx.inputType(1), v = ctx.inputType(2);
        DType dt = q.dtype();
        if (dt != null) checkFloat(where, dt);
        checkAttributes(where, ctx.attributes());
        int rank = q.shape().hasRank() ? q.shape().rank() : k.shape().hasRank() ? k.shape().rank() : v.shape().hasRank() ? v.shape().rank() : -1;
        if (rank != -1 && rank != 3 && rank != 4) throw new KernelException(where + ": Q, K and V must have rank 3 or 4, got " + q + ", " + k + ", " + v);
        List<TensorType> out = new ArrayList<>();
        if (rank == -1) {
            for (int i = 0; i < ctx.outputCount(); i++) out.add(new TensorType(dt, SymShape.UNKNOWN_RANK));
            return out;
        }
        SymShape qs = ranked(q.shape(), rank), ks = ranked(k.shape(), rank), vs = ranked(v.shape(), rank);
        Attributes at = ctx.attributes();
        Dim b = qs.dim(0), qh, kvh, l, lNew, d, dv;
        if (rank == 4) {
            qh = qs.dim(1);
            kvh = ks.dim(1);
            l = qs.dim(2);
            lNew = ks.dim(2);
            d = qs.dim(3);
            dv = vs.dim(3);
        } else {
            qh = Dim.of(headCount(where, at, "q_num_heads"));
            kvh = Dim.of(headCount(where, at, "kv_num_heads"));
            l = qs.dim(1);
            lNew = ks.dim(1);
            d = divide(qs.dim(2), qh);
            dv = divide(vs.dim(2), kvh);
        }
        Dim past = Dim.of(0);
        if (ctx.inputCount() > 4 && ctx.hasInput(4)) {
            SymShape ps = ctx.inputType(4).shape();
            past = ps.hasRank() && ps.rank() == 4 ? ps.dim(2) : Dim.UNKNOWN;
        }
        Dim total = past.isKnown() && past.value() == 0 ? lNew : past.isKnown() && lNew.isKnown() ? Dim.of(past.value() + lNew.value()) : Dim.UNKNOWN;
        out.add(new TensorType(dt, rank == 4 ? SymShape.of(b, qh, l, dv) : SymShape.of(b, l, multiply(qh, dv))));
        if (ctx.outputCount() > 1) out.add(new TensorType(dt, SymShape.of(b, kvh, total, d)));
        if (ctx.outputCount() > 2) out.add(new TensorType(dt, SymShape.of(b, kvh, total, dv)));
        if (ctx.outputCount() > 3) out.add(new TensorType(dt, SymShape.of(b, qh, l, total)));
        return out;
    }

    private static SymShape ranked(SymShape s, int rank) {
        if (!s.hasRank()) return SymShape.unknownDims(rank);
        if (s.rank() != rank) throw new KernelException("Attention: Q, K and V must have the same rank, got " + s + " beside rank " + rank);
        return s;
    }

    private static Dim divide(Dim a, Dim b) {
        return a.isKnown() && b.isKnown() && b.value() > 0 && a.value() % b.value() == 0 ? Dim.of(a.value() / b.value()) : Dim.UNKNOWN;
    }

    private static Dim multiply(Dim a, Dim b) { return a.isKnown() && b.isKnown() ? Dim.of(a.value() * b.value()) : Dim.UNKNOWN; }

    private static void checkFloat(String where, DType dt) {
        if (dt != DType.FLOAT32 && dt != DType.FLOAT16) {
            throw new KernelException(where + ": element type " + dt + " is not supported (float32 or float16)");
        }
    }

    private static long headCount(String where, Attributes at, String name) {
        long n = at.getInt(name, 0);
        if (n <= 0) throw new KernelException(where + ": 3-D Q, K, V need attribute " + name + " > 0, got " + n);
        return n;
    }

    private static void checkAttributes(String where, Attributes at) {
        long mode = at.getInt("qk_matmul_output_mode", 0);
        if (mode < MODE_SCORES || mode > MODE_WEIGHTS) throw new KernelException(where + ": qk_matmul_output_mode " + mode + " is not 0, 1, 2 or 3");
        if (at.has("softmax_precision")) {
            long p = at.getInt("softmax_precision", 1);
            if (p != 1 && p != 10 && p != 11 && p != 16) {
                throw new KernelException(where + ": softmax_precision " + p + " is not a floating-point type (1, 10, 11 or 16)");
            }
        }
        for (String w : new String[] {"left_window_size", "right_window_size"}) {
            if (at.getInt(w, -1) < -1) throw new KernelException(where + ": " + w + " must be -1 or >= 0, got " + at.getInt(w, -1));
        }
    }

    /** The sizes of one call. {@code packed}: 3-D inputs; {@code past}: cached keys before the Lnew new ones. */
    private record Sizes(int batch, int qHeads, int kvHeads, int l, int lNew, int past, int d, int dv, boolean packed) {
        int total() { return past + lNew; }
    }

    @Override public void execute(ExecContext ctx) {
        String where = "Attention '" + ctx.nodeName() + "'";
        Attributes at = ctx.attributes();
        checkAttributes(where, at);
        Tensor q0 = ctx.input(0), k0 = ctx.input(1), v0 = ctx.input(2);
        Tensor mask = optional(ctx, 3), pastK0 = optional(ctx, 4), pastV0 = optional(ctx, 5), nonpad = optional(ctx, 6);
        DType dt = q0.dtype();
        checkFloat(where, dt);
        if (k0.dtype() != dt || v0.dtype() != dt) throw new KernelException(where + ": Q, K and V must share one type, got " + q0.type() + ", " + k0.type() + ", " + v0.type());
        Sizes z = sizes(where, at, q0, k0, v0, pastK0, pastV0);
        if (nonpad != null && pastK0 != null) throw new KernelException(where + ": nonpad_kv_seqlen cannot be combined with past_key / past_value");
        int total = z.total();
        long[] valid = nonpadLengths(where, nonpad, z.batch(), total);
        float[] maskValues = null;
        long[] mstr = null;
        int mk = 0;
        if (mask != null) {
            if (mask.dtype() != DType.BOOL && !mask.dtype().isFloatingPoint()) throw new KernelException(where + ": attn_mask must be bool or float, got " + mask.type());
            if (mask.rank() < 1 || mask.rank() > 4) throw new KernelException(where + ": attn_mask must have rank 1 to 4, got " + mask.shape());
            long[] md = new long[] {1, 1, 1, 1};
            System.arraycopy(mask.shape().dims(), 0, md, 4 - mask.rank(), mask.rank());
            long[] full = {z.batch(), z.qHeads(), z.l()};
            for (int i = 0; i < 3; i++) {
                if (md[i] != 1 && md[i] != full[i]) {
                    throw new KernelException(where + ": attn_mask " + mask.shape() + " does not broadcast to [" + z.batch() + ", " + z.qHeads() + ", " + z.l() + ", " + total + "]");
                }
            }
            if (md[3] > total) throw new KernelException(where + ": attn_mask " + mask.shape() + " has more than the " + total + " keys");
            mk = (int) md[3];
            mstr = new long[4];
            long s = 1;
            for (int i = 3; i >= 0; i--) { mstr[i] = md[i] == 1 && i < 3 ? 0 : s; s *= md[i]; }
            maskValues = new float[Math.toIntExact(mask.elementCount())];
            boolean bool = mask.dtype() == DType.BOOL;
            for (int i = 0; i < maskValues.length; i++) maskValues[i] = bool ? (mask.getLong(i) != 0 ? 0f : Float.NEGATIVE_INFINITY) : mask.getFloat(i);
        }
        boolean f32 = dt == DType.FLOAT32;
        Tensor q = NnArrays.asF32(q0), k = NnArrays.asF32(k0), v = NnArrays.asF32(v0);
        // keys and values as one head-major [B, Hkv, P + Lnew, depth] tensor when a past is prepended or present is asked for
        boolean present = ctx.outputCount() > 1;
        Tensor kAll = null, vAll = null;
        if (pastK0 != null || present) {
            kAll = headMajor(ctx, present && f32 ? 1 : -1, pastK0, k, z, z.d());
            vAll = headMajor(ctx, ctx.outputCount() > 2 && f32 ? 2 : -1, pastV0, v, z, z.dv());
            if (!f32) {
                if (present) copyInto(kAll, ctx.output(1, dt, kAll.shape()));
                if (ctx.outputCount() > 2) copyInto(vAll, ctx.output(2, dt, vAll.shape()));
            }
        }
        Shape yShape = z.packed() ? Shape.of(z.batch(), z.l(), (long) z.qHeads() * z.dv()) : Shape.of(z.batch(), z.qHeads(), z.l(), z.dv());
        Tensor yOut = ctx.output(0, dt, yShape);
        Tensor y = f32 ? yOut : Tensor.allocate(DType.FLOAT32, yShape);
        int mode = (int) at.getInt("qk_matmul_output_mode", 0);
        Tensor qk = ctx.outputCount() > 3 ? ctx.output(3, dt, Shape.of(z.batch(), z.qHeads(), z.l(), total)) : null;
        if ((long) z.batch() * z.qHeads() * z.l() == 0) return; // no query rows: nothing to compute (present is written)
        float scale = at.has("scale") ? at.getFloat("scale", 1f) : (float) (1 / Math.sqrt(z.d()));
        float softcap = at.getFloat("softcap", 0f);
        Bias bias = new Bias(maskValues, mstr, mk, at.getInt("is_causal", 0) != 0, (int) at.getInt("left_window_size", -1),
                (int) at.getInt("right_window_size", -1), valid, z.past(), z.l());
        MemorySegment qd = q.data(), kd = (kAll != null ? kAll : k).data(), vd = (vAll != null ? vAll : v).data(), yd = y.data();
        int l = z.l(), d = z.d(), dv = z.dv(), qh = z.qHeads(), kvh = z.kvHeads(), group = qh / kvh;
        Tensor kSrc = kAll != null ? kAll : k;
        ctx.parallelism().forEach(z.batch() * qh, (long) l * Math.max(total, 1) * (d + dv + 8), t -> {
            int b = t / qh, h = t % qh, hk = h / group;
            long qo = z.packed() ? (long) b * l * qh * d + (long) h * d : (long) t * l * d;
            int ldq = z.packed() ? qh * d : d;
            long ko, vo;
            int ldk, ldv;
            if (kSrc != k || !z.packed()) {
                int rows = kSrc != k ? total : z.lNew();
                ko = ((long) b * kvh + hk) * rows * d;
                vo = ((long) b * kvh + hk) * rows * dv;
                ldk = d;
                ldv = dv;
            } else {
                ko = (long) b * z.lNew() * kvh * d + (long) hk * d;
                vo = (long) b * z.lNew() * kvh * dv + (long) hk * dv;
                ldk = kvh * d;
                ldv = kvh * dv;
            }
            long yo = z.packed() ? (long) b * l * qh * dv + (long) h * dv : (long) t * l * dv;
            int ldy = z.packed() ? qh * dv : dv;
            if (total == 0) {
                for (int i = 0; i < l; i++) for (int c = 0; c < dv; c++) y.setFloat(yo + (long) i * ldy + c, 0f);
                return;
            }
            MemorySegment s = AttentionKernel.scratch(0, (long) l * total);
            if (l == 1) {
                // one query (decoding): dots straight from the keys' rows, vectorized along the depth. The fused kernel
                // sums each key's depths one by one instead (OneQueryScores), in the unfused MatMul's order, which this op has no reason to match
                Gemm32.sgemm(false, true, 1, total, d, 1f, qd, qo, ldq, kd, ko, ldk, 0f, s, 0, total, Parallelism.SEQUENTIAL);
            } else {
                AttentionKernel.headScores(qd, qo, ldq, kd, ko, ldk, l, total, d, dv, s);
            }
            float[] rowBias = new float[total];
            long qkBase = (long) t * l * total;
            for (int i = 0; i < l; i++) {
                long row = (long) i * total;
                boolean none = bias.row(b, h, i, rowBias);
                for (int j = 0; j < total; j++) {
                    float x = s.getAtIndex(NnArrays.F32, row + j) * scale;
                    if (qk != null && mode == MODE_SCORES) qk.setFloat(qkBase + row + j, x);
                    if (softcap > 0) x = (float) StrictMath.tanh(x / softcap) * softcap; // StrictMath: bits independent of the JIT
                    if (qk != null && mode == MODE_SOFTCAPPED) qk.setFloat(qkBase + row + j, x);
                    x += rowBias[j];
                    if (qk != null && mode == MODE_BIASED) qk.setFloat(qkBase + row + j, x);
                    s.setAtIndex(NnArrays.F32, row + j, x);
                }
                if (none || SoftmaxKernels.rowMax(s, row, total) == Float.NEGATIVE_INFINITY) {
                    // nothing to attend to: zero weights (the spec's convention), not the NaN of e^(-inf - -inf)
                    for (int j = 0; j < total; j++) s.setAtIndex(NnArrays.F32, row + j, 0f);
                } else {
                    SoftmaxKernels.softmaxRow(s, row, s, row, total);
                }
                if (qk != null && mode == MODE_WEIGHTS) {
                    for (int j = 0; j < total; j++) qk.setFloat(qkBase + row + j, s.getAtIndex(NnArrays.F32, row + j));
                }
            }
            if (dv > 0) AttentionKernel.headWeighted(s, l, total, d, vd, vo, ldv, dv, yd, yo, ldy);
        });
        if (!f32) copyInto(y, yOut);
    }

    private static Tensor optional(ExecContext ctx, int i) { return ctx.inputCount() > i && ctx.hasInput(i) ? ctx.input(i) : null; }

    private static Sizes sizes(String where, Attributes at, Tensor q, Tensor k, Tensor v, Tensor pastK, Tensor pastV) {
        int rank = q.rank();
        if (rank != 3 && rank != 4 || k.rank() != rank || v.rank() != rank) {
            throw new KernelException(where + ": Q, K and V must all have rank 3 or all rank 4, got " + q.shape() + ", " + k.shape() + ", " + v.shape());
        }
        long[] qs = q.shape().dims(), ks = k.shape().dims(), vs = v.shape().dims();
        long batch = qs[0], qh, kvh, l, lNew, d, dk, dv;
        boolean packed = rank == 3;
        if (packed) {
            qh = headCount(where, at, "q_num_heads");
            kvh = headCount(where, at, "kv_num_heads");
            if (qs[2] % qh != 0 || ks[2] % kvh != 0 || vs[2] % kvh != 0) {
                throw new KernelException(where + ": hidden sizes " + qs[2] + ", " + ks[2] + ", " + vs[2] + " are not multiples of q_num_heads " + qh
                        + " and kv_num_heads " + kvh);
            }
            l = qs[1];
            lNew = ks[1];
            d = qs[2] / qh;
            dk = ks[2] / kvh;
            dv = vs[2] / kvh;
            if (vs[1] != lNew) throw new KernelException(where + ": K " + k.shape() + " and V " + v.shape() + " have different sequence lengths");
        } else {
            qh = qs[1];
            kvh = ks[1];
            l = qs[2];
            lNew = ks[2];
            d = qs[3];
            dk = ks[3];
            dv = vs[3];
            if (vs[1] != kvh || vs[2] != lNew) throw new KernelException(where + ": K " + k.shape() + " and V " + v.shape() + " do not pair up");
        }
        if (ks[0] != batch || vs[0] != batch) throw new KernelException(where + ": Q, K, V batch sizes differ: " + q.shape() + ", " + k.shape() + ", " + v.shape());
        if (dk != d) throw new KernelException(where + ": Q head size " + d + " and K head size " + dk + " differ");
        if (kvh <= 0 || qh % kvh != 0) throw new KernelException(where + ": " + qh + " query heads are not a multiple of " + kvh + " key/value heads");
        long past = 0;
        if ((pastK == null) != (pastV == null)) throw new KernelException(where + ": past_key and past_value must be given together");
        if (pastK != null) {
            past = pastK.rank() == 4 ? pastK.shape().dim(2) : -1;
            if (!pastK.shape().equals(Shape.of(batch, kvh, past, d)) || !pastV.shape().equals(Shape.of(batch, kvh, past, dv))) {
                throw new KernelException(where + ": past_key " + pastK.shape() + " and past_value " + pastV.shape() + " must be [" + batch + ", " + kvh
                        + ", P, " + d + "] and [" + batch + ", " + kvh + ", P, " + dv + "]");
            }
            if (pastK.dtype() != q.dtype() || pastV.dtype() != q.dtype()) throw new KernelException(where + ": past_key and past_value must have Q's type " + q.dtype());
        }
        return new Sizes(Math.toIntExact(batch), Math.toIntExact(qh), Math.toIntExact(kvh), Math.toIntExact(l), Math.toIntExact(lNew),
                Math.toIntExact(past), Math.toIntExact(d), Math.toIntExact(dv), packed);
    }

    private static long[] nonpadLengths(String where, Tensor nonpad, int batch, int total) {
        if (nonpad == null) return null;
        if (nonpad.dtype().isFloatingPoint() || nonpad.rank() != 1 || nonpad.shape().dim(0) != batch) {
            throw new KernelException(where + ": nonpad_kv_seqlen must be an integer vector of " + batch + ", got " + nonpad.type());
        }
        long[] r = new long[batch];
        for (int b = 0; b < batch; b++) {
            r[b] = nonpad.getLong(b);
            if (r[b] < 0 || r[b] > total) throw new KernelException(where + ": nonpad_kv_seqlen[" + b + "] = " + r[b] + " is outside [0, " + total + "]");
        }
        return r;
    }

    /**
     * [B, Hkv, P + Lnew, depth] float32: each head's past rows, then its new rows from {@code cur} (packed
     * [B, Lnew, Hkv * depth] or head-major). Written into output {@code out} when it is not -1 (float32 only).
     */
    private static Tensor headMajor(ExecContext ctx, int out, Tensor past, Tensor cur, Sizes z, int depth) {
        Shape shape = Shape.of(z.batch(), z.kvHeads(), z.total(), depth);
        Tensor r = out >= 0 ? ctx.output(out, DType.FLOAT32, shape) : Tensor.allocate(DType.FLOAT32, shape);
        Tensor p = past == null ? null : NnArrays.asF32(past);
        long rowBytes = 4L * depth;
        for (int b = 0; b < z.batch(); b++) {
            for (int h = 0; h < z.kvHeads(); h++) {
                long dst = ((long) b * z.kvHeads() + h) * z.total() * rowBytes;
                if (p != null) {
                    long bytes = z.past() * rowBytes;
                    MemorySegment.copy(p.data(), ((long) b * z.kvHeads() + h) * bytes, r.data(), dst, bytes);
                    dst += bytes;
                }
                for (int j = 0; j < z.lNew(); j++, dst += rowBytes) {
                    long src = z.packed() ? (((long) b * z.lNew() + j) * z.kvHeads() + h) * rowBytes
                            : (((long) b * z.kvHeads() + h) * z.lNew() + j) * rowBytes;
                    MemorySegment.copy(cur.data(), src, r.data(), dst, rowBytes);
                }
            }
        }
        return r;
    }

    /** dst (any float type) = src (float32), element by element, rounding to dst's type. */
    private static void copyInto(Tensor src, Tensor dst) {
        for (long i = 0; i < src.elementCount(); i++) dst.setFloat(i, src.getFloat(i));
    }

    /**
     * The additive bias of one query row, from the mask, the causal and window limits and the padding; each
     * limit adds -inf to the mask value, the order of the spec's reference, so a NaN mask stays NaN.
     */
    private record Bias(float[] mask, long[] mstr, int mk, boolean causal, int left, int right, long[] valid, int past, int l) {
        /** Fills {@code out} with row i's bias for batch b, head h; true when every entry is -inf. */
        boolean row(int b, int h, int i, float[] out) {
            int total = out.length;
            long offset = valid != null ? valid[b] - l : past;
            long mo = mask == null ? 0 : b * mstr[0] + h * mstr[1] + i * mstr[2];
            boolean none = true;
            for (int j = 0; j < total; j++) {
                float x = mask == null ? 0f : j < mk ? mask[(int) (mo + j * mstr[3])] : Float.NEGATIVE_INFINITY;
                long diff = i + offset - j;
                if (causal && diff < 0) x += Float.NEGATIVE_INFINITY;
                if (left >= 0 && diff > left || right >= 0 && -diff > right) x += Float.NEGATIVE_INFINITY;
                if (valid != null && j >= valid[b]) x += Float.NEGATIVE_INFINITY;
                out[j] = x;
                if (x != Float.NEGATIVE_INFINITY) none = false;
            }
            return none;
        }
    }
}
