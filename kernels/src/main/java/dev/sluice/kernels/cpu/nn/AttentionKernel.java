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
import dev.sluice.kernels.cpu.core.VectorMath;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * sluice.Attention: scaled dot-product attention over heads laid out as exporters reshape them, the chain
 * Transpose(q), Transpose(k), MatMul, [Div or Mul by a scalar], [Add mask], Softmax(last axis),
 * MatMul by Transpose(v), Transpose back, as one op (see the fusion pass). Inputs: q [B, L, H, d],
 * k [B, Lk, H, d], v [B, Lk, H, dv] and optionally a float32 mask broadcastable to [B, H, L, Lk]; attribute
 * {@code scale_div} or {@code scale_mul} (absent: no scaling). Output [B, L, H, dv]. B and H broadcast as
 * the MatMuls would (each 1 or the common size).
 *
 * <p>Per (batch, head), in parallel: S = Q K^T straight from the strided head columns (Gemm32 with transB,
 * no transposed copies), S / scale + mask row by row, {@link SoftmaxKernels#softmaxRow} in place, then
 * P V written into the head's columns of the output. The bits are those of the unfused ops: Gemm32 sums
 * every element in an order that depends on k and KC only (not on the operands' layout), the scaling and
 * mask are the same float operations as the Div and Add kernels, the rows go through the Softmax kernel's
 * own code. The one layout-dependent Gemm32 path (a one-row product, which dots or axpys by B's
 * layout) is replaced by {@link OneQueryScores}: the unfused MatMul's axpy order over K^T, read from K's rows. Heads whose depths fit one Gemm32
 * K run go through {@link SmallHeads} instead: the same sums in the same order, without Gemm32's per-call
 * packing and its 96-column panels (a third of a 64-key panel is padding).
 *
 * <p>The per-head loop is {@link #attend}, public for the other attention ops (ONNX Runtime's, in
 * {@code cpu.contrib}), which describe their operands as {@link Heads} views instead of copying them.
 */
public final class AttentionKernel implements OpKernel {
    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final int LANES = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    /**
     * Scores scratch per worker: L x Lk floats (slot 1 is free for other attention ops). Native memory, like
     * every tensor: vector loads and stores that see both heap and native segments at one call site lose
     * C2's intrinsic there (the segment's base type is no longer known), which slowed Gemm32 100-fold.
     */
    private static final ThreadLocal<MemorySegment[]> SCRATCH =
            ThreadLocal.withInitial(() -> new MemorySegment[] {MemorySegment.NULL, MemorySegment.NULL});

    AttentionKernel() {}

    static MemorySegment scratch(int which, long floats) {
        MemorySegment[] s = SCRATCH.get();
        if (s[which].byteSize() < floats * 4) s[which] = Arena.ofAuto().allocate(Math.max(floats * 4, 64), Tensor.ALIGNMENT);
        return s[which];
    }

    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType q = ctx.inputType(0), k = ctx.inputType(1), v = ctx.inputType(2);
        if (q.shape().hasRank() && q.shape().rank() != 4 || k.shape().hasRank() && k.shape().rank() != 4
                || v.shape().hasRank() && v.shape().rank() != 4) {
            throw new KernelException("Attention needs q, k, v of rank 4 ([B, L, H, d]), got " + q + ", " + k + ", " + v);
        }
        if (!q.shape().hasRank() || !v.shape().hasRank()) return List.of(new TensorType(DType.FLOAT32, SymShape.unknownDims(4)));
        Dim b = common(q.shape().dim(0), k.shape().hasRank() ? k.shape().dim(0) : Dim.UNKNOWN, v.shape().dim(0));
        Dim h = common(q.shape().dim(2), k.shape().hasRank() ? k.shape().dim(2) : Dim.UNKNOWN, v.shape().dim(2));
        return List.of(new TensorType(DType.FLOAT32, SymShape.of(b, q.shape().dim(1), h, v.shape().dim(3))));
    }

    /** The broadcast size of batch-like dims (each 1 or the common size): known, the one symbol, or unknown. */
    private static Dim common(Dim... ds) {
        Dim r = Dim.of(1);
        for (Dim d : ds) {
            if (d.isKnown() && d.value() == 1) continue;
            if (r.isKnown() && r.value() == 1) r = d;
            else if (!r.equals(d) || !d.isKnown() && d instanceof Dim.Unknown) return Dim.UNKNOWN;
        }
        return r;
    }

    @Override public void execute(ExecContext ctx) {
        Tensor q = ctx.input(0), k = ctx.input(1), v = ctx.input(2);
        Tensor mask = ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.input(3) : null;
        for (Tensor t : mask == null ? new Tensor[] {q, k, v} : new Tensor[] {q, k, v, mask}) {
            if (t.dtype() != DType.FLOAT32) throw new KernelException("Attention needs float32 inputs, got " + t.type());
        }
        if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) {
            throw new KernelException("Attention needs q, k, v of rank 4, got " + q.shape() + ", " + k.shape() + ", " + v.shape());
        }
        long[] qs = q.shape().dims(), ks = k.shape().dims(), vs = v.shape().dims();
        int l = Math.toIntExact(qs[1]), lk = Math.toIntExact(ks[1]), d = Math.toIntExact(qs[3]), dv = Math.toIntExact(vs[3]);
        if (ks[3] != d || vs[1] != lk) {
            throw new KernelException("Attention shapes do not chain: q " + q.shape() + ", k " + k.shape() + ", v " + v.shape());
        }
        long[] mdims = null;
        if (mask != null) {
            if (mask.rank() > 4) throw new KernelException("Attention mask must have rank <= 4, got " + mask.shape());
            mdims = new long[4];
            java.util.Arrays.fill(mdims, 1);
            long[] md = mask.shape().dims();
            System.arraycopy(md, 0, mdims, 4 - md.length, md.length);
        }
        int batches = broadcast("batch", qs[0], ks[0], vs[0], mdims == null ? 1 : mdims[0]);
        int heads = broadcast("head", qs[2], ks[2], vs[2], mdims == null ? 1 : mdims[1]);
        if (mdims != null && (mdims[2] != 1 && mdims[2] != l || mdims[3] != 1 && mdims[3] != lk)) {
            throw new KernelException("Attention mask " + mask.shape() + " does not broadcast to scores [" + batches + ", " + heads
                    + ", " + l + ", " + lk + "]");
        }
        Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(batches, l, heads, dv));
        if (y.elementCount() == 0) return;
        Attributes at = ctx.attributes();
        boolean div = at.has("scale_div"), mul = at.has("scale_mul");
        float scale = div ? at.getFloat("scale_div", 1f) : mul ? at.getFloat("scale_mul", 1f) : 1f;
        // mask strides over [B, H, L, Lk] (0 where it broadcasts)
        long[] mstr = new long[4];
        if (mdims != null) {
            long s = 1;
            for (int i = 3; i >= 0; i--) { mstr[i] = mdims[i] == 1 ? 0 : s; s *= mdims[i]; }
        }
        int hq = (int) qs[2], hk = (int) ks[2], hv = (int) vs[2];
        Heads qh = new Heads(q.data(), 0, qs[0] == 1 ? 0 : (long) l * hq * d, hq == 1 ? 0 : d, hq * d);
        Heads kh = new Heads(k.data(), 0, ks[0] == 1 ? 0 : (long) lk * hk * d, hk == 1 ? 0 : d, hk * d);
        Heads vh = new Heads(v.data(), 0, vs[0] == 1 ? 0 : (long) lk * hv * dv, hv == 1 ? 0 : dv, hv * dv);
        Heads yh = new Heads(y.data(), 0, (long) l * heads * dv, dv, heads * dv);
        Scores sc = new Scores(div ? Scores.DIV : mul ? Scores.MUL : Scores.NONE, scale, mask == null ? null : mask.data(), mstr);
        attend(ctx.parallelism(), batches, heads, l, lk, d, dv, qh, kh, vh, yh, sc);
    }

    /**
     * Where one operand's heads lie: element (b, h, row, col) of [B, H, rows, cols] is the float at index
     * {@code offset + b * batchStride + h * headStride + row * rowStride + col} of {@code data}. A stride of 0
     * broadcasts that dim. Rows of one head must be {@code rowStride} apart, columns contiguous: the layouts
     * exporters reshape heads into ([B, L, H, d], or a slice of packed [B, L, 3 H d]) are views, not copies.
     *
     * @param data the operand's memory (native, like every tensor)
     * @param offset the element index of (0, 0, 0, 0)
     * @param batchStride elements between batches (0: one batch for all)
     * @param headStride elements between heads (0: one head for all)
     * @param rowStride elements between the rows of one head
     */
    public record Heads(MemorySegment data, long offset, long batchStride, long headStride, int rowStride) {
        long at(int b, int h) { return offset + b * batchStride + h * headStride; }
    }

    /**
     * What happens to the scores S = Q K^T before the softmax: divided or multiplied by {@code scale} (or
     * neither), then plus a float32 mask read with strides {@code maskStrides} over [B, H, L, Lk] (0 where it
     * broadcasts), when {@code mask} is not null.
     *
     * @param mode {@link #NONE}, {@link #DIV} or {@link #MUL}
     * @param scale the divisor or factor
     * @param mask additive float32 mask memory, or null
     * @param maskStrides four element strides over [B, H, L, Lk]
     */
    public record Scores(int mode, float scale, MemorySegment mask, long[] maskStrides) {
        public static final int NONE = 0, DIV = 1, MUL = 2;
    }

    /**
     * Scaled dot-product attention over {@code batches} x {@code heads} heads, each softmax(S) V with S from
     * {@code scores}: q and y heads have {@code l} rows, k and v heads {@code lk}; q and k rows {@code d}
     * columns, v and y rows {@code dv}. Heads run in parallel; y's heads must not overlap the inputs'. The
     * sluice.Attention kernel and the ONNX Runtime attention ops (cpu.contrib) both run through here.
     */
    public static void attend(Parallelism par, int batches, int heads, int l, int lk, int d, int dv,
                              Heads q, Heads k, Heads v, Heads y, Scores scores) {
        boolean div = scores.mode() == Scores.DIV, mul = scores.mode() == Scores.MUL;
        float scale = scores.scale();
        long[] mstr = scores.maskStrides();
        MemorySegment qd = q.data(), kd = k.data(), vd = v.data(), yd = y.data(), md = scores.mask();
        int qr = q.rowStride(), kr = k.rowStride(), vr = v.rowStride(), yr = y.rowStride();
        long work = (long) l * lk * (d + dv);
        // One query row against keys (values) shared by every batch and head: the unfused MatMul folds the query rows
        // into one product of several rows (numpy matmul with a broadcast B), which Gemm32 sums by its blocked order,
        // not by the one-row path's; the fold is taken when the query rows themselves are several.
        boolean foldScores = l == 1 && k.batchStride() == 0 && k.headStride() == 0
            && (q.batchStride() != 0 && batches > 1 || q.headStride() != 0 && heads > 1);
        boolean foldWeighted = l == 1 && v.batchStride() == 0 && v.headStride() == 0 && batches * heads > 1;
        par.forEach(batches * heads, work, t -> {
            int b = t / heads, h = t % heads;
            MemorySegment s = scratch(0, (long) (foldScores ? 2 : l) * lk);
            long qo = q.at(b, h), ko = k.at(b, h), vo = v.at(b, h);
            if (foldScores) blockedRow(qd, qo, true, kd, ko, kr, lk, d, s);
            else headScores(qd, qo, qr, kd, ko, kr, l, lk, d, dv, s);
            for (int i = 0; i < l; i++) {
                long row = (long) i * lk;
                long mo = md == null ? -1 : b * mstr[0] + h * mstr[1] + i * mstr[2];
                scoreRow(s, row, lk, div, mul, scale, md, mo, mstr[3]);
                SoftmaxKernels.softmaxRow(s, row, s, row, lk);
            }
            long yo = y.at(b, h);
            if (foldWeighted) {
                MemorySegment row = scratch(1, 2L * dv);
                blockedRow(s, 0, false, vd, vo, vr, dv, lk, row);
                MemorySegment.copy(row, 0, yd, yo * 4, dv * 4L);
            } else {
                headWeighted(s, l, lk, d, vd, vo, vr, dv, yd, yo, yr);
            }
        });
    }

    /**
     * out[0, n) = the row at {@code ao} (k floats) times B (B^T's rows at {@code bo + j * ldb} when {@code transB}, else
     * B's k rows of n there), summed in Gemm32's blocked order: as row 0 of a two-row product whose rows are both that
     * row (lda 0), since one row alone takes the matrix-vector path. The blocked order depends on k and KC only, so
     * the row gets the bits it has in a folded product of many rows. {@code out} holds 2 n floats (row 1 is scratch).
     */
    private static void blockedRow(MemorySegment a, long ao, boolean transB, MemorySegment bd, long bo, int ldb, int n, int k,
                                   MemorySegment out) {
        Gemm32.sgemm(false, transB, 2, n, k, 1f, a, ao, 0, bd, bo, ldb, 0f, out, 0, n, Parallelism.SEQUENTIAL);
    }

    /**
     * s (l x lk, row-major at 0) = Q K^T of one head, Q's row i at {@code qo + i * ldq} and K's row j at
     * {@code ko + j * ldk} (d floats each), by the path described in the class doc for a head of these sizes (dv,
     * the value depth, takes part in choosing it). The ONNX Attention kernel shares it, for any head layout.
     */
    static void headScores(MemorySegment qd, long qo, int ldq, MemorySegment kd, long ko, int ldk, int l, int lk, int d, int dv,
                           MemorySegment s) {
        if (SmallHeads.fits(l, lk, d, dv)) {
            SmallHeads.scores(qd, qo, ldq, kd, ko, ldk, l, lk, d, s);
        } else if (l == 1) {
            // one query row: the unfused MatMul's matrix-vector order, read from the keys' rows (no K^T copy)
            OneQueryScores.scores(qd, qo, kd, ko, ldk, lk, d, s);
        } else {
            Gemm32.sgemm(false, true, l, lk, d, 1f, qd, qo, ldq, kd, ko, ldk, 0f, s, 0, lk, Parallelism.SEQUENTIAL);
        }
    }

    /**
     * Y = P V of one head: P = s (l x lk at 0), V's row p at {@code vo + p * ldv} (dv floats), Y's row i written at
     * {@code yo + i * ldy}; the path is chosen as {@link #headScores} chooses it for the same sizes (d included).
     */
    static void headWeighted(MemorySegment s, int l, int lk, int d, MemorySegment vd, long vo, int ldv, int dv, MemorySegment yd,
                             long yo, int ldy) {
        if (SmallHeads.fits(l, lk, d, dv)) SmallHeads.weighted(s, l, lk, vd, vo, ldv, dv, yd, yo, ldy);
        else Gemm32.sgemm(false, false, l, dv, lk, 1f, s, 0, lk, vd, vo, ldv, 0f, yd, yo, ldy, Parallelism.SEQUENTIAL);
    }

    /** Each of q, k, v and the mask has the dim 1 or the common size; returns the common size. */
    private static int broadcast(String what, long... sizes) {
        long r = 1;
        for (long s : sizes) if (s != 1) r = s;
        for (long s : sizes) {
            if (s != 1 && s != r) throw new KernelException("Attention " + what + " sizes do not broadcast: " + java.util.Arrays.toString(sizes));
        }
        return Math.toIntExact(r);
    }

    /**
     * s[row, row+n) = s / scale (or * scale) + mask, the Div/Mul and Add kernels' float operations lane by
     * lane; the mask row starts at {@code mo} with element stride {@code ms} (0: one value for the row).
     */
    private static void scoreRow(MemorySegment s, long row, int n, boolean div, boolean mul, float scale,
                                 MemorySegment mask, long mo, long ms) {
        if (!div && !mul && mask == null) return;
        FloatVector sv = FloatVector.broadcast(S, scale);
        FloatVector one = mask != null && ms == 0 ? FloatVector.broadcast(S, mask.getAtIndex(NnArrays.F32, mo)) : null;
        int j = 0;
        for (; j <= n - LANES; j += LANES) {
            long at = (row + j) * 4;
            FloatVector x = FloatVector.fromMemorySegment(S, s, at, ORDER);
            if (div) x = x.div(sv);
            else if (mul) x = x.mul(sv);
            if (mask != null) x = x.add(one != null ? one : FloatVector.fromMemorySegment(S, mask, (mo + j) * 4, ORDER));
            x.intoMemorySegment(s, at, ORDER);
        }
        if (j < n) {
            VectorMask<Float> m = S.indexInRange(j, n);
            long at = (row + j) * 4;
            FloatVector x = FloatVector.fromMemorySegment(S, s, at, ORDER, m);
            if (div) x = x.div(sv);
            else if (mul) x = x.mul(sv);
            if (mask != null) x = x.add(one != null ? one : FloatVector.fromMemorySegment(S, mask, (mo + j) * 4, ORDER, m));
            x.intoMemorySegment(s, at, ORDER, m);
        }
    }
}
