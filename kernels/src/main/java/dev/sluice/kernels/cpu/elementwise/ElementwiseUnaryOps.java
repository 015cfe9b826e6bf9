package dev.sluice.kernels.cpu.elementwise;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.ElementwiseMath;
import dev.sluice.kernels.cpu.core.VectorMath;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.DoubleUnaryOperator;
import java.util.function.Function;

/**
 * Unary elementwise operators. Each is a double function (float types, computed in double and rounded once)
 * and, for ops defined on integers, an integer function; which input types an op accepts follows the ONNX
 * type constraints.
 */
final class ElementwiseUnaryOps {
    private ElementwiseUnaryOps() {}

    /** Integer form of a unary op; {@code unsigned} is set for unsigned element types. */
    @FunctionalInterface
    interface IntFn {
        long apply(long x, boolean unsigned);
    }

    /** Which element types an op takes. */
    enum Accepts { FLOAT, SIGNED, NUMERIC, INTEGER, BOOL }

    static void register(OpRegistry r) {
        plain(r, "Sqrt", Math::sqrt);
        plain(r, "Exp", Math::exp);
        plain(r, "Log", Math::log);
        plain(r, "Reciprocal", x -> 1.0 / x);
        plain(r, "Floor", Math::floor);
        plain(r, "Ceil", Math::ceil);
        plain(r, "Round", Math::rint); // rint rounds halves to even, as ONNX Round requires
        plain(r, "Erf", ElementwiseMath::erf);
        plain(r, "Tanh", Math::tanh);
        plain(r, "Sigmoid", ElementwiseMath::sigmoid);
        plain(r, "Softplus", ElementwiseMath::softplus);
        plain(r, "Softsign", x -> x / (1.0 + Math.abs(x)));
        plain(r, "Mish", x -> x * Math.tanh(ElementwiseMath.softplus(x)));
        plain(r, "Sin", Math::sin);
        plain(r, "Cos", Math::cos);
        plain(r, "Tan", Math::tan);
        plain(r, "Asin", Math::asin);
        plain(r, "Acos", Math::acos);
        plain(r, "Atan", Math::atan);
        plain(r, "Sinh", Math::sinh);
        plain(r, "Cosh", Math::cosh);
        plain(r, "Asinh", ElementwiseMath::asinh);
        plain(r, "Acosh", ElementwiseMath::acosh);
        plain(r, "Atanh", ElementwiseMath::atanh);
        plain(r, "HardSwish", x -> x * Math.max(0.0, Math.min(1.0, x / 6.0 + 0.5)));

        r.register("Neg", new UnaryKernel(Accepts.SIGNED, null, a -> x -> -x, (x, u) -> -x));
        r.register("Abs", new UnaryKernel(Accepts.NUMERIC, null, a -> Math::abs, (x, u) -> u || x >= 0 ? x : -x));
        r.register("Sign", new UnaryKernel(Accepts.NUMERIC, null, a -> Math::signum,
                (x, u) -> x == 0 ? 0 : u || x > 0 ? 1 : -1));
        r.register("Relu", new UnaryKernel(Accepts.SIGNED, null, a -> x -> x > 0 || Double.isNaN(x) ? x : 0.0,
                (x, u) -> x > 0 ? x : 0));
        r.register("Not", new UnaryKernel(Accepts.BOOL, null, a -> x -> x != 0 ? 0 : 1, (x, u) -> x != 0 ? 0 : 1));
        // the store wraps ~x to the element width, which is the width's own complement
        r.register("BitwiseNot", new UnaryKernel(Accepts.INTEGER, null, a -> x -> {
            throw new KernelException("BitwiseNot needs integer input");
        }, (x, u) -> ~x));

        r.register("LeakyRelu", attr(a -> {
            double alpha = a.getFloat("alpha", 0.01f);
            return x -> x < 0 ? alpha * x : x;
        }));
        r.register("Elu", attr(a -> {
            double alpha = a.getFloat("alpha", 1.0f);
            return x -> x < 0 ? alpha * Math.expm1(x) : x;
        }));
        r.register("Selu", attr(a -> {
            double alpha = a.getFloat("alpha", 1.67326319217681884765625f);
            double gamma = a.getFloat("gamma", 1.05070102214813232421875f);
            return x -> x <= 0 ? gamma * alpha * Math.expm1(x) : gamma * x;
        }));
        r.register("Celu", attr(a -> {
            double alpha = a.getFloat("alpha", 1.0f);
            return x -> Math.max(0.0, x) + Math.min(0.0, alpha * Math.expm1(x / alpha));
        }));
        r.register("HardSigmoid", attr(a -> {
            double alpha = a.getFloat("alpha", 0.2f), beta = a.getFloat("beta", 0.5f);
            return x -> Math.max(0.0, Math.min(1.0, alpha * x + beta));
        }));
        r.register("Swish", attr(a -> {
            double alpha = a.getFloat("alpha", 1.0f);
            return x -> x * ElementwiseMath.sigmoid(alpha * x);
        }));
        r.register("ThresholdedRelu", attr(a -> {
            double alpha = a.getFloat("alpha", 1.0f);
            return x -> x > alpha ? x : 0.0;
        }));
        r.register("Gelu", attr(a -> {
            String approx = a.getString("approximate", "none");
            return switch (approx) {
                case "none" -> ElementwiseMath::gelu;
                case "tanh" -> ElementwiseMath::geluTanh;
                default -> throw new KernelException("Gelu approximate must be none or tanh, got " + approx);
            };
        }));
        r.register("Shrink", new UnaryKernel(Accepts.NUMERIC, null, a -> {
            double bias = a.getFloat("bias", 0f), lambd = a.getFloat("lambd", 0.5f);
            return x -> x < -lambd ? x + bias : x > lambd ? x - bias : 0.0;
        }, null));
        r.register("IsNaN", new UnaryKernel(Accepts.FLOAT, DType.BOOL, a -> x -> Double.isNaN(x) ? 1 : 0, null));
        r.register("IsInf", new UnaryKernel(Accepts.FLOAT, DType.BOOL, a -> {
            boolean neg = a.getInt("detect_negative", 1) != 0, pos = a.getInt("detect_positive", 1) != 0;
            return x -> (pos && x == Double.POSITIVE_INFINITY) || (neg && x == Double.NEGATIVE_INFINITY) ? 1 : 0;
        }, null));
    }

    private static void plain(OpRegistry r, String name, DoubleUnaryOperator f) {
        r.register(name, new UnaryKernel(Accepts.FLOAT, null, a -> f, null));
    }

    private static UnaryKernel attr(Function<Attributes, DoubleUnaryOperator> f) {
        return new UnaryKernel(Accepts.FLOAT, null, f, null);
    }

    static final class UnaryKernel implements OpKernel {
        private final Accepts accepts;
        /** Output type when it is not the input type (IsNaN/IsInf give bool). */
        private final DType fixedOut;
        private final Function<Attributes, DoubleUnaryOperator> floatFn;
        /** Integer form; null means integers (where accepted) go through the double form. */
        private final IntFn intFn;

        UnaryKernel(Accepts accepts, DType fixedOut, Function<Attributes, DoubleUnaryOperator> floatFn, IntFn intFn) {
            this.accepts = accepts;
            this.fixedOut = fixedOut;
            this.floatFn = floatFn;
            this.intFn = intFn;
        }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType in = ctx.inputType(0);
            return List.of(new TensorType(fixedOut != null ? fixedOut : in.dtype(), in.shape()));
        }

        @Override public boolean inPlaceSafe() { return fixedOut == null; }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            DType t = x.dtype();
            check(ctx.opType(), t);
            DType ot = fixedOut != null ? fixedOut : t;
            Tensor out = ctx.output(0, ot, x.shape());
            long n = x.elementCount();
            Parallelism par = ElementwiseOps.par(ctx);
            if (t.isFloatingPoint() || intFn == null) {
                DoubleUnaryOperator f = floatFn.apply(ctx.attributes());
                boolean f32 = t == DType.FLOAT32 && ot == DType.FLOAT32;
                var vf = f32 ? VectorMath.forOp(ctx.opType(), ctx.attributes()) : null;
                var sf = f32 && vf == null ? ScalarUnaryLoops.forOp(ctx.opType(), ctx.attributes()) : null;
                if (vf != null) {
                    MemorySegment xs = x.data(), os = out.data();
                    chunks(par, n, (from, to) -> VectorMath.map(vf, xs, os, from, to));
                } else if (sf != null) {
                    // a loop of its own per op: the generic loop below calls f through one shared call site
                    MemorySegment xs = x.data(), os = out.data();
                    chunks(par, n, (from, to) -> ScalarUnaryLoops.map(sf, xs, os, from, to));
                } else if (t == DType.FLOAT32 && ot == DType.FLOAT32) {
                    MemorySegment xs = x.data(), os = out.data();
                    chunks(par, n, (from, to) -> {
                        for (long i = from; i < to; i++) {
                            os.setAtIndex(ElementwiseOps.F32, i, (float) f.applyAsDouble(xs.getAtIndex(ElementwiseOps.F32, i)));
                        }
                    });
                } else {
                    chunks(par, n, (from, to) -> {
                        for (long i = from; i < to; i++) out.setDouble(i, f.applyAsDouble(x.getDouble(i)));
                    });
                }
            } else {
                boolean unsigned = !t.isSigned();
                chunks(par, n, (from, to) -> {
                    for (long i = from; i < to; i++) out.setLong(i, intFn.apply(x.getLong(i), unsigned));
                });
            }
        }

        private void check(String op, DType t) {
            boolean ok = switch (accepts) {
                case FLOAT -> t.isFloatingPoint();
                case SIGNED -> t.isSigned();
                case NUMERIC -> t != DType.BOOL;
                case INTEGER -> t.isInteger();
                case BOOL -> t == DType.BOOL;
            };
            if (!ok) throw new KernelException(op + " does not take " + t + " input");
        }
    }

    @FunctionalInterface
    interface Range {
        void run(long from, long to);
    }

    /** Splits [0, n) into contiguous ranges over the pool when n is large. */
    static void chunks(Parallelism par, long n, Range body) {
        if (n == 0) return;
        if (par.threads() <= 1 || n < ElementwiseRows.PARALLEL_MIN) {
            body.run(0, n);
            return;
        }
        int tasks = (int) Math.min(par.threads() * 4L, (n + ElementwiseRows.SEGMENT - 1) / ElementwiseRows.SEGMENT);
        par.forEach(tasks, t -> body.run(n * t / tasks, n * (t + 1) / tasks));
    }
}
