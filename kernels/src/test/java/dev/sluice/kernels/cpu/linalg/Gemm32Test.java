package dev.sluice.kernels.cpu.linalg;

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

    /** Every width of edge panel (narrow and wide kernels, vector tails), few rows, and k across KC blocks. */
    @Test
    void matchesDefinitionOnEveryEdgeWidth() {
        Random rnd = new Random(9);
        int[] ns = {2, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 95, 96, 97, 127, 128, 129, 191, 193};
        int[] ms = {2, 3, 4, 5, 7, 13};
        int[] ks = {1, 17, Gemm32.KC, Gemm32.KC + 1, 2 * Gemm32.KC + 37};
        for (int n : ns) {
            for (int m : ms) {
                int k = ks[(n + m) % ks.length];
                boolean ta = (n & 1) != 0, tb = (m & 1) != 0;
                int lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 3;
                float[] a = random(rnd, (ta ? k : m) * lda), b = random(rnd, (tb ? n : k) * ldb);
                float[] c = random(rnd, m * ldc);
                float beta = (n % 3) * 0.5f;
                float[] expect = naive(ta, tb, m, n, k, 1.25f, a, lda, b, ldb, beta, c, ldc);
                float[] got = c.clone();
                Gemm32.sgemm(ta, tb, m, n, k, 1.25f, a, 0, lda, b, 0, ldb, beta, got, 0, ldc, Parallelism.SEQUENTIAL);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < ldc; j++) {
                        float e = expect[i * ldc + j];
                        float tol = j < n ? 1e-4f + 1e-4f * Math.abs(e) : 0f; // padding columns stay untouched
                        assertEquals(e, got[i * ldc + j], tol, "m=" + m + " n=" + n + " k=" + k + " at " + i + "," + j);
                    }
                }
            }
        }
    }

    /**
     * The invariant the memgraph's tiles rely on: an element's bits depend on k and KC only. Blocks of columns
     * starting at multiples of 16, blocks of at least 2 rows, pre-packed operands (whole, or used from a
     * column / row offset by the parallel split) and any thread count all give the bits of the whole product.
     */
    @Test
    void bitsDoNotDependOnBlockingPackingOrThreads() {
        Random rnd = new Random(5);
        int m = 37, n = 300, k = 2 * Gemm32.KC + 91;
        float[] a = random(rnd, m * k), b = random(rnd, k * n);
        var as = java.lang.foreign.MemorySegment.ofArray(a);
        var bs = java.lang.foreign.MemorySegment.ofArray(b);
        float[] whole = new float[m * n];
        Gemm32.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 0f, whole, 0, n, Parallelism.SEQUENTIAL);
        for (int j0 = 0; j0 < n; j0 += 16 * (1 + j0 % 5)) {
            for (int w : new int[] {16, 48, 112, 300}) {
                int nj = Math.min(w, n - j0);
                for (int i0 = 0; i0 < m; i0 += 9) {
                    int mi = Math.min(i0 == 0 ? 2 : 11, m - i0);
                    if (mi < 2) continue;
                    float[] part = new float[mi * nj];
                    Gemm32.sgemm(false, false, mi, nj, k, 1f, a, i0 * k, k, b, j0, n, 0f, part, 0, nj, Parallelism.SEQUENTIAL);
                    for (int i = 0; i < mi; i++) {
                        for (int j = 0; j < nj; j++) {
                            assertEquals(Float.floatToRawIntBits(whole[(i0 + i) * n + j0 + j]), Float.floatToRawIntBits(part[i * nj + j]),
                                    "block rows " + i0 + "+" + mi + " cols " + j0 + "+" + nj + " at " + i + "," + j);
                        }
                    }
                }
            }
        }
        Gemm32.Packed pa = Gemm32.packA(false, m, k, as, 0, k), pb = Gemm32.packB(false, k, n, bs, 0, n);
        Gemm32.Packed paT = Gemm32.packA(true, m, k, java.lang.foreign.MemorySegment.ofArray(transpose(a, m, k)), 0, m);
        Gemm32.Packed pbT = Gemm32.packB(true, k, n, java.lang.foreign.MemorySegment.ofArray(transpose(b, k, n)), 0, k);
        Gemm32.Packed[][] packs = {{pa, null}, {null, pb}, {pa, pb}, {paT, pbT}};
        for (Gemm32.Packed[] pp : packs) {
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(2), Parallelism.of(3)}) {
                float[] got = new float[m * n];
                var cs = java.lang.foreign.MemorySegment.ofArray(got);
                Gemm32.sgemm(false, false, m, n, k, 1f, as, 0, k, pp[0], bs, 0, n, pp[1], 0f, cs, 0, n, par);
                for (int i = 0; i < m * n; i++) {
                    assertEquals(Float.floatToRawIntBits(whole[i]), Float.floatToRawIntBits(got[i]),
                            "packed " + (pp[0] != null) + "/" + (pp[1] != null) + ", " + par.threads() + " threads, at " + i);
                }
            }
        }
    }

    /**
     * The summation order Gemm32 documents, written plainly: each element is C (zeroed for beta 0) plus, run by run
     * over KC-long runs of k, a fused multiply-add chain from zero in k order (alpha 1).
     */
    private static float[] fmaChains(boolean ta, boolean tb, int m, int n, int k, float[] a, int lda, float[] b, int ldb,
                                     float beta, float[] c, int ldc) {
        float[] r = c.clone();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float sum = beta == 0f ? 0f : r[i * ldc + j];
                for (int p0 = 0; p0 < k; p0 += Gemm32.KC) {
                    float run = 0f;
                    for (int p = p0; p < Math.min(k, p0 + Gemm32.KC); p++) {
                        run = Math.fma(ta ? a[p * lda + i] : a[i * lda + p], tb ? b[j * ldb + p] : b[p * ldb + j], run);
                    }
                    sum += run;
                }
                r[i * ldc + j] = sum;
            }
        }
        return r;
    }

    /**
     * Edge panels of one to five real columns (a product of 97 or 193 columns leaves one): row counts below, at and
     * past 16 rows and MC blocks, depth across KC runs, every transpose, a pre-packed A, one and three threads. The
     * bits must be the documented FMA chains exactly (so an edge panel agrees with a full one and with any tiling),
     * the values the definition.
     */
    @Test
    void narrowEdgePanelsKeepTheFmaChainBits() {
        Random rnd = new Random(13);
        int[] ms = {2, 3, 15, 16, 17, 37, 130}; // one row is the matrix-vector path, summed otherwise
        int[] extra = {1, 2, 3, 4, 5};
        int[] ks = {1, 9, Gemm32.KC + 3, 2 * Gemm32.KC + 37};
        int caseNo = 0;
        for (int m : ms) {
            for (int e : extra) {
                int n = Gemm32.NR * (1 + caseNo % 2) + e, k = ks[caseNo % ks.length];
                boolean ta = (caseNo & 1) != 0, tb = (caseNo & 2) != 0;
                caseNo++;
                int lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2, ldc = n + 1;
                float[] a = random(rnd, (ta ? k : m) * lda), b = random(rnd, (tb ? n : k) * ldb), c = random(rnd, m * ldc);
                for (float beta : new float[] {0f, 1f}) {
                    float[] chains = fmaChains(ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc);
                    float[] def = naive(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);
                    var as = java.lang.foreign.MemorySegment.ofArray(a);
                    Gemm32.Packed pa = Gemm32.packA(ta, m, k, as, 0, lda);
                    for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                        for (Gemm32.Packed p : new Gemm32.Packed[] {null, pa}) {
                            float[] got = c.clone();
                            Gemm32.sgemm(ta, tb, m, n, k, 1f, as, 0, lda, p, java.lang.foreign.MemorySegment.ofArray(b), 0, ldb, null,
                                    beta, java.lang.foreign.MemorySegment.ofArray(got), 0, ldc, par);
                            String what = "m=" + m + " n=" + n + " k=" + k + " t=" + ta + "/" + tb + " beta " + beta + " packed " + (p != null)
                                    + " threads " + par.threads();
                            for (int i = 0; i < m * ldc; i++) {
                                assertEquals(Float.floatToRawIntBits(chains[i]), Float.floatToRawIntBits(got[i]), what + " at " + i);
                                assertEquals(def[i], got[i], 1e-4 + 1e-4 * Math.abs(def[i]), what + " at " + i);
                            }
                        }
                    }
                }
            }
        }
    }

    private static float[] transpose(float[] x, int rows, int cols) {
        float[] t = new float[x.length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j];
        return t;
    }

    @Test
    void betaZeroIgnoresGarbageInC() {
        float[] a = {1, 2}, b = {3, 4};
        float[] c = {Float.NaN};
        Gemm32.sgemm(false, false, 1, 1, 2, 1f, a, 0, 2, b, 0, 1, 0f, c, 0, 1, Parallelism.SEQUENTIAL);
        assertEquals(11f, c[0]);
    }
}
