package dev.sluice.kernels.cpu.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Parallelism;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A product cut along K at multiples of KC (GEMV_KC for one row or column of C), each part continuing from the C the parts before it left (beta 1), gives
 * the whole product's bits (the contract memgraph's K tiles rely on, see PartialSums), on the blocked path and on
 * both matrix-vector paths (m = 1 with B transposed or not, n = 1), for random sizes including odd ones, with alpha
 * and a beta-scaled C, sequential and on 3 threads. The whole product is itself checked against a double-precision
 * reference, so a split that agreed with a broken whole could not pass.
 */
class Gemm32KSplitTest {
    @Test void kCutsAtMultiplesOfKcAreBitIdentical() {
        SplittableRandom r = new SplittableRandom(2026);
        for (int trial = 0; trial < 60; trial++) {
            int shape = trial % 4;
            int m = shape == 0 ? 1 : r.nextInt(2, 23), n = shape == 1 ? 1 : r.nextInt(shape == 0 ? 2 : 2, 120);
            // the matrix-vector path (one row or one column) sums K in longer runs than the blocked path
            int run = m == 1 || n == 1 ? Gemm32.GEMV_KC : Gemm32.KC;
            int k = r.nextInt(2 * run, 3 * run + 40);
            boolean ta = shape == 3 && r.nextBoolean(), tb = r.nextBoolean();
            float alpha = r.nextBoolean() ? 1f : 0.75f, beta = r.nextInt(3) == 0 ? 0f : r.nextBoolean() ? 1f : -0.5f;
            float[] a = random(r, m * k), b = random(r, k * n), c0 = random(r, m * n);
            int lda = ta ? m : k, ldb = tb ? k : n;
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                float[] whole = c0.clone();
                Gemm32.sgemm(ta, tb, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, whole, 0, n, par);
                // cut points: multiples of KC, at random
                float[] split = c0.clone();
                int p0 = 0;
                boolean first = true;
                while (p0 < k) {
                    int p1 = Math.min(k, p0 + run * r.nextInt(1, 3));
                    int aOff = ta ? p0 * lda : p0, bOff = tb ? p0 : p0 * ldb;
                    Gemm32.sgemm(ta, tb, m, n, p1 - p0, alpha, a, aOff, lda, b, bOff, ldb, first ? beta : 1f, split, 0, n, par);
                    first = false;
                    p0 = p1;
                }
                String what = "m " + m + " n " + n + " k " + k + " ta " + ta + " tb " + tb + " alpha " + alpha + " beta " + beta + " " + par;
                for (int i = 0; i < m * n; i++) {
                    assertEquals(Float.floatToRawIntBits(whole[i]), Float.floatToRawIntBits(split[i]), what + ": element " + i);
                    double ref = beta * (double) c0[i];
                    int row = i / n, col = i % n;
                    for (int p = 0; p < k; p++) {
                        ref += alpha * (double) a[ta ? p * lda + row : row * lda + p] * b[tb ? col * ldb + p : p * ldb + col];
                    }
                    assertTrue(Math.abs(ref - whole[i]) <= 1e-4 * k, what + ": element " + i + " is " + whole[i] + ", not " + ref);
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
