package dev.sluice.kernels.cpu.elementwise;

import static dev.sluice.kernels.cpu.core.ElementwiseNode.floats;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.cpu.core.ElementwiseNode;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Float32 Max and Min, elementwise and with one operand broadcast from a scalar, give ONNX's definition
 * (the larger / smaller value; NaN if either is NaN; +0 above -0) at every element, written out here plainly.
 */
class MaxMinLoopsTest {
    private static final float[] SPECIAL = {0f, -0f, 1f, -1f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
        Float.MIN_VALUE, -Float.MIN_VALUE, 3.5f, -2.25f};

    private static float max(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) return Float.NaN;
        if (a == 0f && b == 0f) return (Float.floatToRawIntBits(a) == 0 || Float.floatToRawIntBits(b) == 0) ? 0f : -0f;
        return a > b ? a : b;
    }

    private static float min(float a, float b) {
        if (Float.isNaN(a) || Float.isNaN(b)) return Float.NaN;
        if (a == 0f && b == 0f) return (Float.floatToRawIntBits(a) != 0 || Float.floatToRawIntBits(b) != 0) ? -0f : 0f;
        return a < b ? a : b;
    }

    private static float apply(String op, float a, float b) { return op.equals("Max") ? max(a, b) : min(a, b); }

    @Test
    void elementwiseAllPairsOfSpecialValuesAndRandomOnes() {
        int n = SPECIAL.length;
        SplittableRandom r = new SplittableRandom(5);
        int extra = 1000;
        float[] a = new float[n * n + extra], b = new float[n * n + extra];
        for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) { a[i * n + j] = SPECIAL[i]; b[i * n + j] = SPECIAL[j]; }
        for (int i = n * n; i < a.length; i++) { a[i] = (float) r.nextGaussian(); b[i] = (float) r.nextGaussian(); }
        for (String op : new String[] {"Max", "Min"}) {
            float[] got = ElementwiseNode.of(op).in(floats(a)).in(floats(b)).run().toFloatArray();
            for (int i = 0; i < a.length; i++) {
                float want = apply(op, a[i], b[i]);
                assertEquals(Float.floatToIntBits(want), Float.floatToIntBits(got[i]), op + "(" + a[i] + ", " + b[i] + ") gave " + got[i]);
            }
        }
    }

    @Test
    void oneOperandAScalar() {
        for (String op : new String[] {"Max", "Min"}) {
            for (float s : SPECIAL) {
                float[] got = ElementwiseNode.of(op).in(floats(SPECIAL)).in(floats(new long[] {1}, s)).run().toFloatArray();
                float[] gotSwapped = ElementwiseNode.of(op).in(floats(new long[] {1}, s)).in(floats(SPECIAL)).run().toFloatArray();
                for (int i = 0; i < SPECIAL.length; i++) {
                    assertEquals(Float.floatToIntBits(apply(op, SPECIAL[i], s)), Float.floatToIntBits(got[i]), op + "(" + SPECIAL[i] + ", " + s + ")");
                    assertEquals(Float.floatToIntBits(apply(op, s, SPECIAL[i])), Float.floatToIntBits(gotSwapped[i]), op + "(" + s + ", " + SPECIAL[i] + ")");
                }
            }
        }
    }
}
