package dev.sluice.kernels.cpu.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.Parallelism;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The same product gives the same bits on every call, before and after the JIT compiles the kernel. A
 * planned run is compared bit for bit with the profiled run before it, which ran earlier in the JIT's
 * life: any kernel whose rounding depends on the compilation tier makes that comparison (and any
 * run-to-run reproducibility) fail. Found on PP-OCRv3 rec, whose 1x1 convolutions after global pooling
 * are matrix-vector products: {@code reduceLanes(ADD)} sums lanes in one order interpreted and another
 * once C2 intrinsifies it.
 */
class Gemm32DeterminismTest {
    @Test void matrixVectorDotGivesTheSameBitsInEveryJitTier() {
        int m = 48, k = 2 * Gemm32.GEMV_KC + 517; // several K runs, k not a multiple of the vector length: the scalar tail runs too
        SplittableRandom rnd = new SplittableRandom(11);
        float[] a = new float[m * k], x = new float[k];
        for (int i = 0; i < a.length; i++) a[i] = (float) rnd.nextDouble(-1, 1);
        for (int i = 0; i < k; i++) x[i] = (float) rnd.nextDouble(-1, 1);
        float[] expected = reference(a, x, m, k);
        float[] c = new float[m];
        // enough calls for C2 to compile dot (tens of thousands of invocations, long inner loops)
        for (int rep = 0; rep < 4000; rep++) {
            Gemm32.sgemm(false, false, m, 1, k, 1f, a, 0, k, x, 0, 1, 0f, c, 0, 1, Parallelism.SEQUENTIAL);
            for (int i = 0; i < m; i++) {
                if (Float.floatToRawIntBits(c[i]) != Float.floatToRawIntBits(expected[i])) {
                    assertEquals(expected[i], c[i], 0f, "call " + rep + ", row " + i + ": bits changed between calls");
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(c[i]), "call " + rep + ", row " + i);
                }
            }
        }
    }

    /**
     * The documented order: K in runs of GEMV_KC; per run, per-lane FMAs over whole vectors from zero, lanes summed
     * from 0 up, then the run's tail; each run's sum added to the runs before.
     */
    private static float[] reference(float[] a, float[] x, int m, int k) {
        int l = Gemm32.SPECIES.length();
        float[] out = new float[m];
        for (int i = 0; i < m; i++) {
            for (int pc = 0; pc < k; pc += Gemm32.GEMV_KC) {
                int kc = Math.min(Gemm32.GEMV_KC, k - pc);
                float[] lanes = new float[l];
                int p = 0;
                for (; p <= kc - l; p += l) for (int q = 0; q < l; q++) lanes[q] = Math.fma(a[i * k + pc + p + q], x[pc + p + q], lanes[q]);
                float r = 0f;
                for (float w : lanes) r += w;
                for (; p < kc; p++) r += a[i * k + pc + p] * x[pc + p];
                out[i] = pc == 0 ? r : r + out[i];
            }
        }
        return out;
    }
}
