package dev.sluice.kernels.cpu.linalg;

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
import dev.sluice.kernels.cpu.core.Broadcast;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.PartialSums;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/** MatMul (numpy semantics, batched with broadcasting) and Gemm, on top of {@link Gemm32} for float32. */
final class MatMulKernels {
    private MatMulKernels() {}

    // ------------------------------------------------------------------ MatMul

    static final class MatMul implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType a = ctx.inputType(0), b = ctx.inputType(1);
            DType dt = a.dtype() != null ? a.dtype() : b.dtype();
            // float32 values of a float16 product, unrounded (a K cut's partial sums, PartialSums.FLOAT32_OUTPUT)
            if (PartialSums.float32Output(ctx.attributes())) dt = DType.FLOAT32;
            if (!a.shape().hasRank() || !b.shape().hasRank()) return List.of(new TensorType(dt, SymShape.UNKNOWN_RANK));
            List<Dim> ad = a.shape().dims(), bd = b.shape().dims();
            if (ad.isEmpty() || bd.isEmpty()) throw new KernelException("MatMul operands must have rank >= 1");
            List<Dim> out = new ArrayList<>();
            if (ad.size() > 2 || bd.size() > 2) {
                SymShape ab = new SymShape(ad.size() > 2 ? ad.subList(0, ad.size() - 2) : List.of());
                SymShape bb = new SymShape(bd.size() > 2 ? bd.subList(0, bd.size() - 2) : List.of());
                out.addAll(Broadcast.shape(List.of(ab, bb)).dims());
            }
            if (ad.size() >= 2) out.add(ad.get(ad.size() - 2));
            if (bd.size() >= 2) out.add(bd.get(bd.size() - 1));
            Dim ka = ad.get(ad.size() - 1), kb = bd.size() >= 2 ? bd.get(bd.size() - 2) : bd.get(0);
            if (ka.isKnown() && kb.isKnown() && ka.value() != kb.value()) {
                throw new KernelException("MatMul inner dimensions differ: " + a.shape() + " x " + b.shape());
            }
            return List.of(new TensorType(dt, new SymShape(out)));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            if (a.dtype() != b.dtype()) throw new KernelException("MatMul operand types differ: " + a.dtype() + " and " + b.dtype());
            Plan p = Plan.of(a.shape(), b.shape());
            boolean wide = PartialSums.float32Output(ctx.attributes());
            if (wide && a.dtype() != DType.FLOAT16 && a.dtype() != DType.FLOAT32) {
                throw new KernelException("MatMul gives float32 values of float16 or float32 operands only, got " + a.dtype());
            }
            Tensor y = ctx.output(0, wide ? DType.FLOAT32 : a.dtype(), p.out);
            if (PartialSums.input(ctx) >= 0) {
                // a K tile (see PartialSums): float32 sums only (of float32 operands, or float16 ones widened as the
                // whole product widens them), continuing from the sums of the K blocks before it
                if (y.dtype() != DType.FLOAT32) throw new KernelException("MatMul continues partial sums in float32 only, got " + a.dtype());
                PartialSums.load(ctx, y);
                if (y.elementCount() > 0) matmulF32(NnArrays.asF32(a).data(), NnArrays.asF32(b).data(), y.data(), p, 1f, ctx.parallelism());
                return;
            }
            if (wide && a.dtype() == DType.FLOAT16) {
                // matmul's float16 path without its final rounding
                if (y.elementCount() > 0) matmulF32(NnArrays.asF32(a).data(), NnArrays.asF32(b).data(), y.data(), p, 0f, ctx.parallelism());
                return;
            }
            matmul(a, b, y, p, ctx.parallelism());
        }
    }

    /**
     * sluice.FusedMatMul: MatMul by a constant 2-D B (the fusion pass emits it only for an initializer B), then
     * optionally an Add of a constant bias of B's column count (input 2) and an activation (see Activation),
     * applied to each output row while it is in cache. B is packed for the GEMM once per weight tensor. The
     * arithmetic is that of the unfused ops (the same GEMM, then float adds), so the bits are the same.
     */
    static final class FusedMatMul implements OpKernel {
        private final MatMul plain = new MatMul();

        @Override public List<TensorType> infer(InferContext ctx) { return plain.infer(ctx); }

        @Override public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            Tensor bias = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
            Activation act = Activation.of(ctx.attributes());
            if (a.dtype() != DType.FLOAT32 || b.dtype() != DType.FLOAT32 || b.rank() != 2
                    || bias != null && (bias.dtype() != DType.FLOAT32 || bias.elementCount() != b.shape().dim(1))) {
                throw new KernelException("FusedMatMul needs float32 A, a 2-D float32 B and a bias of B's column count, got "
                        + a.type() + ", " + b.type() + (bias == null ? "" : ", " + bias.type()));
            }
            Plan p = Plan.of(a.shape(), b.shape());
            Tensor y = ctx.output(0, a.dtype(), p.out);
            if (y.elementCount() == 0) return;
            // a K tile continues from the partial sums of the K blocks before it (see PartialSums)
            float beta = PartialSums.load(ctx, y) ? 1f : 0f;
            int n = p.n, k = p.k, rows = Math.toIntExact(y.elementCount() / n);
            Parallelism par = ctx.parallelism();
            float[] bv = bias == null ? null : bias.toFloatArray();
            boolean epilogue = bias != null || act.kind() != Activation.Kind.NONE;
            MemorySegment ad = a.data(), yd = y.data();
            if (rows == 1 || n == 1) {
                // matrix-vector: Gemm32's own split over the long side, then the epilogue
                matmulF32(ad, b.data(), yd, p, beta, par);
                if (epilogue) for (int r = 0; r < rows; r++) act.rowBiasAndApply(yd, (long) r * n, n, bv);
                return;
            }
            Gemm32.Packed pb = Gemm32.cached(b, false, false, n, k, b.data(), 0, n);
            // Row blocks of whole register tiles, each a sequential GEMM on the shared packed B followed by
            // the bias and activation on its rows while they are in cache: A is packed once in all (a column
            // split packs it per block) and there is no second fork-join for the epilogue. The bits are
            // those of one whole product: Gemm32's order depends on k and KC only.
            int tasks = par.threads() <= 1 || (long) rows * n * k < (1L << 20) ? 1
                : Math.min(2 * par.threads(), (rows + Gemm32.MR - 1) / Gemm32.MR);
            int block = ((rows + tasks - 1) / tasks + Gemm32.MR - 1) / Gemm32.MR * Gemm32.MR;
            int blocks0 = (rows + block - 1) / block;
            // a one-row block would take Gemm32's matrix-vector path, whose order differs: join it to the one before
            int blocks = blocks0 > 1 && rows - (blocks0 - 1) * block == 1 ? blocks0 - 1 : blocks0;
            java.util.function.IntConsumer body = t -> {
                int r0 = t * block, r1 = t == blocks - 1 ? rows : r0 + block;
                Gemm32.sgemm(false, false, r1 - r0, n, k, 1f, ad, (long) r0 * k, k, null, b.data(), 0, n, pb, beta,
                        yd, (long) r0 * n, n, Parallelism.SEQUENTIAL);
                if (epilogue) for (int r = r0; r < r1; r++) act.rowBiasAndApply(yd, (long) r * n, n, bv);
            };
            if (blocks > 1) par.forEach(blocks, body);
            else body.accept(0);
        }
    }

    /** The geometry of a numpy matmul: batch broadcast and the per-matrix sizes. */
    record Plan(Shape out, Shape batch, int m, int n, int k, long[] aBatchStrides, long[] bBatchStrides, boolean foldA) {
        static Plan of(Shape as, Shape bs) {
            if (as.rank() == 0 || bs.rank() == 0) throw new KernelException("MatMul operands must have rank >= 1");
            long[] ad = as.dims(), bd = bs.dims();
            int m = ad.length >= 2 ? Math.toIntExact(ad[ad.length - 2]) : 1;
            int k = Math.toIntExact(ad[ad.length - 1]);
            int kb = Math.toIntExact(bd.length >= 2 ? bd[bd.length - 2] : bd[0]);
            int n = bd.length >= 2 ? Math.toIntExact(bd[bd.length - 1]) : 1;
            if (k != kb) throw new KernelException("MatMul inner dimensions differ: " + as + " x " + bs);
            Shape ab = Shape.of(java.util.Arrays.copyOf(ad, Math.max(0, ad.length - 2)));
            Shape bb = Shape.of(java.util.Arrays.copyOf(bd, Math.max(0, bd.length - 2)));
            Shape batch = Broadcast.shape(ab, bb);
            long[] o = new long[batch.rank() + (ad.length >= 2 ? 1 : 0) + (bd.length >= 2 ? 1 : 0)];
            int r = 0;
            for (int i = 0; i < batch.rank(); i++) o[r++] = batch.dim(i);
            if (ad.length >= 2) o[r++] = m;
            if (bd.length >= 2) o[r] = n;
            long[] sa = Broadcast.stridesFor(ab, batch), sb = Broadcast.stridesFor(bb, batch);
            // B shared by every batch and A not broadcast: the batch folds into M, one big product
            boolean foldA = bb.elementCount() == 1 && ab.equals(batch);
            return new Plan(Shape.of(o), batch, m, n, k, sa, sb, foldA);
        }

        long batches() { return batch.elementCount(); }
    }

    static void matmul(Tensor a, Tensor b, Tensor y, Plan p, Parallelism par) {
        if (y.elementCount() == 0) return;
        DType dt = a.dtype();
        if (dt == DType.FLOAT32) {
            matmulF32(a.data(), b.data(), y.data(), p, 0f, par);
        } else if (dt == DType.FLOAT16) {
            Tensor yf = Tensor.allocate(DType.FLOAT32, y.shape());
            matmulF32(NnArrays.asF32(a).data(), NnArrays.asF32(b).data(), yf.data(), p, 0f, par);
            NnArrays.store(y, yf.toFloatArray());
        } else if (dt == DType.FLOAT64) {
            matmulF64(a, b, y, p);
        } else if (dt.isInteger()) {
            matmulInt(a, b, y, p);
        } else {
            throw new KernelException("MatMul does not support " + dt);
        }
    }

    /** y = a x b (beta 0) or y += a x b (beta 1: y holds partial sums over earlier K blocks), float32. */
    static void matmulF32(MemorySegment a, MemorySegment b, MemorySegment y, Plan p, float beta, Parallelism par) {
        int m = p.m, n = p.n, k = p.k;
        long batches = p.batches();
        if (p.foldA) {
            Gemm32.sgemm(false, false, Math.toIntExact(batches * m), n, k, 1f, a, 0, k, b, 0, n, beta, y, 0, n, par);
            return;
        }
        long work = (long) m * n * Math.max(k, 1);
        boolean acrossBatches = par.threads() > 1 && batches >= par.threads() && work < (1L << 22);
        Parallelism inner = acrossBatches ? Parallelism.SEQUENTIAL : par;
        java.util.function.IntConsumer one = bi -> {
            long ao = (long) m * k * Broadcast.map(bi, p.batch, p.aBatchStrides);
            long bo = (long) k * n * Broadcast.map(bi, p.batch, p.bBatchStrides);
            Gemm32.sgemm(false, false, m, n, k, 1f, a, ao, k, b, bo, n, beta, y, (long) bi * m * n, n, inner);
        };
        int nb = Math.toIntExact(batches);
        if (acrossBatches) par.forEach(nb, one);
        else for (int bi = 0; bi < nb; bi++) one.accept(bi);
    }

    private static void matmulF64(Tensor a, Tensor b, Tensor y, Plan p) {
        double[] av = NnArrays.doubles(a), bv = NnArrays.doubles(b);
        double[] out = new double[Math.toIntExact(y.elementCount())];
        int m = p.m, n = p.n, k = p.k;
        for (int bi = 0; bi < p.batches(); bi++) {
            int ao = Math.toIntExact(m * k * Broadcast.map(bi, p.batch, p.aBatchStrides));
            int bo = Math.toIntExact(k * n * Broadcast.map(bi, p.batch, p.bBatchStrides));
            int yo = bi * m * n;
            for (int i = 0; i < m; i++) {
                for (int q = 0; q < k; q++) {
                    double x = av[ao + i * k + q];
                    if (x == 0) continue;
                    int br = bo + q * n, yr = yo + i * n;
                    for (int j = 0; j < n; j++) out[yr + j] += x * bv[br + j];
                }
            }
        }
        NnArrays.store(y, out);
    }

    /** Integer matmul with wrap-around in 64 bits, stored with the output type's own wrap. */
    private static void matmulInt(Tensor a, Tensor b, Tensor y, Plan p) {
        long[] av = a.toLongArray(), bv = b.toLongArray();
        int m = p.m, n = p.n, k = p.k;
        for (int bi = 0; bi < p.batches(); bi++) {
            int ao = Math.toIntExact(m * k * Broadcast.map(bi, p.batch, p.aBatchStrides));
            int bo = Math.toIntExact(k * n * Broadcast.map(bi, p.batch, p.bBatchStrides));
            long yo = (long) bi * m * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    long s = 0;
                    for (int q = 0; q < k; q++) s += av[ao + i * k + q] * bv[bo + q * n + j];
                    y.setLong(yo + (long) i * n + j, s);
                }
            }
        }
    }

    // ------------------------------------------------------------------ Gemm

    static final class Gemm implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            NnArrays.requireOneType(ctx, "A", "B", "C");
            TensorType a = ctx.inputType(0), b = ctx.inputType(1);
            Attributes at = ctx.attributes();
            boolean ta = at.getInt("transA", 0) != 0, tb = at.getInt("transB", 0) != 0;
            Dim m = Dim.UNKNOWN, n = Dim.UNKNOWN;
            if (a.shape().hasRank()) {
                if (a.shape().rank() != 2) throw new KernelException("Gemm A must be 2-D, got " + a.shape());
                m = a.shape().dim(ta ? 1 : 0);
            }
            if (b.shape().hasRank()) {
                if (b.shape().rank() != 2) throw new KernelException("Gemm B must be 2-D, got " + b.shape());
                n = b.shape().dim(tb ? 0 : 1);
            }
            DType dt = PartialSums.float32Output(at) ? DType.FLOAT32 : a.dtype() != null ? a.dtype() : b.dtype();
            return List.of(new TensorType(dt, SymShape.of(m, n)));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            Attributes at = ctx.attributes();
            boolean ta = at.getInt("transA", 0) != 0, tb = at.getInt("transB", 0) != 0;
            float alpha = at.getFloat("alpha", 1f), beta = at.getFloat("beta", 1f);
            if (a.rank() != 2 || b.rank() != 2) throw new KernelException("Gemm needs 2-D A and B, got " + a.shape() + " and " + b.shape());
            int m = Math.toIntExact(a.shape().dim(ta ? 1 : 0)), k = Math.toIntExact(a.shape().dim(ta ? 0 : 1));
            int kb = Math.toIntExact(b.shape().dim(tb ? 1 : 0)), n = Math.toIntExact(b.shape().dim(tb ? 0 : 1));
            if (k != kb) throw new KernelException("Gemm inner dimensions differ: " + a.shape() + " x " + b.shape());
            Tensor c = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
            Shape os = Shape.of(m, n);
            // float32 values of a float16 product, unrounded (PartialSums.FLOAT32_OUTPUT)
            boolean wide = PartialSums.float32Output(at) && (a.dtype() == DType.FLOAT16 || a.dtype() == DType.FLOAT32);
            Tensor y = ctx.output(0, wide ? DType.FLOAT32 : a.dtype(), os);
            if (y.elementCount() == 0) return;
            boolean partial = PartialSums.input(ctx) >= 0;
            if (partial && (y.dtype() != DType.FLOAT32 || c != null)) {
                throw new KernelException("Gemm continues partial sums in float32 and without C only (C is added by the first K tile)");
            }
            boolean withC = c != null && beta != 0f;
            long[] cs = withC ? Broadcast.stridesFor(unidirectional(c.shape(), os), os) : null;
            if (a.dtype() == DType.FLOAT32 || a.dtype() == DType.FLOAT16) {
                Tensor yf = y.dtype() == DType.FLOAT32 ? y : Tensor.allocate(DType.FLOAT32, os);
                MemorySegment yd = yf.data();
                if (withC) {
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            yd.setAtIndex(NnArrays.F32, (long) i * n + j, beta * (float) c.getDouble(i * cs[0] + j * cs[1]));
                        }
                    }
                }
                if (partial) PartialSums.load(ctx, yf);
                Tensor af = NnArrays.asF32(a), bf = NnArrays.asF32(b);
                Gemm32.sgemm(ta, tb, m, n, k, alpha, af.data(), 0, (int) af.shape().dim(1), bf.data(), 0,
                        (int) bf.shape().dim(1), withC || partial ? 1f : 0f, yd, 0, n, ctx.parallelism());
                if (yf != y) NnArrays.store(y, yf.toFloatArray());
                return;
            }
            if (!a.dtype().isFloatingPoint() && !a.dtype().isInteger()) throw new KernelException("Gemm does not support " + a.dtype());
            int lda = (int) a.shape().dim(1), ldb = (int) b.shape().dim(1);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int q = 0; q < k; q++) {
                        s += a.getDouble(ta ? (long) q * lda + i : (long) i * lda + q) * b.getDouble(tb ? (long) j * ldb + q : (long) q * ldb + j);
                    }
                    double v = alpha * s + (withC ? beta * c.getDouble(i * cs[0] + j * cs[1]) : 0);
                    y.setDouble((long) i * n + j, v);
                }
            }
        }

        private static Shape unidirectional(Shape c, Shape target) {
            if (!Broadcast.shape(c, target).equals(target)) {
                throw new KernelException("Gemm C of shape " + c + " does not broadcast to " + target);
            }
            return c;
        }
    }
}
