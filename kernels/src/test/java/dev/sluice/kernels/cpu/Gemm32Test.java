package dev.sluice.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.Parallelism;
import java.util.Random;
import org.junit.jupiter.api.Test;

class Gemm32Test {
    /** The definition, in double: C = alpha * op(A) op(B) + beta * C. */
    private static float[] naive(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int lda,
                                 float[] b, int ldb, float beta, float[] c, int ldc) {
        float[] r = c.clone();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double x = ta ? a[p * lda + i] : a[i * lda + p];
                    double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                    s += x * y;
                }
                r[i * ldc + j] = (float) (alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]));
            }
        }
        return r;
    }

    private static float[] random(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = rnd.nextFloat() * 2 - 1;
        return v;
    }

    @Test
    void matchesDefinitionOnOddShapesAllTransposes() {
        Random rnd = new Random(7);
        int[][] shapes = {{1, 1, 1}, {5, 7, 3}, {6, 32, 9}, {13, 35, 300}, {97, 130, 513}, {200, 17, 40}, {1, 300, 70}, {1, 5000, 30}, {77, 1, 300}, {3000, 1, 100}, {1, 20000, 64}, {20000, 1, 64}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            for (int t = 0; t < 4; t++) {
                boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
                int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
                float[] a = random(rnd, (ta ? k : m) * lda), b = random(rnd, (tb ? n : k) * ldb);
                float[] c = random(rnd, m * ldc);
                for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                    for (float beta : new float[] {0f, 1f, 0.5f}) {
                        float[] expect = naive(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, beta, c, ldc);
                        float[] got = c.clone();
                        Gemm32.sgemm(ta, tb, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, beta, got, 0, ldc, par);
                        for (int i = 0; i < m; i++) {
                            for (int j = 0; j < n; j++) {
                                float e = expect[i * ldc + j];
                                assertEquals(e, got[i * ldc + j], 1e-4 + 1e-4 * Math.abs(e),
                                        "m=" + m + " n=" + n + " k=" + k + " t=" + t + " at " + i + "," + j);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void betaZeroIgnoresGarbageInC() {
        float[] a = {1, 2}, b = {3, 4};
        float[] c = {Float.NaN};
        Gemm32.sgemm(false, false, 1, 1, 2, 1f, a, 0, 2, b, 0, 1, 0f, c, 0, 1, Parallelism.SEQUENTIAL);
        assertEquals(11f, c[0]);
    }
}
