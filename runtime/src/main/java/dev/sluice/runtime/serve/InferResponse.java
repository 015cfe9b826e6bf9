package dev.sluice.runtime.serve;

import java.util.List;

/** The answer to an {@link InferRequest}: the model and version that ran, the request id, the outputs in order. */
public record InferResponse(String model, String version, String id, List<InferTensor> outputs) {
    public InferResponse {
        outputs = List.copyOf(outputs);
    }
}
