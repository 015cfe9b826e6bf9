package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The last few windows of a one-channel 1-D filter bank ({@link ConvKernels}' window rows) when they would leave
 * Gemm32 an edge panel of a handful of columns (97 windows: one panel of 96 and one of a single column, which
 * the register tile computes 32 columns wide, about a third of the product's time). Here one window is a
 * matrix-vector product run down the filters: the weight transposed (cached per constant weight), filters in
 * vector lanes of Gemm32's own shape (no other vector shape: see VectorShapesTest), the window's samples broadcast.
 *
 * <p>Bits: each output is Gemm32's order exactly: zero, then per KC-long run of the kernel an FMA chain from zero in
 * tap order, added to the sum; so a conv split by output positions (memgraph's tiles) gives the whole conv's bits
 * whichever path each window takes.
 */
final class WindowEdge {
    private WindowEdge() {}

    /** Most trailing windows this path takes: past it the edge panel's waste is small next to its columns. */
    static final int MAX_COLS = 4;
    private static final VectorSpecies<Float> S = Gemm32.SPECIES;
    private static final int L = S.length();

    /** A weight transposed: {@code data[p * mp + i] = W[i][p]}, mp = m rounded up to whole vectors (zero rows). */
    private record Transposed(float[] data, int m, int k, long address) {}

    private static final java.util.Map<Object, Transposed> CACHE =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** W (m x k, row-major) transposed and padded, cached under the constant weight {@code key}. */
    static float[] transposed(Object key, MemorySegment w, int m, int k) {
        long addr = w.isNative() ? w.address() : System.identityHashCode(w.heapBase().orElse(null));
        Transposed t = CACHE.get(key);
        if (t != null && t.m == m && t.k == k && t.address == addr) return t.data;
        int mp = (m + L - 1) / L * L;
        float[] data = new float[Math.multiplyExact(mp, k)];
        float[] row = new float[k];
        for (int i = 0; i < m; i++) {
            MemorySegment.copy(w, NnArrays.F32, (long) i * k * 4, row, 0, k);
            for (int p = 0; p < k; p++) data[p * mp + i] = row[p];
        }
        CACHE.put(key, new Transposed(data, m, k, addr));
        return data;
    }

    /**
     * y[yo + i * ld] = sum over p of W[i][p] * x[xo + p] for i in [0, m), in Gemm32's order (see the class doc);
     * {@code wt} from {@link #transposed}.
     */
    static void column(float[] wt, int m, int k, MemorySegment x, long xo, MemorySegment y, long yo, int ld) {
        int mp = (m + L - 1) / L * L;
        float[] xv = new float[k], sum = new float[mp];
        MemorySegment.copy(x, NnArrays.F32, xo * 4, xv, 0, k);
        for (int p0 = 0; p0 < k; p0 += Gemm32.KC) {
            int p1 = Math.min(k, p0 + Gemm32.KC), r = 0;
            for (; r + 4 * L <= mp; r += 4 * L) {
                FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
                for (int p = p0; p < p1; p++) {
                    FloatVector b = FloatVector.broadcast(S, xv[p]);
                    int at = p * mp + r;
                    a0 = FloatVector.fromArray(S, wt, at).fma(b, a0);
                    a1 = FloatVector.fromArray(S, wt, at + L).fma(b, a1);
                    a2 = FloatVector.fromArray(S, wt, at + 2 * L).fma(b, a2);
                    a3 = FloatVector.fromArray(S, wt, at + 3 * L).fma(b, a3);
                }
                FloatVector.fromArray(S, sum, r).add(a0).intoArray(sum, r);
                FloatVector.fromArray(S, sum, r + L).add(a1).intoArray(sum, r + L);
                FloatVector.fromArray(S, sum, r + 2 * L).add(a2).intoArray(sum, r + 2 * L);
                FloatVector.fromArray(S, sum, r + 3 * L).add(a3).intoArray(sum, r + 3 * L);
            }
            for (; r < mp; r += L) {
                FloatVector a0 = FloatVector.zero(S);
                for (int p = p0; p < p1; p++) a0 = FloatVector.fromArray(S, wt, p * mp + r).fma(FloatVector.broadcast(S, xv[p]), a0);
                FloatVector.fromArray(S, sum, r).add(a0).intoArray(sum, r);
            }
        }
        for (int i = 0; i < m; i++) y.setAtIndex(NnArrays.F32, yo + (long) i * ld, sum[i]);
    }
}
