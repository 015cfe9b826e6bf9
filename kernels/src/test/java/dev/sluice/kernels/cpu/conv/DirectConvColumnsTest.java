package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * DirectConv from gathered columns (small planes, where the phase planes' padding columns waste positions) gives
 * the bits of the same conv straight from the phase planes, and both match the definition summed in double;
 * random sizes (odd ones included), kernels, strides, pads and dilations, 1 and 3 threads.
 */
class DirectConvColumnsTest {
    @Test void smallPlanesTakeTheGatheredColumns() {
        // a 2-wide output row under a 3-wide kernel: the planes compute 4 columns per row
        assertTrue(DirectConv.gathers(geometry(10, 2, 3, 3, 1, 1, 1, 1), 96, 96));
        // a wide plane wastes little: straight from the planes
        assertFalse(DirectConv.gathers(geometry(64, 64, 3, 3, 1, 1, 1, 1), 32, 32));
        // too few output channels to pay for the copy
        assertFalse(DirectConv.gathers(geometry(10, 2, 3, 3, 1, 1, 1, 1), 96, 4));
    }

    @Test void columnsGiveThePlanesBitsAndTheDefinition() {
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
            for (int threads : new int[] {1, 3}) {
                float[] planes = new float[n * m * oh * ow], cols = new float[planes.length];
                DirectConv.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(wt), b, MemorySegment.ofArray(planes), n, c, m, g,
                    Parallelism.of(threads), act, null, false, false);
                DirectConv.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(wt), b, MemorySegment.ofArray(cols), n, c, m, g,
                    Parallelism.of(threads), act, null, false, true);
                for (int i = 0; i < planes.length; i++) {
                    assertEquals(Float.floatToRawIntBits(planes[i]), Float.floatToRawIntBits(cols[i]), what + " threads " + threads + ": element " + i);
                }
            }
            float[] y = new float[n * m * oh * ow];
            DirectConv.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(wt), b, MemorySegment.ofArray(y), n, c, m, g,
                Parallelism.of(1), act, null, false, true);
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
