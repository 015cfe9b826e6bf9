package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import dev.sluice.kernels.cpu.linalg.Gemm32;
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
            int colsLen = Math.multiplyExact((out + 3) / 4 * 4, kk);
            float[] cols = Scratch.cols(colsLen);
            for (int o = 0; o < out; o++) {
                for (int ci = 0; ci < c; ci++) {
                    long xo = ((long) ni * c + ci) * in;
                    int co = o * kk + ci * k;
                    // taps inside the input: t in [t0, t1)
                    int base = o * s - pad;
                    int t0 = base >= 0 ? 0 : (-base + d - 1) / d;
                    int t1 = base >= in ? 0 : Math.min(k, (in - 1 - base) / d + 1);
                    if (d == 1 && t1 > t0) {
                        MemorySegment.copy(x, NnArrays.F32, (xo + base + t0) * Float.BYTES, cols, co + t0, t1 - t0);
                    } else {
                        for (int t = t0; t < t1; t++) cols[co + t] = x.getAtIndex(NnArrays.F32, xo + base + (long) t * d);
                    }
                }
            }
            long yBase = (long) ni * m * out;
            // rows in pairs (each pair shares its loads of cols); work in vector steps: tiny convs run inline
            int pairs = (m + 1) / 2;
            par.forEach(pairs, (long) 2 * out * (kk / L + 1), pi -> {
                int m0 = 2 * pi, rows = Math.min(2, m - m0);
                long yo = yBase + (long) m0 * out;
                rows(w, (long) m0 * kk, rows, cols, kk, out, y, yo);
                if (bias == null && act.kind() == Activation.Kind.NONE) return;
                // a row of at most MAX_OUT positions is shorter than a vector: biased and activated in one whole
                // vector of a small buffer, not element by element through the activation's scalar remainder
                // (the same bits: the scalar form is the vector code on one lane)
                float[] row = Scratch.MINE.get().row;
                for (int r = 0; r < rows; r++) {
                    long at = yo + (long) r * out;
                    MemorySegment.copy(y, NnArrays.F32, at * Float.BYTES, row, 0, out);
                    act.biasAndApply(row, 0, row.length, bias == null ? 0f : bias[m0 + r]);
                    MemorySegment.copy(row, 0, y, NnArrays.F32, at * Float.BYTES, out);
                }
            });
        }
    }

    /**
     * y[yo + r*out + o] = dot(w[wo + r*kk ..][0, kk), cols[o*kk ..][0, kk)) for the {@code rows} (1 or 2) rows r
     * and o in [0, out). Positions go four at a time (cols holds whole blocks of four, zero past out): eight
     * independent chains hide the FMA latency, and each load of cols feeds both rows.
     */
    private static void rows(MemorySegment w, long wo, int rows, float[] cols, int kk, int out, MemorySegment y, long yo) {
        if (rows == 1) { row(w, wo, cols, kk, out, y, yo); return; }
        int vEnd = kk - kk % L;
        long wo1 = wo + kk;
        float[] lanes = Scratch.MINE.get().lanes;
        for (int o = 0; o < out; o += 4) {
            int c0 = o * kk, c1 = c0 + kk, c2 = c1 + kk, c3 = c2 + kk;
            FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int j = 0; j < vEnd; j += L) {
                FloatVector wv = FloatVector.fromMemorySegment(S, w, (wo + j) * Float.BYTES, NATIVE);
                FloatVector wu = FloatVector.fromMemorySegment(S, w, (wo1 + j) * Float.BYTES, NATIVE);
                FloatVector x0 = FloatVector.fromArray(S, cols, c0 + j), x1 = FloatVector.fromArray(S, cols, c1 + j);
                FloatVector x2 = FloatVector.fromArray(S, cols, c2 + j), x3 = FloatVector.fromArray(S, cols, c3 + j);
                a0 = wv.fma(x0, a0);
                a1 = wv.fma(x1, a1);
                a2 = wv.fma(x2, a2);
                a3 = wv.fma(x3, a3);
                b0 = wu.fma(x0, b0);
                b1 = wu.fma(x1, b1);
                b2 = wu.fma(x2, b2);
                b3 = wu.fma(x3, b3);
            }
            store(y, yo, out, o, a0, a1, a2, a3, lanes, w, wo, cols, kk, vEnd);
            store(y, yo + out, out, o, b0, b1, b2, b3, lanes, w, wo1, cols, kk, vEnd);
        }
    }

    /**
     * Per-thread buffers, reused across calls and runs instead of allocated per call (silero's per-frame convs made
     * them a steady stream of young-generation garbage). The calling thread's {@code cols} is shared read-only with
     * the pool's workers during its parallel call; {@code row} and {@code lanes} are each thread's own. No body
     * here runs a nested NarrowConv, so a thread never uses two at once.
     */
    static final class Scratch {
        static final ThreadLocal<Scratch> MINE = ThreadLocal.withInitial(Scratch::new);
        float[] cols = new float[0];
        final float[] row = new float[Math.max(L, Activation.LANES)];
        final float[] lanes = new float[L];

        /** The caller's cols buffer, at least len long, its first len elements zero (padding and past out read 0). */
        static float[] cols(int len) {
            Scratch s = MINE.get();
            if (s.cols.length < len) s.cols = new float[len];
            else java.util.Arrays.fill(s.cols, 0, len, 0f);
            return s.cols;
        }
    }

    /** One row's four positions from o on, those below out. */
    private static void store(MemorySegment y, long yo, int out, int o, FloatVector a0, FloatVector a1, FloatVector a2,
                              FloatVector a3, float[] lanes, MemorySegment w, long wo, float[] cols, int kk, int vEnd) {
        int c0 = o * kk;
        y.setAtIndex(NnArrays.F32, yo + o, finish(a0, lanes, w, wo, cols, c0, vEnd, kk));
        if (o + 1 < out) y.setAtIndex(NnArrays.F32, yo + o + 1, finish(a1, lanes, w, wo, cols, c0 + kk, vEnd, kk));
        if (o + 2 < out) y.setAtIndex(NnArrays.F32, yo + o + 2, finish(a2, lanes, w, wo, cols, c0 + 2 * kk, vEnd, kk));
        if (o + 3 < out) y.setAtIndex(NnArrays.F32, yo + o + 3, finish(a3, lanes, w, wo, cols, c0 + 3 * kk, vEnd, kk));
    }

    /** One row: the same sums as {@link #rows} in the same order. */
    private static void row(MemorySegment w, long wo, float[] cols, int kk, int out, MemorySegment y, long yo) {
        int vEnd = kk - kk % L;
        float[] lanes = Scratch.MINE.get().lanes;
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
            store(y, yo, out, o, a0, a1, a2, a3, lanes, w, wo, cols, kk, vEnd);
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
