package dev.sluice.kernels;

import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * The one pool of CPU workers kernels split work over. Kernels call {@link #forEach}; a sequential instance
 * runs inline, so a kernel can always be used from a worker of the dispatcher without oversubscription.
 */
public final class Parallelism {
    public static final Parallelism SEQUENTIAL = new Parallelism(null, 1);

    private final ForkJoinPool pool;
    private final int threads;

    private Parallelism(ForkJoinPool pool, int threads) { this.pool = pool; this.threads = threads; }

    public static Parallelism of(int threads) {
        if (threads <= 1) return SEQUENTIAL;
        return new Parallelism(new ForkJoinPool(threads), threads);
    }

    public int threads() { return threads; }

    /**
     * Total work (about multiply-adds or elements touched) below which {@link #forEach(int, long, IntConsumer)}
     * runs inline: handing tasks to the pool and waiting costs more than that much work.
     */
    public static final long INLINE_WORK = 1L << 16;

    /**
     * Runs body(0..n-1) like {@link #forEach(int, IntConsumer)}, but inline on the calling thread when
     * {@code n * workPerIndex} is below {@link #INLINE_WORK}. Each index runs the same code either way, so
     * results do not depend on the choice.
     */
    public void forEach(int n, long workPerIndex, IntConsumer body) {
        if (pool == null || n <= 1 || (double) n * workPerIndex < INLINE_WORK) {
            for (int i = 0; i < n; i++) body.accept(i);
            return;
        }
        forEach(n, body);
    }

    /** Runs body(0..n-1), in parallel where worth it; each index exactly once. */
    public void forEach(int n, IntConsumer body) {
        if (pool == null || n <= 1) {
            for (int i = 0; i < n; i++) body.accept(i);
            return;
        }
        try {
            pool.submit(() -> IntStream.range(0, n).parallel().forEach(body)).get();
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new KernelException("parallel kernel failed", e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new KernelException("interrupted", e);
        }
    }
}
