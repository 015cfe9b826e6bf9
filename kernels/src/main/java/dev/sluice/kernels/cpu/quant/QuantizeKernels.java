package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.List;

/** QuantizeLinear, DequantizeLinear (per tensor, per axis, per block) and DynamicQuantizeLinear. */
final class QuantizeKernels {
    private QuantizeKernels() {}

    /** Smallest and largest value a quantized type holds. */
    static long qmin(DType t) {
        return switch (t) {
            case UINT8, UINT16, UINT32, UINT64 -> 0;
            case INT8 -> Byte.MIN_VALUE;
            case INT16 -> Short.MIN_VALUE;
            case INT32 -> Integer.MIN_VALUE;
            case INT64 -> Long.MIN_VALUE;
            default -> throw new KernelException("cannot quantize to " + t);
        };
    }

    static long qmax(DType t) {
        return switch (t) {
            case UINT8 -> 255;
            case UINT16 -> 65535;
            case UINT32 -> 4294967295L;
            case INT8 -> Byte.MAX_VALUE;
            case INT16 -> Short.MAX_VALUE;
            case INT32 -> Integer.MAX_VALUE;
            case INT64, UINT64 -> Long.MAX_VALUE;
            default -> throw new KernelException("cannot quantize to " + t);
        };
    }

    /** round-half-to-even of v, plus the zero point, saturated to the type's range. */
    static long saturate(double rounded, long zp, DType t) {
        double v = rounded + zp;
        long lo = qmin(t), hi = qmax(t);
        if (Double.isNaN(v)) return 0;
        if (v <= lo) return lo;
        if (v >= hi) return hi;
        return (long) v;
    }

    /**
     * For each element of x (shape {@code xs}), the index of its scale/zero point: per tensor (one element),
     * per axis (1-D of the axis length) or per block of {@code block} along the axis (same rank as x).
     */
    static final class ParamIndex {
        private final int mode; // 0 tensor, 1 axis, 2 block
        private final long inner, dimA, block, sDimA;

        ParamIndex(Shape xs, Tensor scale, Attributes at) {
            long bs = at.getInt("block_size", 0);
            if (scale.elementCount() == 1 && bs == 0) {
                mode = 0; inner = dimA = block = sDimA = 1;
                return;
            }
            int axis = Shape.normalizeAxis((int) at.getInt("axis", 1), xs.rank());
            inner = xs.product(axis + 1, xs.rank());
            dimA = xs.dim(axis);
            if (bs <= 0) {
                if (scale.rank() != 1 || scale.elementCount() != dimA) {
                    throw new KernelException("scale of shape " + scale.shape() + " does not fit axis " + axis + " of " + xs);
                }
                mode = 1; block = 1; sDimA = dimA;
            } else {
                if (scale.rank() != xs.rank()) throw new KernelException("blocked scale " + scale.shape() + " must have the rank of " + xs);
                mode = 2; block = bs; sDimA = scale.shape().dim(axis);
                if (sDimA != (dimA + bs - 1) / bs) throw new KernelException("scale " + scale.shape() + " does not match block_size " + bs + " on " + xs);
            }
        }

        long of(long flat) {
            if (mode == 0) return 0;
            long a = (flat / inner) % dimA;
            if (mode == 1) return a;
            long outer = flat / (inner * dimA);
            return (outer * sDimA + a / block) * inner + flat % inner;
        }
    }

    static final class Quantize implements OpKernel {
        private static DType outType(Attributes at, boolean hasZp, DType zpType) {
            if (hasZp && zpType != null) return zpType;
            long od = at.getInt("output_dtype", 0);
            return od == 0 ? DType.UINT8 : DType.fromOnnx((int) od);
        }

        @Override
        public List<TensorType> infer(InferContext ctx) {
            boolean hasZp = ctx.inputCount() > 2 && ctx.hasInput(2);
            DType zt = hasZp ? ctx.inputType(2).dtype() : null;
            if (hasZp && zt == null) return List.of(TensorType.of(null, ctx.inputType(0).shape()));
            return List.of(TensorType.of(outType(ctx.attributes(), hasZp, zt), ctx.inputType(0).shape()));
        }

        @Override
        public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), scale = ctx.input(1);
            Tensor zp = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
            DType ot = outType(ctx.attributes(), zp != null, zp == null ? null : zp.dtype());
            ParamIndex pi = new ParamIndex(x.shape(), scale, ctx.attributes());
            Tensor y = ctx.output(0, ot, x.shape());
            // float32 division as the reference does, so that ties round the same way
            boolean single = x.dtype() != DType.FLOAT64 && scale.dtype() != DType.FLOAT64;
            for (long i = 0, n = x.elementCount(); i < n; i++) {
                long p = pi.of(i);
                double q = single ? (double) (x.getFloat(i) / scale.getFloat(p)) : x.getDouble(i) / scale.getDouble(p);
                y.setLong(i, saturate(Math.rint(q), zp == null ? 0 : zp.getLong(p), ot));
            }
        }
    }

    static final class Dequantize implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            DType st = ctx.inputType(1).dtype();
            long od = ctx.attributes().getInt("output_dtype", 0);
            return List.of(TensorType.of(od != 0 ? DType.fromOnnx((int) od) : st, ctx.inputType(0).shape()));
        }

        @Override
        public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), scale = ctx.input(1);
            Tensor zp = ctx.inputCount() > 2 && ctx.hasInput(2) ? ctx.input(2) : null;
            long od = ctx.attributes().getInt("output_dtype", 0);
            DType ot = od != 0 ? DType.fromOnnx((int) od) : scale.dtype();
            ParamIndex pi = new ParamIndex(x.shape(), scale, ctx.attributes());
            Tensor y = ctx.output(0, ot, x.shape());
            if (ot == DType.FLOAT32 && scale.dtype() == DType.FLOAT32 && scale.elementCount() == 1
                    && ctx.attributes().getInt("block_size", 0) == 0 && (x.dtype() == DType.UINT8 || x.dtype() == DType.INT8)) {
                // per tensor, 8-bit: the same float arithmetic as below, without the per-element dispatch
                dequantize8(x.data(), x.dtype() == DType.UINT8, x.elementCount(), zp == null ? 0 : zp.getLong(0), scale.getFloat(0), y.data());
                return;
            }
            boolean single = ot != DType.FLOAT64;
            for (long i = 0, n = x.elementCount(); i < n; i++) {
                long p = pi.of(i);
                long d = x.getLong(i) - (zp == null ? 0 : zp.getLong(p));
                y.setDouble(i, single ? (double) ((float) d * scale.getFloat(p)) : d * scale.getDouble(p));
            }
        }
    }

    /** y[i] = (float) (x[i] - zp) * scale over 8-bit x. */
    private static void dequantize8(java.lang.foreign.MemorySegment x, boolean unsigned, long n, long zp, float scale,
                                    java.lang.foreign.MemorySegment y) {
        for (long i = 0; i < n; i++) {
            byte v = x.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i);
            y.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) ((unsigned ? v & 0xFF : v) - zp) * scale);
        }
    }

    static final class DynamicQuantize implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(DType.UINT8, ctx.inputType(0).shape()),
                    TensorType.of(DType.FLOAT32, SymShape.of()), TensorType.of(DType.UINT8, SymShape.of()));
        }

        @Override
        public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            long n = x.elementCount();
            // the range must include 0 so that 0 is exactly representable (null: x is not float32, or holds NaN or infinities)
            float[] range = x.dtype() == DType.FLOAT32 ? QuantGemm.range(x.data(), n) : null;
            float min = 0, max = 0;
            if (range != null) {
                min = range[0];
                max = range[1];
            } else {
                for (long i = 0; i < n; i++) {
                    float v = x.getFloat(i);
                    if (v < min) min = v;
                    if (v > max) max = v;
                }
            }
            // An all-zero input has an empty range: ONNX's formula would divide by a zero scale. ONNX Runtime
            // then reports scale 1 and zero point 0 (every element quantizes to 0); so do we, so that a
            // consumer of the scale (a Mul feeding the next layer) sees the same number as under ORT.
            float scale = max == min ? 1f : (max - min) / 255f;
            long zp = saturate(Math.rint((0f - min) / scale), 0, DType.UINT8);
            Tensor y = ctx.output(0, DType.UINT8, x.shape());
            if (range != null && QuantGemm.roundsExactly(min, max, scale)) {
                // the fused chain's vector rounding (the same values), a block at a time
                float[] q = new float[(int) Math.min(n, 4096)];
                java.lang.foreign.MemorySegment xd = x.data(), yd = y.data();
                for (long i0 = 0; i0 < n; i0 += q.length) {
                    int len = (int) Math.min(q.length, n - i0);
                    QuantGemm.quantizeRow(xd, i0, len, scale, zp, q, 0);
                    for (int i = 0; i < len; i++) yd.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i0 + i, (byte) (q[i] + zp));
                }
            } else {
                for (long i = 0; i < n; i++) {
                    y.setLong(i, saturate(Math.rint(x.getFloat(i) / scale), zp, DType.UINT8));
                }
            }
            if (ctx.outputCount() > 1) ctx.output(1, DType.FLOAT32, Shape.SCALAR).setFloat(0, scale);
            if (ctx.outputCount() > 2) ctx.output(2, DType.UINT8, Shape.SCALAR).setLong(0, zp);
        }
    }
}
