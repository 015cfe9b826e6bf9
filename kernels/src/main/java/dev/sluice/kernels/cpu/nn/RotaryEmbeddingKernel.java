package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.List;

/**
 * RotaryEmbedding-23: rotates the first {@code rotary_embedding_dim} features of every head (all of them when 0)
 * by the angle of its token's position. Inputs: x [B, H, S, D] or [B, S, H * D] (then {@code num_heads} says H),
 * cos_cache and sin_cache, and optional position_ids [B, S]: with them the caches are tables [positions, R/2]
 * indexed by position, without them the caches are [B, S, R/2] already. Pairs are (i, i + R/2) of the rotated part,
 * or (2i, 2i + 1) with {@code interleaved}; each pair (a, b) becomes (cos a - sin b, sin a + cos b). Features past
 * R are copied. Float types only; arithmetic in float, as the spec's reference does it in the input's type.
 */
final class RotaryEmbeddingKernel implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0);
        NnArrays.requireFloat(x.dtype(), "RotaryEmbedding '" + ctx.nodeName() + "'");
        if (x.shape().hasRank() && x.shape().rank() != 3 && x.shape().rank() != 4) {
            throw new KernelException("RotaryEmbedding '" + ctx.nodeName() + "': input must have rank 3 or 4, got " + x.shape());
        }
        return List.of(x);
    }

    @Override public void execute(ExecContext ctx) {
        String where = "RotaryEmbedding '" + ctx.nodeName() + "'";
        Tensor x = ctx.input(0), cos = ctx.input(1), sin = ctx.input(2);
        Tensor pos = ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.input(3) : null;
        NnArrays.requireFloat(x.dtype(), where);
        Attributes at = ctx.attributes();
        int rank = x.rank();
        long[] xs = x.shape().dims();
        int batch, seq, heads, head;
        if (rank == 4) {
            batch = (int) xs[0];
            heads = Math.toIntExact(xs[1]);
            seq = Math.toIntExact(xs[2]);
            head = Math.toIntExact(xs[3]);
        } else if (rank == 3) {
            long n = at.getInt("num_heads", 0);
            if (n <= 0 || xs[2] % n != 0) {
                throw new KernelException(where + ": a 3-D input needs num_heads > 0 dividing its hidden size " + xs[2] + ", got " + n);
            }
            batch = (int) xs[0];
            seq = Math.toIntExact(xs[1]);
            heads = (int) n;
            head = Math.toIntExact(xs[2] / n);
        } else {
            throw new KernelException(where + ": input must have rank 3 or 4, got " + x.shape());
        }
        long rotAttr = at.getInt("rotary_embedding_dim", 0);
        int rot = rotAttr == 0 ? head : (int) rotAttr;
        if (rotAttr < 0 || rot > head || rot % 2 != 0) {
            throw new KernelException(where + ": rotary_embedding_dim " + rotAttr + " must be even and at most the head size " + head);
        }
        int half = rot / 2;
        boolean interleaved = at.getInt("interleaved", 0) != 0;
        checkCache(where, "cos_cache", cos, pos, batch, seq, half);
        checkCache(where, "sin_cache", sin, pos, batch, seq, half);
        long positions = pos == null ? 0 : cos.shape().dim(0);
        if (pos != null && (pos.rank() != 2 || pos.shape().dim(0) != batch || pos.shape().dim(1) != seq)) {
            throw new KernelException(where + ": position_ids must be [" + batch + ", " + seq + "], got " + pos.shape());
        }
        if (pos != null) {
            for (long i = 0; i < pos.elementCount(); i++) {
                long p = pos.getLong(i);
                if (p < 0 || p >= positions) {
                    throw new KernelException(where + ": position_ids[" + i / seq + ", " + i % seq + "] = " + p
                            + " is outside the caches' " + positions + " positions");
                }
            }
        }
        Tensor y = ctx.output(0, x.dtype(), x.shape());
        if (y.elementCount() == 0) return;
        // element strides of (token, head) in x and y, whose layouts agree
        long tokenStride = rank == 4 ? head : (long) heads * head, headStride = rank == 4 ? (long) seq * head : head;
        long batchStride = (long) seq * heads * head;
        ctx.parallelism().forEach(batch * seq, (long) heads * head * 4, bs -> {
            int b = bs / seq, s = bs % seq;
            long row = (pos != null ? pos.getLong(bs) : bs) * half;
            for (int h = 0; h < heads; h++) {
                long base = b * batchStride + h * headStride + s * tokenStride;
                for (int i = 0; i < half; i++) {
                    long ia = interleaved ? base + 2L * i : base + i, ib = interleaved ? ia + 1 : base + i + half;
                    float a = x.getFloat(ia), bv = x.getFloat(ib);
                    float c = cos.getFloat(row + i), sn = sin.getFloat(row + i);
                    y.setFloat(ia, c * a - sn * bv);
                    y.setFloat(ib, sn * a + c * bv);
                }
                for (int i = rot; i < head; i++) y.setFloat(base + i, x.getFloat(base + i));
            }
        });
    }

    private static void checkCache(String where, String name, Tensor c, Tensor pos, int batch, int seq, int half) {
        NnArrays.requireFloat(c.dtype(), where + " " + name);
        boolean ok = pos != null ? c.rank() == 2 && c.shape().dim(1) == half
                : c.rank() == 3 && c.shape().dim(0) == batch && c.shape().dim(1) == seq && c.shape().dim(2) == half;
        if (!ok) {
            throw new KernelException(where + ": " + name + " must be " + (pos != null ? "[positions, " + half + "]" : "[" + batch + ", " + seq
                    + ", " + half + "] (no position_ids)") + " for rotary dim " + 2 * half + ", got " + c.shape());
        }
    }
}
