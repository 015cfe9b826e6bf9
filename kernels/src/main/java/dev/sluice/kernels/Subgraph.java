package dev.sluice.kernels;

import java.util.List;

/**
 * A graph held by a control-flow attribute (If's branches, Loop's body). The IR implements it; kernels see
 * only its formal inputs and outputs and run it through {@link ExecContext#runSubgraph}.
 */
public interface Subgraph {
    List<String> inputNames();
    List<String> outputNames();
    List<TensorType> inputTypes();
    List<TensorType> outputTypes();
}
