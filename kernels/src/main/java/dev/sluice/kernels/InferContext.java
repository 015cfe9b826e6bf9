package dev.sluice.kernels;

import java.util.List;

/** What type inference sees of one node. */
public interface InferContext {
    String nodeName();
    String opType();
    int opset();
    Attributes attributes();
    int inputCount();
    /** True if input i is given (optional inputs may be absent or empty-named). */
    boolean hasInput(int i);
    /** The type of input i; {@link TensorType#UNKNOWN} if unknown; throws if absent. */
    TensorType inputType(int i);
    /** The value of input i if it is a constant known at this point, else null. */
    Tensor constantInput(int i);
    int outputCount();
    /** Output types of a subgraph attribute given its input types (for If / Loop). */
    List<TensorType> inferSubgraph(Subgraph graph, List<TensorType> inputTypes);
}
