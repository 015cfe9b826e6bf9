package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.NnArrays;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The tail of a residual block after its conv: {@code y = act(y + r)} in place over a whole float tensor, by
 * chunks that stay in L1: the sum of each chunk goes into a thread-local array (one vector add per lane, then
 * a scalar tail, both rounding the same), the activation runs there by {@link Activation}'s array code over
 * whole vectors (so every element takes the same lane-wise arithmetic, wherever it falls), and the chunk is
 * copied back.
 * Each element is {@code act(y[i] + r[i])} with the add rounded once, as an Add node followed by the activation's
 * node computes it (only a -0 sum may come out as +0, the activation being applied to {@code sum + 0}).
 */
final class ResidualAdd {
    private ResidualAdd() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** Floats per chunk: 16 KiB of sums, in L1 while the activation runs over them (a multiple of any vector). */
    private static final int CHUNK = 4096;
    private static final ThreadLocal<float[]> SUMS = ThreadLocal.withInitial(() -> new float[CHUNK]);

    /** y[i] = act(y[i] + r[i]) for i in [0, count). */
    static void apply(MemorySegment y, MemorySegment r, long count, Activation act, Parallelism par) {
        int chunks = Math.toIntExact((count + CHUNK - 1) / CHUNK);
        par.forEach(chunks, CHUNK, t -> {
            long from = (long) t * CHUNK;
            int len = (int) Math.min(CHUNK, count - from);
            float[] sums = SUMS.get();
            long yb = from * 4, rb = from * 4;
            int i = 0;
            for (; i + L <= len; i += L) {
                FloatVector.fromMemorySegment(S, y, yb + 4L * i, ORDER).add(FloatVector.fromMemorySegment(S, r, rb + 4L * i, ORDER))
                        .intoArray(sums, i);
            }
            for (; i < len; i++) sums[i] = y.getAtIndex(NnArrays.F32, from + i) + r.getAtIndex(NnArrays.F32, from + i);
            // the activation over whole vectors only (zeros past the end): its scalar tail may round otherwise
            // (HardSwish), and a band of rows must give the whole tensor's bits wherever its vectors start
            int whole = (len + Activation.LANES - 1) / Activation.LANES * Activation.LANES;
            java.util.Arrays.fill(sums, len, whole, 0f);
            act.biasAndApply(sums, 0, whole, 0f);
            MemorySegment.copy(sums, 0, y, NnArrays.F32, yb, len);
        });
    }
}
