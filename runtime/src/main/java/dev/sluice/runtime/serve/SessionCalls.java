package dev.sluice.runtime.serve;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.Map;

/**
 * The serving code's only call of {@link Session#run}: when the session API's result type changes, this one
 * method adapts it. Returns outputs the caller owns and closes.
 */
final class SessionCalls {
    private SessionCalls() {}

    static Map<String, Tensor> run(Session session, Map<String, Tensor> inputs, ExecutionListener listener) {
        // With a listener (weights streaming in) the run goes through the observed executor path; its outputs
        // are the same bits, only the intermediates' memory is not planned.
        return listener == ExecutionListener.NONE ? session.run(inputs) : session.run(inputs, OutputAllocator.FRESH, listener);
    }
}
