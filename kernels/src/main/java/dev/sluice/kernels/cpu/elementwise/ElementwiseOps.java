package dev.sluice.kernels.cpu.elementwise;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
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
import dev.sluice.kernels.cpu.core.Broadcast;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Broadcasting elementwise operators: arithmetic (bitwise and shifts too), comparisons, logic, Where, the variadic
 * Min/Max/Sum/Mean and PRelu. Unary math lives in {@link ElementwiseUnaryOps}, Clip in {@link ClipKernel}.
 *
 * <p>Every kernel has three paths: float32 read straight from the segments (the common case), a double path
 * for the other float types and mixed-type Pow, and a long path for integers that wraps to the element width
 * on store, with unsigned comparison/division where uint64 needs it.
 */
public final class ElementwiseOps {
    private ElementwiseOps() {}

    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    static final ValueLayout.OfByte I8 = ValueLayout.JAVA_BYTE;

    public static void register(OpRegistry r) {
        // the squeeze-excitation tail x + x * s, fused by the graph
        r.register("sluice", "ChannelScaleResidual", new ChannelScaleResidual());
        r.register("Add", new ArithKernel(Arith.ADD));
        r.register("Sub", new ArithKernel(Arith.SUB));
        r.register("Mul", new ArithKernel(Arith.MUL));
        r.register("Div", new ArithKernel(Arith.DIV));
        r.register("Pow", new ArithKernel(Arith.POW));
        r.register("Mod", new ArithKernel(Arith.MOD));
        r.register("BitShift", new ArithKernel(Arith.SHL));
        r.register("BitwiseAnd", new ArithKernel(Arith.BIT_AND));
        r.register("BitwiseOr", new ArithKernel(Arith.BIT_OR));
        r.register("BitwiseXor", new ArithKernel(Arith.BIT_XOR));
        r.register("Equal", new CompareKernel(Cmp.EQ));
        r.register("Greater", new CompareKernel(Cmp.GT));
        r.register("GreaterOrEqual", new CompareKernel(Cmp.GE));
        r.register("Less", new CompareKernel(Cmp.LT));
        r.register("LessOrEqual", new CompareKernel(Cmp.LE));
        r.register("And", new LogicKernel(Logic.AND));
        r.register("Or", new LogicKernel(Logic.OR));
        r.register("Xor", new LogicKernel(Logic.XOR));
        r.register("Where", new WhereKernel());
        r.register("Min", new VariadicKernel(Arith.MIN, false));
        r.register("Max", new VariadicKernel(Arith.MAX, false));
        r.register("Sum", new VariadicKernel(Arith.ADD, false));
        r.register("Mean", new VariadicKernel(Arith.ADD, true));
        r.register("PRelu", new PReluKernel());
        r.register("Clip", new ClipKernel());
        r.register("SwiGLU", new SwiGluKernel());
        ElementwiseUnaryOps.register(r);
    }

    // ---------------------------------------------------------------- shared helpers

    /** The type of a broadcast of inputs [first, first+count) (absent ones skipped) with the given dtype. */
    static List<TensorType> inferBroadcast(InferContext ctx, int first, int count, DType dtype) {
        List<SymShape> shapes = new ArrayList<>();
        for (int i = first; i < first + count && i < ctx.inputCount(); i++) {
            if (ctx.hasInput(i)) shapes.add(ctx.inputType(i).shape());
        }
        return List.of(new TensorType(dtype, Broadcast.shape(shapes)));
    }

    static DType dtypeOf(InferContext ctx, int i) {
        return ctx.hasInput(i) ? ctx.inputType(i).dtype() : null;
    }

    static void requireSame(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new KernelException(op + " needs inputs of one type but got " + a.dtype() + " and " + b.dtype());
        }
    }

    static boolean isF32(Tensor t) { return t.dtype() == DType.FLOAT32; }

    static Parallelism par(ExecContext ctx) {
        Parallelism p = ctx.parallelism();
        return p == null ? Parallelism.SEQUENTIAL : p;
    }

    // ---------------------------------------------------------------- arithmetic

    /** Binary arithmetic on numbers; the double form serves float types, the long form integers. */
    enum Arith {
        ADD, SUB, MUL, DIV, POW, MOD, FMOD, MIN, MAX, PRELU, SHL, SHR, BIT_AND, BIT_OR, BIT_XOR;

        double apply(double a, double b) {
            return switch (this) {
                case ADD -> a + b;
                case SUB -> a - b;
                case MUL -> a * b;
                case DIV -> a / b;
                case POW -> Math.pow(a, b);
                case FMOD -> a % b; // Java's % on doubles is C fmod: sign of the dividend
                case MOD -> floorMod(a, b);
                case MIN -> Math.min(a, b);
                case MAX -> Math.max(a, b);
                case PRELU -> a < 0 ? a * b : a;
                case SHL, SHR -> throw new KernelException("BitShift needs integer inputs");
                case BIT_AND, BIT_OR, BIT_XOR -> throw new KernelException("bitwise ops need integer inputs");
            };
        }

        long apply(long a, long b, boolean u64) {
            return switch (this) {
                case ADD -> a + b;
                case SUB -> a - b;
                case MUL -> a * b;
                // integer division by zero has no defined result in ONNX; 0 keeps masked-out lanes harmless
                case DIV -> b == 0 ? 0 : u64 ? Long.divideUnsigned(a, b) : a / b;
                case POW -> intPow(a, b);
                case MOD -> {
                    if (b == 0) yield 0;
                    if (u64) yield Long.remainderUnsigned(a, b);
                    long r = a % b;
                    yield r != 0 && (r ^ b) < 0 ? r + b : r; // Python-style: sign of the divisor
                }
                case FMOD -> b == 0 ? 0 : u64 ? Long.remainderUnsigned(a, b) : a % b;
                case MIN -> (u64 ? Long.compareUnsigned(a, b) : Long.compare(a, b)) <= 0 ? a : b;
                case MAX -> (u64 ? Long.compareUnsigned(a, b) : Long.compare(a, b)) >= 0 ? a : b;
                case PRELU -> !u64 && a < 0 ? a * b : a;
                // a shift of 64 or more (or a negative one, here a huge unsigned count) leaves only the sign fill;
                // counts from the element width up to 63 need no test: the store wraps to the width, and an
                // arithmetic right shift of a sign-extended value by that much is its sign fill already
                case SHL -> Long.compareUnsigned(b, 64) >= 0 ? 0 : a << b;
                // signed and narrow unsigned elements arrive sign- or zero-extended, so >> is right for them; a
                // uint64 needs the logical shift
                case SHR -> Long.compareUnsigned(b, 64) >= 0 ? (!u64 && a < 0 ? -1 : 0) : u64 ? a >>> b : a >> b;
                case BIT_AND -> a & b;
                case BIT_OR -> a | b;
                case BIT_XOR -> a ^ b;
            };
        }

        /**
         * Python's float modulo, ONNX Mod with fmod=0: the C remainder moved into the divisor's sign, a zero result
         * signed as the divisor. It covers the spec's special cases too: an infinite or NaN operand or a zero divisor
         * gives NaN through the remainder, and x % ±inf with x finite gives x, or the divisor when the signs differ.
         */
        static double floorMod(double a, double b) {
            double r = a % b;
            if (r == 0) return Math.copySign(0.0, b);
            return (r < 0) != (b < 0) ? r + b : r;
        }

        static long intPow(long base, long exp) {
            if (exp < 0) {
                // what a C cast of pow() gives: only |base| == 1 survives a negative exponent
                if (base == 1) return 1;
                if (base == -1) return (exp & 1) == 0 ? 1 : -1;
                return 0;
            }
            long r = 1;
            while (exp != 0) {
                if ((exp & 1) != 0) r *= base;
                base *= base;
                exp >>>= 1;
            }
            return r;
        }
    }

    static final class ArithKernel implements OpKernel {
        private final Arith op;

        ArithKernel(Arith op) { this.op = op; }

        @Override public List<TensorType> infer(InferContext ctx) {
            return inferBroadcast(ctx, 0, 2, dtypeOf(ctx, 0));
        }

        @Override public boolean inPlaceSafe() { return true; }

        @Override public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            Arith o = resolve(ctx.attributes(), ctx.opType(), ctx.opset(), a, b);
            Shape os = Broadcast.shape(a.shape(), b.shape());
            Tensor out = ctx.output(0, a.dtype(), os);
            arith(o, a, b, out, par(ctx));
        }

        private Arith resolve(Attributes at, String opType, int opset, Tensor a, Tensor b) {
            if (op != Arith.POW) requireSame(opType, a, b);
            switch (op) {
                case MOD -> {
                    long fmod = at.getInt("fmod", 0);
                    if (fmod != 0 && fmod != 1) throw new KernelException("Mod fmod must be 0 or 1, got " + fmod);
                    if (a.dtype() == DType.BOOL) throw new KernelException("Mod does not take bool inputs");
                    return fmod == 1 ? Arith.FMOD : Arith.MOD;
                }
                case BIT_AND, BIT_OR, BIT_XOR -> {
                    if (!a.dtype().isInteger()) throw new KernelException(opType + " needs integer inputs, got " + a.dtype());
                    return op;
                }
                case SHL -> {
                    if (!a.dtype().isInteger()) throw new KernelException("BitShift needs integers, got " + a.dtype());
                    if (a.dtype().isSigned() && opset < 28) {
                        throw new KernelException("BitShift on " + a.dtype() + " needs opset 28 (before it only unsigned types), model has " + opset);
                    }
                    String dir = at.getString("direction", null);
                    if ("LEFT".equals(dir)) return Arith.SHL;
                    if ("RIGHT".equals(dir)) return Arith.SHR;
                    throw new KernelException("BitShift direction must be LEFT or RIGHT, got " + dir);
                }
                default -> {
                    if (a.dtype() == DType.BOOL || b.dtype() == DType.BOOL) {
                        throw new KernelException(opType + " does not take bool inputs");
                    }
                    return op;
                }
            }
        }
    }

    /** out = a op b with a and b broadcast to out's shape; out has a's dtype. */
    static void arith(Arith op, Tensor a, Tensor b, Tensor out, Parallelism par) {
        ElementwiseRows rows = new ElementwiseRows(out.shape(), a.shape(), b.shape());
        int sa = rows.steps[0], sb = rows.steps[1];
        if (isF32(a) && isF32(b) && isF32(out)) {
            MemorySegment as = a.data(), bs = b.data(), os = out.data();
            rows.run(par, (o, in, len) -> f32Row(op, as, in[0], sa, bs, in[1], sb, os, o, len));
        } else if (a.dtype().isFloatingPoint() || b.dtype().isFloatingPoint()) {
            rows.run(par, (o, in, len) -> {
                long ai = in[0], bi = in[1];
                for (int i = 0; i < len; i++) {
                    out.setDouble(o + i, op.apply(a.getDouble(ai + (long) i * sa), b.getDouble(bi + (long) i * sb)));
                }
            });
        } else {
            boolean u64 = a.dtype() == DType.UINT64;
            rows.run(par, (o, in, len) -> {
                long ai = in[0], bi = in[1];
                for (int i = 0; i < len; i++) {
                    out.setLong(o + i, op.apply(a.getLong(ai + (long) i * sa), b.getLong(bi + (long) i * sb), u64));
                }
            });
        }
    }

    /**
     * One float32 row. The four basic ops get their own loops (no per-element dispatch, vectorizable), each
     * layout in its own small method: as one method C1 could not compile it ("out of virtual registers"), so
     * a JVM could run it interpreted for a long while (a 24 ms Relu/Add on a loaded host).
     */
    static void f32Row(Arith op, MemorySegment a, long ai, int sa, MemorySegment b, long bi, int sb,
                       MemorySegment o, long oi, int len) {
        boolean done;
        if (sa == 1 && sb == 1) done = f32Both(op, a, ai, b, bi, o, oi, len);
        else if (sa == 1) done = f32ScalarB(op, a, ai, b.getAtIndex(F32, bi), o, oi, len);
        else if (sb == 1) done = f32ScalarA(op, a.getAtIndex(F32, ai), b, bi, o, oi, len);
        else done = false;
        if (!done) f32Strided(op, a, ai, sa, b, bi, sb, o, oi, len);
    }

    /*
     * One loop per op and layout, each a method of its own (here and for the scalar layouts below). With the six loops
     * of a layout in one method they compiled as one unit: C1's register allocator took 16 MB of arena for f32Both
     * (C2 17 MB) and 10 MB for f32ScalarB, transients that landed in the process's peak RSS in a model's first runs. Apart, each op that a model uses is compiled on its own, small, and the
     * ops it never uses are never compiled.
     */
    private static boolean f32Both(Arith op, MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        switch (op) {
            case ADD -> addBoth(a, ai, b, bi, o, oi, len);
            case SUB -> subBoth(a, ai, b, bi, o, oi, len);
            case MUL -> mulBoth(a, ai, b, bi, o, oi, len);
            case DIV -> divBoth(a, ai, b, bi, o, oi, len);
            case MAX -> maxBoth(a, ai, b, bi, o, oi, len);
            case MIN -> minBoth(a, ai, b, bi, o, oi, len);
            default -> { return false; }
        }
        return true;
    }

    private static void addBoth(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) + b.getAtIndex(F32, bi + i));
    }

    private static void subBoth(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) - b.getAtIndex(F32, bi + i));
    }

    private static void mulBoth(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) * b.getAtIndex(F32, bi + i));
    }

    private static void divBoth(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) / b.getAtIndex(F32, bi + i));
    }

    // Max / Min (the embedding CNNs' Max(x, LeakyRelu(x))): Math.max on floats is the double form rounded back
    private static void maxBoth(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, Math.max(a.getAtIndex(F32, ai + i), b.getAtIndex(F32, bi + i)));
    }

    private static void minBoth(MemorySegment a, long ai, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, Math.min(a.getAtIndex(F32, ai + i), b.getAtIndex(F32, bi + i)));
    }

    private static boolean f32ScalarB(Arith op, MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        switch (op) {
            case ADD -> addScalarB(a, ai, y, o, oi, len);
            case SUB -> subScalarB(a, ai, y, o, oi, len);
            case MUL -> mulScalarB(a, ai, y, o, oi, len);
            case DIV -> divScalarB(a, ai, y, o, oi, len);
            case MAX -> maxScalarB(a, ai, y, o, oi, len);
            case MIN -> minScalarB(a, ai, y, o, oi, len);
            case POW -> { return f32Pow(a, ai, y, o, oi, len); }
            default -> { return false; }
        }
        return true;
    }

    private static void addScalarB(MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) + y);
    }

    private static void subScalarB(MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) - y);
    }

    private static void mulScalarB(MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) * y);
    }

    private static void divScalarB(MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, a.getAtIndex(F32, ai + i) / y);
    }

    private static void maxScalarB(MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, Math.max(a.getAtIndex(F32, ai + i), y));
    }

    private static void minScalarB(MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, Math.min(a.getAtIndex(F32, ai + i), y));
    }

    /** x^2 and x^0.5 (variance, norms) are common and Math.pow is slow; both forms round the same. */
    private static boolean f32Pow(MemorySegment a, long ai, float y, MemorySegment o, long oi, int len) {
        if (y == 2f) {
            for (int i = 0; i < len; i++) { float x = a.getAtIndex(F32, ai + i); o.setAtIndex(F32, oi + i, x * x); }
            return true;
        }
        if (y == 0.5f) {
            for (int i = 0; i < len; i++) {
                float x = a.getAtIndex(F32, ai + i);
                // pow(-0, .5) is +0 and pow(-inf, .5) is +inf where sqrt differs
                o.setAtIndex(F32, oi + i, x == Float.NEGATIVE_INFINITY ? Float.POSITIVE_INFINITY : (float) Math.sqrt(x) + 0f);
            }
            return true;
        }
        return false;
    }

    private static boolean f32ScalarA(Arith op, float x, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        switch (op) {
            case ADD -> addScalarA(x, b, bi, o, oi, len);
            case SUB -> subScalarA(x, b, bi, o, oi, len);
            case MUL -> mulScalarA(x, b, bi, o, oi, len);
            case DIV -> divScalarA(x, b, bi, o, oi, len);
            case MAX -> maxScalarA(x, b, bi, o, oi, len);
            case MIN -> minScalarA(x, b, bi, o, oi, len);
            default -> { return false; }
        }
        return true;
    }

    private static void addScalarA(float x, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, x + b.getAtIndex(F32, bi + i));
    }

    private static void subScalarA(float x, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, x - b.getAtIndex(F32, bi + i));
    }

    private static void mulScalarA(float x, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, x * b.getAtIndex(F32, bi + i));
    }

    private static void divScalarA(float x, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, x / b.getAtIndex(F32, bi + i));
    }

    private static void maxScalarA(float x, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, Math.max(x, b.getAtIndex(F32, bi + i)));
    }

    private static void minScalarA(float x, MemorySegment b, long bi, MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) o.setAtIndex(F32, oi + i, Math.min(x, b.getAtIndex(F32, bi + i)));
    }

    private static void f32Strided(Arith op, MemorySegment a, long ai, int sa, MemorySegment b, long bi, int sb,
                                   MemorySegment o, long oi, int len) {
        for (int i = 0; i < len; i++) {
            o.setAtIndex(F32, oi + i, (float) op.apply(a.getAtIndex(F32, ai + (long) i * sa), b.getAtIndex(F32, bi + (long) i * sb)));
        }
    }

    // ---------------------------------------------------------------- comparisons and logic

    enum Cmp {
        EQ, GT, GE, LT, LE;

        boolean test(double a, double b) {
            return switch (this) {
                case EQ -> a == b;
                case GT -> a > b;
                case GE -> a >= b;
                case LT -> a < b;
                case LE -> a <= b;
            };
        }

        boolean test(long a, long b, boolean u64) {
            int c = u64 ? Long.compareUnsigned(a, b) : Long.compare(a, b);
            return switch (this) {
                case EQ -> c == 0;
                case GT -> c > 0;
                case GE -> c >= 0;
                case LT -> c < 0;
                case LE -> c <= 0;
            };
        }
    }

    static final class CompareKernel implements OpKernel {
        private final Cmp cmp;

        CompareKernel(Cmp cmp) { this.cmp = cmp; }

        @Override public List<TensorType> infer(InferContext ctx) { return inferBroadcast(ctx, 0, 2, DType.BOOL); }

        @Override public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            requireSame(ctx.opType(), a, b);
            Shape os = Broadcast.shape(a.shape(), b.shape());
            Tensor out = ctx.output(0, DType.BOOL, os);
            ElementwiseRows rows = new ElementwiseRows(os, a.shape(), b.shape());
            int sa = rows.steps[0], sb = rows.steps[1];
            MemorySegment o = out.data();
            if (isF32(a)) {
                MemorySegment as = a.data(), bs = b.data();
                rows.run(par(ctx), (oi, in, len) -> {
                    for (int i = 0; i < len; i++) {
                        boolean v = cmp.test(as.getAtIndex(F32, in[0] + (long) i * sa), bs.getAtIndex(F32, in[1] + (long) i * sb));
                        o.set(I8, oi + i, (byte) (v ? 1 : 0));
                    }
                });
            } else if (a.dtype().isFloatingPoint()) {
                rows.run(par(ctx), (oi, in, len) -> {
                    for (int i = 0; i < len; i++) {
                        boolean v = cmp.test(a.getDouble(in[0] + (long) i * sa), b.getDouble(in[1] + (long) i * sb));
                        o.set(I8, oi + i, (byte) (v ? 1 : 0));
                    }
                });
            } else {
                boolean u64 = a.dtype() == DType.UINT64;
                rows.run(par(ctx), (oi, in, len) -> {
                    for (int i = 0; i < len; i++) {
                        boolean v = cmp.test(a.getLong(in[0] + (long) i * sa), b.getLong(in[1] + (long) i * sb), u64);
                        o.set(I8, oi + i, (byte) (v ? 1 : 0));
                    }
                });
            }
        }
    }

    enum Logic { AND, OR, XOR }

    static final class LogicKernel implements OpKernel {
        private final Logic op;

        LogicKernel(Logic op) { this.op = op; }

        @Override public List<TensorType> infer(InferContext ctx) { return inferBroadcast(ctx, 0, 2, DType.BOOL); }

        @Override public boolean inPlaceSafe() { return true; }

        @Override public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            if (a.dtype() != DType.BOOL || b.dtype() != DType.BOOL) {
                throw new KernelException(ctx.opType() + " needs bool inputs, got " + a.dtype() + " and " + b.dtype());
            }
            Shape os = Broadcast.shape(a.shape(), b.shape());
            Tensor out = ctx.output(0, DType.BOOL, os);
            ElementwiseRows rows = new ElementwiseRows(os, a.shape(), b.shape());
            int sa = rows.steps[0], sb = rows.steps[1];
            MemorySegment as = a.data(), bs = b.data(), o = out.data();
            rows.run(par(ctx), (oi, in, len) -> {
                for (int i = 0; i < len; i++) {
                    boolean x = as.get(I8, in[0] + (long) i * sa) != 0, y = bs.get(I8, in[1] + (long) i * sb) != 0;
                    boolean v = switch (op) {
                        case AND -> x & y;
                        case OR -> x | y;
                        case XOR -> x ^ y;
                    };
                    o.set(I8, oi + i, (byte) (v ? 1 : 0));
                }
            });
        }
    }

    // ---------------------------------------------------------------- Where

    static final class WhereKernel implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            DType t = dtypeOf(ctx, 1);
            if (t == null) t = dtypeOf(ctx, 2);
            return inferBroadcast(ctx, 0, 3, t);
        }

        @Override public void execute(ExecContext ctx) {
            Tensor c = ctx.input(0), x = ctx.input(1), y = ctx.input(2);
            if (c.dtype() != DType.BOOL) throw new KernelException("Where condition must be bool, got " + c.dtype());
            requireSame("Where", x, y);
            Shape os = Broadcast.shape(c.shape(), x.shape(), y.shape());
            Tensor out = ctx.output(0, x.dtype(), os);
            ElementwiseRows rows = new ElementwiseRows(os, c.shape(), x.shape(), y.shape());
            int sc = rows.steps[0], sx = rows.steps[1], sy = rows.steps[2];
            MemorySegment cs = c.data(), xs = x.data(), ys = y.data(), o = out.data();
            // selection only moves bits, so the element width is all that matters
            switch (x.dtype().byteSize()) {
                case 1 -> rows.run(par(ctx), (oi, in, len) -> {
                    for (int i = 0; i < len; i++) {
                        boolean take = cs.get(I8, in[0] + (long) i * sc) != 0;
                        o.set(I8, oi + i, take ? xs.get(I8, in[1] + (long) i * sx) : ys.get(I8, in[2] + (long) i * sy));
                    }
                });
                case 2 -> rows.run(par(ctx), (oi, in, len) -> {
                    ValueLayout.OfShort l = ValueLayout.JAVA_SHORT;
                    for (int i = 0; i < len; i++) {
                        boolean take = cs.get(I8, in[0] + (long) i * sc) != 0;
                        o.setAtIndex(l, oi + i, take ? xs.getAtIndex(l, in[1] + (long) i * sx) : ys.getAtIndex(l, in[2] + (long) i * sy));
                    }
                });
                case 4 -> rows.run(par(ctx), (oi, in, len) -> {
                    ValueLayout.OfInt l = ValueLayout.JAVA_INT;
                    for (int i = 0; i < len; i++) {
                        boolean take = cs.get(I8, in[0] + (long) i * sc) != 0;
                        o.setAtIndex(l, oi + i, take ? xs.getAtIndex(l, in[1] + (long) i * sx) : ys.getAtIndex(l, in[2] + (long) i * sy));
                    }
                });
                case 8 -> rows.run(par(ctx), (oi, in, len) -> {
                    ValueLayout.OfLong l = ValueLayout.JAVA_LONG;
                    for (int i = 0; i < len; i++) {
                        boolean take = cs.get(I8, in[0] + (long) i * sc) != 0;
                        o.setAtIndex(l, oi + i, take ? xs.getAtIndex(l, in[1] + (long) i * sx) : ys.getAtIndex(l, in[2] + (long) i * sy));
                    }
                });
                default -> throw new KernelException("Where cannot handle " + x.dtype());
            }
        }
    }

    /** Copies src, broadcast, into every element of dst (same dtype). */
    static void broadcastCopy(Tensor src, Tensor dst, Parallelism par) {
        if (src.shape().equals(dst.shape())) {
            if (src.data().address() != dst.data().address() || !src.data().isNative()) dst.copyFrom(src);
            return;
        }
        ElementwiseRows rows = new ElementwiseRows(dst.shape(), src.shape());
        int ss = rows.steps[0];
        int w = src.dtype().byteSize();
        MemorySegment s = src.data(), d = dst.data();
        rows.run(par, (oi, in, len) -> {
            for (int i = 0; i < len; i++) {
                MemorySegment.copy(s, (in[0] + (long) i * ss) * w, d, (oi + i) * w, w);
            }
        });
    }

    // ---------------------------------------------------------------- Min / Max / Sum / Mean

    static final class VariadicKernel implements OpKernel {
        private final Arith op;
        private final boolean mean;

        VariadicKernel(Arith op, boolean mean) { this.op = op; this.mean = mean; }

        @Override public List<TensorType> infer(InferContext ctx) {
            return inferBroadcast(ctx, 0, ctx.inputCount(), dtypeOf(ctx, 0));
        }

        @Override public boolean inPlaceSafe() { return true; }

        @Override public void execute(ExecContext ctx) {
            List<Tensor> ins = new ArrayList<>();
            for (int i = 0; i < ctx.inputCount(); i++) if (ctx.hasInput(i)) ins.add(ctx.input(i));
            if (ins.isEmpty()) throw new KernelException(ctx.opType() + " needs at least one input");
            Tensor first = ins.get(0);
            Shape[] shapes = new Shape[ins.size()];
            for (int i = 0; i < ins.size(); i++) {
                requireSame(ctx.opType(), first, ins.get(i));
                shapes[i] = ins.get(i).shape();
            }
            if (first.dtype() == DType.BOOL) throw new KernelException(ctx.opType() + " does not take bool inputs");
            Shape os = Broadcast.shape(shapes);
            Tensor out = ctx.output(0, first.dtype(), os);
            // fold into the output: each step reads out[i] before writing out[i], so aliasing input 0 is fine
            broadcastCopy(first, out, par(ctx));
            for (int i = 1; i < ins.size(); i++) arith(op, out, ins.get(i), out, par(ctx));
            if (mean && ins.size() > 1) {
                int n = ins.size();
                long count = out.elementCount();
                if (out.dtype().isFloatingPoint()) {
                    for (long i = 0; i < count; i++) out.setDouble(i, out.getDouble(i) / n);
                } else {
                    for (long i = 0; i < count; i++) out.setLong(i, out.getLong(i) / n);
                }
            }
        }
    }

    // ---------------------------------------------------------------- PRelu

    static final class PReluKernel implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            return List.of(new TensorType(dtypeOf(ctx, 0), ctx.inputType(0).shape()));
        }

        @Override public boolean inPlaceSafe() { return true; }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), slope = ctx.input(1);
            requireSame("PRelu", x, slope);
            if (ctx.opset() < 7 && slope.rank() == 1 && slope.elementCount() > 1 && x.rank() >= 2
                    && slope.shape().dim(0) == x.shape().dim(1)) {
                // before opset 7 a 1-D slope is per channel (axis 1), not numpy-aligned to the last axis
                long[] d = new long[x.rank() - 1];
                java.util.Arrays.fill(d, 1);
                d[0] = slope.shape().dim(0);
                slope = slope.reshaped(Shape.of(d));
            }
            Shape os = Broadcast.shape(x.shape(), slope.shape());
            if (!os.equals(x.shape())) {
                throw new KernelException("PRelu slope " + slope.shape() + " does not broadcast to X " + x.shape());
            }
            arith(Arith.PRELU, x, slope, ctx.output(0, x.dtype(), os), par(ctx));
        }
    }
}
