package dev.sluice.kernels.cpu;

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
import java.util.ArrayList;
import java.util.List;

/** MatMulInteger and QLinearMatMul: numpy matmul semantics over zero-point-shifted integers. */
final class IntegerMatMulKernels {
    private IntegerMatMulKernels() {}

    /** The shapes of a batched matmul after numpy's promotion of 1-D operands. */
    record Plan(int m, int k, int n, Shape batch, long[] aBatchStrides, long[] bBatchStrides, Shape out) {
        static Plan of(Shape as, Shape bs) {
            if (as.rank() == 0 || bs.rank() == 0) throw new KernelException("matmul operands must not be scalars: " + as + ", " + bs);
            long[] ad = as.rank() == 1 ? new long[] {1, as.dim(0)} : as.dims();
            long[] bd = bs.rank() == 1 ? new long[] {bs.dim(0), 1} : bs.dims();
            int m = (int) ad[ad.length - 2], k = (int) ad[ad.length - 1];
            int k2 = (int) bd[bd.length - 2], n = (int) bd[bd.length - 1];
            if (k != k2) throw new KernelException("matmul inner dimensions differ: " + as + " x " + bs);
            Shape ab = Shape.of(java.util.Arrays.copyOf(ad, ad.length - 2));
            Shape bb = Shape.of(java.util.Arrays.copyOf(bd, bd.length - 2));
            Shape batch = Broadcast.shape(ab, bb);
            List<Long> od = new ArrayList<>();
            for (long d : batch.dims()) od.add(d);
            if (as.rank() > 1) od.add((long) m);
            if (bs.rank() > 1) od.add((long) n);
            long[] o = od.stream().mapToLong(Long::longValue).toArray();
            return new Plan(m, k, n, batch, Broadcast.stridesFor(ab, batch), Broadcast.stridesFor(bb, batch), Shape.of(o));
        }

        long batches() { return batch.elementCount(); }
        long aOffset(long b) { return Broadcast.map(b, batch, aBatchStrides) * m * k; }
        long bOffset(long b) { return Broadcast.map(b, batch, bBatchStrides) * k * n; }
    }

    static SymShape inferShape(SymShape a, SymShape b) {
        if (!a.hasRank() || !b.hasRank() || a.rank() == 0 || b.rank() == 0) return SymShape.UNKNOWN_RANK;
        List<Dim> ab = a.rank() > 2 ? a.dims().subList(0, a.rank() - 2) : List.of();
        List<Dim> bb = b.rank() > 2 ? b.dims().subList(0, b.rank() - 2) : List.of();
        List<Dim> out = new ArrayList<>(Broadcast.shape(List.of(new SymShape(ab), new SymShape(bb))).dims());
        if (a.rank() > 1) out.add(a.dim(a.rank() - 2));
        if (b.rank() > 1) out.add(b.dim(b.rank() - 1));
        return new SymShape(out);
    }

    /** Zero point of row i of A (per tensor or per row). */
    private static long rowZp(Tensor zp, int i) { return zp == null ? 0 : zp.elementCount() == 1 ? zp.getLong(0) : zp.getLong(i); }

    /** acc[batch][m][n] = Σ (a - azp[m]) (b - bzp[n]). */
    static long[] accumulate(Tensor a, Tensor azp, Tensor b, Tensor bzp, Plan p) {
        int m = p.m(), k = p.k(), n = p.n();
        if (azp != null && azp.elementCount() != 1 && azp.elementCount() != m) throw new KernelException("a_zero_point shape " + azp.shape() + " for " + m + " rows");
        if (bzp != null && bzp.elementCount() != 1 && bzp.elementCount() != n) throw new KernelException("b_zero_point shape " + bzp.shape() + " for " + n + " columns");
        long[] acc = new long[Math.toIntExact(p.batches() * m * n)];
        long[] as = new long[m * k], bs = new long[k * n], cs = new long[m * n];
        for (long bi = 0; bi < p.batches(); bi++) {
            long ao = p.aOffset(bi), bo = p.bOffset(bi);
            for (int i = 0; i < m; i++) for (int q = 0; q < k; q++) as[i * k + q] = a.getLong(ao + i * k + q) - rowZp(azp, i);
            for (int q = 0; q < k; q++) for (int j = 0; j < n; j++) bs[q * n + j] = b.getLong(bo + q * n + j) - rowZp(bzp, j);
            LocalGemm.multiply(as, 0, m, k, bs, 0, n, cs, 0);
            System.arraycopy(cs, 0, acc, (int) (bi * m * n), m * n);
        }
        return acc;
    }

    static final class MatMulInteger implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(DType.INT32, inferShape(ctx.inputType(0).shape(), ctx.inputType(1).shape())));
        }

        @Override
        public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            Tensor azp = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
            Tensor bzp = ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.input(3) : null;
            Plan p = Plan.of(a.shape(), b.shape());
            long[] acc = accumulate(a, azp, b, bzp, p);
            Tensor y = ctx.output(0, DType.INT32, p.out());
            for (int i = 0; i < acc.length; i++) y.setLong(i, acc[i]);
        }
    }

    static final class QLinearMatMul implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            DType t = ctx.inputCount() > 7 && ctx.hasInput(7) ? ctx.inputType(7).dtype() : ctx.inputType(0).dtype();
            return List.of(TensorType.of(t, inferShape(ctx.inputType(0).shape(), ctx.inputType(3).shape())));
        }

        @Override
        public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), aScale = ctx.input(1), azp = ctx.input(2);
            Tensor b = ctx.input(3), bScale = ctx.input(4), bzp = ctx.input(5);
            Tensor yScale = ctx.input(6);
            Tensor yzp = ctx.inputCount() > 7 && ctx.hasInput(7) ? ctx.input(7) : null;
            DType ot = yzp != null ? yzp.dtype() : a.dtype();
            Plan p = Plan.of(a.shape(), b.shape());
            long[] acc = accumulate(a, azp, b, bzp, p);
            Tensor y = ctx.output(0, ot, p.out());
            int m = p.m(), n = p.n();
            float ys = yScale.getFloat(0);
            long z = yzp == null ? 0 : yzp.getLong(0);
            for (int i = 0; i < acc.length; i++) {
                int row = (i / n) % m, col = i % n;
                float as = aScale.getFloat(aScale.elementCount() == 1 ? 0 : row);
                float bs = bScale.getFloat(bScale.elementCount() == 1 ? 0 : col);
                float v = acc[i] * (as * bs / ys);
                y.setLong(i, QuantizeKernels.saturate(Math.rint(v), z, ot));
            }
        }
    }
}
