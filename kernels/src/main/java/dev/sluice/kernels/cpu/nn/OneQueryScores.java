package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;

/**
 * The scores of one query row (decoding), s[j] = q . K[j] for each key j, read straight from the keys' rows, with
 * the bits of the unfused graph's MatMul [1, d] x [d, lk] (K^T, contiguous). That product takes Gemm32's
 * matrix-vector path with B's columns contiguous (its axpy strips), which sums every output element on its own:
 * <ul>
 *   <li>in runs of {@link Gemm32#GEMV_KC} depths, each run from +0 in depth order, then added to the element (the
 *       first run stored as it is: alpha 1, beta 0);</li>
 *   <li>skipping every depth p whose q[p] is 0 (the axpy strips skip zero factors, which matters for -0 and for
 *       infinite or NaN keys);</li>
 *   <li>one fused multiply-add per depth for the elements in whole vectors of Gemm32's width (the first
 *       {@code lk / L * L}), a multiply then an add for the last {@code lk % L} (the strips' scalar tail).</li>
 * </ul>
 * The same operations on the same values in the same order give the same bits, whatever the layout the keys
 * are read from, so no transposed copy is needed. Each key's sum is one dependent chain; eight keys go side by side
 * so that the chains' latencies overlap.
 */
final class OneQueryScores {
    private OneQueryScores() {}

    /** Gemm32's vector width: the matrix-vector path's scalar tail is the last {@code lk % LANES} outputs. */
    private static final int LANES = Gemm32.SPECIES.length();
    private static final int RUN = Gemm32.GEMV_KC;

    /**
     * s[0, lk) = q K^T for the query row at {@code qo} (d floats) and key j's row at {@code ko + j * ldk}, in
     * the unfused MatMul's order (see the class doc).
     */
    static void scores(MemorySegment qd, long qo, MemorySegment kd, long ko, int ldk, int lk, int d, MemorySegment s) {
        if (d == 0) {
            for (int j = 0; j < lk; j++) s.setAtIndex(NnArrays.F32, j, 0f); // Gemm32 with k = 0 and beta 0: zeros
            return;
        }
        float[] q = new float[d];
        for (int p = 0; p < d; p++) q[p] = qd.getAtIndex(NnArrays.F32, qo + p);
        int fused = lk / LANES * LANES;
        for (int pc = 0; pc < d; pc += RUN) {
            int pe = Math.min(d, pc + RUN);
            boolean first = pc == 0;
            int j = 0;
            for (; j + 8 <= fused; j += 8) eight(q, pc, pe, kd, ko + (long) j * ldk, ldk, s, j, first);
            for (; j < fused; j++) store(s, j, fusedChain(q, pc, pe, kd, ko + (long) j * ldk), first);
            for (; j < lk; j++) store(s, j, plainChain(q, pc, pe, kd, ko + (long) j * ldk), first);
        }
    }

    /** The run's sum into s[j]: stored by the first run, added to what the runs before left otherwise. */
    private static void store(MemorySegment s, int j, float run, boolean first) {
        s.setAtIndex(NnArrays.F32, j, first ? run : run + s.getAtIndex(NnArrays.F32, j));
    }

    /** Eight keys' fused chains over depths [pc, pe), the key rows {@code ldk} apart from {@code k0}. */
    private static void eight(float[] q, int pc, int pe, MemorySegment kd, long k0, int ldk, MemorySegment s, int j, boolean first) {
        long k1 = k0 + ldk, k2 = k1 + ldk, k3 = k2 + ldk, k4 = k3 + ldk, k5 = k4 + ldk, k6 = k5 + ldk, k7 = k6 + ldk;
        float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f, a4 = 0f, a5 = 0f, a6 = 0f, a7 = 0f;
        for (int p = pc; p < pe; p++) {
            float x = q[p];
            if (x == 0f) continue;
            a0 = Math.fma(kd.getAtIndex(NnArrays.F32, k0 + p), x, a0);
            a1 = Math.fma(kd.getAtIndex(NnArrays.F32, k1 + p), x, a1);
            a2 = Math.fma(kd.getAtIndex(NnArrays.F32, k2 + p), x, a2);
            a3 = Math.fma(kd.getAtIndex(NnArrays.F32, k3 + p), x, a3);
            a4 = Math.fma(kd.getAtIndex(NnArrays.F32, k4 + p), x, a4);
            a5 = Math.fma(kd.getAtIndex(NnArrays.F32, k5 + p), x, a5);
            a6 = Math.fma(kd.getAtIndex(NnArrays.F32, k6 + p), x, a6);
            a7 = Math.fma(kd.getAtIndex(NnArrays.F32, k7 + p), x, a7);
        }
        store(s, j, a0, first); store(s, j + 1, a1, first); store(s, j + 2, a2, first); store(s, j + 3, a3, first);
        store(s, j + 4, a4, first); store(s, j + 5, a5, first); store(s, j + 6, a6, first); store(s, j + 7, a7, first);
    }

    /** One key's fused chain over depths [pc, pe) (a lane of Gemm32's vector strips). */
    private static float fusedChain(float[] q, int pc, int pe, MemorySegment kd, long k) {
        float a = 0f;
        for (int p = pc; p < pe; p++) {
            float x = q[p];
            if (x != 0f) a = Math.fma(kd.getAtIndex(NnArrays.F32, k + p), x, a);
        }
        return a;
    }

    /** One key's chain of separate multiplies and adds over depths [pc, pe) (Gemm32's scalar tail). */
    private static float plainChain(float[] q, int pc, int pe, MemorySegment kd, long k) {
        float a = 0f;
        for (int p = pc; p < pe; p++) {
            float x = q[p];
            if (x != 0f) a += x * kd.getAtIndex(NnArrays.F32, k + p);
        }
        return a;
    }
}
