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
import dev.sluice.kernels.cpu.core.Broadcast;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * com.microsoft FusedMatMul (ONNX Runtime's MatMul with Transpose and a scalar Mul folded in, as in attention's
 * Q K^T * scale): Y = alpha * op(A) x op(B), op transposing the last two dims where {@code transA} / {@code transB}
 * say, the batch dims broadcast as MatMul's. A 1-D operand is a row (A) or column (B) vector, its dim dropped
 * from Y as MatMul drops it, and may not be transposed. Each product is one {@link Gemm32} call, the engine of
 * MatMul, reading the transposed operand in place. {@code transBatchA} / {@code transBatchB} (batch dims moved
 * behind the matrix dims) are refused.
 */
final class FusedMatMulKernel implements OpKernel {
    /** The product's geometry. */
    private record Plan(Shape out, Shape batch, int m, int n, int k, boolean transA, boolean transB, long[] aStrides, long[] bStrides) {}

    private static void refuseBatchTranspose(Attributes at) {
        for (String a : new String[] {"transBatchA", "transBatchB"}) {
            if (at.getInt(a, 0) != 0) throw new KernelException("FusedMatMul " + a + "=1 is not supported (batch dims moved behind the matrix)");
        }
    }

    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType a = Operands.float32(ctx, 0), b = Operands.float32(ctx, 1);
        Attributes at = ctx.attributes();
        refuseBatchTranspose(at);
        if (!a.shape().hasRank() || !b.shape().hasRank()) return List.of(new TensorType(DType.FLOAT32, SymShape.UNKNOWN_RANK));
        List<Dim> ad = a.shape().dims(), bd = b.shape().dims();
        if (ad.isEmpty() || bd.isEmpty()) throw new KernelException("FusedMatMul operands must have rank >= 1");
        boolean ta = at.getInt("transA", 0) != 0, tb = at.getInt("transB", 0) != 0;
        List<Dim> out = new ArrayList<>();
        if (ad.size() > 2 || bd.size() > 2) {
            SymShape ab = new SymShape(ad.size() > 2 ? ad.subList(0, ad.size() - 2) : List.of());
            SymShape bb = new SymShape(bd.size() > 2 ? bd.subList(0, bd.size() - 2) : List.of());
            out.addAll(Broadcast.shape(List.of(ab, bb)).dims());
        }
        if (ad.size() >= 2) out.add(ad.get(ad.size() - (ta ? 1 : 2)));
        if (bd.size() >= 2) out.add(bd.get(bd.size() - (tb ? 2 : 1)));
        return List.of(new TensorType(DType.FLOAT32, new SymShape(out)));
    }

    private static Plan plan(Shape as, Shape bs, boolean ta, boolean tb) {
        if (as.rank() == 0 || bs.rank() == 0) throw new KernelException("FusedMatMul operands must have rank >= 1");
        if (ta && as.rank() < 2 || tb && bs.rank() < 2) throw new KernelException("FusedMatMul cannot transpose a 1-D operand: " + as + " x " + bs);
        long[] ad = as.dims(), bd = bs.dims();
        int ra = ad.length, rb = bd.length;
        int m = ra >= 2 ? Math.toIntExact(ad[ra - (ta ? 1 : 2)]) : 1;
        int k = Math.toIntExact(ra >= 2 ? ad[ra - (ta ? 2 : 1)] : ad[0]);
        int kb = Math.toIntExact(rb >= 2 ? bd[rb - (tb ? 1 : 2)] : bd[0]);
        int n = rb >= 2 ? Math.toIntExact(bd[rb - (tb ? 2 : 1)]) : 1;
        if (k != kb) throw new KernelException("FusedMatMul inner dimensions differ: " + as + (ta ? "^T" : "") + " x " + bs + (tb ? "^T" : ""));
        Shape ab = Shape.of(Arrays.copyOf(ad, Math.max(0, ra - 2))), bb = Shape.of(Arrays.copyOf(bd, Math.max(0, rb - 2)));
        Shape batch = Broadcast.shape(ab, bb);
        long[] o = new long[batch.rank() + (ra >= 2 ? 1 : 0) + (rb >= 2 ? 1 : 0)];
        int r = 0;
        for (int i = 0; i < batch.rank(); i++) o[r++] = batch.dim(i);
        if (ra >= 2) o[r++] = m;
        if (rb >= 2) o[r] = n;
        return new Plan(Shape.of(o), batch, m, n, k, ta, tb, Broadcast.stridesFor(ab, batch), Broadcast.stridesFor(bb, batch));
    }

    @Override public void execute(ExecContext ctx) {
        Tensor a = Operands.float32(ctx.input(0), "FusedMatMul", "A"), b = Operands.float32(ctx.input(1), "FusedMatMul", "B");
        Attributes at = ctx.attributes();
        refuseBatchTranspose(at);
        Plan p = plan(a.shape(), b.shape(), at.getInt("transA", 0) != 0, at.getInt("transB", 0) != 0);
        float alpha = at.getFloat("alpha", 1f);
        Tensor y = ctx.output(0, DType.FLOAT32, p.out());
        if (y.elementCount() == 0) return;
        int m = p.m(), n = p.n(), k = p.k();
        if (k == 0) {
            y.data().fill((byte) 0); // empty sums; planned output memory is not zeroed
            return;
        }
        int lda = p.transA() ? m : k, ldb = p.transB() ? k : n;
        int batches = Math.toIntExact(p.batch().elementCount());
        Parallelism par = ctx.parallelism();
        long work = (long) m * n * k;
        boolean across = par.threads() > 1 && batches >= par.threads() && work < (1L << 22);
        Parallelism inner = across ? Parallelism.SEQUENTIAL : par;
        java.util.function.IntConsumer one = bi -> {
            long ao = (long) m * k * Broadcast.map(bi, p.batch(), p.aStrides());
            long bo = (long) k * n * Broadcast.map(bi, p.batch(), p.bStrides());
            Gemm32.sgemm(p.transA(), p.transB(), m, n, k, alpha, a.data(), ao, lda, b.data(), bo, ldb, 0f, y.data(), (long) bi * m * n, n, inner);
        };
        if (across) par.forEach(batches, one);
        else for (int bi = 0; bi < batches; bi++) one.accept(bi);
    }
}
