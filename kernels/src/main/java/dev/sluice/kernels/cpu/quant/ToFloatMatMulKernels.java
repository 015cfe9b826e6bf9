package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The fused forms ONNX Runtime writes for dynamically quantized transformers (com.microsoft), both ending in float:
 * <ul>
 *   <li>MatMulIntegerToFloat(A, B, a_scale, b_scale, a_zp?, b_zp?, bias?): 8-bit A and B,
 *       {@code Y = float(Σ (a - a_zp)(b - b_zp)) * (a_scale * b_scale[j]) + bias[j]};</li>
 *   <li>DynamicQuantizeMatMul(A, B, b_scale, b_zp?, bias?): float A quantized to uint8 as DynamicQuantizeLinear
 *       does (range with 0 in it, scale (max - min) / 255, zero point rounded and saturated), then the same.</li>
 * </ul>
 * numpy matmul broadcasting; a_scale and a_zp per tensor; b_scale and b_zp per tensor or per column. The integer
 * product is {@link QuantGemm}'s exact one; a constant 2-D B under DynamicQuantizeMatMul runs through
 * sluice.DynamicQuantMatMul's kernel (weights packed once, parallel), which computes the same bits.
 */
final class ToFloatMatMulKernels {
    private ToFloatMatMulKernels() {}

    private static String where(ExecContext ctx) { return ctx.opType() + " '" + ctx.nodeName() + "'"; }

    private static Tensor optional(ExecContext ctx, int i) { return ctx.inputCount() > i && ctx.hasInput(i) ? ctx.input(i) : null; }

    /** The per-column multipliers aScale * bScale[j], the scale and bias checked against n columns. */
    private static float[] columnScales(ExecContext ctx, float aScale, Tensor bScale, Tensor bias, int n) {
        if (bScale.dtype() != DType.FLOAT32 || (bScale.elementCount() != 1 && bScale.elementCount() != n)) {
            throw new KernelException(where(ctx) + ": b_scale must be float32, one or " + n + " (one per column), got " + bScale.type());
        }
        if (bias != null && (bias.dtype() != DType.FLOAT32 || bias.elementCount() != n)) {
            throw new KernelException(where(ctx) + ": bias must be float32 of " + n + " (one per column), got " + bias.type());
        }
        float[] s = new float[n];
        for (int j = 0; j < n; j++) s[j] = aScale * bScale.getFloat(bScale.elementCount() == 1 ? 0 : j);
        return s;
    }

    /** y = float(acc) * (aScale * bScale[j]) + bias[j], per row of n. */
    private static void scaleAndBias(ExecContext ctx, int[] acc, float aScale, Tensor bScale, Tensor bias, int n, Tensor y) {
        float[] s = columnScales(ctx, aScale, bScale, bias, n), bv = bias == null ? null : bias.toFloatArray();
        MemorySegment yd = y.data();
        for (int i = 0; i < acc.length; i++) {
            int j = i % n;
            float v = (float) acc[i] * s[j];
            yd.setAtIndex(ValueLayout.JAVA_FLOAT, i, bv == null ? v : v + bv[j]);
        }
    }

    static final class MatMulIntegerToFloat implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(DType.FLOAT32, IntegerMatMulKernels.inferShape(ctx.inputType(0).shape(), ctx.inputType(1).shape())));
        }

        @Override
        public void execute(ExecContext ctx) {
            if (ctx.inputCount() < 4) throw new KernelException(where(ctx) + " needs at least 4 inputs, got " + ctx.inputCount());
            Tensor a = ctx.input(0), b = ctx.input(1), aScale = ctx.input(2), bScale = ctx.input(3);
            Tensor azp = optional(ctx, 4), bzp = optional(ctx, 5), bias = optional(ctx, 6);
            if (aScale.elementCount() != 1 || aScale.dtype() != DType.FLOAT32 || (azp != null && azp.elementCount() != 1)) {
                throw new KernelException(where(ctx) + ": a_scale and a_zero_point must be per tensor (a_scale float32), got "
                        + aScale.type() + (azp == null ? "" : ", " + azp.type()));
            }
            if (azp != null && azp.dtype() != a.dtype()) throw new KernelException(where(ctx) + ": a_zero_point is " + azp.dtype() + ", A " + a.dtype());
            if (bzp != null && bzp.dtype() != b.dtype()) throw new KernelException(where(ctx) + ": b_zero_point is " + bzp.dtype() + ", B " + b.dtype());
            boolean constant = ctx.inputIsInitializer(1) && (bzp == null || ctx.inputIsInitializer(5));
            if (constant && b.rank() == 2 && a.rank() >= 2 && a.shape().dim(a.rank() - 1) == b.shape().dim(0)) {
                constantWeight(ctx, a, azp, aScale.getFloat(0), b, bzp, bScale, bias);
                return;
            }
            IntegerMatMulKernels.Plan p;
            int[] acc;
            try {
                p = IntegerMatMulKernels.Plan.of(a.shape(), b.shape());
                acc = IntegerMatMulKernels.accumulate(a, azp, b, bzp, p);
            } catch (KernelException e) {
                throw new KernelException(where(ctx) + ": " + e.getMessage());
            }
            Tensor y = ctx.output(0, DType.FLOAT32, p.out());
            if (p.n() > 0) scaleAndBias(ctx, acc, aScale.getFloat(0), bScale, bias, p.n(), y);
        }
    }

    /**
     * MatMulIntegerToFloat by a constant 2-D B: B packed once (cached per tensor and zero point), A's rows made exact
     * float operands, then the product straight into Y by blocks of weight panels and row tiles, on the worker
     * threads when it is large (the split sluice.DynamicQuantMatMul uses), the bias added after: the same bits as
     * the general path.
     */
    private static void constantWeight(ExecContext ctx, Tensor a, Tensor azp, float aScale, Tensor b, Tensor bzp, Tensor bScale, Tensor bias) {
        QuantGemm.checkEightBit(where(ctx) + ": A", a.dtype());
        QuantGemm.checkEightBit(where(ctx) + ": B", b.dtype());
        int k = (int) b.shape().dim(0), n = (int) b.shape().dim(1);
        long[] od = a.shape().dims();
        od[od.length - 1] = n;
        float[] s = columnScales(ctx, aScale, bScale, bias, n);
        QuantGemm.PackedWeight pw;
        try {
            pw = QuantGemm.packed(b, bzp);
        } catch (KernelException e) {
            throw new KernelException(where(ctx) + ": " + e.getMessage());
        }
        Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(od));
        if (y.elementCount() == 0) return;
        int rows = Math.toIntExact(y.elementCount() / n);
        float[] as = QuantGemm.operandWithZeroRow(rows, k);
        float za = azp == null ? 0 : azp.getLong(0);
        boolean unsigned = a.dtype() == DType.UINT8;
        for (int i = 0; i < rows; i++) QuantGemm.operandRow(a.data(), (long) i * k, unsigned, k, za, as, i * k);
        int[] sums = new int[rows];
        QuantGemm.rowSums(as, rows, k, sums);
        float[] bv = bias == null ? null : bias.toFloatArray();
        Int8Panels wp = pw.panels;
        Parallelism par = ctx.parallelism();
        boolean parallel = par.threads() > 1 && (long) rows * n * k >= (1L << 20);
        int tiles = QuantGemm.tiles(rows), panels = wp.panels;
        int rowBlocks = !parallel ? 1 : Math.min(tiles, Math.max(1, (2 * par.threads() + panels - 1) / panels));
        int tilesPerBlock = (tiles + rowBlocks - 1) / rowBlocks;
        int blocks = parallel ? rowBlocks * panels : 1;
        MemorySegment yd = y.data();
        par.forEach(blocks, blk -> {
            int t0 = parallel ? blk / panels * tilesPerBlock : 0, t1 = parallel ? Math.min(tiles, t0 + tilesPerBlock) : tiles;
            int p0 = parallel ? blk % panels : 0, p1 = parallel ? p0 + 1 : panels;
            QuantGemm.multiply(as, sums, rows, wp, t0, t1, p0, p1, s, yd, 0, null, 0);
            if (bv != null) {
                int j0 = p0 * Int8Panels.NR, j1 = Math.min(n, p1 * Int8Panels.NR);
                for (int i = t0 * Int8Panels.MR, end = Math.min(rows, t1 * Int8Panels.MR); i < end; i++) {
                    for (int j = j0; j < j1; j++) {
                        long o = (long) i * n + j;
                        yd.setAtIndex(ValueLayout.JAVA_FLOAT, o, yd.getAtIndex(ValueLayout.JAVA_FLOAT, o) + bv[j]);
                    }
                }
            }
        });
    }

    static final class DynamicQuantizeMatMul implements OpKernel {
        private final IntegerMatMulKernels.DynamicQuantMatMul fused = new IntegerMatMulKernels.DynamicQuantMatMul();

        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(DType.FLOAT32, IntegerMatMulKernels.inferShape(ctx.inputType(0).shape(), ctx.inputType(1).shape())));
        }

        @Override
        public void execute(ExecContext ctx) {
            if (ctx.inputCount() < 3) throw new KernelException(where(ctx) + " needs at least 3 inputs, got " + ctx.inputCount());
            Tensor a = ctx.input(0), b = ctx.input(1), bScale = ctx.input(2);
            Tensor bzp = optional(ctx, 3), bias = optional(ctx, 4);
            if (a.dtype() != DType.FLOAT32) throw new KernelException(where(ctx) + ": A must be float32, got " + a.dtype());
            QuantGemm.checkEightBit(where(ctx) + ": B", b.dtype());
            if (bzp != null && bzp.dtype() != b.dtype()) throw new KernelException(where(ctx) + ": b_zero_point is " + bzp.dtype() + ", B " + b.dtype());
            boolean constant = ctx.inputIsInitializer(1) && (bzp == null || ctx.inputIsInitializer(3));
            if (constant && b.rank() == 2 && a.rank() >= 2 && bScale.dtype() == DType.FLOAT32) {
                // sluice.DynamicQuantMatMul takes (x, W, w_zp, w_scale, bias): the same op with the inputs reordered
                fused.execute(new Reordered(ctx, new int[] {0, 1, 3, 2, 4}));
                return;
            }
            // B not constant (or not 2-D): quantize A now, then the exact product of MatMulInteger
            long count = a.elementCount();
            float min = 0, max = 0;
            for (long i = 0; i < count; i++) {
                float v = a.getFloat(i);
                if (v < min) min = v;
                if (v > max) max = v;
            }
            float scale = QuantGemm.scale(min, max), zp = QuantGemm.zeroPoint(min, scale);
            Tensor aq = Tensor.allocate(DType.UINT8, a.shape());
            for (long i = 0; i < count; i++) aq.setLong(i, QuantizeKernels.saturate(Math.rint(a.getFloat(i) / scale), (long) zp, DType.UINT8));
            Tensor azp = Tensor.scalar(DType.UINT8, (long) zp);
            IntegerMatMulKernels.Plan p;
            int[] acc;
            try {
                p = IntegerMatMulKernels.Plan.of(a.shape(), b.shape());
                acc = IntegerMatMulKernels.accumulate(aq, azp, b, bzp, p);
            } catch (KernelException e) {
                throw new KernelException(where(ctx) + ": " + e.getMessage());
            }
            Tensor y = ctx.output(0, DType.FLOAT32, p.out());
            if (p.n() > 0) scaleAndBias(ctx, acc, scale, bScale, bias, p.n(), y);
        }
    }

    /** The node's context with its inputs in another order: input i of this view is input {@code order[i]} there. */
    private record Reordered(ExecContext ctx, int[] order) implements ExecContext {
        private int map(int i) { return i < order.length ? order[i] : Integer.MAX_VALUE; }

        @Override public String nodeName() { return ctx.nodeName(); }
        @Override public String opType() { return ctx.opType(); }
        @Override public int opset() { return ctx.opset(); }
        @Override public Attributes attributes() { return Attributes.EMPTY; }
        @Override public int inputCount() { return order.length; }
        @Override public boolean hasInput(int i) { int j = map(i); return j < ctx.inputCount() && ctx.hasInput(j); }
        @Override public Tensor input(int i) { return ctx.input(map(i)); }
        @Override public int outputCount() { return ctx.outputCount(); }
        @Override public Tensor output(int i, DType dtype, Shape shape) { return ctx.output(i, dtype, shape); }
        @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> inputs) { return ctx.runSubgraph(graph, inputs); }
        @Override public Parallelism parallelism() { return ctx.parallelism(); }
        @Override public boolean inputIsInitializer(int i) { int j = map(i); return j < ctx.inputCount() && ctx.inputIsInitializer(j); }
    }
}
