package dev.sluice.kernels.cpu.reduce;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Float32 max pooling of one plane in vector lanes: per output row, first the element-wise max over the
 * window's input rows (whole rows, vectors over the columns), then per output column the max over the
 * window's columns of that row max. For the columns whose windows lie wholly inside the row (the interior),
 * the row max is first split into its stride phases ({@code phase p} holds columns p, p + sw, ...), so every
 * tap of a vector of output columns is one contiguous load; border columns (padding, ceil_mode) go scalar
 * over their valid taps.
 *
 * <p>Comparison order and NaN: each step keeps its current value unless the next one is strictly greater or
 * NaN, starting from the window's first valid element, rows in window order, then columns in window order.
 * So the result is NaN when any element of the window is (as numpy's max in ONNX's reference implementation
 * and PyTorch's max pooling), else the window's maximum. Where +0 and -0 tie as the maximum, which one is
 * returned depends on this row-then-column order.
 *
 * <p>Buffers: the plane {@code x} must have {@link #SLACK} floats readable after its last element.
 */
final class WindowMax {
    private WindowMax() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Floats a plane buffer must hold past its end: the last row's vectors may read that far. */
    static final int SLACK = L;

    /** Lane i of a vector pair's even (odd) elements: its source lane within whichever vector holds it. */
    private static final VectorShuffle<Float> EVEN = VectorShuffle.fromOp(S, i -> 2 * i % L),
            ODD = VectorShuffle.fromOp(S, i -> (2 * i + 1) % L);
    /** The upper half of the lanes: filled from the second vector of a pair. */
    private static final VectorMask<Float> UPPER = VectorMask.fromLong(S, ((1L << L) - 1) & ~((1L << (L / 2)) - 1));

    /**
     * The geometry of the column pass, shared by every row and plane of a call: per output column its valid
     * input columns ({@code cols}); the interior {@code [lo, hi)} where all {@code kw} taps are inside the row,
     * and for tap k its phase {@code phase[k]} and the offset {@code shift[k]} of its column within the phase.
     */
    record Columns(int in, int out, int sw, int[][] cols, int lo, int hi, int[] phase, int[] shift, int phaseLen) {
        static Columns of(int in, int out, int kw, int sw, int dw, int pl, int[][] cols) {
            int lo = Math.min(out, (pl + sw - 1) / sw);
            int last = in - 1 + pl - (kw - 1) * dw;
            int hi = last < 0 ? lo : Math.max(lo, Math.min(out, last / sw + 1));
            int[] phase = new int[kw], shift = new int[kw];
            for (int k = 0; k < kw; k++) {
                int t = k * dw - pl;
                phase[k] = Math.floorMod(t, sw);
                shift[k] = Math.floorDiv(t, sw);
            }
            return new Columns(in, out, sw, cols, lo, hi, phase, shift, (in + sw - 1) / sw);
        }

        /** Floats of scratch {@link #plane} needs: the row max and its phases, with a vector pair of slack each. */
        int scratch() { return roundUp(in, 2 * L) + 2 * L + sw * (roundUp(phaseLen, L) + 2 * L); }
    }

    private static int roundUp(int v, int unit) { return (v + unit - 1) / unit * unit; }

    /**
     * y[yo + r * out + o] = max over the window of output row r and column o, for the output rows r of the plane
     * at x[xo ..]: {@code rows[r]} lists the offsets (from xo) of the input rows the window reads, in window
     * order (may be empty: then the row is -infinity).
     */
    static void plane(float[] x, int xo, int[][] rows, Columns c, float[] y, int yo, float[] scratch) {
        int in = c.in, rowLen = roundUp(in, 2 * L) + 2 * L;
        int pLen = roundUp(c.phaseLen, L) + 2 * L;
        for (int r = 0; r < rows.length; r++) {
            int[] rr = rows[r];
            if (rr.length == 0) {
                java.util.Arrays.fill(scratch, 0, rowLen, Float.NEGATIVE_INFINITY);
            } else {
                int first = xo + rr[0];
                for (int i = 0; i < in; i += L) {
                    FloatVector best = FloatVector.fromArray(S, x, first + i);
                    for (int k = 1; k < rr.length; k++) {
                        FloatVector v = FloatVector.fromArray(S, x, xo + rr[k] + i);
                        best = best.blend(v, v.compare(VectorOperators.GT, best).or(v.test(VectorOperators.IS_NAN)));
                    }
                    best.intoArray(scratch, i);
                }
            }
            columns(scratch, rowLen, pLen, c, y, yo + r * c.out);
        }
    }

    /** The column pass of one row max at scratch[0 ..) into y[at .. at + out). */
    private static void columns(float[] s, int rowLen, int pLen, Columns c, float[] y, int at) {
        int sw = c.sw, lo = c.lo, hi = c.hi, kw = c.phase.length;
        // phases: column p + q * sw of the row max at s[base(p) + q]
        int p0 = rowLen;
        if (hi > lo) {
            if (sw == 1) {
                p0 = 0;
            } else if (sw == 2) {
                split2(s, c.phaseLen, p0, p0 + pLen);
            } else {
                for (int p = 0; p < sw; p++) {
                    for (int q = 0, i = p; i < c.in; q++, i += sw) s[p0 + p * pLen + q] = s[i];
                }
            }
        }
        int[] phase = c.phase, shift = c.shift;
        int o = lo;
        for (; o + L <= hi; o += L) {
            FloatVector best = FloatVector.fromArray(S, s, p0 + phase[0] * pLen + o + shift[0]);
            for (int k = 1; k < kw; k++) {
                FloatVector v = FloatVector.fromArray(S, s, p0 + phase[k] * pLen + o + shift[k]);
                best = best.blend(v, v.compare(VectorOperators.GT, best).or(v.test(VectorOperators.IS_NAN)));
            }
            best.intoArray(y, at + o);
        }
        for (; o < hi; o++) {
            float best = s[p0 + phase[0] * pLen + o + shift[0]];
            for (int k = 1; k < kw; k++) {
                float v = s[p0 + phase[k] * pLen + o + shift[k]];
                if (v > best || v != v) best = v;
            }
            y[at + o] = best;
        }
        for (int b = 0; b < lo; b++) y[at + b] = border(s, c.cols[b]);
        for (int b = hi; b < c.out; b++) y[at + b] = border(s, c.cols[b]);
    }

    private static float border(float[] s, int[] cols) {
        if (cols.length == 0) return Float.NEGATIVE_INFINITY;
        float best = s[cols[0]];
        for (int k = 1; k < cols.length; k++) {
            float v = s[cols[k]];
            if (v > best || v != v) best = v;
        }
        return best;
    }

    /** s[e0 + q] = s[2q], s[o0 + q] = s[2q + 1] for q in [0, n), in whole vectors (reads s up to 2 * roundUp(n, L)). */
    private static void split2(float[] s, int n, int e0, int o0) {
        for (int q = 0; q < n; q += L) {
            FloatVector v0 = FloatVector.fromArray(S, s, 2 * q), v1 = FloatVector.fromArray(S, s, 2 * q + L);
            v0.rearrange(EVEN).blend(v1.rearrange(EVEN), UPPER).intoArray(s, e0 + q);
            v0.rearrange(ODD).blend(v1.rearrange(ODD), UPPER).intoArray(s, o0 + q);
        }
    }
}
