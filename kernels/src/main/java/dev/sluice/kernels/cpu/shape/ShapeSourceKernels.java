package dev.sluice.kernels.cpu.shape;

import static dev.sluice.kernels.cpu.shape.ShapeOps.inType;
import static dev.sluice.kernels.cpu.shape.ShapeOps.kernel;
import static dev.sluice.kernels.cpu.shape.ShapeOps.length1d;
import static dev.sluice.kernels.cpu.shape.ShapeOps.one;
import static dev.sluice.kernels.cpu.shape.ShapeOps.present;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/** Ops that produce tensors from attributes, shapes or a type change: Constant, ConstantOfShape, Range, Cast... */
final class ShapeSourceKernels {
    private ShapeSourceKernels() {}

    static void register(OpRegistry r) {
        r.register("Constant", kernel(c -> one(constantValue(c.attributes()).type()), c -> {
            Tensor v = constantValue(c.attributes());
            Tensor y = c.output(0, v.dtype(), v.shape());
            MovementCopy.run(v, 0, y, 0, v.elementCount());
        }));
        r.register("ConstantOfShape", kernel(ShapeSourceKernels::inferConstantOfShape, ShapeSourceKernels::constantOfShape));
        r.register("Range", kernel(ShapeSourceKernels::inferRange, ShapeSourceKernels::range));
        r.register("Cast", kernel(c -> one(castTarget(c.attributes()), inType(c, 0).shape()),
                c -> cast(c, castTarget(c.attributes()))));
        r.register("CastLike", kernel(c -> one(inType(c, 1).dtype(), inType(c, 0).shape()),
                c -> cast(c, c.input(1).dtype())));
        // the same bytes under another type of the same width, so the output may take over the input's memory
        r.register("BitCast", ShapeOps.sameBytesKernel(c -> one(castTarget(c.attributes()), inType(c, 0).shape()),
                ShapeSourceKernels::bitCast));
        r.register("Dropout", ShapeOps.sameBytesKernel(ShapeSourceKernels::inferDropout, ShapeSourceKernels::dropout));
        r.register("EyeLike", kernel(ShapeSourceKernels::inferEyeLike, ShapeSourceKernels::eyeLike));
    }

    // ---- Constant ----

    /** The tensor a Constant node holds, whichever of its attribute forms it uses. */
    static Tensor constantValue(Attributes a) {
        if (a.has("value")) return a.getTensor("value");
        if (a.has("value_float")) return Tensor.scalar(DType.FLOAT32, a.getFloat("value_float", 0));
        if (a.has("value_int")) return Tensor.scalar(DType.INT64, a.getInt("value_int"));
        if (a.has("value_floats")) {
            float[] f = a.getFloats("value_floats");
            return Tensor.ofFloats(Shape.of(f.length), f);
        }
        if (a.has("value_ints")) {
            long[] v = a.getInts("value_ints");
            return Tensor.ofLongs(Shape.of(v.length), v);
        }
        if (a.has("sparse_value")) throw new KernelException("Constant with sparse_value is not supported");
        if (a.has("value_string") || a.has("value_strings")) throw new KernelException("Constant of strings is not supported");
        throw new KernelException("Constant has no value attribute");
    }

    // ---- ConstantOfShape ----

    static Tensor fillValue(Attributes a) {
        Tensor v = a.getTensor("value");
        if (v == null) return Tensor.scalar(DType.FLOAT32, 0);
        if (v.elementCount() != 1) throw new KernelException("ConstantOfShape value must have one element, has " + v.elementCount());
        return v;
    }

    static List<TensorType> inferConstantOfShape(InferContext c) {
        DType dt = fillValue(c.attributes()).dtype();
        long[] dims = ShapeOps.constLongs(c, 0);
        if (dims != null) return one(dt, SymShape.ofKnown(dims));
        long k = length1d(c, 0);
        return one(dt, k >= 0 ? SymShape.unknownDims((int) k) : SymShape.UNKNOWN_RANK);
    }

    static void constantOfShape(ExecContext c) {
        Tensor v = fillValue(c.attributes());
        Tensor y = c.output(0, v.dtype(), Shape.of(c.input(0).toLongArray()));
        MovementCopy.fill(y, 0, y.elementCount(), v, 0);
    }

    // ---- Range ----

    static List<TensorType> inferRange(InferContext c) {
        DType dt = inType(c, 0).dtype();
        Tensor s = c.constantInput(0), l = c.constantInput(1), d = c.constantInput(2);
        if (s != null && l != null && d != null) return one(dt, SymShape.ofKnown(rangeCount(s, l, d)));
        return one(dt, SymShape.unknownDims(1));
    }

    static long rangeCount(Tensor start, Tensor limit, Tensor delta) {
        DType dt = start.dtype();
        if (dt.isFloatingPoint()) {
            double d = delta.getDouble(0);
            if (d == 0) throw new KernelException("Range delta must not be zero");
            double n = dt == DType.FLOAT32
                    ? Math.ceil((float) ((float) limit.getDouble(0) - (float) start.getDouble(0)) / (float) d)
                    : Math.ceil((limit.getDouble(0) - start.getDouble(0)) / d);
            return Math.max(0, (long) n);
        }
        long d = delta.getLong(0);
        if (d == 0) throw new KernelException("Range delta must not be zero");
        return Math.max(0, Math.ceilDiv(limit.getLong(0) - start.getLong(0), d));
    }

    static void range(ExecContext c) {
        Tensor s = c.input(0), l = c.input(1), d = c.input(2);
        long n = rangeCount(s, l, d);
        Tensor y = c.output(0, s.dtype(), Shape.of(n));
        if (s.dtype().isFloatingPoint()) {
            double st = s.getDouble(0), de = d.getDouble(0);
            for (long i = 0; i < n; i++) y.setDouble(i, st + i * de);
        } else {
            long st = s.getLong(0), de = d.getLong(0);
            for (long i = 0; i < n; i++) y.setLong(i, st + i * de);
        }
    }

    // ---- Cast / CastLike ----

    static DType castTarget(Attributes a) { return DType.fromOnnx((int) a.getInt("to")); }

    static void cast(ExecContext c, DType to) {
        Tensor x = c.input(0);
        Tensor y = c.output(0, to, x.shape());
        convert(x, y);
    }

    /**
     * BitCast (opset 26): x's bytes, unchanged, as elements of the 'to' type, which must have x's width. A bool
     * target takes only bytes 0 and 1: another byte has no meaning as a Sluice bool (stored as 0 or 1), so it is an
     * error rather than a bool that compares unlike true.
     */
    static void bitCast(ExecContext c) {
        Tensor x = c.input(0);
        DType to = castTarget(c.attributes());
        if (to.byteSize() != x.dtype().byteSize()) {
            throw new KernelException("BitCast from " + x.dtype() + " (" + 8 * x.dtype().byteSize() + " bits) to " + to
                + " (" + 8 * to.byteSize() + " bits): the widths must be equal");
        }
        if (to == DType.BOOL && x.dtype() != DType.BOOL) {
            MemorySegment xs = x.data();
            for (long i = 0; i < x.elementCount(); i++) {
                byte b = xs.get(ValueLayout.JAVA_BYTE, i);
                if (b != 0 && b != 1) {
                    throw new KernelException("BitCast to bool: element " + i + " is byte " + (b & 0xff) + ", not 0 or 1");
                }
            }
        }
        Tensor y = c.output(0, to, x.shape());
        // when the planner handed out the input's own memory the bytes are already there
        if (!y.data().equals(x.data())) MemorySegment.copy(x.data(), 0, y.data(), 0, x.byteSize());
    }

    /** Converts every element of x into y's dtype as C would: floats truncate toward zero, nonzero is true. */
    static void convert(Tensor x, Tensor y) {
        DType from = x.dtype(), to = y.dtype();
        long n = x.elementCount();
        if (from == to) { MovementCopy.run(x, 0, y, 0, n); return; }
        if (floatFastPath(x, y, n)) return;
        if (to == DType.BOOL) {
            for (long i = 0; i < n; i++) y.setLong(i, x.getBoolean(i) ? 1 : 0);
        } else if (from.isFloatingPoint()) {
            if (to.isFloatingPoint() || to == DType.UINT64) {
                for (long i = 0; i < n; i++) y.setDouble(i, x.getDouble(i));
            } else {
                for (long i = 0; i < n; i++) {
                    double v = x.getDouble(i);
                    y.setLong(i, Double.isNaN(v) ? 0 : (long) v);
                }
            }
        } else if (to == DType.FLOAT32 && from != DType.UINT64) {
            // long to float directly: going through double would round twice
            for (long i = 0; i < n; i++) y.setFloat(i, (float) x.getLong(i));
        } else if (to.isFloatingPoint()) {
            for (long i = 0; i < n; i++) y.setDouble(i, x.getDouble(i));
        } else {
            for (long i = 0; i < n; i++) y.setLong(i, x.getLong(i));
        }
    }

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** Direct loops for the casts mixed-precision models run often; false if this pair has none. */
    private static boolean floatFastPath(Tensor x, Tensor y, long n) {
        MemorySegment s = x.data(), t = y.data();
        switch (x.dtype()) {
            case FLOAT32 -> {
                if (y.dtype() == DType.FLOAT16) {
                    for (long i = 0; i < n; i++) t.setAtIndex(F16, i, Float.floatToFloat16(s.getAtIndex(F32, i)));
                } else if (y.dtype() == DType.FLOAT64) {
                    for (long i = 0; i < n; i++) t.setAtIndex(F64, i, s.getAtIndex(F32, i));
                } else {
                    return false;
                }
            }
            case FLOAT16 -> {
                if (y.dtype() != DType.FLOAT32) return false;
                for (long i = 0; i < n; i++) t.setAtIndex(F32, i, Float.float16ToFloat(s.getAtIndex(F16, i)));
            }
            case FLOAT64 -> {
                if (y.dtype() != DType.FLOAT32) return false;
                for (long i = 0; i < n; i++) t.setAtIndex(F32, i, (float) s.getAtIndex(F64, i));
            }
            default -> { return false; }
        }
        return true;
    }

    // ---- Dropout (inference only) ----

    static DType maskType(int opset, DType input) { return opset >= 10 ? DType.BOOL : input; }

    static List<TensorType> inferDropout(InferContext c) {
        TensorType x = inType(c, 0);
        List<TensorType> out = new ArrayList<>();
        out.add(x);
        if (c.outputCount() > 1) out.add(TensorType.of(x.dtype() == null && c.opset() < 10 ? null : maskType(c.opset(), x.dtype()), x.shape()));
        return out;
    }

    static void dropout(ExecContext c) {
        Tensor x = c.input(0);
        if (c.opset() >= 12 && present(c, 2) && c.input(2).getBoolean(0)) {
            // training with ratio 0 drops nothing, so it is still deterministic; any other ratio needs randomness
            double ratio = present(c, 1) ? c.input(1).getDouble(0) : 0.5;
            if (ratio != 0) throw new KernelException("training mode is not supported");
        }
        ShapeViewKernels.copyAs(c, x, x.shape());
        if (c.outputCount() > 1) {
            Tensor m = c.output(1, maskType(c.opset(), x.dtype()), x.shape());
            for (long i = 0, n = m.elementCount(); i < n; i++) m.setLong(i, 1);
        }
    }

    // ---- EyeLike ----

    static DType eyeType(Attributes a, DType input) {
        return a.has("dtype") ? DType.fromOnnx((int) a.getInt("dtype")) : input;
    }

    static List<TensorType> inferEyeLike(InferContext c) {
        TensorType x = inType(c, 0);
        return one(eyeType(c.attributes(), x.dtype()), x.shape());
    }

    static void eyeLike(ExecContext c) {
        Tensor x = c.input(0);
        if (x.rank() != 2) throw new KernelException("EyeLike needs a 2-D input, got " + x.shape());
        Tensor y = c.output(0, eyeType(c.attributes(), x.dtype()), x.shape());
        long rows = x.shape().dim(0), cols = x.shape().dim(1), k = c.attributes().getInt("k", 0);
        MovementCopy.zero(y, 0, y.elementCount());
        for (long i = 0; i < rows; i++) {
            long j = i + k;
            if (j >= 0 && j < cols) y.setLong(i * cols + j, 1);
        }
    }
}
