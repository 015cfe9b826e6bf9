package dev.sluice.runtime.serve;

import dev.sluice.runtime.Session;
import dev.sluice.runtime.exec.ExecutionListener;

/**
 * Where model weights must be before a model computes. Without a device budget every model is resident and
 * {@link #NONE} does nothing; under a budget a swapper moves weights in (and drops others) on demand.
 * {@link #acquire} may block while weights are copied; the lease keeps them resident until closed.
 */
public interface Residency {
    /** Registers a loaded model's weights under {@code key}. */
    void add(String key, Session session, int priority);

    /** Forgets {@code key}'s weights (its model has drained and closed). */
    void remove(String key);

    /** Makes {@code key}'s weights resident and keeps them so until the lease closes. */
    Lease acquire(String key) throws InterruptedException;

    /** Swaps, bytes per lane and device memory, for {@code /metrics}. */
    Metrics.DeviceFigures figures();

    /** Holds a model's weights resident. */
    interface Lease extends AutoCloseable {
        /**
         * What the run should observe: nothing when the weights are all there, or a listener that holds each node
         * until the weights it reads have arrived (compute overlapping the transfer).
         */
        default ExecutionListener listener() { return ExecutionListener.NONE; }

        /** Waits until all the weights are there (for a run that cannot be observed node by node). */
        default void awaitAll() throws InterruptedException {}

        /** True when the weights stream through a ring smaller than they are: the run must be observed node by node. */
        default boolean streamsThrough() { return false; }

        @Override void close();
    }

    /** Everything resident: no budget, no copies. */
    Residency NONE = new Residency() {
        @Override public void add(String key, Session session, int priority) {}
        @Override public void remove(String key) {}
        @Override public Lease acquire(String key) { return () -> {}; }
        @Override public Metrics.DeviceFigures figures() { return Metrics.DeviceFigures.NONE; }
    };
}
