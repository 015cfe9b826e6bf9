package dev.sluice.runtime.serve;

import java.util.List;
import java.util.Map;

/**
 * An inference request as both front ends deliver it to the {@link Engine}.
 *
 * @param model      the model name
 * @param version    the version asked for, or null for the server's choice (the highest loaded)
 * @param id         the client's request id, echoed back; may be null
 * @param inputs     the input tensors, each named once
 * @param outputs    the outputs asked for, in order; empty for all of the model's outputs
 * @param parameters request-level parameters
 */
public record InferRequest(String model, String version, String id, List<InferTensor> inputs, List<RequestedOutput> outputs,
                           Map<String, Object> parameters) {
    public InferRequest {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        parameters = Map.copyOf(parameters);
    }

    /** One output the client asked for; {@code binary} when it wants the raw bytes (the binary data extension). */
    public record RequestedOutput(String name, boolean binary) {}
}
