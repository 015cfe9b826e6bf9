package dev.sluice.runtime.serve;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.memory.MemoryPlans;
import java.util.Map;

/**
 * The serving code's only way into a session's run: when the session API's result type changes, this one method
 * adapts it. Returns outputs the caller owns and closes.
 */
final class SessionCalls {
    private SessionCalls() {}

    /**
     * Runs the session. With weights streaming in ({@code lease} has a listener), a run whose input shapes already
     * have a memory plan runs from that plan with the listener holding each node until its weights arrived; the
     * first run of new shapes (which profiles and plans, unobserved) waits for all the weights first.
     *
     * @param firstOfShapes true when this model has not yet run these input shapes
     */
    static Map<String, Tensor> run(Session session, Map<String, Tensor> inputs, Residency.Lease lease, boolean firstOfShapes)
            throws InterruptedException {
        ExecutionListener listener = lease.listener();
        if (listener == ExecutionListener.NONE) return session.run(inputs).asMap();
        if (!session.options().plainCpu()) {
            // A placed run (config.json "session") goes through the dispatcher across its devices, which has no
            // node-by-node weight listener: it starts once all its weights are resident (swap, then compute).
            if (lease.streamsThrough()) {
                throw new ServeException(ServeException.Kind.UNAVAILABLE, "the model is placed across devices (config.json 'session') but its "
                    + "weights exceed the device budget and stream through it; a placed run needs all its weights resident: raise "
                    + "--device-budget or drop the placement");
            }
            lease.awaitAll();
            return session.run(inputs).asMap();
        }
        // Weights streaming through a ring never are all there at once: every such run is observed node by node.
        if (lease.streamsThrough()) return SessionInternals.run(session, inputs, OutputAllocator.FRESH, listener);
        MemoryPlans plans = SessionInternals.memoryPlans(session);
        // The first run of new shapes profiles and plans its memory unobserved, so it waits for all the weights and, on
        // several devices, does not go device by device; every later run (from the plan) is observed.
        if (firstOfShapes) {
            lease.awaitAll();
            return session.run(inputs).asMap();
        }
        if (plans == null) return SessionInternals.run(session, inputs, OutputAllocator.FRESH, listener);
        return plans.run(SessionInternals.executorFor(session, inputs), session.registry(), inputs, listener);
    }
}
