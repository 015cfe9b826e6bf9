package dev.sluice.kernels.cpu.elementwise;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.cpu.core.ElementwiseMath;
import dev.sluice.kernels.cpu.core.VectorMath;
import java.lang.foreign.MemorySegment;

/**
 * Float32 loops of the unary ops that have no vector form in {@link VectorMath}: one static loop per op with
 * the op written inline. The generic path calls a {@code DoubleUnaryOperator} per element from one shared
 * loop; once a JVM has run several such ops (Log in one model, Sqrt and Exp in the next) that call site is
 * megamorphic, C2 cannot inline it, and every element pays a virtual call: the same op then runs several times
 * slower depending on which models ran before it in the JVM. Here no call site is shared by two ops.
 *
 * <p>Invariant: each loop gives the bits of the generic path, {@code (float) f((double) x)} with f the op's
 * double form (ElementwiseUnaryOps), parameters widened from their float attributes the same way.
 */
final class ScalarUnaryLoops {
    private ScalarUnaryLoops() {}

    enum Kind { SQRT, EXP, LOG, RECIPROCAL, FLOOR, CEIL, ROUND, NEG, ABS, SOFTPLUS, HARD_SWISH, LEAKY_RELU, HARD_SIGMOID }

    /** One op with its parameters (alpha, beta: the float attributes widened to double; unused ones 0). */
    record Op(Kind kind, double alpha, double beta) {}

    /** The loop form of a float32 unary op, or null when it has none (the generic path then runs it). */
    static Op forOp(String op, Attributes at) {
        return switch (op) {
            case "Sqrt" -> new Op(Kind.SQRT, 0, 0);
            case "Exp" -> new Op(Kind.EXP, 0, 0);
            case "Log" -> new Op(Kind.LOG, 0, 0);
            case "Reciprocal" -> new Op(Kind.RECIPROCAL, 0, 0);
            case "Floor" -> new Op(Kind.FLOOR, 0, 0);
            case "Ceil" -> new Op(Kind.CEIL, 0, 0);
            case "Round" -> new Op(Kind.ROUND, 0, 0);
            case "Neg" -> new Op(Kind.NEG, 0, 0);
            case "Abs" -> new Op(Kind.ABS, 0, 0);
            case "Softplus" -> new Op(Kind.SOFTPLUS, 0, 0);
            case "HardSwish" -> new Op(Kind.HARD_SWISH, 0, 0);
            case "LeakyRelu" -> new Op(Kind.LEAKY_RELU, at.getFloat("alpha", 0.01f), 0);
            case "HardSigmoid" -> new Op(Kind.HARD_SIGMOID, at.getFloat("alpha", 0.2f), at.getFloat("beta", 0.5f));
            default -> null;
        };
    }

    /** o[from, to) = op(x[from, to)) on float32 segments (o may be x). */
    static void map(Op op, MemorySegment x, MemorySegment o, long from, long to) {
        switch (op.kind()) {
            case SQRT -> sqrt(x, o, from, to);
            case EXP -> exp(x, o, from, to);
            case LOG -> log(x, o, from, to);
            case RECIPROCAL -> reciprocal(x, o, from, to);
            case FLOOR -> floor(x, o, from, to);
            case CEIL -> ceil(x, o, from, to);
            case ROUND -> round(x, o, from, to);
            case NEG -> neg(x, o, from, to);
            case ABS -> abs(x, o, from, to);
            case SOFTPLUS -> softplus(x, o, from, to);
            case HARD_SWISH -> hardSwish(x, o, from, to);
            case LEAKY_RELU -> leakyRelu(x, o, from, to, op.alpha());
            case HARD_SIGMOID -> hardSigmoid(x, o, from, to, op.alpha(), op.beta());
        }
    }

    private static float in(MemorySegment x, long i) { return x.getAtIndex(ElementwiseOps.F32, i); }

    private static void out(MemorySegment o, long i, double v) { o.setAtIndex(ElementwiseOps.F32, i, (float) v); }

    private static void sqrt(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, Math.sqrt(in(x, i)));
    }

    private static void exp(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, Math.exp(in(x, i)));
    }

    private static void log(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, Math.log(in(x, i)));
    }

    private static void reciprocal(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, 1.0 / in(x, i));
    }

    private static void floor(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, Math.floor(in(x, i)));
    }

    private static void ceil(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, Math.ceil(in(x, i)));
    }

    private static void round(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, Math.rint(in(x, i)));
    }

    private static void neg(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, -(double) in(x, i));
    }

    private static void abs(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, Math.abs((double) in(x, i)));
    }

    private static void softplus(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) out(o, i, ElementwiseMath.softplus(in(x, i)));
    }

    private static void hardSwish(MemorySegment x, MemorySegment o, long from, long to) {
        for (long i = from; i < to; i++) {
            double v = in(x, i);
            out(o, i, v * Math.max(0.0, Math.min(1.0, v / 6.0 + 0.5)));
        }
    }

    private static void leakyRelu(MemorySegment x, MemorySegment o, long from, long to, double alpha) {
        for (long i = from; i < to; i++) {
            double v = in(x, i);
            out(o, i, v < 0 ? alpha * v : v);
        }
    }

    private static void hardSigmoid(MemorySegment x, MemorySegment o, long from, long to, double alpha, double beta) {
        for (long i = from; i < to; i++) out(o, i, Math.max(0.0, Math.min(1.0, alpha * in(x, i) + beta)));
    }
}
