package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * PointwiseConv with a residual block's tail in its epilogue (sluice.FusedConvAdd on the pointwise path):
 * against the ONNX definition in double (relu(sum + b + r)), and bit for bit against what it replaces, the
 * plain pointwise conv followed by ResidualAdd's pass (exact zeros of both signs among the inputs, weights and
 * residuals, so zero sums meet Relu); on position counts with a tail past the whole tiles, channel
 * counts with a partial panel, with and without a bias, at one and two threads.
 */
class PointwiseResidualTest {
    private static final Activation RELU = new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1);

    private static MemorySegment segment(Arena a, float[] v) {
        MemorySegment s = a.allocate(4L * v.length, 64);
        MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, 0, v.length);
        return s;
    }

    private static float[] floats(MemorySegment s, int n) {
        float[] v = new float[n];
        MemorySegment.copy(s, ValueLayout.JAVA_FLOAT, 0, v, 0, n);
        return v;
    }

    /** Values in [-1, 1), a fifth of them exact zeros of either sign (so sums and residuals hit -0 and +0). */
    private static float[] random(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            int pick = r.nextInt(10);
            v[i] = pick == 0 ? -0f : pick == 1 ? 0f : (float) (r.nextDouble() * 2 - 1);
        }
        return v;
    }

    private static void check(int n, int c, int m, int hw, boolean withBias, Activation after, int threads, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = random(r, n * c * hw), w = random(r, m * c), res = random(r, n * m * hw);
        float[] bias = withBias ? random(r, m) : null;
        Parallelism par = Parallelism.of(threads);
        String what = "n=" + n + " c=" + c + " m=" + m + " hw=" + hw + " bias=" + withBias + " " + after.kind() + " threads=" + threads;
        try (Arena a = Arena.ofShared()) {
            MemorySegment xs = segment(a, x), ws = segment(a, w), rs = segment(a, res);
            MemorySegment fused = a.allocate(4L * n * m * hw, 64), plain = a.allocate(4L * n * m * hw, 64);
            assertTrue(PointwiseConv.takesResidual(Activation.NONE, after), what);
            PointwiseConv.conv(xs, ws, bias, fused, n, c, m, hw, par, Activation.NONE, null, rs, after);
            PointwiseConv.conv(xs, ws, bias, plain, n, c, m, hw, par, Activation.NONE, null);
            ResidualAdd.apply(plain, rs, (long) n * m * hw, after, par);
            float[] got = floats(fused, n * m * hw), want = floats(plain, n * m * hw);
            for (int i = 0; i < got.length; i++) {
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(got[i]), what + " bits at " + i + ": " + got[i] + " vs " + want[i]);
                int ni = i / (m * hw), o = i / hw % m, j = i % hw;
                double s = bias == null ? 0 : bias[o];
                for (int ci = 0; ci < c; ci++) s += (double) w[o * c + ci] * x[(ni * c + ci) * hw + j];
                s += res[i];
                if (after.kind() == Activation.Kind.RELU) s = Math.max(0, s);
                assertTrue(Math.abs(got[i] - s) <= 1e-5 * (c + 2) + 1e-6, what + " at " + i + ": " + got[i] + " vs " + s);
            }
        }
    }

    @Test
    void fusedTailHasTheBitsOfTheSeparatePass() {
        long seed = 1;
        for (int threads : new int[] {1, 2}) {
            for (boolean bias : new boolean[] {true, false}) {
                for (Activation after : new Activation[] {Activation.NONE, RELU}) {
                    check(1, 24, 28, 64 * 64, bias, after, threads, seed++);   // a face detector's block: panels of 8 and a half
                    check(1, 16, 13, 10 * 23, bias, after, threads, seed++);   // positions past the last whole tile
                    check(2, 7, 9, 3 * 67, bias, after, threads, seed++);      // two images, odd everything
                    check(1, 40, 4, 2 * 48 + 5, bias, after, threads, seed++); // two tiles and five positions
                    check(1, 88, 96, 8 * 8, bias, after, threads, seed++);     // a tile and one vector past it
                    check(1, 9, 10, 80, bias, after, threads, seed++);         // a tile and two vectors past it
                }
            }
        }
    }

    @Test
    void onlyNoneAndReluAfterAConvWithoutActivation() {
        assertTrue(PointwiseConv.takesResidual(Activation.NONE, Activation.NONE));
        assertFalse(PointwiseConv.takesResidual(RELU, Activation.NONE));
        assertFalse(PointwiseConv.takesResidual(Activation.NONE, new Activation(Activation.Kind.HARD_SWISH, 1f / 6f, 0.5f, 0, 1, 0, 1)));
    }
}
