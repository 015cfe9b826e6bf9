package dev.sluice.kernels.cpu.elementwise;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Clip's float32 loop over a range of elements: a lane below {@code lo} becomes {@code lo}, one above {@code hi}
 * becomes {@code hi}, anything else (NaN, -0.0 at a bound of 0) passes unchanged, as ONNX Runtime leaves it. The lower bound applies first, so where
 * {@code lo > hi} every element becomes {@code hi}, as ONNX defines. Lane-wise compares and blends, so every
 * element's bits are the scalar form's whatever the vector width or the range split. x and y may be the same
 * memory (Clip runs in place).
 */
final class ClipLoop {
    private ClipLoop() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    static void clip(MemorySegment x, MemorySegment y, long from, long to, float lo, float hi) {
        int l = S.length();
        long i = from;
        for (; i <= to - l; i += l) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, i * 4, ORDER);
            v = v.blend(lo, v.compare(VectorOperators.LT, lo));
            v.blend(hi, v.compare(VectorOperators.GT, hi)).intoMemorySegment(y, i * 4, ORDER);
        }
        for (; i < to; i++) {
            // lo first, then hi, as the lanes do: where min > max every element becomes max (ONNX's rule).
            float v = x.getAtIndex(ElementwiseOps.F32, i);
            if (v < lo) v = lo;
            y.setAtIndex(ElementwiseOps.F32, i, v > hi ? hi : v);
        }
    }
}
