package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Pointwise convolutions (1x1, stride 1, no pads, group 1) through PointwiseConv against the ONNX
 * definition summed in double, with the bias and each fused activation written out from its ONNX formula; on
 * position counts that are no multiple of the tile or the vector, channel counts that are no multiple of the
 * tile rows, one input or output channel; and their bits against the splits the dispatcher relies on.
 */
class PointwiseConvTest {
    /** One case: batch, input channels, output channels, spatial shape (any rank). */
    private record Case(int n, int c, int m, int... spatial) {
        int hw() { return Arrays.stream(spatial).reduce(1, (a, b) -> a * b); }

        WindowGeometry geometry() {
            long[] in = Arrays.stream(spatial).asLongStream().toArray(), k = new long[spatial.length];
            Arrays.fill(k, 1);
            return WindowGeometry.of(in, k, new Attributes(Map.of()), false);
        }

        @Override public String toString() { return "n=" + n + " c=" + c + " m=" + m + " spatial=" + Arrays.toString(spatial); }
    }

    private static final Case[] CASES = {
        new Case(1, 8, 32, 10, 100),   // the det stem's shape, scaled: whole tiles and a tail
        new Case(1, 1, 5, 37),         // one input channel, 1-D
        new Case(2, 3, 1, 5, 10),      // one output channel, two images
        new Case(1, 16, 13, 10, 10),   // 13 rows: a full panel and a partial one of 5
        new Case(1, 24, 20, 7, 23),    // 20 rows: two panels and one of 4; 161 positions
        new Case(1, 80, 12, 1, 7),     // fewer positions than a vector
        new Case(1, 7, 9, 1, 1),       // one position (the squeeze-excite convs)
        new Case(2, 33, 6, 12, 20),    // 240 positions, 6 rows
        new Case(1, 5, 20, 48),        // exactly one tile
        new Case(1, 40, 4, 95),        // one vector short of two tiles
        new Case(1, 12, 11, 2, 3, 17), // 3-D
        new Case(1, 64, 24, 40, 40),   // a det shape, several tasks
    };

    private static final Activation RELU = new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1);
    private static final Activation HARD_SWISH = new Activation(Activation.Kind.HARD_SWISH, 1f / 6f, 0.5f, 0, 1, 0, 1);
    private static final Activation HARD_SIGMOID = new Activation(Activation.Kind.HARD_SIGMOID, 0.2f, 0.5f, 0, 1, 0, 1);
    private static final Activation CLIP = new Activation(Activation.Kind.CLIP, 0, 0, -0.25f, 0.5f, 0, 1);
    private static final Activation LEAKY = new Activation(Activation.Kind.LEAKY_RELU, 0.1f, 0, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, 0, 1);
    private static final Activation CHAIN = new Activation(Activation.Kind.HARD_SWISH_CHAIN, 0, 0, 0, 6, 3, 6);
    private static final Activation[] ACTIVATIONS = {Activation.NONE, RELU, HARD_SWISH, HARD_SIGMOID, CLIP, LEAKY, CHAIN};

    /** The activation from its ONNX definition (HardSwish-as-chain: x * Clip(x + 3, 0, 6) / 6), in double. */
    private static double onnx(Activation a, double v) {
        return switch (a.kind()) {
            case NONE -> v;
            case RELU -> Math.max(0, v);
            case HARD_SWISH -> v * Math.max(0, Math.min(1, v / 6 + 0.5));
            case HARD_SIGMOID -> Math.max(0, Math.min(1, 0.2 * v + 0.5));
            case CLIP -> Math.min(Math.max(v, -0.25), 0.5);
            case LEAKY_RELU -> v < 0 ? 0.1 * v : v;
            case HARD_SWISH_CHAIN -> v * Math.min(Math.max(v + 3, 0), 6) / 6;
            default -> throw new AssertionError(a);
        };
    }

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() * 2 - 1;
        return v;
    }

    /** Conv's definition for a 1x1 kernel: y[ni, o, j] = b[o] + sum_ci w[o, ci] * x[ni, ci, j], in double. */
    private static double[] reference(Case k, float[] x, float[] w, float[] b) {
        int hw = k.hw();
        double[] y = new double[k.n * k.m * hw];
        for (int ni = 0; ni < k.n; ni++) for (int o = 0; o < k.m; o++) for (int j = 0; j < hw; j++) {
            double acc = b == null ? 0 : b[o];
            for (int ci = 0; ci < k.c; ci++) acc += (double) w[o * k.c + ci] * x[(ni * k.c + ci) * hw + j];
            y[(ni * k.m + o) * hw + j] = acc;
        }
        return y;
    }

    private static float[] run(Case k, float[] x, float[] w, float[] b, int threads, Activation act, Object key) {
        float[] y = new float[k.n * k.m * k.hw()];
        Arrays.fill(y, Float.NaN);
        assertTrue(PointwiseConv.applies(k.geometry()));
        PointwiseConv.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(y), k.n, k.c, k.m, k.hw(),
                Parallelism.of(threads), act, key);
        return y;
    }

    @Test
    void matchesTheDefinitionWithBiasAndEachActivation() {
        Random r = new Random(21);
        for (Case k : CASES) {
            float[] x = random(r, k.n * k.c * k.hw()), w = random(r, k.m * k.c), b = random(r, k.m);
            double[] sums = reference(k, x, w, b);
            for (Activation act : ACTIVATIONS) {
                for (int threads : new int[] {1, 2}) {
                    float[] y = run(k, x, w, b, threads, act, null);
                    for (int i = 0; i < y.length; i++) {
                        double e = onnx(act, sums[i]);
                        assertEquals(e, y[i], 1e-5 * (1 + Math.abs(e)) * Math.sqrt(k.c), k + " " + act.kind() + " threads " + threads + " at " + i);
                    }
                }
            }
            // no bias: the sums alone
            double[] plain = reference(k, x, w, null);
            float[] y = run(k, x, w, null, 2, Activation.NONE, new Object());
            for (int i = 0; i < y.length; i++) assertEquals(plain[i], y[i], 1e-5 * (1 + Math.abs(plain[i])) * Math.sqrt(k.c), k + " at " + i);
        }
    }

    @Test
    void bitsDoNotDependOnThreadsOrTheCachedWeight() {
        Random r = new Random(22);
        for (Case k : CASES) {
            float[] x = random(r, k.n * k.c * k.hw()), w = random(r, k.m * k.c), b = random(r, k.m);
            float[] one = run(k, x, w, b, 1, HARD_SWISH, null);
            Object key = new Object();
            for (int threads : new int[] {2, 3, 8}) {
                // the first keyed call packs and caches the weight, the later ones take it from the cache
                assertTrue(Arrays.equals(one, run(k, x, w, b, threads, HARD_SWISH, key)), k + " threads " + threads);
            }
        }
    }

    /**
     * memgraph runs a conv in pieces and requires the bits of the whole: blocks of output channels (weight and
     * bias slices), and bands of output rows (a conv over the band's positions only, so a band's last row
     * piece ends where the whole conv's does not).
     */
    @Test
    void channelBlocksAndPositionBandsGiveTheBitsOfTheWholeConv() {
        Random r = new Random(23);
        for (Case k : CASES) {
            int hw = k.hw();
            float[] x = random(r, k.n * k.c * hw), w = random(r, k.m * k.c), b = random(r, k.m);
            for (Activation act : ACTIVATIONS) {
                float[] whole = run(k, x, w, b, 2, act, null);
                for (int start = 0; start < k.m; ) {
                    int end = Math.min(k.m, start + 2 + start % 7);
                    Case part = new Case(k.n, k.c, end - start, k.spatial);
                    float[] y = run(part, x, Arrays.copyOfRange(w, start * k.c, end * k.c), Arrays.copyOfRange(b, start, end), 3, act, null);
                    for (int ni = 0; ni < k.n; ni++) for (int o = start; o < end; o++) for (int j = 0; j < hw; j++) {
                        assertEquals(Float.floatToRawIntBits(whole[(ni * k.m + o) * hw + j]),
                                Float.floatToRawIntBits(y[(ni * (end - start) + o - start) * hw + j]),
                                k + " " + act.kind() + " channels [" + start + ", " + end + ") at " + j);
                    }
                    start = end;
                }
                for (int j0 = 0; j0 < hw; ) {
                    int j1 = Math.min(hw, j0 + 1 + (j0 * 7 + 13) % 61);
                    int len = j1 - j0;
                    float[] xb = new float[k.n * k.c * len];
                    for (int row = 0; row < k.n * k.c; row++) System.arraycopy(x, row * hw + j0, xb, row * len, len);
                    float[] y = run(new Case(k.n, k.c, k.m, 1, len), xb, w, b, 1, act, null);
                    for (int row = 0; row < k.n * k.m; row++) for (int j = j0; j < j1; j++) {
                        assertEquals(Float.floatToRawIntBits(whole[row * hw + j]), Float.floatToRawIntBits(y[row * len + j - j0]),
                                k + " " + act.kind() + " positions [" + j0 + ", " + j1 + ") at " + j);
                    }
                    j0 = j1;
                }
            }
        }
    }

    @Test
    void everyRouteGivesTheBitsOfThePlainFmaChain() {
        // whole tiles, whole vectors past them (one and two: hw = 64, 80, 256), a partial vector after those
        // (100, 4 + 48), fewer positions than a vector, and panels with fewer than eight rows; the epilogue's
        // bias, Relu (lanes below zero set to zero, so -0 stays -0) and HardSwish written out per element
        Case[] cases = {
            new Case(1, 88, 96, 8, 8), new Case(1, 24, 13, 80), new Case(1, 48, 56, 16, 16), new Case(2, 9, 20, 10, 10),
            new Case(1, 5, 11, 52), new Case(1, 7, 3, 16), new Case(1, 6, 9, 5), new Case(1, 33, 17, 32)};
        Activation[] acts = {Activation.NONE, RELU, HARD_SWISH};
        Random r = new Random(77);
        for (Case k : cases) {
            int hw = k.hw();
            float[] x = random(r, k.n * k.c * hw), w = random(r, k.m * k.c), b = random(r, k.m);
            for (Activation act : acts) {
                for (float[] bias : new float[][] {b, null}) {
                    for (int threads : new int[] {1, 3}) {
                        float[] y = run(k, x, w, bias, threads, act, null);
                        for (int ni = 0; ni < k.n; ni++) for (int o = 0; o < k.m; o++) for (int j = 0; j < hw; j++) {
                            float acc = 0f;
                            for (int ci = 0; ci < k.c; ci++) acc = Math.fma(w[o * k.c + ci], x[(ni * k.c + ci) * hw + j], acc);
                            float v = bias == null ? acc : acc + bias[o];
                            if (act == RELU) v = v < 0f ? 0f : v;
                            else if (act == HARD_SWISH) v = v * Math.max(Math.min(Math.fma(v, act.alpha(), act.beta()), 1f), 0f);
                            int at = (ni * k.m + o) * hw + j;
                            assertEquals(Float.floatToRawIntBits(v), Float.floatToRawIntBits(y[at]),
                                    k + " " + act.kind() + " bias " + (bias != null) + " threads " + threads + " at " + at);
                        }
                    }
                }
            }
        }
    }

    @Test
    void smallPlanesGiveTheSameBitsOnEitherPath() {
        // ConvKernels sends whole vectors of positions (16, 48, 64, 80 with eight-row panels) to PointwiseConv
        // below two tiles; with pointwise off they go to DirectConv. Both routes must give the plain fma chain's
        // bits: memgraph's tiles of a conv may fall on either side. Position counts that leave a scalar tail (25,
        // 21) too: Activation's tail gives a lane's bits (its HardSwish rounded 1 ulp off the lanes' once).
        Case[] cases = {new Case(1, 96, 96, 8, 8), new Case(1, 96, 6, 8, 8), new Case(1, 24, 32, 4, 4), new Case(1, 40, 12, 4, 12),
            new Case(2, 17, 9, 80), new Case(1, 7, 13, 16), new Case(1, 64, 24, 96), new Case(1, 33, 20, 5, 5), new Case(2, 12, 7, 3, 7)};
        Activation[] acts = {Activation.NONE, RELU, HARD_SWISH};
        Random r = new Random(91);
        for (Case k : cases) {
            int hw = k.hw();
            float[] x = random(r, k.n * k.c * hw), w = random(r, k.m * k.c), b = random(r, k.m);
            for (Activation act : acts) {
                for (boolean pointwise : new boolean[] {true, false}) {
                    for (int threads : new int[] {1, 3}) {
                        float[] y = new float[k.n * k.m * hw];
                        Arrays.fill(y, Float.NaN);
                        ConvKernels.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(y), k.n, k.c, k.m, 1,
                                k.geometry(), Parallelism.of(threads), act, w, pointwise);
                        for (int ni = 0; ni < k.n; ni++) for (int o = 0; o < k.m; o++) for (int j = 0; j < hw; j++) {
                            float acc = 0f;
                            for (int ci = 0; ci < k.c; ci++) acc = Math.fma(w[o * k.c + ci], x[(ni * k.c + ci) * hw + j], acc);
                            float v = acc + b[o];
                            if (act == RELU) v = v < 0f ? 0f : v;
                            else if (act == HARD_SWISH) v = v * Math.max(Math.min(Math.fma(v, act.alpha(), act.beta()), 1f), 0f);
                            int at = (ni * k.m + o) * hw + j;
                            assertEquals(Float.floatToRawIntBits(v), Float.floatToRawIntBits(y[at]),
                                    k + " " + act.kind() + " pointwise " + pointwise + " threads " + threads + " at " + at);
                        }
                    }
                }
            }
        }
    }
}
