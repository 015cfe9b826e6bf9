package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.Attr;
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
 * The direct convolution paths (group 1 over phase planes, depthwise, pointwise, ConvTranspose's product)
 * against the definition summed in double, on odd sizes, strides, dilations, asymmetric pads, depth
 * multipliers and fused activations; and their bits against the invariants the dispatcher relies on.
 */
class DirectConvTest {
    /** One case: N, C, H, W, M, group, kh, kw, sh, sw, dh, dw, pads (top, left, bottom, right). */
    private record Case(int n, int c, int h, int w, int m, int group, int kh, int kw, int sh, int sw, int dh, int dw,
                        int pt, int pl, int pb, int pr) {
        WindowGeometry geometry() {
            Attributes at = new Attributes(Map.of("strides", new Attr.Ints(new long[] {sh, sw}),
                    "dilations", new Attr.Ints(new long[] {dh, dw}), "pads", new Attr.Ints(new long[] {pt, pl, pb, pr})));
            return WindowGeometry.of(new long[] {h, w}, new long[] {kh, kw}, at, false);
        }
    }

    private static final Case[] CASES = {
        // group 1, k x k: odd sizes, strides, dilations, asymmetric pads, M not a multiple of 4 or 6
        new Case(1, 5, 13, 17, 7, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(2, 3, 21, 19, 8, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        new Case(1, 4, 15, 23, 13, 1, 3, 5, 2, 1, 2, 1, 2, 0, 1, 3),
        new Case(1, 6, 9, 11, 2, 1, 5, 3, 3, 2, 1, 2, 0, 2, 2, 1),
        new Case(1, 16, 40, 40, 24, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 7, 1, 45, 5, 1, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1),
        new Case(1, 2, 4, 4, 3, 1, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3),
        // pointwise (1x1, stride 1, no pads), positions not a multiple of the tile, and a strided 1x1
        new Case(1, 9, 7, 11, 10, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),
        new Case(2, 33, 12, 20, 6, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0),
        new Case(1, 5, 9, 9, 4, 1, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0),
        // depthwise, with and without a depth multiplier
        new Case(1, 6, 17, 13, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(2, 5, 20, 21, 5, 5, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2),
        new Case(1, 4, 11, 30, 8, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 3, 14, 9, 9, 3, 3, 3, 1, 2, 2, 2, 2, 1, 0, 3),
        // stride 2 over rows wide enough for the vector de-interleave of phase planes (several vectors and
        // a tail), with the row's pads on either side, one side, or wider than the kernel reaches
        new Case(1, 4, 9, 75, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        new Case(1, 3, 7, 70, 5, 1, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1),
        new Case(1, 2, 6, 66, 2, 2, 5, 5, 2, 2, 1, 1, 2, 3, 2, 0),
        new Case(1, 2, 5, 41, 3, 1, 3, 2, 1, 2, 1, 3, 1, 4, 1, 4),
        new Case(1, 3, 8, 64, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1),
        // planes wide enough for the wide register tiles (4 x 6 and 4 x 4 vectors at 16 maps, 6 x 4 at 12) and
        // their narrower remainders; a padded 1x1 stride-2 conv, whose unread phase planes are left unfilled
        new Case(1, 10, 23, 37, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 9, 21, 45, 12, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 12, 30, 51, 16, 1, 1, 1, 2, 2, 1, 1, 1, 0, 0, 1),
    };

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() * 2 - 1;
        return v;
    }

    /** The ONNX definition, summed in double: bias + sum over the group's channels and the taps inside the input. */
    private static double[] reference(Case k, WindowGeometry g, float[] x, float[] w, float[] b) {
        int oh = g.out()[0], ow = g.out()[1], cg = k.c / k.group, mg = k.m / k.group;
        double[] y = new double[k.n * k.m * oh * ow];
        for (int ni = 0; ni < k.n; ni++) for (int o = 0; o < k.m; o++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
            double acc = b == null ? 0 : b[o];
            int gi = o / mg;
            for (int ci = 0; ci < cg; ci++) for (int ky = 0; ky < k.kh; ky++) for (int kx = 0; kx < k.kw; kx++) {
                int iy = oy * k.sh - k.pt + ky * k.dh, ix = ox * k.sw - k.pl + kx * k.dw;
                if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
                acc += (double) x[((ni * k.c + gi * cg + ci) * k.h + iy) * k.w + ix] * w[((o * cg + ci) * k.kh + ky) * k.kw + kx];
            }
            y[((ni * k.m + o) * oh + oy) * ow + ox] = acc;
        }
        return y;
    }

    private static float[] run(Case k, WindowGeometry g, float[] x, float[] w, float[] b, int threads, Activation act, Object key) {
        float[] y = new float[k.n * k.m * g.out()[0] * g.out()[1]];
        Arrays.fill(y, Float.NaN);
        ConvKernels.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(y), k.n, k.c, k.m, k.group,
                g, Parallelism.of(threads), act, key);
        return y;
    }

    @Test
    void directPathsMatchTheDefinition() {
        Random r = new Random(11);
        for (Case k : CASES) {
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m * (k.c / k.group) * k.kh * k.kw), b = random(r, k.m);
            double[] expect = reference(k, g, x, w, b);
            for (int threads : new int[] {1, 3}) {
                float[] y = run(k, g, x, w, b, threads, Activation.NONE, null);
                for (int i = 0; i < y.length; i++) {
                    assertEquals(expect[i], y[i], 1e-4 * (1 + Math.abs(expect[i])), k + " threads " + threads + " at " + i);
                }
            }
        }
    }

    @Test
    void fusedActivationAppliesAfterTheBias() {
        Random r = new Random(5);
        Activation hardSwish = new Activation(Activation.Kind.HARD_SWISH_CHAIN, 0, 0, 0, 6, 3, 6);
        for (Case k : new Case[] {CASES[0], CASES[7], CASES[10]}) {
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m * (k.c / k.group) * k.kh * k.kw), b = random(r, k.m);
            double[] expect = reference(k, g, x, w, b);
            float[] y = run(k, g, x, w, b, 2, hardSwish, null);
            for (int i = 0; i < y.length; i++) {
                double v = expect[i], hs = v * Math.min(Math.max(v + 3, 0), 6) / 6;
                assertEquals(hs, y[i], 1e-4 * (1 + Math.abs(hs)), k + " at " + i);
            }
        }
    }

    @Test
    void bitsDoNotDependOnThreadsOrOnTheCachedFilter() {
        Random r = new Random(7);
        for (Case k : CASES) {
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m * (k.c / k.group) * k.kh * k.kw), b = random(r, k.m);
            float[] one = run(k, g, x, w, b, 1, Activation.NONE, null);
            Object key = new Object();
            assertArrayEquals(one, run(k, g, x, w, b, 4, Activation.NONE, key), k.toString());
            // the second call with the key takes the cached packed filter
            assertArrayEquals(one, run(k, g, x, w, b, 2, Activation.NONE, key), k.toString());
        }
    }

    @Test
    void outputChannelBlocksGiveTheSameBitsAsTheWholeConv() {
        // memgraph splits group-1 convs by output channels (blocks of >= 2) and requires identical bits
        Random r = new Random(9);
        for (Case k : CASES) {
            if (k.group != 1) continue;
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m * k.c * k.kh * k.kw), b = random(r, k.m);
            float[] whole = run(k, g, x, w, b, 2, Activation.NONE, null);
            int oh = g.out()[0], ow = g.out()[1], per = k.c * k.kh * k.kw;
            for (int start = 0; start < k.m; ) {
                int end = Math.min(k.m, start + 2 + start % 3);
                if (k.m - end == 1) end = k.m;
                Case part = new Case(k.n, k.c, k.h, k.w, end - start, 1, k.kh, k.kw, k.sh, k.sw, k.dh, k.dw, k.pt, k.pl, k.pb, k.pr);
                float[] y = run(part, g, x, Arrays.copyOfRange(w, start * per, end * per), Arrays.copyOfRange(b, start, end), 3,
                        Activation.NONE, null);
                for (int ni = 0; ni < k.n; ni++) {
                    for (int o = start; o < end; o++) {
                        for (int q = 0; q < oh * ow; q++) {
                            float a = whole[(ni * k.m + o) * oh * ow + q], c = y[(ni * (end - start) + o - start) * oh * ow + q];
                            assertEquals(Float.floatToRawIntBits(a), Float.floatToRawIntBits(c), k + " channels [" + start + ", " + end + ")");
                        }
                    }
                }
                start = end;
            }
        }
    }

    @Test
    void convTransposeMatchesTheDefinition() {
        Random r = new Random(13);
        // C, H, W, M per group, group, k, stride, dilation, pad
        int[][] cases = {{24, 9, 10, 24, 1, 2, 2, 1, 0}, {24, 12, 12, 1, 1, 2, 2, 1, 0}, {5, 7, 9, 3, 1, 3, 2, 1, 1},
            {4, 5, 6, 7, 2, 3, 1, 2, 2}, {6, 3, 40, 5, 3, 4, 3, 1, 1},
            // stride 2 over rows wide enough for the vector zip of column phases, with and without overlap
            {3, 5, 40, 2, 1, 3, 2, 1, 1}, {4, 6, 37, 1, 1, 2, 2, 1, 0}};
        for (int[] t : cases) {
            int c = t[0], h = t[1], wd = t[2], mg = t[3], group = t[4], k = t[5], s = t[6], d = t[7], p = t[8], m = mg * group, cg = c / group;
            Attributes at = new Attributes(Map.of("strides", new Attr.Ints(new long[] {s, s}), "dilations", new Attr.Ints(new long[] {d, d}),
                    "pads", new Attr.Ints(new long[] {p, p, p, p})));
            ConvTransposeKernels.TransposeGeometry tg = ConvTransposeKernels.TransposeGeometry.of(new long[] {h, wd}, new long[] {k, k}, at);
            int oh = tg.out()[0], ow = tg.out()[1];
            float[] x = random(r, c * h * wd), w = random(r, c * mg * k * k), b = random(r, m);
            float[] y = new float[m * oh * ow];
            Arrays.fill(y, Float.NaN);
            ConvTransposeKernels.convTranspose(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(y), 1, c, mg, group,
                    tg.w(), Parallelism.of(2));
            // bands of output rows per task: the bits do not depend on the thread count
            for (int threads : new int[] {1, 3}) {
                float[] other = new float[y.length];
                ConvTransposeKernels.convTranspose(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(other), 1, c, mg,
                        group, tg.w(), Parallelism.of(threads));
                assertArrayEquals(y, other, Arrays.toString(t) + " threads " + threads);
            }
            for (int o = 0; o < m; o++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
                double acc = b[o];
                int gi = o / mg, og = o % mg;
                for (int ci = 0; ci < cg; ci++) for (int iy = 0; iy < h; iy++) for (int ix = 0; ix < wd; ix++) {
                    for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) {
                        if (iy * s - p + ky * d != oy || ix * s - p + kx * d != ox) continue;
                        acc += (double) x[((gi * cg + ci) * h + iy) * wd + ix] * w[(((gi * cg + ci) * mg + og) * k + ky) * k + kx];
                    }
                }
                assertEquals(acc, y[(o * oh + oy) * ow + ox], 1e-4 * (1 + Math.abs(acc)), Arrays.toString(t) + " at " + o + "," + oy + "," + ox);
            }
        }
    }
}
