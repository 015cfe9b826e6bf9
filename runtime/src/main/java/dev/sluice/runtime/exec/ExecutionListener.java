package dev.sluice.runtime.exec;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import java.util.List;

/** Observes a run node by node: profiling, tracing and memory recording hook in here. */
public interface ExecutionListener {
    ExecutionListener NONE = new ExecutionListener() {};

    /** Called before a node of the top-level graph runs; {@code step} is its index in execution order. */
    default void beforeNode(int step, Node node) {}

    /** Called after a node ran with its outputs (null for unwanted optional outputs). */
    default void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {}

    /** Called when a value is no longer needed by the rest of the run. */
    default void released(int step, String value, Tensor tensor) {}

    /**
     * Called after a node inside a subgraph (an If branch, a Loop or Scan body, at any depth) ran; its time
     * is also part of the enclosing top-level node's {@code afterNode} time. Inner nodes have no steps: the
     * memory plan covers the top level only.
     */
    default void afterInnerNode(Node node, long nanos) {}
}
