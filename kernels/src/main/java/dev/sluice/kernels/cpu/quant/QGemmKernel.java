package dev.sluice.kernels.cpu.quant;

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
import dev.sluice.kernels.cpu.core.Broadcast;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * com.microsoft QGemm: {@code Y = alpha * (A' - a_zp)(B' - b_zp) * a_scale * b_scale + C * (a_scale * b_scale)}
 * with A' and B' optionally transposed, over 8-bit A and B (each uint8 or int8), C an int32 bias quantized at
 * scale {@code alpha * a_scale * b_scale} (so it adds to the integer product), b_scale / b_zero_point per tensor or
 * per column. Inputs A, a_scale, a_zp, B, b_scale, b_zp, C?, y_scale?, y_zp?. Without y_scale Y is float32:
 * {@code float(acc + C) * (alpha * a_scale * b_scale[j])}; with y_scale and y_zero_point Y has y_zero_point's type:
 * {@code rint(float(acc + C) * (alpha * a_scale * b_scale[j] / y_scale)) + y_zp}, saturated (the multipliers
 * formed in float32 in that order, as ONNX Runtime forms them).
 *
 * <p>The integer product is {@link QuantGemm}'s exact one. A constant B (an initializer) is packed once per tensor.
 */
final class QGemmKernel implements OpKernel {
    /** Packed constant weights, by B tensor (identity); the zero-point tensor and transB are checked on use. */
    private final Map<Tensor, Packed> cache = Collections.synchronizedMap(new WeakHashMap<>());

    private record Packed(Int8Panels panels, Tensor zeroPoint, boolean transposed) {}

    @Override
    public List<TensorType> infer(InferContext ctx) {
        boolean quantized = ctx.inputCount() > 8 && ctx.hasInput(8);
        DType t = quantized ? ctx.inputType(8).dtype() : DType.FLOAT32;
        SymShape a = ctx.inputType(0).shape(), b = ctx.inputType(3).shape();
        boolean ta = ctx.attributes().getInt("transA", 0) != 0, tb = ctx.attributes().getInt("transB", 0) != 0;
        Dim m = a.hasRank() && a.rank() == 2 ? a.dim(ta ? 1 : 0) : Dim.UNKNOWN;
        Dim n = b.hasRank() && b.rank() == 2 ? b.dim(tb ? 0 : 1) : Dim.UNKNOWN;
        return List.of(TensorType.of(t, SymShape.of(m, n)));
    }

    @Override
    public void execute(ExecContext ctx) {
        String where = ctx.opType() + " '" + ctx.nodeName() + "'";
        if (ctx.inputCount() < 6) throw new KernelException(where + " needs at least 6 inputs, got " + ctx.inputCount());
        Tensor a = ctx.input(0), aScale = ctx.input(1), b = ctx.input(3), bScale = ctx.input(4);
        Tensor azp = ctx.hasInput(2) ? ctx.input(2) : null, bzp = ctx.hasInput(5) ? ctx.input(5) : null;
        Tensor c = ctx.inputCount() > 6 && ctx.hasInput(6) ? ctx.input(6) : null;
        Tensor yScale = ctx.inputCount() > 7 && ctx.hasInput(7) ? ctx.input(7) : null;
        Tensor yzp = ctx.inputCount() > 8 && ctx.hasInput(8) ? ctx.input(8) : null;
        QuantGemm.checkEightBit(where + ": A", a.dtype());
        QuantGemm.checkEightBit(where + ": B", b.dtype());
        if (a.rank() != 2 || b.rank() != 2) throw new KernelException(where + ": A and B must be 2-D, got " + a.shape() + " and " + b.shape());
        if ((yScale == null) != (yzp == null)) {
            throw new KernelException(where + ": y_scale and y_zero_point must be given together (a quantized output needs both)");
        }
        boolean ta = ctx.attributes().getInt("transA", 0) != 0, tb = ctx.attributes().getInt("transB", 0) != 0;
        float alpha = ctx.attributes().getFloat("alpha", 1f);
        int m = (int) a.shape().dim(ta ? 1 : 0), k = (int) a.shape().dim(ta ? 0 : 1);
        int kb = (int) b.shape().dim(tb ? 1 : 0), n = (int) b.shape().dim(tb ? 0 : 1);
        if (k != kb) throw new KernelException(where + ": inner dimensions differ: A " + a.shape() + (ta ? " (transposed)" : "") + ", B " + b.shape() + (tb ? " (transposed)" : ""));
        if (aScale.elementCount() != 1 || (azp != null && azp.elementCount() != 1)) {
            throw new KernelException(where + ": a_scale and a_zero_point must be per tensor, got " + aScale.shape() + (azp == null ? "" : ", " + azp.shape()));
        }
        if (azp != null && azp.dtype() != a.dtype()) throw new KernelException(where + ": a_zero_point is " + azp.dtype() + ", A " + a.dtype());
        if (bScale.elementCount() != 1 && bScale.elementCount() != n) throw new KernelException(where + ": b_scale " + bScale.shape() + " for " + n + " columns");
        if (bzp != null && bzp.elementCount() != 1 && bzp.elementCount() != n) throw new KernelException(where + ": b_zero_point " + bzp.shape() + " for " + n + " columns");
        if (bzp != null && bzp.dtype() != b.dtype()) throw new KernelException(where + ": b_zero_point is " + bzp.dtype() + ", B " + b.dtype());
        if (c != null && c.dtype() != DType.INT32) throw new KernelException(where + ": C must be int32, got " + c.dtype());
        if (yScale != null && yScale.elementCount() != 1) throw new KernelException(where + ": y_scale must be per tensor, got " + yScale.shape());
        DType ot = yzp == null ? DType.FLOAT32 : yzp.dtype();
        if (yzp != null) QuantGemm.checkEightBit(where + ": y_zero_point", ot);
        Shape out = Shape.of(m, n);
        long[] cStrides = null;
        if (c != null) {
            try {
                if (!Broadcast.shape(c.shape(), out).equals(out)) throw new KernelException("");
            } catch (KernelException e) {
                throw new KernelException(where + ": C " + c.shape() + " does not broadcast to " + out);
            }
            cStrides = Broadcast.stridesFor(c.shape(), out);
        }
        Tensor y = ctx.output(0, ot, out);
        if (y.elementCount() == 0) return;

        // A as exact floats a - a_zp, row by row (transposed reads when transA)
        float[] as = QuantGemm.operandWithZeroRow(m, k);
        boolean au = a.dtype() == DType.UINT8;
        float za = azp == null ? 0 : azp.getLong(0);
        MemorySegment ad = a.data();
        for (int i = 0; i < m; i++) {
            for (int q = 0; q < k; q++) {
                byte v = ad.get(ValueLayout.JAVA_BYTE, ta ? (long) q * m + i : (long) i * k + q);
                as[i * k + q] = (au ? v & 0xFF : v) - za;
            }
        }
        int[] sums = new int[m];
        QuantGemm.rowSums(as, m, k, sums);
        Int8Panels w = panels(ctx, b, bzp, tb, k, n);
        int[] acc = new int[Math.multiplyExact(m, n)];
        QuantGemm.multiply(as, sums, m, w, 0, QuantGemm.tiles(m), 0, w.panels, null, null, 0, acc, 0);

        // the output multipliers, one per column
        float[] s = new float[n];
        for (int j = 0; j < n; j++) {
            float v = alpha * aScale.getFloat(0) * bScale.getFloat(bScale.elementCount() == 1 ? 0 : j);
            s[j] = yScale == null ? v : v / yScale.getFloat(0);
        }
        MemorySegment yd = y.data();
        QParam py = yzp == null ? null : new QParam(yScale.getFloat(0), (int) yzp.getLong(0), ot);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                long flat = (long) i * n + j;
                int v = acc[(int) flat];
                if (c != null) v += c.data().getAtIndex(ValueLayout.JAVA_INT, Broadcast.map(flat, out, cStrides));
                float f = (float) v * s[j];
                if (py == null) yd.setAtIndex(ValueLayout.JAVA_FLOAT, flat, f);
                else yd.set(ValueLayout.JAVA_BYTE, flat, py.saturate(Math.rint(f)));
            }
        }
    }

    /** B as k x n weight panels; a constant B is packed once (per zero-point tensor and transposition). */
    private Int8Panels panels(ExecContext ctx, Tensor b, Tensor bzp, boolean tb, int k, int n) {
        boolean constant = ctx.inputIsInitializer(3) && (bzp == null || ctx.inputIsInitializer(5));
        if (constant) {
            Packed p = cache.get(b);
            if (p != null && p.zeroPoint() == bzp && p.transposed() == tb) return p.panels();
        }
        float[] zps = new float[n];
        for (int j = 0; j < n; j++) zps[j] = bzp == null ? 0 : bzp.getLong(bzp.elementCount() == 1 ? 0 : j);
        MemorySegment src = b.data();
        if (tb) {
            // B is n x k: a k x n copy for the panel packer (which reads rows of n)
            byte[] t = new byte[Math.multiplyExact(k, n)];
            for (int j = 0; j < n; j++) for (int q = 0; q < k; q++) t[q * n + j] = src.get(ValueLayout.JAVA_BYTE, (long) j * k + q);
            src = MemorySegment.ofArray(t);
        }
        Int8Panels w = new Int8Panels(src, 0, b.dtype(), k, n, zps);
        if (constant) cache.put(b, new Packed(w, bzp, tb));
        return w;
    }
}
