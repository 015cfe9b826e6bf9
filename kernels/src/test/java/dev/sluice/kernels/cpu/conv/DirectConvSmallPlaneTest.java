package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * DirectConv over small planes, whose runs of positions end in a half tile (one vector wide), matches the definition
 * summed in double and gives the same bits at 1 and 3 threads (another task split, other half tiles); random sizes
 * (odd ones included), kernels, strides, pads and dilations, both register-tile heights (m up to 29).
 */
class DirectConvSmallPlaneTest {
    @Test void halfTilesMatchTheDefinitionAtAnyThreadCount() {
        SplittableRandom r = new SplittableRandom(1313);
        for (int trial = 0; trial < 60; trial++) {
            int kh = r.nextInt(1, 6), kw = r.nextInt(1, 6), s = r.nextInt(1, 3), d = r.nextInt(1, 3);
            int ph = r.nextInt(0, kh), pw = r.nextInt(0, kw);
            int h0 = Math.max(1, (kh - 1) * d + 1 - 2 * ph), w0 = Math.max(1, (kw - 1) * d + 1 - 2 * pw);
            int h = r.nextInt(h0, h0 + 14), w = r.nextInt(w0, w0 + 7);
            int n = r.nextInt(1, 3), c = r.nextInt(1, 24), m = r.nextInt(1, 30);
            WindowGeometry g = geometry(h, w, kh, kw, s, d, ph, pw);
            int oh = g.out()[0], ow = g.out()[1];
            float[] x = random(r, n * c * h * w), wt = random(r, m * c * kh * kw), b = random(r, m);
            Activation act = r.nextBoolean() ? Activation.NONE : Activation.of(new Attributes(Map.of("activation", new Attr.Str("Relu"))));
            String what = "trial " + trial + ": n " + n + " c " + c + " " + h + "x" + w + " m " + m + " k " + kh + "x" + kw
                + " s " + s + " d " + d + " p " + ph + "," + pw;
            float[] y = new float[n * m * oh * ow], y3 = new float[y.length];
            DirectConv.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(wt), b, MemorySegment.ofArray(y), n, c, m, g,
                Parallelism.of(1), act, null, false);
            DirectConv.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(wt), b, MemorySegment.ofArray(y3), n, c, m, g,
                Parallelism.of(3), act, null, false);
            for (int i = 0; i < y.length; i++) {
                assertEquals(Float.floatToRawIntBits(y[i]), Float.floatToRawIntBits(y3[i]), what + " 1 vs 3 threads: element " + i);
            }
            for (int ni = 0; ni < n; ni++) for (int o = 0; o < m; o++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
                double acc = b[o];
                for (int ci = 0; ci < c; ci++) for (int ky = 0; ky < kh; ky++) for (int kx = 0; kx < kw; kx++) {
                    int iy = oy * s - ph + ky * d, ix = ox * s - pw + kx * d;
                    if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += (double) x[((ni * c + ci) * h + iy) * w + ix] * wt[((o * c + ci) * kh + ky) * kw + kx];
                }
                if (act != Activation.NONE) acc = Math.max(0, acc);
                float got = y[((ni * m + o) * oh + oy) * ow + ox];
                assertEquals(acc, got, 1e-5 * (1 + Math.abs(acc)) * c * kh * kw, what + " at " + ni + "," + o + "," + oy + "," + ox);
            }
        }
    }

    private static WindowGeometry geometry(int h, int w, int kh, int kw, int s, int d, int ph, int pw) {
        Attributes at = new Attributes(Map.of("strides", new Attr.Ints(new long[] {s, s}), "dilations", new Attr.Ints(new long[] {d, d}),
            "pads", new Attr.Ints(new long[] {ph, pw, ph, pw})));
        return WindowGeometry.of(new long[] {h, w}, new long[] {kh, kw}, at, false);
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextDouble(-1, 1);
        return v;
    }
}
