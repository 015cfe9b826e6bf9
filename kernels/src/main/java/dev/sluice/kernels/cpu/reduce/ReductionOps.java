package dev.sluice.kernels.cpu.reduce;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.elementwise.ElementwiseOps;
import dev.sluice.kernels.cpu.elementwise.ElementwiseRows;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The Reduce* operators. Index-producing reductions (ArgMax, TopK, ...) are in {@link ReductionIndexOps}.
 *
 * <p>A reduction walks the input once in memory order and folds each element into the accumulator of its
 * output position (the kept-dims output shape broadcast back over the input), so no axis order needs a
 * transpose. Float types accumulate in double, integers in long (exact and wrapping like the element type).
 */
public final class ReductionOps {
    private ReductionOps() {}

    public static void register(OpRegistry r) {
        r.register("ReduceSum", new ReduceKernel(Kind.SUM, 13));
        r.register("ReduceMean", new ReduceKernel(Kind.MEAN, 18));
        r.register("ReduceMax", new ReduceKernel(Kind.MAX, 18));
        r.register("ReduceMin", new ReduceKernel(Kind.MIN, 18));
        r.register("ReduceProd", new ReduceKernel(Kind.PROD, 18));
        r.register("ReduceL1", new ReduceKernel(Kind.L1, 18));
        r.register("ReduceL2", new ReduceKernel(Kind.L2, 18));
        r.register("ReduceLogSum", new ReduceKernel(Kind.LOG_SUM, 18));
        r.register("ReduceLogSumExp", new ReduceKernel(Kind.LOG_SUM_EXP, 18));
        r.register("ReduceSumSquare", new ReduceKernel(Kind.SUM_SQUARE, 18));
        ReductionIndexOps.register(r);
    }

    enum Kind {
        SUM, MEAN, MAX, MIN, PROD, L1, L2, LOG_SUM, LOG_SUM_EXP, SUM_SQUARE;

        /** Whether integer inputs can be reduced exactly in long arithmetic. */
        boolean exactOnIntegers() { return this != L2 && this != LOG_SUM && this != LOG_SUM_EXP; }
    }

    /** How each element joins its accumulator. */
    private enum Fold { ADD, ADD_ABS, ADD_SQUARE, ADD_EXP_SHIFTED, MUL, MAX, MIN }

    private static Fold foldOf(Kind k) {
        return switch (k) {
            case SUM, MEAN, LOG_SUM -> Fold.ADD;
            case L1 -> Fold.ADD_ABS;
            case L2, SUM_SQUARE -> Fold.ADD_SQUARE;
            case LOG_SUM_EXP -> Fold.ADD_EXP_SHIFTED;
            case PROD -> Fold.MUL;
            case MAX -> Fold.MAX;
            case MIN -> Fold.MIN;
        };
    }

    /**
     * The reduced-axes mask, or null if it cannot be known (axes input not constant at inference). Axes come
     * from the attribute before {@code inputSince} and from optional input 1 from then on; empty or missing
     * axes mean all axes unless noop_with_empty_axes is set, when they mean none.
     */
    static boolean[] axesMask(int rank, int opset, int inputSince, Attributes at, boolean hasAxesInput,
                              Tensor axesInput, boolean axesKnown) {
        long[] axes;
        if (opset < inputSince) {
            axes = at.getInts("axes");
        } else if (hasAxesInput) {
            if (!axesKnown) return null;
            axes = axesInput.toLongArray();
        } else {
            axes = null;
        }
        boolean[] mask = new boolean[rank];
        if (axes == null || axes.length == 0) {
            if (at.getInt("noop_with_empty_axes", 0) == 0) Arrays.fill(mask, true);
            return mask;
        }
        for (long a : axes) {
            if (a < -rank || a >= rank) throw new KernelException("axis " + a + " out of range for rank " + rank);
            mask[(int) (a < 0 ? a + rank : a)] = true;
        }
        return mask;
    }

    static final class ReduceKernel implements OpKernel {
        private final Kind kind;
        private final int inputSince;

        ReduceKernel(Kind kind, int inputSince) { this.kind = kind; this.inputSince = inputSince; }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType in = ctx.inputType(0);
            boolean keep = ctx.attributes().getInt("keepdims", 1) != 0;
            if (!in.shape().hasRank()) return List.of(new TensorType(in.dtype(), SymShape.UNKNOWN_RANK));
            int rank = in.shape().rank();
            boolean hasAxes = ctx.opset() >= inputSince && ctx.inputCount() > 1 && ctx.hasInput(1);
            Tensor axes = hasAxes ? ctx.constantInput(1) : null;
            boolean[] mask = axesMask(rank, ctx.opset(), inputSince, ctx.attributes(), hasAxes, axes, axes != null);
            if (mask == null) {
                return List.of(new TensorType(in.dtype(), keep ? SymShape.unknownDims(rank) : SymShape.UNKNOWN_RANK));
            }
            List<Dim> dims = new ArrayList<>();
            for (int i = 0; i < rank; i++) {
                if (!mask[i]) dims.add(in.shape().dim(i));
                else if (keep) dims.add(Dim.of(1));
            }
            return List.of(new TensorType(in.dtype(), new SymShape(dims)));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            DType t = x.dtype();
            if (t == DType.BOOL && kind != Kind.MAX && kind != Kind.MIN) {
                throw new KernelException(ctx.opType() + " does not take bool input");
            }
            int rank = x.rank();
            boolean hasAxes = ctx.opset() >= inputSince && ctx.inputCount() > 1 && ctx.hasInput(1);
            Tensor axes = hasAxes ? ctx.input(1) : null;
            boolean[] mask = axesMask(rank, ctx.opset(), inputSince, ctx.attributes(), hasAxes, axes, true);
            boolean keep = ctx.attributes().getInt("keepdims", 1) != 0;
            long[] kept = x.shape().dims();
            List<Long> outDims = new ArrayList<>();
            long count = 1;
            for (int i = 0; i < rank; i++) {
                if (mask[i]) {
                    count *= kept[i];
                    kept[i] = 1;
                    if (keep) outDims.add(1L);
                } else {
                    outDims.add(kept[i]);
                }
            }
            Shape keptShape = Shape.of(kept);
            Tensor out = ctx.output(0, t, Shape.of(outDims.stream().mapToLong(Long::longValue).toArray()));
            if (t.isFloatingPoint() || !kind.exactOnIntegers()) {
                double[] acc = reduceDouble(kind, x, keptShape, count);
                for (int i = 0; i < acc.length; i++) out.setDouble(i, acc[i]);
            } else {
                long[] acc = reduceLong(kind, x, keptShape, count);
                for (int i = 0; i < acc.length; i++) out.setLong(i, acc[i]);
            }
        }
    }

    /** The finished reduction of x into keptShape (count elements per group), in double. */
    static double[] reduceDouble(Kind kind, Tensor x, Shape keptShape, long count) {
        int n = Math.toIntExact(keptShape.elementCount());
        double[] acc = new double[n];
        double[] shift = null;
        if (kind == Kind.LOG_SUM_EXP) {
            // subtract each group's max before exp so large inputs do not overflow
            shift = new double[n];
            Arrays.fill(shift, Double.NEGATIVE_INFINITY);
            fold(Fold.MAX, x, keptShape, shift, null);
            for (int i = 0; i < n; i++) if (Double.isInfinite(shift[i])) shift[i] = 0;
        }
        Fold f = foldOf(kind);
        Arrays.fill(acc, switch (f) {
            case MUL -> 1.0;
            case MAX -> Double.NEGATIVE_INFINITY;
            case MIN -> Double.POSITIVE_INFINITY;
            default -> 0.0;
        });
        fold(f, x, keptShape, acc, shift);
        for (int i = 0; i < n; i++) {
            double a = acc[i];
            acc[i] = switch (kind) {
                case MEAN -> a / count;
                case L2 -> Math.sqrt(a);
                case LOG_SUM -> Math.log(a);
                case LOG_SUM_EXP -> Math.log(a) + shift[i];
                default -> a;
            };
        }
        return acc;
    }

    private static void fold(Fold f, Tensor x, Shape keptShape, double[] acc, double[] shift) {
        ElementwiseRows rows = new ElementwiseRows(x.shape(), x.shape(), keptShape);
        int sAcc = rows.steps[1];
        boolean f32 = x.dtype() == DType.FLOAT32;
        MemorySegment seg = x.data();
        rows.run(Parallelism.SEQUENTIAL, (io, in, len) -> {
            long xi = in[0];
            int ai = (int) in[1];
            if (sAcc == 0 && f32 && (f == Fold.MAX || f == Fold.MIN)) {
                acc[ai] = f == Fold.MAX ? Math.max(acc[ai], maxRun(seg, xi, len)) : Math.min(acc[ai], minRun(seg, xi, len));
            } else if (sAcc == 0 && f32 && f == Fold.ADD) {
                acc[ai] = sumRun(seg, xi, len, acc[ai]);
            } else if (sAcc == 0) {
                double s = acc[ai], sh = shift == null ? 0 : shift[ai];
                for (int j = 0; j < len; j++) {
                    double v = f32 ? seg.getAtIndex(ElementwiseOps.F32, xi + j) : x.getDouble(xi + j);
                    s = step(f, s, v, sh);
                }
                acc[ai] = s;
            } else {
                for (int j = 0; j < len; j++) {
                    double v = f32 ? seg.getAtIndex(ElementwiseOps.F32, xi + j) : x.getDouble(xi + j);
                    acc[ai + j] = step(f, acc[ai + j], v, shift == null ? 0 : shift[ai + j]);
                }
            }
        });
    }

    private static final VectorSpecies<Float> FS = dev.sluice.kernels.cpu.linalg.Gemm32.SPECIES;
    private static final java.nio.ByteOrder ORDER = java.nio.ByteOrder.nativeOrder();

    /**
     * The largest of len float32 values from element xi: lanewise maxima over whole vectors, then the lanes and the
     * tail one by one. A maximum is exact and Math.max's (NaN wins, +0 above -0), so the order changes no bit.
     */
    private static float maxRun(MemorySegment x, long xi, int len) {
        float r = Float.NEGATIVE_INFINITY;
        int j = 0, l = FS.length();
        if (len >= l) {
            FloatVector m = FloatVector.fromMemorySegment(FS, x, xi * 4, ORDER);
            for (j = l; j + l <= len; j += l) m = m.max(FloatVector.fromMemorySegment(FS, x, (xi + j) * 4, ORDER));
            for (int i = 0; i < l; i++) r = Math.max(r, m.lane(i));
        }
        for (; j < len; j++) r = Math.max(r, x.getAtIndex(ElementwiseOps.F32, xi + j));
        return r;
    }

    /** Double lanes as many as fit the float vector's bits: a float vector widens into two of them. */
    private static final VectorSpecies<Double> DS = VectorSpecies.of(double.class, FS.vectorShape());

    /**
     * s plus the len float32 values from element xi, in double (exact for each float, so only the additions
     * round): whole float vectors widened into two double accumulators each (lanes 0.. and L/2..), their lanes
     * then added to s first to last, then the tail one by one. The order depends only on len and the vector
     * length, never on where the run sits in a tile or which thread sums it, so a tile of a reduction (every
     * output's run whole, see memgraph's ReductionTiling) gets the whole op's bits. A squeeze-and-excitation
     * block's ReduceMean over a channel's plane was one sequential chain of dependent double adds.
     */
    private static double sumRun(MemorySegment x, long xi, int len, double s) {
        int j = 0, l = FS.length();
        if (len >= l) {
            DoubleVector a0 = DoubleVector.zero(DS), a1 = a0, b0 = a0, b1 = a0;
            // two vectors a step: four independent chains of double adds
            for (; j + 2 * l <= len; j += 2 * l) {
                FloatVector v = FloatVector.fromMemorySegment(FS, x, (xi + j) * 4, ORDER);
                FloatVector w = FloatVector.fromMemorySegment(FS, x, (xi + j + l) * 4, ORDER);
                a0 = a0.add(v.convertShape(VectorOperators.F2D, DS, 0));
                a1 = a1.add(v.convertShape(VectorOperators.F2D, DS, 1));
                b0 = b0.add(w.convertShape(VectorOperators.F2D, DS, 0));
                b1 = b1.add(w.convertShape(VectorOperators.F2D, DS, 1));
            }
            if (j + l <= len) {
                FloatVector v = FloatVector.fromMemorySegment(FS, x, (xi + j) * 4, ORDER);
                a0 = a0.add(v.convertShape(VectorOperators.F2D, DS, 0));
                a1 = a1.add(v.convertShape(VectorOperators.F2D, DS, 1));
                j += l;
            }
            a0 = a0.add(b0);
            a1 = a1.add(b1);
            for (int i = 0; i < DS.length(); i++) s += a0.lane(i);
            for (int i = 0; i < DS.length(); i++) s += a1.lane(i);
        }
        for (; j < len; j++) s += x.getAtIndex(ElementwiseOps.F32, xi + j);
        return s;
    }

    /** The smallest of len float32 values from element xi, as {@link #maxRun}. */
    private static float minRun(MemorySegment x, long xi, int len) {
        float r = Float.POSITIVE_INFINITY;
        int j = 0, l = FS.length();
        if (len >= l) {
            FloatVector m = FloatVector.fromMemorySegment(FS, x, xi * 4, ORDER);
            for (j = l; j + l <= len; j += l) m = m.min(FloatVector.fromMemorySegment(FS, x, (xi + j) * 4, ORDER));
            for (int i = 0; i < l; i++) r = Math.min(r, m.lane(i));
        }
        for (; j < len; j++) r = Math.min(r, x.getAtIndex(ElementwiseOps.F32, xi + j));
        return r;
    }

    private static double step(Fold f, double s, double v, double shift) {
        return switch (f) {
            case ADD -> s + v;
            case ADD_ABS -> s + Math.abs(v);
            case ADD_SQUARE -> s + v * v;
            case ADD_EXP_SHIFTED -> s + Math.exp(v - shift);
            case MUL -> s * v;
            case MAX -> Math.max(s, v);
            case MIN -> Math.min(s, v);
        };
    }

    /** The least value of an integer or bool element type, as stored by {@code Tensor.setLong}. */
    static long lowest(DType t) {
        return switch (t) {
            case INT8 -> Byte.MIN_VALUE;
            case INT16 -> Short.MIN_VALUE;
            case INT32 -> Integer.MIN_VALUE;
            case INT64 -> Long.MIN_VALUE;
            default -> 0L; // bool and the unsigned types
        };
    }

    /** The greatest value of an integer or bool element type, as stored by {@code Tensor.setLong}. */
    static long highest(DType t) {
        return switch (t) {
            case BOOL -> 1L;
            case UINT8 -> 0xFFL;
            case UINT16 -> 0xFFFFL;
            case UINT32 -> 0xFFFF_FFFFL;
            case UINT64 -> -1L;
            case INT8 -> Byte.MAX_VALUE;
            case INT16 -> Short.MAX_VALUE;
            case INT32 -> Integer.MAX_VALUE;
            default -> Long.MAX_VALUE;
        };
    }

    /** The finished reduction of integer x into keptShape, exact in long. */
    static long[] reduceLong(Kind kind, Tensor x, Shape keptShape, long count) {
        int n = Math.toIntExact(keptShape.elementCount());
        boolean u64 = x.dtype() == DType.UINT64;
        Fold f = foldOf(kind);
        long[] acc = new long[n];
        // An empty group keeps the identity, which must be the element type's own extreme (bool: false for
        // max, true for min), not int64's: that would be stored truncated (0 in an int32, true in a bool).
        Arrays.fill(acc, switch (f) {
            case MUL -> 1L;
            case MAX -> lowest(x.dtype());
            case MIN -> highest(x.dtype());
            default -> 0L;
        });
        ElementwiseRows rows = new ElementwiseRows(x.shape(), x.shape(), keptShape);
        int sAcc = rows.steps[1];
        rows.run(Parallelism.SEQUENTIAL, (io, in, len) -> {
            long xi = in[0];
            int ai = (int) in[1];
            for (int j = 0; j < len; j++) {
                int a = ai + j * sAcc;
                long v = x.getLong(xi + j), s = acc[a];
                acc[a] = switch (f) {
                    case ADD -> s + v;
                    case ADD_ABS -> s + (u64 || v >= 0 ? v : -v);
                    case ADD_SQUARE -> s + v * v;
                    case MUL -> s * v;
                    case MAX -> (u64 ? Long.compareUnsigned(v, s) : Long.compare(v, s)) > 0 ? v : s;
                    case MIN -> (u64 ? Long.compareUnsigned(v, s) : Long.compare(v, s)) < 0 ? v : s;
                    case ADD_EXP_SHIFTED -> throw new IllegalStateException("LogSumExp reduces in double");
                };
            }
        });
        if (kind == Kind.MEAN && count > 0) {
            for (int i = 0; i < n; i++) acc[i] = u64 ? Long.divideUnsigned(acc[i], count) : acc[i] / count;
        }
        return acc;
    }
}
