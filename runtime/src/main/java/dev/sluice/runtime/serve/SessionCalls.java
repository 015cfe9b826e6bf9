package dev.sluice.runtime.serve;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.util.Map;

/**
 * The serving code's only call of {@link Session#run}: when the session API's result type changes, this one
 * method adapts it. Returns outputs the caller owns and closes.
 */
final class SessionCalls {
    private SessionCalls() {}

    static Map<String, Tensor> run(Session session, Map<String, Tensor> inputs) {
        return session.run(inputs);
    }
}
