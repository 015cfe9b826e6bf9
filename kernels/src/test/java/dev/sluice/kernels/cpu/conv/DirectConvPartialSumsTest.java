package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * A 2-D group-1 conv run over its input channels in blocks, each block continuing the FMA chains from the partial
 * sums the blocks before it left (DirectConv's {@code partial}, the K tiles of memgraph's ConvTiling), gives the
 * whole conv's bits through {@link ConvKernels#conv}, with the bias and activation only on the last block; random
 * sizes, strides, pads and block edges, 1 and 3 threads. The whole conv is checked against the definition summed in
 * double, so the comparison cannot pass on a conv that is wrong both ways.
 */
class DirectConvPartialSumsTest {
    @Test void inputChannelBlocksContinueTheChainBitForBit() {
        SplittableRandom r = new SplittableRandom(77);
        for (int trial = 0; trial < 40; trial++) {
            int k = r.nextBoolean() ? 3 : 5, s = r.nextInt(1, 3), p = r.nextInt(0, k / 2 + 1);
            int n = r.nextInt(1, 3), c = r.nextInt(4, 40), h = r.nextInt(k - 2 * p, 14), w = r.nextInt(k - 2 * p + 2, 45), m = r.nextInt(1, 15);
            Attributes at = new Attributes(Map.of("strides", new Attr.Ints(new long[] {s, s}), "pads", new Attr.Ints(new long[] {p, p, p, p})));
            WindowGeometry g = WindowGeometry.of(new long[] {h, w}, new long[] {k, k}, at, false);
            assertTrue(ConvKernels.continuesPartialSums(c, 1, g), "a " + k + "x" + k + " conv runs direct");
            int oh = g.out()[0], ow = g.out()[1];
            float[] x = random(r, n * c * h * w), wt = random(r, m * c * k * k), b = random(r, m);
            Activation act = r.nextBoolean() ? Activation.NONE : Activation.of(new Attributes(Map.of("activation", new Attr.Str("Relu"))));
            for (int threads : new int[] {1, 3}) {
                float[] whole = new float[n * m * oh * ow];
                ConvKernels.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(wt), b, MemorySegment.ofArray(whole), n, c, m, 1, g,
                    Parallelism.of(threads), act, null);
                float[] split = new float[whole.length];
                for (int c0 = 0; c0 < c; ) {
                    int c1 = c - c0 < 4 ? c : Math.min(c, c0 + r.nextInt(2, Math.max(3, c / 2)));
                    if (c - c1 == 1) c1 = c;
                    int cb = c1 - c0;
                    float[] xb = new float[n * cb * h * w], wb = new float[m * cb * k * k];
                    for (int ni = 0; ni < n; ni++) System.arraycopy(x, (ni * c + c0) * h * w, xb, ni * cb * h * w, cb * h * w);
                    for (int o = 0; o < m; o++) System.arraycopy(wt, (o * c + c0) * k * k, wb, o * cb * k * k, cb * k * k);
                    boolean last = c1 == c;
                    DirectConv.conv(MemorySegment.ofArray(xb), MemorySegment.ofArray(wb), last ? b : null, MemorySegment.ofArray(split), n, cb, m,
                        g, Parallelism.of(threads), last ? act : Activation.NONE, null, c0 > 0);
                    c0 = c1;
                }
                String what = "trial " + trial + ": n " + n + " c " + c + " " + h + "x" + w + " m " + m + " k " + k + " s " + s + " p " + p + " threads " + threads;
                for (int i = 0; i < whole.length; i++) {
                    assertEquals(Float.floatToRawIntBits(whole[i]), Float.floatToRawIntBits(split[i]), what + ": element " + i);
                }
                if (act == Activation.NONE) {
                    for (int ni = 0; ni < n; ni++) for (int o = 0; o < m; o++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
                        double acc = b[o];
                        for (int ci = 0; ci < c; ci++) for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) {
                            int iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += (double) x[((ni * c + ci) * h + iy) * w + ix] * wt[((o * c + ci) * k + ky) * k + kx];
                        }
                        float got = whole[((ni * m + o) * oh + oy) * ow + ox];
                        assertEquals(acc, got, 1e-4 * (1 + Math.abs(acc)) * c, what);
                    }
                }
            }
        }
    }

    private static float[] random(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextDouble(-1, 1);
        return v;
    }
}
