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
 * over their valid taps. The interior's last vector is stored through a mask, in the same loop as the others:
 * no scalar remainder, whose code (run once per row) the JIT would compile late or leave interpreted.
 *
 * <p>Rows narrower than a vector (the small planes of mobile nets: 8, 4 or 2 columns) would leave most lanes
 * idle, one row at a time. When the windows of a row stay inside it and tile it exactly ({@code in == out *
 * sw}, no left padding, none reaching past the row: {@link Columns#batch} > 1), the row maxes of consecutive
 * output rows are laid end to end, so that flattened position {@code j * sw + p} is output {@code j}'s column
 * phase p whatever its row; the column pass then runs once over a batch of rows as over one long row.
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
    record Columns(int in, int out, int sw, int[][] cols, int lo, int hi, int[] phase, int[] shift, int phaseLen,
                   int batch) {
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
            // rows go end to end when every output column's window lies inside its row and the windows tile
            // the row exactly: then output j's phase-p column is flattened position j * sw + p
            boolean flat = lo == 0 && hi == out && in == out * sw && out > 0;
            int batch = flat ? Math.max(1, BATCH / in) : 1;
            return new Columns(in, out, sw, cols, lo, hi, phase, shift, (in + sw - 1) / sw, batch);
        }

        /** Floats of the row-max area: a batch of rows end to end, with a vector pair of slack. */
        int rowLen() { return roundUp(batch * in, 2 * L) + 2 * L; }

        /** Floats of one phase's area: a batch of rows' phase, with a vector pair of slack. */
        int phaseArea() { return roundUp(batch * phaseLen, L) + 2 * L; }

        /** Floats of scratch {@link #plane} needs: the row maxes and their phases. */
        int scratch() { return rowLen() + sw * phaseArea(); }
    }

    private static int roundUp(int v, int unit) { return (v + unit - 1) / unit * unit; }

    /** Floats of row maxes that go through one column pass at most, in rows of a plane: 4 KiB, in L1. */
    private static final int BATCH = 1024;

    /**
     * y[yo + r * out + o] = max over the window of output row r and column o, for the output rows r of the plane
     * at x[xo ..]: {@code rows[r]} lists the offsets (from xo) of the input rows the window reads, in window
     * order (may be empty: then the row is -infinity).
     */
    static void plane(float[] x, int xo, int[][] rows, Columns c, float[] y, int yo, float[] scratch) {
        int in = c.in, rowLen = c.rowLen(), pLen = c.phaseArea();
        for (int r0 = 0; r0 < rows.length; r0 += c.batch) {
            int units = Math.min(c.batch, rows.length - r0);
            // row maxes end to end, in increasing order: a row's last vector runs past its end into the next
            // row's place, which that row then overwrites (the last one's into the slack)
            for (int u = 0; u < units; u++) {
                int[] rr = rows[r0 + u];
                int at = u * in;
                if (rr.length == 0) {
                    java.util.Arrays.fill(scratch, at, at + (units == 1 ? rowLen : in), Float.NEGATIVE_INFINITY);
                    continue;
                }
                int first = xo + rr[0];
                for (int i = 0; i < in; i += L) {
                    FloatVector best = FloatVector.fromArray(S, x, first + i);
                    for (int k = 1; k < rr.length; k++) {
                        FloatVector v = FloatVector.fromArray(S, x, xo + rr[k] + i);
                        best = best.blend(v, v.compare(VectorOperators.GT, best).or(v.test(VectorOperators.IS_NAN)));
                    }
                    best.intoArray(scratch, at + i);
                }
            }
            columns(scratch, rowLen, pLen, c, units, y, yo + r0 * c.out);
        }
    }

    /**
     * The column pass of {@code units} row maxes end to end at scratch[0 ..) into y[at .. at + units * out):
     * units > 1 only for a batch (no borders, windows tiling the rows), which is then one long row.
     */
    private static void columns(float[] s, int rowLen, int pLen, Columns c, int units, float[] y, int at) {
        int sw = c.sw, lo = c.lo, hi = units == 1 ? c.hi : units * c.out, kw = c.phase.length;
        int in = units * c.in, phaseLen = units * c.phaseLen;
        // phases: column p + q * sw of the row max at s[base(p) + q]
        int p0 = rowLen;
        if (hi > lo) {
            if (sw == 1) {
                p0 = 0;
            } else if (sw == 2) {
                split2(s, phaseLen, p0, p0 + pLen);
            } else {
                for (int p = 0; p < sw; p++) {
                    for (int q = 0, i = p; i < in; q++, i += sw) s[p0 + p * pLen + q] = s[i];
                }
            }
        }
        int[] phase = c.phase, shift = c.shift;
        // one loop for whole and partial vectors: loads may run past hi into the areas' slack, stores are masked
        for (int o = lo; o < hi; o += L) {
            VectorMask<Float> m = S.indexInRange(o, hi);
            FloatVector best = FloatVector.fromArray(S, s, p0 + phase[0] * pLen + o + shift[0]);
            for (int k = 1; k < kw; k++) {
                FloatVector v = FloatVector.fromArray(S, s, p0 + phase[k] * pLen + o + shift[k]);
                best = best.blend(v, v.compare(VectorOperators.GT, best).or(v.test(VectorOperators.IS_NAN)));
            }
            best.intoArray(y, at + o, m);
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
