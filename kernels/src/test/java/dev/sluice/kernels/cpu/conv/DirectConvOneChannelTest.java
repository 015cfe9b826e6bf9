package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Group-1 convs of one input channel into {@link ConvKernels#ONE_CHANNEL_DIRECT_MAPS} or more maps (stems of
 * spectrogram and image nets), which ConvKernels sends to DirectConv instead of DepthwiseConv: against the
 * definition summed in double (random odd sizes, kernels 1-5, strides 1-2, dilations 1-2, asymmetric pads,
 * activations); one and three threads bit for bit; DirectConv and DepthwiseConv bit for bit, since memgraph's
 * tiles of such a conv (a channel tile of fewer maps, a depthwise conv's one-group tile) may take the other
 * route and must still give the whole conv's bits; and a channel tile of fewer maps against the whole.
 */
class DirectConvOneChannelTest {
    private record Case(int n, int h, int w, int m, int kh, int kw, int sh, int sw, int dh, int dw,
                        int pt, int pl, int pb, int pr) {
        int oh() { return (h + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
        int ow() { return (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }

        WindowGeometry geometry() {
            return new WindowGeometry(new int[] {h, w}, new int[] {kh, kw}, new int[] {sh, sw}, new int[] {dh, dw},
                new int[] {pt, pl}, new int[] {pb, pr}, new int[] {oh(), ow()});
        }

        @Override public String toString() {
            return "x " + n + "x1x" + h + "x" + w + " w " + m + "x1x" + kh + "x" + kw + " s " + sh + "," + sw
                + " d " + dh + "," + dw + " pads " + pt + "," + pl + "," + pb + "," + pr;
        }
    }

    private record Act(Activation kernel, DoubleUnaryOperator ref, String name) {}

    private static final Act[] ACTS = {
        new Act(Activation.NONE, v -> v, "none"),
        new Act(new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1), v -> Math.max(v, 0), "relu"),
        new Act(new Activation(Activation.Kind.LEAKY_RELU, 0.2f, 0, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, 0, 1),
            v -> v < 0 ? 0.2 * v : v, "leaky"),
        new Act(new Activation(Activation.Kind.HARD_SWISH_CHAIN, 0, 0, 0, 6, 3, 6),
            v -> v * Math.min(Math.max(v + 3, 0), 6) / 6, "hardswish"),
    };

    private static Case random(SplittableRandom r) {
        int kh = 1 + r.nextInt(5), kw = 1 + r.nextInt(5), sh = 1 + r.nextInt(2), sw = 1 + r.nextInt(2);
        int dh = r.nextInt(4) == 0 ? 2 : 1, dw = r.nextInt(4) == 0 ? 2 : 1;
        int pt = r.nextInt(3), pl = r.nextInt(3), pb = r.nextInt(3), pr = r.nextInt(3);
        int h = (kh - 1) * dh + 1 + r.nextInt(40), w = (kw - 1) * dw + 1 + r.nextInt(70);
        int m = ConvKernels.ONE_CHANNEL_DIRECT_MAPS + r.nextInt(25);
        return new Case(1 + r.nextInt(2), h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr);
    }

    private static MemorySegment segment(float[] v) {
        MemorySegment s = Arena.ofAuto().allocate((long) Math.max(1, v.length) * 4, 64);
        MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT, 0, v.length);
        return s;
    }

    private static float[] floats(SplittableRandom r, int count) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    /** act(conv(x, w) + b) by the definition, in double. */
    private static double[] reference(Case k, float[] x, float[] w, float[] b, DoubleUnaryOperator act) {
        int oh = k.oh(), ow = k.ow();
        double[] y = new double[k.n * k.m * oh * ow];
        for (int ni = 0; ni < k.n; ni++) {
            for (int o = 0; o < k.m; o++) {
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        double s = b[o];
                        for (int ky = 0; ky < k.kh; ky++) {
                            int iy = oy * k.sh - k.pt + ky * k.dh;
                            if (iy < 0 || iy >= k.h) continue;
                            for (int kx = 0; kx < k.kw; kx++) {
                                int ix = ox * k.sw - k.pl + kx * k.dw;
                                if (ix < 0 || ix >= k.w) continue;
                                s += (double) x[(ni * k.h + iy) * k.w + ix] * w[(o * k.kh + ky) * k.kw + kx];
                            }
                        }
                        y[((ni * k.m + o) * oh + oy) * ow + ox] = act.applyAsDouble(s);
                    }
                }
            }
        }
        return y;
    }

    private enum Route { DISPATCH, DIRECT, DEPTHWISE }

    private static float[] run(Route route, Case k, int m, float[] x, float[] w, float[] b, Activation act, int threads) {
        int out = k.n * m * k.oh() * k.ow();
        MemorySegment xs = segment(x), ws = segment(w), ys = segment(new float[out]);
        try (Parallelism par = Parallelism.of(threads)) {
            switch (route) {
                case DISPATCH -> ConvKernels.conv(xs, ws, b, ys, k.n, 1, m, 1, k.geometry(), par, act, new Object());
                case DIRECT -> DirectConv.conv(xs, ws, b, ys, k.n, 1, m, k.geometry(), par, act, null);
                case DEPTHWISE -> DepthwiseConv.conv(xs, ws, b, ys, k.n, 1, m, k.geometry(), par, act);
            }
        }
        return ys.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void randomShapesMatchTheDefinitionAndTheDepthwiseRouteBitForBit() {
        SplittableRandom r = new SplittableRandom(20261207);
        for (int trial = 0; trial < 120; trial++) {
            Case k = random(r);
            Act act = ACTS[trial % ACTS.length];
            float[] x = floats(r, k.n * k.h * k.w), w = floats(r, k.m * k.kh * k.kw), b = floats(r, k.m);
            double[] want = reference(k, x, w, b, act.ref);
            float[] one = run(Route.DISPATCH, k, k.m, x, w, b, act.kernel, 1);
            String what = k + " " + act.name;
            assertEquals(want.length, one.length, what);
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], one[i], 1e-5 * (1 + k.kh * k.kw) * (1 + Math.abs(want[i])), what + " at " + i);
            }
            assertArrayEquals(one, run(Route.DISPATCH, k, k.m, x, w, b, act.kernel, 3), what + ": 1 vs 3 threads");
            assertArrayEquals(one, run(Route.DIRECT, k, k.m, x, w, b, act.kernel, 2), what + ": direct");
            assertArrayEquals(one, run(Route.DEPTHWISE, k, k.m, x, w, b, act.kernel, 1), what + ": depthwise route");
        }
    }

    /** A channel tile below the threshold goes to DepthwiseConv; its maps must be the whole conv's, bit for bit. */
    @Test
    void aChannelTileOfFewerMapsGivesTheWholeConvsBits() {
        SplittableRandom r = new SplittableRandom(7);
        for (int trial = 0; trial < 30; trial++) {
            Case k = random(r);
            if (k.n != 1) k = new Case(1, k.h, k.w, k.m, k.kh, k.kw, k.sh, k.sw, k.dh, k.dw, k.pt, k.pl, k.pb, k.pr);
            Act act = ACTS[trial % ACTS.length];
            float[] x = floats(r, k.h * k.w), w = floats(r, k.m * k.kh * k.kw), b = floats(r, k.m);
            float[] whole = run(Route.DISPATCH, k, k.m, x, w, b, act.kernel, 2);
            int tile = 1 + r.nextInt(ConvKernels.ONE_CHANNEL_DIRECT_MAPS - 1), m0 = r.nextInt(k.m - tile + 1);
            assertTrue(tile < ConvKernels.ONE_CHANNEL_DIRECT_MAPS);
            float[] wt = java.util.Arrays.copyOfRange(w, m0 * k.kh * k.kw, (m0 + tile) * k.kh * k.kw);
            float[] bt = java.util.Arrays.copyOfRange(b, m0, m0 + tile);
            float[] part = run(Route.DISPATCH, k, tile, x, wt, bt, act.kernel, 2);
            int plane = k.oh() * k.ow();
            float[] wholePart = java.util.Arrays.copyOfRange(whole, m0 * plane, (m0 + tile) * plane);
            assertArrayEquals(wholePart, part, k + " " + act.name + ": maps " + m0 + ".." + (m0 + tile));
        }
    }
}
