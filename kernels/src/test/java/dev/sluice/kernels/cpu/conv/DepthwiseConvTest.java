package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.function.DoubleUnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Depthwise convolution (group = C) against the ONNX definition written out here (summed in double, the
 * activation applied after the bias), on the small planes of mobile nets (10 x 10 with 5 x 5 taps, 20 x 20
 * at stride 2, many channels), depth multipliers, odd sizes, wide planes split into strips, strides,
 * dilations and pads that clip; and the bits of banded and channel-split runs against the whole conv.
 */
class DepthwiseConvTest {
    /** N, C, multiplier, H, W, kh, kw, sh, sw, dh, dw, pads (top, left, bottom, right). */
    private record Case(int n, int c, int mult, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                        int pt, int pl, int pb, int pr) {
        int m() { return c * mult; }

        WindowGeometry geometry() {
            Attributes at = new Attributes(Map.of("strides", new Attr.Ints(new long[] {sh, sw}),
                    "dilations", new Attr.Ints(new long[] {dh, dw}), "pads", new Attr.Ints(new long[] {pt, pl, pb, pr})));
            return WindowGeometry.of(new long[] {h, w}, new long[] {kh, kw}, at, false);
        }

        /** The same conv on input rows [a, b) with its own top and bottom pads. */
        Case band(int a, int b, int top, int bottom) {
            return new Case(n, c, mult, b - a, w, kh, kw, sh, sw, dh, dw, top, pl, bottom, pr);
        }
    }

    private static final Case[] CASES = {
        // PP-OCRv3 det's small planes: 10 x 10 5x5 pad 2, 20 x 20 5x5 stride 2, 20 x 20 3x3, 40 x 40 3x3 stride 2
        new Case(1, 48, 1, 10, 10, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2),
        new Case(1, 33, 1, 20, 20, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2),
        new Case(1, 20, 1, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 12, 1, 40, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        // depth multipliers, batch, odd sizes
        new Case(2, 5, 3, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 4, 2, 11, 13, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2),
        new Case(3, 3, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 6, 1, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 7, 1, 17, 19, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        // rows wider than a vector (full vectors and a tail), planes split into several strips, and planes
        // wide enough for DirectConv's depthwise path
        new Case(1, 3, 1, 9, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 3, 2, 70, 50, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 2, 1, 90, 61, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2),
        new Case(1, 2, 1, 31, 161, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 2, 2, 45, 130, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        // strides 3 and mixed, dilations, asymmetric pads, pads wider than the kernel reaches, no pads, 1 x k
        new Case(1, 3, 1, 14, 16, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1),
        new Case(1, 4, 1, 11, 30, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1),
        new Case(1, 3, 1, 14, 9, 3, 3, 1, 2, 2, 2, 2, 1, 0, 3),
        new Case(1, 2, 1, 6, 7, 3, 3, 1, 1, 1, 1, 4, 4, 4, 4),
        new Case(1, 5, 1, 12, 12, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0),
        new Case(1, 3, 2, 8, 21, 1, 5, 1, 1, 1, 1, 0, 2, 0, 2),
        new Case(1, 2, 1, 13, 26, 5, 5, 2, 2, 1, 1, 2, 3, 2, 0),
        // stride 2 on rows of whole vector pairs: split row by row straight into the phase planes
        new Case(1, 3, 1, 20, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        // the last input rows and columns read by no output (stride 3, no pads)
        new Case(1, 3, 1, 11, 11, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0),
        new Case(1, 3, 1, 11, 20, 3, 3, 1, 3, 1, 1, 0, 0, 0, 0),
    };

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() * 2 - 1;
        return v;
    }

    /** The ONNX definition in double: bias + sum over the taps inside the input, output channel o reading channel o / mult. */
    private static double[] reference(Case k, WindowGeometry g, float[] x, float[] w, float[] b) {
        int oh = g.out()[0], ow = g.out()[1], m = k.m();
        double[] y = new double[k.n * m * oh * ow];
        for (int ni = 0; ni < k.n; ni++) for (int o = 0; o < m; o++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
            double acc = b == null ? 0 : b[o];
            int ci = o / k.mult;
            for (int ky = 0; ky < k.kh; ky++) for (int kx = 0; kx < k.kw; kx++) {
                int iy = oy * k.sh - k.pt + ky * k.dh, ix = ox * k.sw - k.pl + kx * k.dw;
                if (iy < 0 || iy >= k.h || ix < 0 || ix >= k.w) continue;
                acc += (double) x[((ni * k.c + ci) * k.h + iy) * k.w + ix] * w[(o * k.kh + ky) * k.kw + kx];
            }
            y[((ni * m + o) * oh + oy) * ow + ox] = acc;
        }
        return y;
    }

    private static float[] run(Case k, float[] x, float[] w, float[] b, int threads, Activation act) {
        WindowGeometry g = k.geometry();
        float[] y = new float[k.n * k.m() * g.out()[0] * g.out()[1]];
        Arrays.fill(y, Float.NaN);
        ConvKernels.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(y), k.n, k.c, k.m(), k.c,
                g, Parallelism.of(threads), act, null);
        return y;
    }

    /** An activation and its definition in double. */
    private record Act(Activation kernel, DoubleUnaryOperator definition) {}

    private static final Act[] ACTS = {
        new Act(Activation.NONE, v -> v),
        new Act(new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1), v -> Math.max(v, 0)),
        new Act(new Activation(Activation.Kind.HARD_SWISH, 1f / 6f, 0.5f, 0, 1, 0, 1), v -> v * Math.max(0, Math.min(1, v / 6 + 0.5))),
        new Act(new Activation(Activation.Kind.HARD_SWISH_CHAIN, 0, 0, 0, 6, 3, 6), v -> v * Math.min(Math.max(v + 3, 0), 6) / 6),
        new Act(new Activation(Activation.Kind.LEAKY_RELU, 0.1f, 0, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, 0, 1), v -> v < 0 ? 0.1 * v : v),
        // LeakyRelu then Max(-0.4) and Min(2): the clamp a fused Max / Min by constants adds
        new Act(new Activation(Activation.Kind.LEAKY_RELU, 0.2f, 0, -0.4f, 2f, 0, 1), v -> Math.min(Math.max(v < 0 ? 0.2 * v : v, -0.4), 2)),
    };

    @Test
    void matchesTheDefinition() {
        Random r = new Random(21);
        int ai = 0;
        for (Case k : CASES) {
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m() * k.kh * k.kw), b = random(r, k.m());
            for (float[] bias : new float[][] {b, null}) {
                double[] expect = reference(k, g, x, w, bias);
                Act act = ACTS[ai++ % ACTS.length];
                for (int threads : new int[] {1, 3}) {
                    float[] y = run(k, x, w, bias, threads, act.kernel);
                    for (int i = 0; i < y.length; i++) {
                        double e = act.definition.applyAsDouble(expect[i]);
                        assertEquals(e, y[i], 1e-4 * (1 + Math.abs(e)), k + " " + act.kernel.kind() + " bias " + (bias != null)
                                + " threads " + threads + " at " + i);
                    }
                }
            }
        }
    }

    @Test
    void readsNativeSegmentsUpToTheirEnds() {
        // x and y exactly as large as the tensors: the masked loads and stores of the last row stay inside
        Random r = new Random(4);
        for (Case k : new Case[] {CASES[0], CASES[1], CASES[7], CASES[13]}) {
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m() * k.kh * k.kw), b = random(r, k.m());
            float[] expect = run(k, x, w, b, 1, ACTS[3].kernel);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment xs = arena.allocate((long) x.length * 4), ws = arena.allocate((long) w.length * 4);
                MemorySegment ys = arena.allocate((long) expect.length * 4);
                MemorySegment.copy(x, 0, xs, ValueLayout.JAVA_FLOAT, 0, x.length);
                MemorySegment.copy(w, 0, ws, ValueLayout.JAVA_FLOAT, 0, w.length);
                ConvKernels.conv(xs, ws, b, ys, k.n, k.c, k.m(), k.c, g, Parallelism.of(2), ACTS[3].kernel, null);
                float[] y = ys.toArray(ValueLayout.JAVA_FLOAT);
                for (int i = 0; i < y.length; i++) {
                    assertEquals(Float.floatToRawIntBits(expect[i]), Float.floatToRawIntBits(y[i]), k + " at " + i);
                }
            }
        }
    }

    @Test
    void bandsOfRowsAndChannelsGiveTheBitsOfTheWholeConv() {
        // memgraph's row bands run the kernel on the input rows a band reads, with its own top and bottom pads;
        // every output element must keep its bits, whatever the band's height or its position in a vector
        Random r = new Random(8);
        for (Case k : CASES) {
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m() * k.kh * k.kw), b = random(r, k.m());
            for (Act act : new Act[] {ACTS[2], ACTS[3]}) {
                float[] whole = run(k, x, w, b, 2, act.kernel);
                int oh = g.out()[0], ow = g.out()[1], m = k.m();
                for (int r0 = 0; r0 < oh; ) {
                    int r1 = Math.min(oh, r0 + 1 + r0 % 4);
                    int start = r0 * k.sh - k.pt, end = (r1 - 1) * k.sh - k.pt + (k.kh - 1) * k.dh + 1;
                    int a = Math.max(0, start), bEnd = Math.min(k.h, end);
                    if (bEnd <= a) { r0 = r1; continue; } // a band of padding only: not one memgraph makes
                    Case band = k.band(a, bEnd, a - start, end - bEnd);
                    float[] xb = new float[k.n * k.c * band.h * k.w];
                    for (int q = 0; q < k.n * k.c; q++) System.arraycopy(x, (q * k.h + a) * k.w, xb, q * band.h * k.w, band.h * k.w);
                    float[] yb = run(band, xb, w, b, 1, act.kernel);
                    assertEquals(r1 - r0, band.geometry().out()[0], k + " band rows");
                    for (int q = 0; q < k.n * m; q++) {
                        for (int i = 0; i < (r1 - r0) * ow; i++) {
                            assertEquals(Float.floatToRawIntBits(whole[(q * oh + r0) * ow + i]), Float.floatToRawIntBits(yb[q * (r1 - r0) * ow + i]),
                                    k + " rows [" + r0 + ", " + r1 + ") plane " + q + " at " + i);
                        }
                    }
                    r0 = r1;
                }
                // the channels one at a time
                int plane = g.out()[0] * g.out()[1], in = k.h * k.w;
                for (int ci = 0; ci < k.c; ci++) {
                    Case one = new Case(1, 1, k.mult, k.h, k.w, k.kh, k.kw, k.sh, k.sw, k.dh, k.dw, k.pt, k.pl, k.pb, k.pr);
                    float[] y = run(one, Arrays.copyOfRange(x, ci * in, (ci + 1) * in),
                            Arrays.copyOfRange(w, ci * k.mult * k.kh * k.kw, (ci + 1) * k.mult * k.kh * k.kw),
                            Arrays.copyOfRange(b, ci * k.mult, (ci + 1) * k.mult), 1, act.kernel);
                    for (int i = 0; i < y.length; i++) {
                        assertEquals(Float.floatToRawIntBits(whole[ci * k.mult * plane + i]), Float.floatToRawIntBits(y[i]),
                                k + " channel " + ci + " at " + i);
                    }
                }
            }
        }
    }

    /**
     * The same float arithmetic written out plainly: per output element fma(w, x, acc) over the taps in (ky, kx)
     * order from +0, a tap on padding reading 0 (so it still takes its fma, as the kernels' zeroed planes do),
     * then the bias added in float. Every route must give exactly these bits.
     */
    private static float[] fmaChain(Case k, WindowGeometry g, float[] x, float[] w, float[] b) {
        int oh = g.out()[0], ow = g.out()[1], m = k.m();
        float[] y = new float[k.n * m * oh * ow];
        for (int ni = 0; ni < k.n; ni++) for (int o = 0; o < m; o++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
            float acc = 0f;
            int ci = o / k.mult;
            for (int ky = 0; ky < k.kh; ky++) for (int kx = 0; kx < k.kw; kx++) {
                int iy = oy * k.sh - k.pt + ky * k.dh, ix = ox * k.sw - k.pl + kx * k.dw;
                float v = iy < 0 || iy >= k.h || ix < 0 || ix >= k.w ? 0f : x[((ni * k.c + ci) * k.h + iy) * k.w + ix];
                acc = Math.fma(w[(o * k.kh + ky) * k.kw + kx], v, acc);
            }
            y[((ni * m + o) * oh + oy) * ow + ox] = b == null ? acc : acc + b[o];
        }
        return y;
    }

    @Test
    void everyRouteGivesTheBitsOfThePlainFmaChain() {
        // wide planes (rows of 64 and more: the banded path, its 3x3 and general tap loops, row tails of 1..15
        // floats, stride 2 down the rows, dilation, multipliers) and small ones (strips of planes), at 1 and 3 threads
        Case[] cases = {
            new Case(1, 5, 1, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
            new Case(1, 3, 1, 20, 67, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
            new Case(2, 3, 2, 9, 81, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0),
            new Case(1, 4, 1, 33, 70, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2),
            new Case(1, 3, 1, 31, 97, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1),
            new Case(1, 2, 1, 30, 75, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2),
            new Case(1, 2, 3, 12, 130, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
            new Case(1, 2, 1, 11, 66, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1),
            new Case(1, 6, 1, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
            new Case(1, 5, 1, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
            new Case(1, 4, 1, 32, 32, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1),
            new Case(1, 3, 1, 10, 10, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2),
            // stride 2 on rows of 64, 128 and 160: each row split into its phase planes, the first padded column
            // of input even (pads 0 and 2) and odd (pad 1), a multiplier, a 5 x 5
            new Case(1, 3, 1, 20, 64, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1),
            new Case(1, 3, 2, 17, 128, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
            new Case(1, 2, 1, 21, 64, 5, 5, 2, 2, 1, 1, 2, 2, 2, 2),
            new Case(1, 2, 1, 9, 160, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
        };
        Random r = new Random(33);
        for (Case k : cases) {
            WindowGeometry g = k.geometry();
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m() * k.kh * k.kw), b = random(r, k.m());
            for (float[] bias : new float[][] {b, null}) {
                float[] expect = fmaChain(k, g, x, w, bias);
                for (int threads : new int[] {1, 3}) {
                    float[] y = run(k, x, w, bias, threads, Activation.NONE);
                    for (int i = 0; i < y.length; i++) {
                        assertEquals(Float.floatToRawIntBits(expect[i]), Float.floatToRawIntBits(y[i]),
                                k + " bias " + (bias != null) + " threads " + threads + " at " + i);
                    }
                }
            }
        }
    }
}
