package dev.sluice.kernels.cpu.contrib;

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
import dev.sluice.kernels.cpu.core.VectorMath;
import dev.sluice.kernels.cpu.nn.NormKernels;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * com.microsoft EmbedLayerNormalization, a BERT encoder's entry: for each token of input_ids [B, S], the sum
 * word_embedding[id] + position_embedding[position] (+ segment_embedding[segment id]) layer-normalized with gamma
 * and beta over the hidden size H (Sluice's LayerNormalization row). Positions are 0..S-1, or position_ids [B, S]
 * / [1, S] when given. Outputs: the normalized [B, S, H]; mask_index [B] (int32), the count of ones in each row
 * of the optional mask [B, S] (0 without a mask), as ONNX Runtime computes it for its Attention; and the
 * embedding sum before the norm [B, S, H]. An index outside its table is refused, naming the token.
 */
final class EmbedLayerNormKernel implements OpKernel {
    private static final String OP = "EmbedLayerNormalization";

    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType ids = ctx.inputType(0), word = Operands.float32(ctx, 2);
        Dim b = Dim.UNKNOWN, s = Dim.UNKNOWN, h = Dim.UNKNOWN;
        if (ids.shape().hasRank()) {
            if (ids.shape().rank() != 2) throw new KernelException(OP + " input_ids must have rank 2 ([B, S]), got " + ids);
            b = ids.shape().dim(0);
            s = ids.shape().dim(1);
        }
        if (word.shape().hasRank() && word.shape().rank() == 2) h = word.shape().dim(1);
        List<TensorType> r = new ArrayList<>();
        r.add(new TensorType(DType.FLOAT32, SymShape.of(b, s, h)));
        if (ctx.outputCount() > 1) r.add(new TensorType(DType.INT32, SymShape.of(b)));
        if (ctx.outputCount() > 2) r.add(new TensorType(DType.FLOAT32, SymShape.of(b, s, h)));
        return r;
    }

    private static Tensor optional(ExecContext ctx, int i) { return ctx.inputCount() > i && ctx.hasInput(i) ? ctx.input(i) : null; }

    private static Tensor table(Tensor t, int h, String what) {
        Operands.float32(t, OP, what);
        if (t.rank() != 2 || h >= 0 && t.shape().dim(1) != h) {
            throw new KernelException(OP + " " + what + " must have shape [rows, " + (h >= 0 ? h : "H") + "], got " + t.shape());
        }
        return t;
    }

    /** The row index at token i of an index tensor of [B, S] (or [1, S] when {@code sharedRows}), checked against the table. */
    private static int[] indices(Tensor t, int b, int s, boolean sharedRows, long rows, String what) {
        if (!t.dtype().isInteger()) throw new KernelException(OP + " " + what + " must be int32, got " + t.type());
        boolean shared = sharedRows && t.rank() == 2 && t.shape().dim(0) == 1 && b != 1;
        if (t.rank() != 2 || t.shape().dim(0) != (shared ? 1 : b) || t.shape().dim(1) != s) {
            throw new KernelException(OP + " " + what + " must have shape [" + b + ", " + s + "]" + (sharedRows ? " or [1, " + s + "]" : "") + ", got " + t.shape());
        }
        int[] r = new int[b * s];
        for (int i = 0; i < r.length; i++) {
            long v = t.getLong(shared ? i % s : i);
            if (v < 0 || v >= rows) {
                throw new KernelException(OP + " " + what + " " + v + " at [" + i / s + ", " + i % s + "] is outside its table of " + rows + " rows");
            }
            r[i] = (int) v;
        }
        return r;
    }

    @Override public void execute(ExecContext ctx) {
        Tensor ids = ctx.input(0);
        if (ids.rank() != 2) throw new KernelException(OP + " input_ids must have rank 2 ([B, S]), got " + ids.shape());
        int b = Math.toIntExact(ids.shape().dim(0)), s = Math.toIntExact(ids.shape().dim(1));
        Tensor word = table(ctx.input(2), -1, "word_embedding");
        int h = Math.toIntExact(word.shape().dim(1));
        Tensor pos = table(ctx.input(3), h, "position_embedding");
        Tensor segIds = optional(ctx, 1), seg = optional(ctx, 4);
        if ((segIds == null) != (seg == null)) throw new KernelException(OP + " needs segment_ids and segment_embedding together, or neither");
        if (seg != null) table(seg, h, "segment_embedding");
        MemorySegment gamma = Operands.columns(ctx.input(5), h, OP, "gamma");
        Tensor betaT = optional(ctx, 6);
        MemorySegment beta = betaT == null ? null : Operands.columns(betaT, h, OP, "beta");
        Tensor mask = optional(ctx, 7), posIds = optional(ctx, 8);
        Attributes at = ctx.attributes();
        float eps = at.getFloat("epsilon", 1e-12f);

        int[] wi = indices(ids, b, s, false, word.shape().dim(0), "input_id");
        int[] si = seg == null ? null : indices(segIds, b, s, false, seg.shape().dim(0), "segment_id");
        int[] pi;
        if (posIds != null) {
            pi = indices(posIds, b, s, true, pos.shape().dim(0), "position_id");
        } else {
            if (s > pos.shape().dim(0)) throw new KernelException(OP + " sequence length " + s + " exceeds the " + pos.shape().dim(0) + " positions of position_embedding");
            pi = new int[b * s];
            for (int i = 0; i < pi.length; i++) pi[i] = i % s;
        }
        Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(b, s, h));
        Tensor maskIndex = ctx.outputCount() > 1 ? ctx.output(1, DType.INT32, Shape.of(b)) : null;
        Tensor sum = ctx.outputCount() > 2 ? ctx.output(2, DType.FLOAT32, Shape.of(b, s, h)) : null;
        if (maskIndex != null) {
            if (mask != null && (mask.rank() != 2 || mask.shape().dim(0) != b || mask.shape().dim(1) != s || !mask.dtype().isInteger())) {
                throw new KernelException(OP + " mask must be int32 of shape [" + b + ", " + s + "], got " + mask.type());
            }
            for (int bi = 0; bi < b; bi++) {
                int ones = 0;
                if (mask != null) for (int j = 0; j < s; j++) if (mask.getLong((long) bi * s + j) == 1) ones++;
                maskIndex.setLong(bi, ones);
            }
        }
        if (y.elementCount() == 0) return;
        MemorySegment wd = word.data(), pd = pos.data(), sd = seg == null ? null : seg.data(), yd = y.data();
        MemorySegment vd = sum == null ? yd : sum.data();
        ctx.parallelism().forEach(b * s, 8L * h, t -> {
            long out = (long) t * h, wo = (long) wi[t] * h, po = (long) pi[t] * h, so = si == null ? 0 : (long) si[t] * h;
            sumRow(wd, wo, pd, po, sd, so, vd, out, h);
            NormKernels.layerNormRow(vd, out, null, 0, yd, out, h, gamma, beta, eps);
        });
    }

    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /** v = (w + p) (+ g), in the order ONNX Runtime adds them; the tail under a mask, as the body. */
    private static void sumRow(MemorySegment w, long wo, MemorySegment p, long po, MemorySegment g, long go, MemorySegment v, long vo, int n) {
        int l = S.length(), j = 0;
        for (; j <= n - l; j += l) {
            FloatVector a = FloatVector.fromMemorySegment(S, w, (wo + j) * 4, ORDER).add(FloatVector.fromMemorySegment(S, p, (po + j) * 4, ORDER));
            if (g != null) a = a.add(FloatVector.fromMemorySegment(S, g, (go + j) * 4, ORDER));
            a.intoMemorySegment(v, (vo + j) * 4, ORDER);
        }
        if (j < n) {
            VectorMask<Float> m = S.indexInRange(j, n);
            FloatVector a = FloatVector.fromMemorySegment(S, w, (wo + j) * 4, ORDER, m).add(FloatVector.fromMemorySegment(S, p, (po + j) * 4, ORDER, m));
            if (g != null) a = a.add(FloatVector.fromMemorySegment(S, g, (go + j) * 4, ORDER, m));
            a.intoMemorySegment(v, (vo + j) * 4, ORDER, m);
        }
    }
}
