package dev.sluice.kernels.cpu.quant;

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
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * MatMulInteger and QLinearMatMul (numpy matmul semantics over zero-point-shifted integers), and
 * sluice.DynamicQuantMatMul, the fused dynamic-quantization chain; all on {@link QuantGemm}'s exact product.
 */
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

    /**
     * acc[batch][m][n] = Σ (a - azp[m]) (b - bzp[n]), exactly, through {@link QuantGemm}: A's rows are turned
     * into exact float operands and B is packed per batch matrix (MatMulInteger's B need not be constant).
     */
    static int[] accumulate(Tensor a, Tensor azp, Tensor b, Tensor bzp, Plan p) {
        int m = p.m(), k = p.k(), n = p.n();
        QuantGemm.checkEightBit("A", a.dtype());
        QuantGemm.checkEightBit("B", b.dtype());
        if (azp != null && azp.elementCount() != 1 && azp.elementCount() != m) throw new KernelException("a_zero_point shape " + azp.shape() + " for " + m + " rows");
        if (bzp != null && bzp.elementCount() != 1 && bzp.elementCount() != n) throw new KernelException("b_zero_point shape " + bzp.shape() + " for " + n + " columns");
        int[] acc = new int[Math.toIntExact(p.batches() * m * n)];
        float[] as = QuantGemm.operandWithZeroRow(m, k);
        int[] sums = new int[m];
        boolean unsigned = a.dtype() == DType.UINT8;
        for (long bi = 0; bi < p.batches(); bi++) {
            long ao = p.aOffset(bi), bo = p.bOffset(bi);
            for (int i = 0; i < m; i++) QuantGemm.operandRow(a.data(), ao + (long) i * k, unsigned, k, rowZp(azp, i), as, i * k);
            QuantGemm.rowSums(as, m, k, sums);
            Int8Panels w = QuantGemm.pack(b, bo, k, n, bzp).panels;
            QuantGemm.multiply(as, sums, m, w, 0, QuantGemm.tiles(m), 0, w.panels, null, null, 0, acc, Math.toIntExact(bi * m * n));
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
            int[] acc = accumulate(a, azp, b, bzp, p);
            Tensor y = ctx.output(0, DType.INT32, p.out());
            MemorySegment.copy(acc, 0, y.data(), ValueLayout.JAVA_INT, 0, acc.length);
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
            int[] acc = accumulate(a, azp, b, bzp, p);
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

    /**
     * sluice.DynamicQuantMatMul: the chain dynamic quantizers export for a float MatMul by a constant weight,
     * {@code DynamicQuantizeLinear(x) -> MatMulInteger(xq, W, x_zp, w_zp) -> Cast(float) -> Mul(., x_scale * w_scale)
     * [-> Add(bias)] [-> activation]}, in one kernel. Inputs: x (float32, rank >= 2), W (int8/uint8 k x n,
     * constant), w_zp (optional: scalar or n), w_scale (float32 scalar or n), bias (optional, n). Attributes: the
     * activation of {@link Activation}. The same arithmetic as the unfused ops, step by step: x's range and
     * scale and zero point as DynamicQuantizeLinear computes them, the exact integer product, the float Cast,
     * the product of the two scales rounded to float and then the product with it, the bias add, the activation
     * (the Gelu kernel's code); so the bits are those of the unfused graph. W is packed once per weight.
     */
    static final class DynamicQuantMatMul implements OpKernel {
        /** W is read only by {@link QuantGemm#packed} (its shape aside), for every x. */
        @Override public boolean readsOnlyPacked(int i) { return i == 1; }

        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(DType.FLOAT32, inferShape(ctx.inputType(0).shape(), ctx.inputType(1).shape())));
        }

        @Override
        public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), w = ctx.input(1);
            Tensor wzp = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
            Tensor wScale = ctx.input(3);
            Tensor bias = ctx.inputCount() > 4 && ctx.hasInput(4) ? ctx.input(4) : null;
            if (x.dtype() != DType.FLOAT32 || w.rank() != 2 || x.rank() < 2 || wScale.dtype() != DType.FLOAT32) {
                throw new KernelException("DynamicQuantMatMul needs float32 x of rank >= 2, a 2-D 8-bit W and a float32 scale, got "
                        + x.type() + ", " + w.type() + ", " + wScale.type());
            }
            Plan p = Plan.of(x.shape(), w.shape());
            int k = p.k(), n = p.n();
            if (wScale.elementCount() != 1 && wScale.elementCount() != n) throw new KernelException("weight scale " + wScale.shape() + " for " + n + " columns");
            if (bias != null && (bias.dtype() != DType.FLOAT32 || bias.elementCount() != n)) throw new KernelException("bias " + bias.type() + " for " + n + " columns");
            Tensor y = ctx.output(0, DType.FLOAT32, p.out());
            if (y.elementCount() == 0) return;
            int rows = Math.toIntExact(y.elementCount() / n); // not x's count / k: k may be 0 (then y is the bias)
            QuantGemm.PackedWeight pw = QuantGemm.packed(w, wzp);
            MemorySegment xd = x.data(), yd = y.data();
            float[] range = QuantGemm.range(xd, x.elementCount());
            float min = range == null ? scalarMin(x) : range[0], max = range == null ? scalarMax(x) : range[1];
            float xScale = QuantGemm.scale(min, max), zp = QuantGemm.zeroPoint(min, xScale);
            boolean vector = range != null && QuantGemm.roundsExactly(min, max, xScale);
            // the unfused graph's Mul(x_scale, w_scale): one float product per column
            float[] s = new float[n];
            for (int j = 0; j < n; j++) s[j] = xScale * wScale.getFloat(wScale.elementCount() == 1 ? 0 : j);
            float[] bv = bias == null ? null : bias.toFloatArray();
            Activation act = Activation.of(ctx.attributes());
            boolean epilogue = bv != null || act.kind() != Activation.Kind.NONE;
            Parallelism par = ctx.parallelism();
            boolean parallel = par.threads() > 1 && (long) rows * n * k >= (1L << 20);
            // 1. x quantized once, row by row (rows split across threads when large): the operand and its row sums
            float[] as = QuantGemm.operandWithZeroRow(rows, k);
            int[] sums = new int[rows];
            int qChunks = parallel && (long) rows * k >= (1L << 16) ? Math.min(par.threads(), rows) : 1, qRows = (rows + qChunks - 1) / qChunks;
            par.forEach(qChunks, t -> {
                int i0 = t * qRows, i1 = Math.min(rows, i0 + qRows);
                for (int i = i0; i < i1; i++) {
                    if (vector) QuantGemm.quantizeRow(xd, (long) i * k, k, xScale, zp, as, i * k);
                    else QuantGemm.quantizeRowScalar(xd, (long) i * k, k, xScale, zp, as, i * k);
                }
            });
            QuantGemm.rowSums(as, rows, k, sums);
            // 2. one pass over the 8-bit weight panels straight into y, then bias and activation, in blocks of
            //    (row tiles x one panel): split by panels first, so that each thread reads only its share of the
            //    weight; by row tiles too where there are fewer panels than twice the threads
            Int8Panels wp = pw.panels;
            int tiles = QuantGemm.tiles(rows), panels = wp.panels;
            int rowBlocks = !parallel ? 1 : Math.min(tiles, Math.max(1, (2 * par.threads() + panels - 1) / panels));
            int tilesPerBlock = (tiles + rowBlocks - 1) / rowBlocks;
            int blocks = parallel ? rowBlocks * panels : 1;
            par.forEach(blocks, b -> {
                int t0 = parallel ? b / panels * tilesPerBlock : 0, t1 = parallel ? Math.min(tiles, t0 + tilesPerBlock) : tiles;
                int p0 = parallel ? b % panels : 0, p1 = parallel ? p0 + 1 : panels;
                QuantGemm.multiply(as, sums, rows, wp, t0, t1, p0, p1, s, yd, 0, null, 0);
                if (epilogue) {
                    int j0 = p0 * Int8Panels.NR, cols = Math.min(n, p1 * Int8Panels.NR) - j0;
                    float[] colBias = bv == null ? null : j0 == 0 && cols == n ? bv : java.util.Arrays.copyOfRange(bv, j0, j0 + cols);
                    for (int i = t0 * Int8Panels.MR, end = Math.min(rows, t1 * Int8Panels.MR); i < end; i++) {
                        act.rowBiasAndApply(yd, (long) i * n + j0, cols, colBias);
                    }
                }
            });
        }

        /** The range with 0 in it, by DynamicQuantizeLinear's scalar comparisons (which skip NaN). */
        private static float scalarMin(Tensor x) {
            float min = 0;
            for (long i = 0, n = x.elementCount(); i < n; i++) if (x.getFloat(i) < min) min = x.getFloat(i);
            return min;
        }

        private static float scalarMax(Tensor x) {
            float max = 0;
            for (long i = 0, n = x.elementCount(); i < n; i++) if (x.getFloat(i) > max) max = x.getFloat(i);
            return max;
        }
    }
}
