package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * 1-D group-1 convolutions with few output positions (the {@link NarrowConv} path, reached through
 * ConvKernels.conv) against the ONNX definition summed in double; and the invariants the dispatcher's
 * output-channel tiles rely on: the same bits for any subset of output channels and any thread count.
 */
class NarrowConvTest {
    /** N, C, L (input length), M, kernel, stride, dilation, pads (begin, end). */
    private record Case(int n, int c, int len, int m, int k, int s, int d, int pb, int pe) {
        WindowGeometry geometry() {
            Attributes at = new Attributes(Map.of("strides", new Attr.Ints(new long[] {s}),
                    "dilations", new Attr.Ints(new long[] {d}), "pads", new Attr.Ints(new long[] {pb, pe})));
            return WindowGeometry.of(new long[] {len}, new long[] {k}, at, false);
        }
    }

    private static final Case[] CASES = {
        // Silero VAD v5 at 16 kHz: the STFT (one channel, 258 filters of 256 taps, stride 128) and the encoder
        new Case(1, 1, 576, 258, 256, 128, 1, 0, 0),
        new Case(1, 129, 3, 128, 3, 1, 1, 1, 1),
        new Case(1, 128, 3, 64, 3, 2, 1, 1, 1),
        new Case(1, 64, 2, 64, 3, 2, 1, 1, 1),
        new Case(1, 64, 1, 128, 3, 1, 1, 1, 1),
        new Case(1, 128, 1, 1, 1, 1, 1, 0, 0),
        // taps not a multiple of any vector width, dilation, asymmetric pads, batch, 5 to 8 positions
        new Case(2, 7, 11, 5, 3, 2, 2, 2, 0),
        new Case(1, 3, 9, 17, 5, 1, 1, 0, 3),
        new Case(3, 33, 8, 9, 2, 1, 1, 0, 0),
        new Case(1, 5, 20, 6, 4, 3, 1, 1, 2),
    };

    private static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = r.nextFloat() * 2 - 1;
        return v;
    }

    /** The ONNX definition, summed in double: bias + sum over channels and the taps inside the input. */
    private static double[] reference(Case k, int out, float[] x, float[] w, float[] b) {
        double[] y = new double[k.n * k.m * out];
        for (int ni = 0; ni < k.n; ni++) for (int o = 0; o < k.m; o++) for (int p = 0; p < out; p++) {
            double acc = b == null ? 0 : b[o];
            for (int ci = 0; ci < k.c; ci++) for (int t = 0; t < k.k; t++) {
                int pos = p * k.s - k.pb + t * k.d;
                if (pos < 0 || pos >= k.len) continue;
                acc += (double) x[(ni * k.c + ci) * k.len + pos] * w[(o * k.c + ci) * k.k + t];
            }
            y[(ni * k.m + o) * out + p] = acc;
        }
        return y;
    }

    private static float[] run(Case k, int m, float[] x, float[] w, float[] b, int threads, Activation act) {
        WindowGeometry g = k.geometry();
        float[] y = new float[k.n * m * g.out()[0]];
        Arrays.fill(y, Float.NaN);
        ConvKernels.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(y), k.n, k.c, m, 1,
                g, Parallelism.of(threads), act, null);
        return y;
    }

    @Test void matchesTheDefinition() {
        Random r = new Random(7);
        for (Case k : CASES) {
            int out = k.geometry().out()[0];
            assertTrue(NarrowConv.applies(k.geometry()), k + " takes the narrow path");
            float[] x = random(r, k.n * k.c * k.len), w = random(r, k.m * k.c * k.k), b = random(r, k.m);
            double[] expect = reference(k, out, x, w, b);
            for (Activation act : new Activation[] {Activation.NONE, new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1)}) {
                float[] y = run(k, k.m, x, w, b, 2, act);
                for (int i = 0; i < y.length; i++) {
                    double e = act.kind() == Activation.Kind.RELU ? Math.max(0, expect[i]) : expect[i];
                    assertEquals(e, y[i], 1e-4 * (1 + Math.abs(e)), k + " " + act.kind() + " at " + i);
                }
            }
            // no bias
            float[] y = run(k, k.m, x, w, null, 1, Activation.NONE);
            double[] nb = reference(k, out, x, w, null);
            for (int i = 0; i < y.length; i++) assertEquals(nb[i], y[i], 1e-4 * (1 + Math.abs(nb[i])), k + " no bias at " + i);
        }
    }

    @Test void channelSubsetsAndThreadsGiveTheSameBits() {
        Random r = new Random(11);
        for (Case k : CASES) {
            int out = k.geometry().out()[0];
            float[] x = random(r, k.n * k.c * k.len), w = random(r, k.m * k.c * k.k), b = random(r, k.m);
            float[] whole = run(k, k.m, x, w, b, 1, Activation.NONE);
            for (int t : new int[] {2, 4}) {
                float[] other = run(k, k.m, x, w, b, t, Activation.NONE);
                for (int i = 0; i < whole.length; i++) {
                    assertEquals(Float.floatToRawIntBits(whole[i]), Float.floatToRawIntBits(other[i]), k + " threads " + t + " at " + i);
                }
            }
            // output channels [m0, m1) as their own conv: the weight's and bias's rows, same input
            int m0 = k.m / 3, m1 = Math.max(m0 + 1, k.m - 1);
            float[] wt = Arrays.copyOfRange(w, m0 * k.c * k.k, m1 * k.c * k.k), bt = Arrays.copyOfRange(b, m0, m1);
            float[] part = run(k, m1 - m0, x, wt, bt, 2, Activation.NONE);
            for (int ni = 0; ni < k.n; ni++) for (int o = m0; o < m1; o++) for (int p = 0; p < out; p++) {
                float a = whole[(ni * k.m + o) * out + p], c = part[(ni * (m1 - m0) + o - m0) * out + p];
                assertEquals(Float.floatToRawIntBits(a), Float.floatToRawIntBits(c), k + " channels [" + m0 + ", " + m1 + ") at " + o + "," + p);
            }
        }
    }
}
