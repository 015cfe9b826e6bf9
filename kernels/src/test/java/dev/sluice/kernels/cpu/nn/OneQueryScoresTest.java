package dev.sluice.kernels.cpu.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The decoding scores read from K's rows give, bit for bit, what the unfused graph's MatMul gives: Gemm32's
 * product of the query row by a contiguous K^T (what the Transpose before that MatMul materialises), at key
 * counts around Gemm32's vector width (the scalar tail), depths past its matrix-vector K run (two runs), query
 * zeros (skipped depths, with infinite keys there and -0 sums), and keys padded inside a wider row.
 */
class OneQueryScoresTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    @Test
    void bitsEqualTheUnfusedMatMulOverTransposedKeys() {
        SplittableRandom r = new SplittableRandom(5);
        int lanes = Gemm32.SPECIES.length();
        int[] counts = {1, 2, 7, lanes - 1, lanes, lanes + 1, 8 * lanes + 3, 9 * lanes, 67};
        try (Arena arena = Arena.ofConfined()) {
            for (int d : new int[] {1, 5, 64, Gemm32.GEMV_KC + 37}) {
                for (int lk : counts) {
                    int ldk = d + 3, ko = 2;
                    MemorySegment q = arena.allocate(4L * (d + 1), 64), k = arena.allocate(4L * (ko + (long) lk * ldk), 64);
                    for (int p = 0; p < d; p++) {
                        int kind = r.nextInt(8);
                        q.setAtIndex(F, 1 + p, kind == 0 ? 0f : kind == 1 ? -0f : (float) r.nextDouble(-2, 2));
                    }
                    for (long i = 0; i < ko + (long) lk * ldk; i++) k.setAtIndex(F, i, (float) r.nextDouble(-3, 3));
                    // an infinite key where the query is 0: the unfused product skips that depth, so no NaN
                    for (int p = 0; p < d; p++) {
                        if (q.getAtIndex(F, 1 + p) == 0f) { k.setAtIndex(F, ko + p, Float.POSITIVE_INFINITY); break; }
                    }
                    // a key of -0 products only (all its depths -0 where the query is not 0): a sum that stays -0 or not
                    if (lk > 1) for (int p = 0; p < d; p++) k.setAtIndex(F, ko + ldk + p, -0f);
                    MemorySegment kt = arena.allocate(4L * d * lk, 64);
                    for (int j = 0; j < lk; j++) for (int p = 0; p < d; p++) kt.setAtIndex(F, (long) p * lk + j, k.getAtIndex(F, ko + (long) j * ldk + p));
                    MemorySegment want = arena.allocate(4L * lk, 64), got = arena.allocate(4L * lk, 64);
                    Gemm32.sgemm(false, false, 1, lk, d, 1f, q, 1, d, kt, 0, lk, 0f, want, 0, lk, Parallelism.SEQUENTIAL);
                    got.fill((byte) 0x7f); // garbage: every score must be written
                    OneQueryScores.scores(q, 1, k, ko, ldk, lk, d, got);
                    for (int j = 0; j < lk; j++) {
                        assertEquals(Float.floatToRawIntBits(want.getAtIndex(F, j)), Float.floatToRawIntBits(got.getAtIndex(F, j)),
                            "d " + d + ", keys " + lk + ", key " + j + ": want " + want.getAtIndex(F, j) + ", got " + got.getAtIndex(F, j));
                    }
                }
            }
        }
    }
}
