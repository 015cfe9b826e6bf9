package dev.sluice.kernels;

import java.util.List;

/** What a kernel sees while it runs: inputs, attributes, and where to put outputs. */
public interface ExecContext {
    String nodeName();
    String opType();
    int opset();
    Attributes attributes();
    int inputCount();
    boolean hasInput(int i);
    /** Input i; throws naming the node if it is absent. */
    Tensor input(int i);
    int outputCount();
    /** Output i, allocated (zeroed or planned memory) for this dtype and shape. Call at most once per output. */
    Tensor output(int i, DType dtype, Shape shape);
    /** Runs a subgraph attribute with the given formal inputs; outer-scope names resolve in this node's scope. */
    List<Tensor> runSubgraph(Subgraph graph, List<Tensor> inputs);
    /** Worker threads kernels may use (the shared pool of the CPU device). */
    Parallelism parallelism();
    /**
     * True when input i is one of the graph's initializers (a weight or folded constant: the same tensor, with the
     * same contents, on every run), so an accelerator may keep it resident between calls. False when unknown.
     */
    default boolean inputIsInitializer(int i) { return false; }
}
