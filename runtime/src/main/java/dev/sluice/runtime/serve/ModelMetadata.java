package dev.sluice.runtime.serve;

import java.util.List;

/**
 * What the protocol's model metadata reports: name, versions, platform and the tensors in and out, a
 * dimension given per request as -1.
 */
public record ModelMetadata(String name, List<String> versions, String platform, List<TensorMetadata> inputs,
                            List<TensorMetadata> outputs) {
    public ModelMetadata {
        versions = List.copyOf(versions);
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
    }

    /** One tensor's name, datatype and shape ({@code -1} for a dimension the request sets). */
    public record TensorMetadata(String name, Datatype datatype, long[] shape) {}

    /** The platform name of an ONNX model in the protocol's list of platforms. */
    public static final String ONNX = "onnx_onnxv1";
}
