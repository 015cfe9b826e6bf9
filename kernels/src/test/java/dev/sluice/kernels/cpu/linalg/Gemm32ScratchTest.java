package dev.sluice.kernels.cpu.linalg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Parallelism;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A warm sequential GEMM into native memory allocates nothing on the heap per call, whatever the JIT did before:
 * zeroing C for beta 0 used to slice C once per row, and whether C2 removed those slice objects depended on its
 * inlining history (in a warm silero-vad JVM it did not, and they were over half the model's per-run garbage).
 *
 * <p>Measured with the calling thread's allocated-bytes counter (exact, not a timing): the least over many calls,
 * since before C2 compiles the kernel its vector code allocates boxes; a per-row object shows in every call, however
 * warm. The product is checked against a plain triple loop, with C first filled with NaN (beta 0 must not read it).
 * In a JVM of its own this passes on the old code too (there C2 inlines {@code fill} and drops the slices); it
 * guards the history-independent form.
 */
class Gemm32ScratchTest {
    private static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final int CALLS = 60_000;

    @Test void betaZeroIntoNativeMemoryAllocatesNothingPerCall() {
        int m = 96, n = 40, k = 8; // n: two whole vectors of 16 (or five of 8) and a tail
        Random r = new Random(5);
        float[] a = new float[m * k], b = new float[k * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian();
        for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment as = arena.allocate((long) a.length * 4, 64), bs = arena.allocate((long) b.length * 4, 64);
            MemorySegment.copy(a, 0, as, ValueLayout.JAVA_FLOAT, 0, a.length);
            MemorySegment.copy(b, 0, bs, ValueLayout.JAVA_FLOAT, 0, b.length);
            MemorySegment c = arena.allocate((long) m * n * 4, 64);
            long least = Long.MAX_VALUE;
            for (int call = 0; call < CALLS && least > 0; call++) {
                if (call % 1000 == 0) c.fill((byte) 0xFF); // NaN garbage: beta 0 must overwrite, never read, C
                long before = THREADS.getCurrentThreadAllocatedBytes();
                Gemm32.sgemm(false, false, m, n, k, 1f, as, 0, k, bs, 0, n, 0f, c, 0, n, Parallelism.SEQUENTIAL);
                least = Math.min(least, THREADS.getCurrentThreadAllocatedBytes() - before);
            }
            // old code: one segment object (>= 40 bytes) per row of C, m rows, in every call
            assertTrue(least < 16L * m, "least heap bytes allocated by a warm call: " + least);
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double want = 0;
                    for (int p = 0; p < k; p++) want += (double) a[i * k + p] * b[p * n + j];
                    assertEquals(want, c.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * n + j), 1e-4, "C[" + i + "," + j + "]");
                }
            }
        }
    }
}
