package dev.sluice.kernels.cpu.conv;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * DirectConv's register tiles: output channels x vectors of positions, each output an FMA chain over the taps in
 * order from zero, or ({@code partial}) from the values out holds. Each tile shape is written out, its
 * accumulators as locals, because C2 keeps only locals in registers: a loop over an accumulator array spills.
 * Every shape sums each output element in the same order, so which tile computes an element never changes its
 * bits.
 */
final class DirectConvTiles {
    private DirectConvTiles() {}

    private static final VectorSpecies<Float> S = DirectConv.S;
    private static final int L = S.length();

    /**
     * Six output channels x NT positions: out rows = sum over taps of w * planes[tap + j], each an FMA chain from
     * zero, or ({@code partial}) from the values out holds.
     */
    static void tile6(float[] src, int[] tap, int kk, int j, float[] wp, int wo, float[] out, int oo, int ldo, boolean partial) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        if (partial) {
            int r = oo;
            c00 = FloatVector.fromArray(S, out, r); c01 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c10 = FloatVector.fromArray(S, out, r); c11 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c20 = FloatVector.fromArray(S, out, r); c21 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c30 = FloatVector.fromArray(S, out, r); c31 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c40 = FloatVector.fromArray(S, out, r); c41 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c50 = FloatVector.fromArray(S, out, r); c51 = FloatVector.fromArray(S, out, r + L);
        }
        for (int q = 0; q < kk; q++) {
            int s = tap[q] + j;
            FloatVector b0 = FloatVector.fromArray(S, src, s), b1 = FloatVector.fromArray(S, src, s + L);
            FloatVector a = FloatVector.broadcast(S, wp[wo]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(S, wp[wo + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(S, wp[wo + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(S, wp[wo + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            a = FloatVector.broadcast(S, wp[wo + 4]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
            a = FloatVector.broadcast(S, wp[wo + 5]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
            wo += 6;
        }
        c00.intoArray(out, oo); c01.intoArray(out, oo + L); oo += ldo;
        c10.intoArray(out, oo); c11.intoArray(out, oo + L); oo += ldo;
        c20.intoArray(out, oo); c21.intoArray(out, oo + L); oo += ldo;
        c30.intoArray(out, oo); c31.intoArray(out, oo + L); oo += ldo;
        c40.intoArray(out, oo); c41.intoArray(out, oo + L); oo += ldo;
        c50.intoArray(out, oo); c51.intoArray(out, oo + L);
    }

    /**
     * Whether the wide register tiles run: they hold 24 accumulators, which only AVX-512's 32 vector registers
     * keep without spilling.
     */
    static final boolean WIDE = L >= 16;

    /**
     * Four output channels x 6 vectors of positions: the tile shape Gemm32 measured fastest on AVX-512 (4
     * broadcasts per 24 FMAs; the 2-vector tiles spend one broadcast per 2 FMAs, and broadcasts, not FMAs, bound
     * this loop). Per element the same FMA chain over the taps as tile4, from zero or ({@code partial}) from out.
     */
    static void tile4x6(float[] src, int[] tap, int kk, int j, float[] wp, int wo, float[] out, int oo, int ldo,
                                boolean partial) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
        if (partial) {
            int r = oo;
            c00 = FloatVector.fromArray(S, out, r); c01 = FloatVector.fromArray(S, out, r + L); c02 = FloatVector.fromArray(S, out, r + 2 * L);
            c03 = FloatVector.fromArray(S, out, r + 3 * L); c04 = FloatVector.fromArray(S, out, r + 4 * L); c05 = FloatVector.fromArray(S, out, r + 5 * L);
            r += ldo;
            c10 = FloatVector.fromArray(S, out, r); c11 = FloatVector.fromArray(S, out, r + L); c12 = FloatVector.fromArray(S, out, r + 2 * L);
            c13 = FloatVector.fromArray(S, out, r + 3 * L); c14 = FloatVector.fromArray(S, out, r + 4 * L); c15 = FloatVector.fromArray(S, out, r + 5 * L);
            r += ldo;
            c20 = FloatVector.fromArray(S, out, r); c21 = FloatVector.fromArray(S, out, r + L); c22 = FloatVector.fromArray(S, out, r + 2 * L);
            c23 = FloatVector.fromArray(S, out, r + 3 * L); c24 = FloatVector.fromArray(S, out, r + 4 * L); c25 = FloatVector.fromArray(S, out, r + 5 * L);
            r += ldo;
            c30 = FloatVector.fromArray(S, out, r); c31 = FloatVector.fromArray(S, out, r + L); c32 = FloatVector.fromArray(S, out, r + 2 * L);
            c33 = FloatVector.fromArray(S, out, r + 3 * L); c34 = FloatVector.fromArray(S, out, r + 4 * L); c35 = FloatVector.fromArray(S, out, r + 5 * L);
        }
        for (int q = 0; q < kk; q++) {
            int s = tap[q] + j;
            FloatVector b0 = FloatVector.fromArray(S, src, s), b1 = FloatVector.fromArray(S, src, s + L);
            FloatVector b2 = FloatVector.fromArray(S, src, s + 2 * L), b3 = FloatVector.fromArray(S, src, s + 3 * L);
            FloatVector b4 = FloatVector.fromArray(S, src, s + 4 * L), b5 = FloatVector.fromArray(S, src, s + 5 * L);
            FloatVector a = FloatVector.broadcast(S, wp[wo]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01); c02 = a.fma(b2, c02); c03 = a.fma(b3, c03); c04 = a.fma(b4, c04); c05 = a.fma(b5, c05);
            a = FloatVector.broadcast(S, wp[wo + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11); c12 = a.fma(b2, c12); c13 = a.fma(b3, c13); c14 = a.fma(b4, c14); c15 = a.fma(b5, c15);
            a = FloatVector.broadcast(S, wp[wo + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21); c22 = a.fma(b2, c22); c23 = a.fma(b3, c23); c24 = a.fma(b4, c24); c25 = a.fma(b5, c25);
            a = FloatVector.broadcast(S, wp[wo + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31); c32 = a.fma(b2, c32); c33 = a.fma(b3, c33); c34 = a.fma(b4, c34); c35 = a.fma(b5, c35);
            wo += 4;
        }
        c00.intoArray(out, oo); c01.intoArray(out, oo + L); c02.intoArray(out, oo + 2 * L);
        c03.intoArray(out, oo + 3 * L); c04.intoArray(out, oo + 4 * L); c05.intoArray(out, oo + 5 * L);
        oo += ldo;
        c10.intoArray(out, oo); c11.intoArray(out, oo + L); c12.intoArray(out, oo + 2 * L);
        c13.intoArray(out, oo + 3 * L); c14.intoArray(out, oo + 4 * L); c15.intoArray(out, oo + 5 * L);
        oo += ldo;
        c20.intoArray(out, oo); c21.intoArray(out, oo + L); c22.intoArray(out, oo + 2 * L);
        c23.intoArray(out, oo + 3 * L); c24.intoArray(out, oo + 4 * L); c25.intoArray(out, oo + 5 * L);
        oo += ldo;
        c30.intoArray(out, oo); c31.intoArray(out, oo + L); c32.intoArray(out, oo + 2 * L);
        c33.intoArray(out, oo + 3 * L); c34.intoArray(out, oo + 4 * L); c35.intoArray(out, oo + 5 * L);
    }

    /** Four output channels x 4 vectors of positions (4 broadcasts per 16 FMAs): tile4's chains, wider. */
    static void tile4x4(float[] src, int[] tap, int kk, int j, float[] wp, int wo, float[] out, int oo, int ldo,
                                boolean partial) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        if (partial) {
            int r = oo;
            c00 = FloatVector.fromArray(S, out, r); c01 = FloatVector.fromArray(S, out, r + L);
            c02 = FloatVector.fromArray(S, out, r + 2 * L); c03 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c10 = FloatVector.fromArray(S, out, r); c11 = FloatVector.fromArray(S, out, r + L);
            c12 = FloatVector.fromArray(S, out, r + 2 * L); c13 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c20 = FloatVector.fromArray(S, out, r); c21 = FloatVector.fromArray(S, out, r + L);
            c22 = FloatVector.fromArray(S, out, r + 2 * L); c23 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c30 = FloatVector.fromArray(S, out, r); c31 = FloatVector.fromArray(S, out, r + L);
            c32 = FloatVector.fromArray(S, out, r + 2 * L); c33 = FloatVector.fromArray(S, out, r + 3 * L);
        }
        for (int q = 0; q < kk; q++) {
            int s = tap[q] + j;
            FloatVector b0 = FloatVector.fromArray(S, src, s), b1 = FloatVector.fromArray(S, src, s + L);
            FloatVector b2 = FloatVector.fromArray(S, src, s + 2 * L), b3 = FloatVector.fromArray(S, src, s + 3 * L);
            FloatVector a = FloatVector.broadcast(S, wp[wo]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01); c02 = a.fma(b2, c02); c03 = a.fma(b3, c03);
            a = FloatVector.broadcast(S, wp[wo + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11); c12 = a.fma(b2, c12); c13 = a.fma(b3, c13);
            a = FloatVector.broadcast(S, wp[wo + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21); c22 = a.fma(b2, c22); c23 = a.fma(b3, c23);
            a = FloatVector.broadcast(S, wp[wo + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31); c32 = a.fma(b2, c32); c33 = a.fma(b3, c33);
            wo += 4;
        }
        c00.intoArray(out, oo); c01.intoArray(out, oo + L); c02.intoArray(out, oo + 2 * L); c03.intoArray(out, oo + 3 * L); oo += ldo;
        c10.intoArray(out, oo); c11.intoArray(out, oo + L); c12.intoArray(out, oo + 2 * L); c13.intoArray(out, oo + 3 * L); oo += ldo;
        c20.intoArray(out, oo); c21.intoArray(out, oo + L); c22.intoArray(out, oo + 2 * L); c23.intoArray(out, oo + 3 * L); oo += ldo;
        c30.intoArray(out, oo); c31.intoArray(out, oo + L); c32.intoArray(out, oo + 2 * L); c33.intoArray(out, oo + 3 * L);
    }

    /** Six output channels x 4 vectors of positions (6 broadcasts per 24 FMAs): tile6's chains, wider. */
    static void tile6x4(float[] src, int[] tap, int kk, int j, float[] wp, int wo, float[] out, int oo, int ldo,
                                boolean partial) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        FloatVector c40 = c00, c41 = c00, c42 = c00, c43 = c00, c50 = c00, c51 = c00, c52 = c00, c53 = c00;
        if (partial) {
            int r = oo;
            c00 = FloatVector.fromArray(S, out, r); c01 = FloatVector.fromArray(S, out, r + L);
            c02 = FloatVector.fromArray(S, out, r + 2 * L); c03 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c10 = FloatVector.fromArray(S, out, r); c11 = FloatVector.fromArray(S, out, r + L);
            c12 = FloatVector.fromArray(S, out, r + 2 * L); c13 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c20 = FloatVector.fromArray(S, out, r); c21 = FloatVector.fromArray(S, out, r + L);
            c22 = FloatVector.fromArray(S, out, r + 2 * L); c23 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c30 = FloatVector.fromArray(S, out, r); c31 = FloatVector.fromArray(S, out, r + L);
            c32 = FloatVector.fromArray(S, out, r + 2 * L); c33 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c40 = FloatVector.fromArray(S, out, r); c41 = FloatVector.fromArray(S, out, r + L);
            c42 = FloatVector.fromArray(S, out, r + 2 * L); c43 = FloatVector.fromArray(S, out, r + 3 * L); r += ldo;
            c50 = FloatVector.fromArray(S, out, r); c51 = FloatVector.fromArray(S, out, r + L);
            c52 = FloatVector.fromArray(S, out, r + 2 * L); c53 = FloatVector.fromArray(S, out, r + 3 * L);
        }
        for (int q = 0; q < kk; q++) {
            int s = tap[q] + j;
            FloatVector b0 = FloatVector.fromArray(S, src, s), b1 = FloatVector.fromArray(S, src, s + L);
            FloatVector b2 = FloatVector.fromArray(S, src, s + 2 * L), b3 = FloatVector.fromArray(S, src, s + 3 * L);
            FloatVector a = FloatVector.broadcast(S, wp[wo]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01); c02 = a.fma(b2, c02); c03 = a.fma(b3, c03);
            a = FloatVector.broadcast(S, wp[wo + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11); c12 = a.fma(b2, c12); c13 = a.fma(b3, c13);
            a = FloatVector.broadcast(S, wp[wo + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21); c22 = a.fma(b2, c22); c23 = a.fma(b3, c23);
            a = FloatVector.broadcast(S, wp[wo + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31); c32 = a.fma(b2, c32); c33 = a.fma(b3, c33);
            a = FloatVector.broadcast(S, wp[wo + 4]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41); c42 = a.fma(b2, c42); c43 = a.fma(b3, c43);
            a = FloatVector.broadcast(S, wp[wo + 5]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51); c52 = a.fma(b2, c52); c53 = a.fma(b3, c53);
            wo += 6;
        }
        c00.intoArray(out, oo); c01.intoArray(out, oo + L); c02.intoArray(out, oo + 2 * L); c03.intoArray(out, oo + 3 * L); oo += ldo;
        c10.intoArray(out, oo); c11.intoArray(out, oo + L); c12.intoArray(out, oo + 2 * L); c13.intoArray(out, oo + 3 * L); oo += ldo;
        c20.intoArray(out, oo); c21.intoArray(out, oo + L); c22.intoArray(out, oo + 2 * L); c23.intoArray(out, oo + 3 * L); oo += ldo;
        c30.intoArray(out, oo); c31.intoArray(out, oo + L); c32.intoArray(out, oo + 2 * L); c33.intoArray(out, oo + 3 * L); oo += ldo;
        c40.intoArray(out, oo); c41.intoArray(out, oo + L); c42.intoArray(out, oo + 2 * L); c43.intoArray(out, oo + 3 * L); oo += ldo;
        c50.intoArray(out, oo); c51.intoArray(out, oo + L); c52.intoArray(out, oo + 2 * L); c53.intoArray(out, oo + 3 * L);
    }

    /** Four output channels x NT positions (for channel counts that 4 divides better than 6). */
    static void tile4(float[] src, int[] tap, int kk, int j, float[] wp, int wo, float[] out, int oo, int ldo, boolean partial) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        if (partial) {
            int r = oo;
            c00 = FloatVector.fromArray(S, out, r); c01 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c10 = FloatVector.fromArray(S, out, r); c11 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c20 = FloatVector.fromArray(S, out, r); c21 = FloatVector.fromArray(S, out, r + L); r += ldo;
            c30 = FloatVector.fromArray(S, out, r); c31 = FloatVector.fromArray(S, out, r + L);
        }
        for (int q = 0; q < kk; q++) {
            int s = tap[q] + j;
            FloatVector b0 = FloatVector.fromArray(S, src, s), b1 = FloatVector.fromArray(S, src, s + L);
            FloatVector a = FloatVector.broadcast(S, wp[wo]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(S, wp[wo + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(S, wp[wo + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(S, wp[wo + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            wo += 4;
        }
        c00.intoArray(out, oo); c01.intoArray(out, oo + L); oo += ldo;
        c10.intoArray(out, oo); c11.intoArray(out, oo + L); oo += ldo;
        c20.intoArray(out, oo); c21.intoArray(out, oo + L); oo += ldo;
        c30.intoArray(out, oo); c31.intoArray(out, oo + L);
    }
}
