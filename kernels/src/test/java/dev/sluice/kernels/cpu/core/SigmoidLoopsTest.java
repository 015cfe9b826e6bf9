package dev.sluice.kernels.cpu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * SigmoidLoops writes VectorMath's exp out in its loop bodies: every lane must keep the bits of
 * {@code VectorMath.sigmoid} (and SiLU's x times it), which the unfused Sigmoid op and the tails use, for every way of
 * biasing, and stay close to the double-precision sigmoid.
 */
class SigmoidLoopsTest {
    private static final int L = VectorMath.S.length();

    private static float[] inputs() {
        float[] special = {0f, -0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 88.72283f, 88.72284f,
            -88.72284f, -103.97207f, -103.97208f, -104f, 89f, 90f, -150f, 1e-40f, -1e-40f, 20f, -20f, 0.5f, -0.5f};
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[64 * L + 5];
        for (int i = 0; i < x.length; i++) {
            x[i] = i < special.length ? special[i] : (float) (r.nextDouble() * (i % 3 == 0 ? 220 : 24) - (i % 3 == 0 ? 110 : 12));
        }
        return x;
    }

    /** What VectorMath gives for one value, as a lane (its sigmoid, or x times it). */
    private static float reference(float v, boolean silu) {
        FloatVector b = FloatVector.broadcast(VectorMath.S, v);
        FloatVector s = VectorMath.sigmoid(b);
        return (silu ? b.mul(s) : s).lane(0);
    }

    @Test
    void lanesKeepVectorMathsBitsForEveryBias() {
        float[] x = inputs();
        float[] row = new float[x.length];
        SplittableRandom r = new SplittableRandom(4);
        for (int i = 0; i < row.length; i++) row[i] = (float) (r.nextDouble() - 0.5);
        for (boolean silu : new boolean[] {false, true}) {
            for (float bias : new float[] {0f, -0.0f, 0.25f}) {
                float[] a = x.clone();
                int done = SigmoidLoops.array(a, 0, a.length, bias, silu);
                assertEquals(a.length / L * L, done);
                for (int i = 0; i < done; i++) {
                    assertEquals(Float.floatToIntBits(reference(x[i] + bias, silu)), Float.floatToIntBits(a[i]), "array at " + i + " x " + x[i]);
                }
                for (int i = done; i < a.length; i++) assertEquals(Float.floatToIntBits(x[i]), Float.floatToIntBits(a[i]), "tail untouched");
            }
            // segments: scalar bias, a bias per element, none (which keeps -0.0 as it is), and out of place
            for (int mode = 0; mode < 3; mode++) {
                float[] a = x.clone();
                float[] out = new float[x.length];
                int done = SigmoidLoops.segment(MemorySegment.ofArray(a), 0, MemorySegment.ofArray(out), 0, a.length, mode, 0.25f, row, silu);
                for (int i = 0; i < done; i++) {
                    float v = mode == SigmoidLoops.BIAS_SCALAR ? x[i] + 0.25f : mode == SigmoidLoops.BIAS_ROW ? x[i] + row[i] : x[i];
                    assertEquals(Float.floatToIntBits(reference(v, silu)), Float.floatToIntBits(out[i]), "segment mode " + mode + " at " + i);
                }
            }
        }
    }

    @Test
    void closeToTheDoubleSigmoid() {
        float[] x = inputs();
        float[] a = x.clone();
        int done = SigmoidLoops.array(a, 0, a.length, 0f, false);
        for (int i = 0; i < done; i++) {
            if (Float.isNaN(x[i])) {
                assertTrue(Float.isNaN(a[i]));
                continue;
            }
            double want = 1 / (1 + Math.exp(-(double) x[i]));
            // below about -88.7 e^-x overflows to infinity and the sigmoid flushes to 0 (VectorMath's exp): within 1e-38
            assertEquals(want, a[i], 4 * Math.ulp((float) want) + 1e-38, "sigmoid(" + x[i] + ")");
        }
    }
}
