package dev.sluice.kernels.cpu;

import dev.sluice.kernels.Parallelism;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * 1-D convolution with group 1 over a few output positions (Silero VAD's STFT and encoder convs produce 1 to
 * 3 positions from hundreds of channel taps): one dot product per output element between the weight's row
 * (read in place, C x K contiguous) and that position's receptive field, gathered once into a zero-padded
 * column. The tiled paths (DirectConv, im2col + Gemm32) pad the positions to a tile of 32 and pack the
 * weight per call when it is not a cached constant, which costs tens of times the arithmetic here.
 *
 * <p>Determinism: each output element is a fixed function of its (channel, tap) sequence and the vector
 * width only: lane l accumulates taps l, l + L, l + 2L, ... by fused multiply-add, the lanes are then added
 * in lane order, then the taps past the last full vector by scalar fused multiply-add. Nothing depends on
 * the number of output channels (output-channel tiles give the same bits), threads or JIT tier (no
 * reduceLanes).
 */
final class NarrowConv {
    private NarrowConv() {}

    /** Output positions up to which this path wins: beyond, the tiled kernels' reuse of x pays off. */
    static final int MAX_OUT = 8;

    private static final VectorSpecies<Float> S = Gemm32.SPECIES;
    private static final int L = S.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** True for a 1-D geometry with at most {@link #MAX_OUT} output positions. */
    static boolean applies(WindowGeometry g) {
        return g.rank() == 1 && g.out()[0] <= MAX_OUT;
    }

    /** y[n, m, o] = act(bias[m] + sum_{c,t} w[m, c, t] * x[n, c, o*s + t*d - pad]), x zero outside. */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m,
                     WindowGeometry g, Parallelism par, Activation act) {
        int in = g.in()[0], out = g.out()[0], k = g.kernel()[0];
        int s = g.strides()[0], d = g.dilations()[0], pad = g.padBegin()[0];
        int kk = Math.multiplyExact(c, k);
        for (int ni = 0; ni < n; ni++) {
            // cols[o * kk + ci * k + t] = x[ni, ci, o*s + t*d - pad], 0 in the padding and past out
            float[] cols = new float[Math.multiplyExact((out + 3) / 4 * 4, kk)];
            for (int o = 0; o < out; o++) {
                for (int ci = 0; ci < c; ci++) {
                    long xo = ((long) ni * c + ci) * in;
                    int co = o * kk + ci * k;
                    for (int t = 0; t < k; t++) {
                        int pos = o * s + t * d - pad;
                        if (pos >= 0 && pos < in) cols[co + t] = x.getAtIndex(NnArrays.F32, xo + pos);
                    }
                }
            }
            long yBase = (long) ni * m * out;
            // work in vector steps: tiny convs run inline instead of waking the pool
            par.forEach(m, (long) out * (kk / L + 1), mi -> {
                long yo = yBase + (long) mi * out;
                row(w, (long) mi * kk, cols, kk, out, y, yo);
                act.biasAndApply(y, yo, out, bias == null ? 0f : bias[mi]);
            });
        }
    }

    /**
     * y[yo + o] = dot(w[wo .. wo+kk), cols[o*kk .. (o+1)*kk)) for o in [0, out). Positions go four at a time
     * (cols holds whole blocks of four, zero past out) so that four independent chains hide the FMA latency.
     */
    private static void row(MemorySegment w, long wo, float[] cols, int kk, int out, MemorySegment y, long yo) {
        int vEnd = kk - kk % L;
        float[] lanes = new float[L];
        for (int o = 0; o < out; o += 4) {
            int c0 = o * kk, c1 = c0 + kk, c2 = c1 + kk, c3 = c2 + kk;
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
            for (int j = 0; j < vEnd; j += L) {
                FloatVector wv = FloatVector.fromMemorySegment(S, w, (wo + j) * Float.BYTES, NATIVE);
                a0 = wv.fma(FloatVector.fromArray(S, cols, c0 + j), a0);
                a1 = wv.fma(FloatVector.fromArray(S, cols, c1 + j), a1);
                a2 = wv.fma(FloatVector.fromArray(S, cols, c2 + j), a2);
                a3 = wv.fma(FloatVector.fromArray(S, cols, c3 + j), a3);
            }
            y.setAtIndex(NnArrays.F32, yo + o, finish(a0, lanes, w, wo, cols, c0, vEnd, kk));
            if (o + 1 < out) y.setAtIndex(NnArrays.F32, yo + o + 1, finish(a1, lanes, w, wo, cols, c1, vEnd, kk));
            if (o + 2 < out) y.setAtIndex(NnArrays.F32, yo + o + 2, finish(a2, lanes, w, wo, cols, c2, vEnd, kk));
            if (o + 3 < out) y.setAtIndex(NnArrays.F32, yo + o + 3, finish(a3, lanes, w, wo, cols, c3, vEnd, kk));
        }
    }

    /** The lanes of acc added in lane order, then the scalar tail taps [vEnd, kk) by fused multiply-add. */
    private static float finish(FloatVector acc, float[] lanes, MemorySegment w, long wo, float[] cols, int co, int vEnd, int kk) {
        acc.intoArray(lanes, 0);
        float sum = lanes[0];
        for (int l = 1; l < L; l++) sum += lanes[l];
        for (int j = vEnd; j < kk; j++) sum = Math.fma(w.getAtIndex(NnArrays.F32, wo + j), cols[co + j], sum);
        return sum;
    }
}
