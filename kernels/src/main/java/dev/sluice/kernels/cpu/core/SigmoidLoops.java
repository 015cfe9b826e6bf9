package dev.sluice.kernels.cpu.core;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Sigmoid and SiLU over runs of floats (a fused conv's rows, a Sigmoid op's tensor), with {@link VectorMath#exp}'s
 * arithmetic written out in the loop bodies: the operations of {@code VectorMath.sigmoid} (and, for SiLU, the one
 * multiply after it) in the same order, so every lane has the bits of those methods, and a scalar tail through
 * {@link Activation#apply} or a masked vector matches the body.
 *
 * <p>Why not a call to {@code VectorMath.sigmoid}: that call takes and returns vectors, and a kernel that C2 compiles
 * as one big method (a depthwise or direct conv with its tiles, compaction and epilogue inlined) runs past C2's
 * NodeCountInliningCutoff, after which the non-forced calls left (exp, even its 8-byte broadcast helper) stay calls
 * and every vector crossing them is boxed: EfficientNet-B0 allocated about 50 MB per run that way, all in SiLU.
 * Which calls miss depended on what was compiled first. Here the loops call only the Vector API's force-inlined
 * methods, and each loop is over FreqInlineSize's 325 bytes, so C2 compiles it as a root of its own instead of
 * inlining it into a big caller; it takes arrays or segments, never vectors, so that call costs no boxing.
 */
final class SigmoidLoops {
    private SigmoidLoops() {}

    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    // VectorMath.exp's constants (see there)
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND_MAGIC = 12582912f;

    /** How the segment loop biases: one scalar, per element of a row, not at all (as in Activation). */
    static final int BIAS_SCALAR = 0, BIAS_ROW = 1, BIAS_NONE = 2;

    /**
     * y[off + i] = s(y[off + i] + bias) in place for whole vectors from i = 0, s the sigmoid, or x times it when
     * {@code silu}; returns where the whole vectors end (the caller's tail starts there).
     */
    static int array(float[] y, int off, int len, float bias, boolean silu) {
        java.util.Objects.checkFromIndexSize(off, len, y.length);
        FloatVector bv = FloatVector.broadcast(S, bias), one = FloatVector.broadcast(S, 1f);
        FloatVector nLn2Hi = FloatVector.broadcast(S, -LN2_HI), nLn2Lo = FloatVector.broadcast(S, -LN2_LO);
        FloatVector p2 = FloatVector.broadcast(S, 8.3334519073e-3f), p3 = FloatVector.broadcast(S, 4.1665795894e-2f);
        FloatVector p4 = FloatVector.broadcast(S, 1.6666665459e-1f), p5 = FloatVector.broadcast(S, 5.0000001201e-1f);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromArray(S, y, off + i).add(bv);
            // e = exp(-v), VectorMath.exp's operations
            FloatVector x = v.neg();
            FloatVector xc = x.max(-104f).min(89f);
            FloatVector k = xc.fma(LOG2E, ROUND_MAGIC).sub(ROUND_MAGIC);
            FloatVector r = k.fma(nLn2Hi, xc);
            r = k.fma(nLn2Lo, r);
            FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
            p = p.fma(r, p2);
            p = p.fma(r, p3);
            p = p.fma(r, p4);
            p = p.fma(r, p5);
            FloatVector e = p.mul(r).fma(r, r).add(1f);
            IntVector ki = (IntVector) k.convert(VectorOperators.F2I, 0);
            IntVector k1 = ki.lanewise(VectorOperators.ASHR, 1);
            IntVector k2 = ki.sub(k1);
            FloatVector s1 = k1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector s2 = k2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            e = e.mul(s1).mul(s2);
            e = e.blend(Float.POSITIVE_INFINITY, x.compare(VectorOperators.GT, 88.72283905206835f));
            e = e.blend(0f, x.compare(VectorOperators.LT, -103.972077083991796f));
            e = e.blend(x, x.test(VectorOperators.IS_NAN));
            // sigmoid = 1 / (1 + e), then SiLU's multiply; SiLU of a NaN is that NaN: x86 keeps one operand's NaN of two,
            // and which one depends on the operand order C2 picked for this compiled method (+NaN times the sigmoid's -NaN)
            FloatVector s = one.div(e.add(1f));
            (silu ? v.mul(s).blend(v, v.test(VectorOperators.IS_NAN)) : s).intoArray(y, off + i);
        }
        return i;
    }

    /**
     * y[yo + i] = s(x[xo + i] + b_i) for whole vectors from i = 0 (offsets in elements; x and y may be the same
     * segment at the same offset), b_i by {@code mode}: {@code bias}, {@code row[i]} or nothing; s as in
     * {@link #array}. Returns where the whole vectors end.
     */
    static int segment(MemorySegment x, long xo, MemorySegment y, long yo, int len, int mode, float bias, float[] row,
                       boolean silu) {
        FloatVector bv = FloatVector.broadcast(S, bias), one = FloatVector.broadcast(S, 1f);
        FloatVector nLn2Hi = FloatVector.broadcast(S, -LN2_HI), nLn2Lo = FloatVector.broadcast(S, -LN2_LO);
        FloatVector p2 = FloatVector.broadcast(S, 8.3334519073e-3f), p3 = FloatVector.broadcast(S, 4.1665795894e-2f);
        FloatVector p4 = FloatVector.broadcast(S, 1.6666665459e-1f), p5 = FloatVector.broadcast(S, 5.0000001201e-1f);
        int l = S.length(), i = 0;
        for (; i <= len - l; i += l) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (xo + i) * 4, ORDER);
            if (mode == BIAS_SCALAR) v = v.add(bv);
            else if (mode == BIAS_ROW) v = v.add(FloatVector.fromArray(S, row, i));
            FloatVector xn = v.neg();
            FloatVector xc = xn.max(-104f).min(89f);
            FloatVector k = xc.fma(LOG2E, ROUND_MAGIC).sub(ROUND_MAGIC);
            FloatVector r = k.fma(nLn2Hi, xc);
            r = k.fma(nLn2Lo, r);
            FloatVector p = r.fma(1.9875691500e-4f, 1.3981999507e-3f);
            p = p.fma(r, p2);
            p = p.fma(r, p3);
            p = p.fma(r, p4);
            p = p.fma(r, p5);
            FloatVector e = p.mul(r).fma(r, r).add(1f);
            IntVector ki = (IntVector) k.convert(VectorOperators.F2I, 0);
            IntVector k1 = ki.lanewise(VectorOperators.ASHR, 1);
            IntVector k2 = ki.sub(k1);
            FloatVector s1 = k1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            FloatVector s2 = k2.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            e = e.mul(s1).mul(s2);
            e = e.blend(Float.POSITIVE_INFINITY, xn.compare(VectorOperators.GT, 88.72283905206835f));
            e = e.blend(0f, xn.compare(VectorOperators.LT, -103.972077083991796f));
            e = e.blend(xn, xn.test(VectorOperators.IS_NAN));
            FloatVector s = one.div(e.add(1f));
            (silu ? v.mul(s).blend(v, v.test(VectorOperators.IS_NAN)) : s).intoMemorySegment(y, (yo + i) * 4, ORDER);
        }
        return i;
    }
}
