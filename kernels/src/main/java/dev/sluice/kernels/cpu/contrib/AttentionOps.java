package dev.sluice.kernels.cpu.contrib;

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
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import dev.sluice.kernels.cpu.nn.AttentionKernel;
import dev.sluice.kernels.cpu.nn.AttentionKernel.Heads;
import dev.sluice.kernels.cpu.nn.AttentionKernel.Scores;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * ONNX Runtime's encoder attention ops, run by {@link AttentionKernel#attend} on views of their operands:
 *
 * <ul>
 *   <li>Attention: input [B, S, D_in] times packed weights [D_in, D_q + D_k + D_v] (plus bias) gives Q, K and V side
 *       by side in one [B, S, D_q + D_k + D_v] buffer, whose column slices are the heads (no transposed copies);
 *       {@code qkv_hidden_sizes} sets the three widths (default three equal ones). Output [B, S, D_v].
 *   <li>MultiHeadAttention: separate query [B, S, D], key [B, L, D] and value [B, L, D_v] (key and value may
 *       also come as [B, N, L, H] heads), an optional bias [D + D + D_v] added to the three first.
 * </ul>
 *
 * <p>Scores are {@code scale * Q K^T} ({@code scale} 0 or absent: 1 / sqrt(head size)) plus an additive mask
 * built from ONNX Runtime's mask forms: {@code mask_index} / {@code key_padding_mask} as 1-D [B] key lengths
 * (keys from the length on are masked), 1-D [2B] ends then starts, 2-D [B, T] or 3-D [B, S, T] 0/1 (0 masked);
 * {@code unidirectional} masks keys after the query. A masked score gets {@code mask_filter_value} (default
 * -10000, not -inf: a row with every key masked gives softmax of the raw scores, as ONNX Runtime does). A key after
 * the query gets {@link #CAUSAL} instead, whatever its padding says: a query whose earlier keys are all padding
 * attends to those (by their raw scores), never to a later key, as ONNX Runtime 1.29 does. An {@code attention_bias} [B or 1, N or 1, S, T] is added too.
 * Refused with a clear error: past key/value state, rotary embedding, 4-D Megatron masks, packed QKV for
 * MultiHeadAttention.
 */
final class AttentionOps {
    private AttentionOps() {}

    /**
     * The mask of a key after the query: the lowest float, so that no padding value ties with it, yet finite (a
     * score plus -inf minus the row's max could give NaN where a row had nothing else; the diagonal never has it).
     */
    static final float CAUSAL = -Float.MAX_VALUE;

    private static int heads(Attributes at, String op) {
        long n = at.getInt("num_heads", 0);
        if (n <= 0) throw new KernelException(op + " needs a positive num_heads attribute, got " + n);
        return Math.toIntExact(n);
    }

    private static void refuse(ExecContext ctx, int input, String op, String what) {
        if (ctx.inputCount() > input && ctx.hasInput(input)) throw new KernelException(op + " input " + input + " (" + what + ") is not supported");
    }

    private static Tensor optional(ExecContext ctx, int i) { return ctx.inputCount() > i && ctx.hasInput(i) ? ctx.input(i) : null; }

    /**
     * The additive mask over [B, 1, S or 1, T] for ORT's mask forms and the causal flag, null when there is
     * nothing to mask; plus the attention bias [B or 1, N or 1, S, T], combined into one [B or 1, N or 1, S, T]
     * tensor when both are given. Returns the scores' description for {@link AttentionKernel#attend}.
     */
    static Scores scores(Tensor maskIndex, Tensor attnBias, boolean causal, int b, int n, int s, int t, float scale,
                         float filter, String op, String what) {
        Tensor mask = null;
        if (maskIndex != null || causal && s > 1) {
            boolean perQuery = causal && s > 1 || maskIndex != null && maskIndex.rank() == 3;
            int rows = perQuery ? s : 1;
            mask = Tensor.allocate(DType.FLOAT32, Shape.of(maskIndex == null ? 1 : b, 1, rows, t));
            if (maskIndex != null) fillPadding(mask, maskIndex, b, s, t, rows, filter, op, what);
            if (causal && s > 1) {
                int batches = Math.toIntExact(mask.shape().dim(0));
                for (int bi = 0; bi < batches; bi++) {
                    for (int i = 0; i < s; i++) for (int j = i + 1; j < t; j++) mask.setFloat(((long) bi * s + i) * t + j, CAUSAL);
                }
            }
        }
        if (attnBias != null) {
            Operands.float32(attnBias, op, "attention_bias");
            long[] d = attnBias.shape().dims();
            if (d.length != 4 || d[0] != 1 && d[0] != b || d[1] != 1 && d[1] != n || d[2] != s || d[3] != t) {
                throw new KernelException(op + " attention_bias must have shape [" + b + " or 1, " + n + " or 1, " + s + ", " + t + "], got " + attnBias.shape());
            }
            if (mask == null) {
                mask = attnBias;
            } else {
                long[] md = mask.shape().dims();
                Shape out = Shape.of(Math.max(d[0], md[0]), d[1], s, t);
                Tensor sum = Tensor.allocate(DType.FLOAT32, out);
                for (int bi = 0; bi < out.dim(0); bi++) {
                    for (int h = 0; h < out.dim(1); h++) {
                        for (int i = 0; i < s; i++) {
                            for (int j = 0; j < t; j++) {
                                long bo = (((d[0] == 1 ? 0 : bi) * d[1] + h) * s + i) * t + j;
                                long mo = ((md[0] == 1 ? 0 : bi) * md[2] + (md[2] == 1 ? 0 : i)) * t + j;
                                sum.setFloat(((bi * out.dim(1) + h) * s + i) * t + j, attnBias.getFloat(bo) + mask.getFloat(mo));
                            }
                        }
                    }
                }
                mask = sum;
            }
        }
        long[] strides = new long[4];
        if (mask != null) {
            long[] md = mask.shape().dims();
            long st = 1;
            for (int i = 3; i >= 0; i--) { strides[i] = md[i] == 1 ? 0 : st; st *= md[i]; }
        }
        return new Scores(Scores.MUL, scale, mask == null ? null : mask.data(), strides);
    }

    /** Writes the padding mask of {@code maskIndex} (int32 by the ORT schema) into mask [B, 1, rows, T]. */
    private static void fillPadding(Tensor mask, Tensor m, int b, int s, int t, int rows, float filter, String op, String what) {
        if (!m.dtype().isInteger()) throw new KernelException(op + " " + what + " must be int32, got " + m.type());
        long[] d = m.shape().dims();
        switch (d.length) {
            case 1 -> {
                if (d[0] != b && d[0] != 2L * b) {
                    throw new KernelException(op + " 1-D " + what + " must have " + b + " key lengths (or " + 2 * b + ": ends, then starts), got " + m.shape());
                }
                for (int bi = 0; bi < b; bi++) {
                    long end = m.getLong(bi), start = d[0] == 2L * b ? m.getLong(b + bi) : 0;
                    for (int i = 0; i < rows; i++) {
                        for (int j = 0; j < t; j++) if (j >= end || j < start) mask.setFloat(((long) bi * rows + i) * t + j, filter);
                    }
                }
            }
            case 2, 3 -> {
                boolean three = d.length == 3;
                if (d[0] != b || d[d.length - 1] != t || three && d[1] != s) {
                    throw new KernelException(op + " " + what + " must have shape [" + b + (three ? ", " + s : "") + ", " + t + "], got " + m.shape());
                }
                for (int bi = 0; bi < b; bi++) {
                    for (int i = 0; i < rows; i++) {
                        for (int j = 0; j < t; j++) {
                            long at = three ? ((long) bi * s + i) * t + j : (long) bi * t + j;
                            if (m.getLong(at) <= 0) mask.setFloat(((long) bi * rows + i) * t + j, filter);
                        }
                    }
                }
            }
            default -> throw new KernelException(op + " " + what + " of rank " + d.length + " (" + m.shape() + ") is not supported: "
                + "1-D key lengths, 2-D [B, T] or 3-D [B, S, T] 0/1 masks only");
        }
    }

    /**
     * Adds the bias slice [off, off + width) to each row of a [rows, width] block (row stride {@code ld}) in place,
     * by rows in parallel, the adds in vectors ({@link Activation#rowBiasAndApply} with no activation).
     */
    private static void addBias(Parallelism par, MemorySegment y, long yo, int ld, int rows, int width, Tensor bias, int off) {
        float[] b = java.util.Arrays.copyOfRange(bias.toFloatArray(), off, off + width);
        par.forEach(rows, width, r -> Activation.NONE.rowBiasAndApply(y, yo + (long) r * ld, width, b));
    }

    /**
     * y [rows, n] = x [rows, k] times the packed weights {@code pw} (k x n, from {@code w}), plus {@code bias} (n floats,
     * or null) on each row, as sluice.FusedMatMul runs it: row blocks of whole register tiles in parallel, each a
     * sequential Gemm32 product on the one packed B followed by the bias on its rows while they are in cache. The bits
     * are those of one whole product and a separate bias pass: Gemm32's order depends on k and KC only, a one-row
     * block (the matrix-vector path, another order) is joined to the block before it, and each row gets the same bias
     * adds ({@link Activation#rowBiasAndApply} with no activation).
     */
    private static void project(Parallelism par, MemorySegment x, int rows, int k, Gemm32.Packed pw, MemorySegment w, int n,
                                float[] bias, MemorySegment y) {
        int tasks = par.threads() <= 1 || (long) rows * n * k < (1L << 20) ? 1 : Math.min(2 * par.threads(), (rows + Gemm32.MR - 1) / Gemm32.MR);
        int block = ((rows + tasks - 1) / tasks + Gemm32.MR - 1) / Gemm32.MR * Gemm32.MR;
        int blocks0 = (rows + block - 1) / block;
        int blocks = blocks0 > 1 && rows - (blocks0 - 1) * block == 1 ? blocks0 - 1 : blocks0;
        java.util.function.IntConsumer body = t -> {
            int r0 = t * block, r1 = t == blocks - 1 ? rows : r0 + block;
            Gemm32.sgemm(false, false, r1 - r0, n, k, 1f, x, (long) r0 * k, k, null, w, 0, n, pw, 0f, y, (long) r0 * n, n,
                Parallelism.SEQUENTIAL);
            if (bias != null) for (int r = r0; r < r1; r++) Activation.NONE.rowBiasAndApply(y, (long) r * n, n, bias);
        };
        if (blocks > 1) par.forEach(blocks, body);
        else body.accept(0);
    }

    /** Heads of a view copied into a new [B, N, L, H] tensor (a present key or value output). */
    private static void copyHeads(Heads src, Tensor dst, int b, int n, int l, int h) {
        MemorySegment d = dst.data();
        for (int bi = 0; bi < b; bi++) {
            for (int hi = 0; hi < n; hi++) {
                long so = src.offset() + bi * src.batchStride() + hi * src.headStride();
                long dof = (((long) bi * n + hi) * l) * h;
                for (int r = 0; r < l; r++) MemorySegment.copy(src.data(), (so + (long) r * src.rowStride()) * 4, d, (dof + (long) r * h) * 4, h * 4L);
            }
        }
    }

    // ------------------------------------------------------------------ Attention

    /** com.microsoft Attention (see the class doc). */
    static final class Attention implements OpKernel {
        private static final String OP = "Attention";

        private static int[] sizes(Attributes at, long total) {
            long[] q = at.has("qkv_hidden_sizes") ? at.getInts("qkv_hidden_sizes") : new long[0];
            if (q.length == 0) {
                if (total % 3 != 0) throw new KernelException(OP + " weights width " + total + " is not 3 equal parts; give qkv_hidden_sizes");
                int third = Math.toIntExact(total / 3);
                return new int[] {third, third, third};
            }
            if (q.length != 3 || q[0] + q[1] + q[2] != total || q[0] != q[1]) {
                throw new KernelException(OP + " qkv_hidden_sizes " + java.util.Arrays.toString(q) + " must be 3 sizes, Q's equal to K's, summing to the weights width " + total);
            }
            return new int[] {Math.toIntExact(q[0]), Math.toIntExact(q[1]), Math.toIntExact(q[2])};
        }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = Operands.float32(ctx, 0), w = Operands.float32(ctx, 1);
            Attributes at = ctx.attributes();
            int n = heads(at, OP);
            List<TensorType> r = new ArrayList<>();
            Dim b = Dim.UNKNOWN, s = Dim.UNKNOWN, dv = Dim.UNKNOWN, hq = Dim.UNKNOWN;
            if (x.shape().hasRank()) {
                if (x.shape().rank() != 3) throw new KernelException(OP + " input must have rank 3 ([B, S, D]), got " + x);
                b = x.shape().dim(0);
                s = x.shape().dim(1);
            }
            if (w.shape().hasRank() && w.shape().rank() == 2 && w.shape().dim(1).isKnown()) {
                int[] sz = sizes(at, w.shape().dim(1).value());
                dv = Dim.of(sz[2]);
                hq = Dim.of(sz[0] / n);
            }
            r.add(new TensorType(DType.FLOAT32, SymShape.of(b, s, dv)));
            if (ctx.outputCount() > 1) r.add(new TensorType(DType.FLOAT32, SymShape.of(Dim.of(2), b, Dim.of(n), s, hq)));
            return r;
        }

        @Override public void execute(ExecContext ctx) {
            Attributes at = ctx.attributes();
            int n = heads(at, OP);
            refuse(ctx, 4, OP, "past state");
            refuse(ctx, 6, OP, "past_sequence_length");
            if (at.getInt("do_rotary", 0) != 0) throw new KernelException(OP + " do_rotary=1 is not supported");
            if (at.getInt("past_present_share_buffer", 0) != 0) throw new KernelException(OP + " past_present_share_buffer=1 is not supported");
            Tensor x = Operands.float32(ctx.input(0), OP, "input"), w = Operands.float32(ctx.input(1), OP, "weights");
            if (x.rank() != 3) throw new KernelException(OP + " input must have rank 3 ([B, S, D]), got " + x.shape());
            if (w.rank() != 2 || w.shape().dim(0) != x.shape().dim(2)) {
                throw new KernelException(OP + " weights must have shape [" + x.shape().dim(2) + ", D_q + D_k + D_v], got " + w.shape());
            }
            int b = Math.toIntExact(x.shape().dim(0)), s = Math.toIntExact(x.shape().dim(1)), din = Math.toIntExact(x.shape().dim(2));
            int total = Math.toIntExact(w.shape().dim(1));
            int[] sz = sizes(at, total);
            if (sz[0] % n != 0 || sz[2] % n != 0) throw new KernelException(OP + " hidden sizes " + sz[0] + ", " + sz[2] + " are not multiples of num_heads " + n);
            int hq = sz[0] / n, hv = sz[2] / n;
            Tensor bias = optional(ctx, 2);
            if (bias != null && (Operands.float32(bias, OP, "bias").elementCount() != total || bias.rank() != 1)) {
                throw new KernelException(OP + " bias must have shape [" + total + "], got " + bias.shape());
            }
            float scale = at.getFloat("scale", 0f);
            if (scale == 0f) scale = (float) (1 / Math.sqrt(hq));
            Scores sc = scores(optional(ctx, 3), optional(ctx, 5), at.getInt("unidirectional", 0) != 0, b, n, s, s, scale,
                at.getFloat("mask_filter_value", -10000f), OP, "mask_index");
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(b, s, sz[2]));
            Tensor present = ctx.outputCount() > 1 ? ctx.output(1, DType.FLOAT32, Shape.of(2, b, n, s, hq)) : null;
            if (present != null && hq != hv) throw new KernelException(OP + " present output needs equal Q/K and V head sizes, got " + hq + " and " + hv);
            if (y.elementCount() == 0) return;
            // Q, K and V side by side: one GEMM over every token, then the bias. The buffer goes back to the pool at the
            // end of the run: a fresh 1 MiB block faults its pages in every run (half a millisecond per layer, measured)
            try (Tensor qkv = Tensor.allocateOwned(DType.FLOAT32, Shape.of((long) b * s, total))) {
                MemorySegment qd = qkv.data();
                // constant weights stay packed between runs, as sluice.FusedMatMul keeps its B
                Gemm32.Packed pw = ctx.inputIsInitializer(1) ? Gemm32.cached(w, false, false, total, din, w.data(), 0, total)
                    : Gemm32.packB(false, din, total, w.data(), 0, total);
                project(ctx.parallelism(), x.data(), b * s, din, pw, w.data(), total, bias == null ? null : bias.toFloatArray(), qd);
                Heads q = new Heads(qd, 0, (long) s * total, hq, total);
                Heads k = new Heads(qd, sz[0], (long) s * total, hq, total);
                Heads v = new Heads(qd, sz[0] + sz[1], (long) s * total, hv, total);
                Heads yh = new Heads(y.data(), 0, (long) s * sz[2], hv, sz[2]);
                AttentionKernel.attend(ctx.parallelism(), b, n, s, s, hq, hv, q, k, v, yh, sc);
                if (present != null) {
                    long half = (long) b * n * s * hq;
                    copyHeads(k, present, b, n, s, hq);
                    Tensor vHalf = Tensor.wrap(DType.FLOAT32, Shape.of(b, n, s, hq), present.data().asSlice(half * 4, half * 4));
                    copyHeads(v, vHalf, b, n, s, hq);
                }
            }
        }
    }

    // ------------------------------------------------------------------ MultiHeadAttention

    /** com.microsoft MultiHeadAttention (see the class doc). */
    static final class MultiHead implements OpKernel {
        private static final String OP = "MultiHeadAttention";

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType q = Operands.float32(ctx, 0);
            int n = heads(ctx.attributes(), OP);
            if (ctx.inputCount() < 3 || !ctx.hasInput(1) || !ctx.hasInput(2)) {
                throw new KernelException(OP + " needs separate key and value inputs (packed QKV or KV is not supported)");
            }
            TensorType k = Operands.float32(ctx, 1), v = Operands.float32(ctx, 2);
            Dim b = Dim.UNKNOWN, s = Dim.UNKNOWN, dv = Dim.UNKNOWN, l = Dim.UNKNOWN, h = Dim.UNKNOWN, hv = Dim.UNKNOWN;
            if (q.shape().hasRank()) {
                if (q.shape().rank() != 3) throw new KernelException(OP + " query must have rank 3 ([B, S, D]), got " + q);
                b = q.shape().dim(0);
                s = q.shape().dim(1);
                if (q.shape().dim(2).isKnown()) h = Dim.of(q.shape().dim(2).value() / n);
            }
            if (k.shape().hasRank()) l = k.shape().dim(k.shape().rank() == 4 ? 2 : 1);
            if (v.shape().hasRank()) {
                Dim last = v.shape().dim(v.shape().rank() - 1);
                if (v.shape().rank() == 4) { hv = last; dv = last.isKnown() ? Dim.of(last.value() * n) : Dim.UNKNOWN; }
                else if (v.shape().rank() == 3) { dv = last; hv = last.isKnown() ? Dim.of(last.value() / n) : Dim.UNKNOWN; }
            }
            List<TensorType> r = new ArrayList<>();
            r.add(new TensorType(DType.FLOAT32, SymShape.of(b, s, dv)));
            if (ctx.outputCount() > 1) r.add(new TensorType(DType.FLOAT32, SymShape.of(b, Dim.of(n), l, h)));
            if (ctx.outputCount() > 2) r.add(new TensorType(DType.FLOAT32, SymShape.of(b, Dim.of(n), l, hv)));
            if (ctx.outputCount() > 3) throw new KernelException(OP + " output 3 (the QK scores) is not supported");
            return r;
        }

        /**
         * A [B, rows, N*H] tensor or [B, N, rows, H] heads as a view, with {@code bias[off..]} added into a copy first; the
         * copy is added to {@code copies}, for the caller to hand back to the pool once the heads are used.
         */
        private static Heads view(Parallelism par, Tensor t, int b, int n, int rows, int h, Tensor bias, int off, String what,
                                  List<Tensor> copies) {
            if (t.rank() == 4) {
                if (t.shape().dim(0) != b || t.shape().dim(1) != n || t.shape().dim(2) != rows || t.shape().dim(3) != h) {
                    throw new KernelException(OP + " " + what + " must have shape [" + b + ", " + n + ", " + rows + ", " + h + "], got " + t.shape());
                }
                if (bias != null) throw new KernelException(OP + " bias with a 4-D (BNSH) " + what + " is not supported");
                return new Heads(t.data(), 0, (long) n * rows * h, (long) rows * h, h);
            }
            if (t.rank() != 3 || t.shape().dim(0) != b || t.shape().dim(1) != rows || t.shape().dim(2) != (long) n * h) {
                throw new KernelException(OP + " " + what + " must have shape [" + b + ", " + rows + ", " + (long) n * h + "], got " + t.shape());
            }
            MemorySegment d = t.data();
            if (bias != null) {
                Tensor c = Tensor.allocateOwned(DType.FLOAT32, t.shape());
                copies.add(c);
                MemorySegment.copy(t.data(), 0, c.data(), 0, t.elementCount() * 4);
                addBias(par, c.data(), 0, n * h, b * rows, n * h, bias, off);
                d = c.data();
            }
            return new Heads(d, 0, (long) rows * n * h, h, n * h);
        }

        @Override public void execute(ExecContext ctx) {
            Attributes at = ctx.attributes();
            int n = heads(at, OP);
            for (int i = 6; i < ctx.inputCount(); i++) refuse(ctx, i, OP, i == 6 ? "past_key" : i == 7 ? "past_value" : "decoding state");
            if (ctx.inputCount() < 3 || !ctx.hasInput(1) || !ctx.hasInput(2)) {
                throw new KernelException(OP + " needs separate key and value inputs (packed QKV or KV is not supported)");
            }
            if (ctx.outputCount() > 3) throw new KernelException(OP + " output 3 (the QK scores) is not supported");
            Tensor q = Operands.float32(ctx.input(0), OP, "query"), k = Operands.float32(ctx.input(1), OP, "key");
            Tensor v = Operands.float32(ctx.input(2), OP, "value");
            if (q.rank() != 3) throw new KernelException(OP + " query must have rank 3 ([B, S, D]; packed QKV is not supported), got " + q.shape());
            int b = Math.toIntExact(q.shape().dim(0)), s = Math.toIntExact(q.shape().dim(1)), d = Math.toIntExact(q.shape().dim(2));
            if (d % n != 0) throw new KernelException(OP + " query width " + d + " is not a multiple of num_heads " + n);
            int h = d / n;
            if (k.rank() != v.rank() || k.rank() != 3 && k.rank() != 4) {
                throw new KernelException(OP + " key and value must both be [B, L, D] or both [B, N, L, H] (packed KV is not supported), got " + k.shape() + ", " + v.shape());
            }
            int l = Math.toIntExact(k.shape().dim(1 + (k.rank() == 4 ? 1 : 0)));
            long vLast = v.shape().dim(v.rank() - 1);
            int hv = Math.toIntExact(v.rank() == 4 ? vLast : vLast / n);
            if (v.rank() == 3 && vLast % n != 0) throw new KernelException(OP + " value width " + vLast + " is not a multiple of num_heads " + n);
            Tensor bias = optional(ctx, 3);
            if (bias != null && (Operands.float32(bias, OP, "bias").rank() != 1 || bias.elementCount() != 2L * d + (long) n * hv)) {
                throw new KernelException(OP + " bias must have shape [" + (2L * d + (long) n * hv) + "], got " + bias.shape());
            }
            // biased copies go back to the pool after the run: fresh blocks fault their pages in every run (see Attention)
            List<Tensor> copies = new ArrayList<>(3);
            try {
                Heads qh = view(ctx.parallelism(), q, b, n, s, h, bias, 0, "query", copies);
                Heads kh = view(ctx.parallelism(), k, b, n, l, h, bias, d, "key", copies);
                Heads vh = view(ctx.parallelism(), v, b, n, l, hv, bias, 2 * d, "value", copies);
                float scale = at.getFloat("scale", 0f);
                if (scale == 0f) scale = (float) (1 / Math.sqrt(h));
                Scores sc = scores(optional(ctx, 4), optional(ctx, 5), at.getInt("unidirectional", 0) != 0, b, n, s, l, scale,
                    at.getFloat("mask_filter_value", -10000f), OP, "key_padding_mask");
                Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(b, s, (long) n * hv));
                Tensor pk = ctx.outputCount() > 1 ? ctx.output(1, DType.FLOAT32, Shape.of(b, n, l, h)) : null;
                Tensor pv = ctx.outputCount() > 2 ? ctx.output(2, DType.FLOAT32, Shape.of(b, n, l, hv)) : null;
                if (pk != null) copyHeads(kh, pk, b, n, l, h);
                if (pv != null) copyHeads(vh, pv, b, n, l, hv);
                if (y.elementCount() == 0) return;
                Heads yh = new Heads(y.data(), 0, (long) s * n * hv, hv, n * hv);
                AttentionKernel.attend(ctx.parallelism(), b, n, s, l, h, hv, qh, kh, vh, yh, sc);
            } finally {
                for (Tensor c : copies) c.close();
            }
        }
    }
}
