package dev.sluice.kernels;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * The one pool of CPU workers kernels split work over. Kernels call {@link #forEach}; a sequential instance
 * runs inline, so a kernel can always be used from a worker of the dispatcher without oversubscription.
 *
 * <p>Work sharing: a parallel call hands its indices out from one atomic counter, and the calling thread
 * takes indices like the {@code threads - 1} pool workers do, instead of waiting idle while only workers run
 * (the pool has one thread fewer than {@code threads}, so the caller and the pool together use
 * {@code threads} cores). Which thread runs an index never changes what that index computes: each index
 * runs exactly once with the same body, so kernel results do not depend on the thread count or the split.
 * A thread only waits for indices that another thread has already taken and is running, so a nested
 * parallel call (a body that calls {@code forEach} again) cannot deadlock even when every worker is busy.
 */
public final class Parallelism implements AutoCloseable {
    public static final Parallelism SEQUENTIAL = new Parallelism(null, 1);

    private final ForkJoinPool pool;
    private final int threads;

    private Parallelism(ForkJoinPool pool, int threads) { this.pool = pool; this.threads = threads; }

    public static Parallelism of(int threads) {
        if (threads <= 1) return SEQUENTIAL;
        return new Parallelism(new ForkJoinPool(threads - 1), threads);
    }

    public int threads() { return threads; }

    /**
     * Lets the pool's worker threads go (after the work already handed to them); later parallel calls are
     * refused. The {@link #SEQUENTIAL} instance has no pool and ignores this. A session closes its own.
     */
    @Override public void close() {
        if (pool != null) pool.shutdown();
    }

    /**
     * Whether {@link #close()} was called on a pooled instance.
     *
     * @return true once the pool is shut down
     */
    public boolean isClosed() { return pool != null && pool.isShutdown(); }

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
        // a few indices per claim when there are many, so the counter is not touched per tiny index
        int grain = Math.max(1, n / (8 * threads));
        Job job = new Job(body, n, grain, Thread.currentThread());
        int helpers = Math.min(threads - 1, (n + grain - 1) / grain - 1);
        for (int h = 0; h < helpers; h++) pool.execute(job::work);
        job.work();
        job.await();
        Throwable e = job.error;
        if (e == null) return;
        if (e instanceof RuntimeException re) throw re;
        if (e instanceof Error err) throw err;
        throw new KernelException("parallel kernel failed", e);
    }

    /** One parallel call: the indices still to hand out, the ones finished, and the first failure. */
    private static final class Job {
        /** Spins of the waiting caller before it parks: the last indices usually finish within microseconds. */
        private static final int SPINS = 1 << 8;

        private final IntConsumer body;
        private final int n, grain;
        private final Thread caller;
        private final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        private volatile Throwable error;

        Job(IntConsumer body, int n, int grain, Thread caller) {
            this.body = body; this.n = n; this.grain = grain; this.caller = caller;
        }

        /** Takes and runs indices until none are left; a pool task that starts after the call ended does nothing. */
        void work() {
            while (true) {
                int i0 = next.getAndAdd(grain);
                if (i0 >= n) return;
                int i1 = Math.min(n, i0 + grain);
                for (int i = i0; i < i1; i++) {
                    try {
                        body.accept(i);
                    } catch (Throwable t) {
                        if (error == null) error = t;
                    }
                }
                if (done.addAndGet(i1 - i0) == n && Thread.currentThread() != caller) LockSupport.unpark(caller);
            }
        }

        /** Waits (caller only) until every index has run: spins briefly, then parks until the last one unparks it. */
        void await() {
            boolean interrupted = false;
            for (int spin = 0; done.get() < n; spin++) {
                if (spin < SPINS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                    // park returns at once while the interrupt flag is set: clear it, restore it at the end
                    if (Thread.interrupted()) interrupted = true;
                }
            }
            if (interrupted) Thread.currentThread().interrupt();
        }
    }
}
