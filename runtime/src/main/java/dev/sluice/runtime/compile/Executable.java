package dev.sluice.runtime.compile;

import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.memory.MemoryPlans;
import java.util.Map;

/**
 * The last value of the compile pipeline: what runs a placed, planned graph for one set of input shapes. Two
 * kinds, one per shape of placement: every node on the cpu (a one-device placement), or nodes spread over the
 * cpu and an accelerator (a MemGraph on the dispatcher's lanes).
 *
 * <p>Invariant: {@link #run} returns every output of the graph by name, fresh tensors the caller owns; it only
 * reads its inputs.
 */
public sealed interface Executable permits Executable.OneDevice, Executable.Placed {
    /**
     * Runs the graph once.
     *
     * @param inputs a tensor per graph input, already validated against the graph
     * @return every output by name
     */
    Map<String, Tensor> run(Map<String, Tensor> inputs);

    /**
     * The one-device case: the graph's nodes in order on the cpu's worker pool, every intermediate from the
     * profile-guided memory plan of these shapes ({@code plans}; made on the first run) or, with planning off
     * ({@code plans == null}), from fresh memory. No lanes, no task graph: with one device there is nothing to
     * overlap, and a lane hand-off per node would only cost time.
     *
     * @param executor the graph specialised to the input shapes
     * @param registry the kernels it runs with
     * @param plans    the session's memory plans, or null when planning is off
     */
    record OneDevice(GraphExecutor executor, OpRegistry registry, MemoryPlans plans) implements Executable {
        @Override public Map<String, Tensor> run(Map<String, Tensor> inputs) {
            return plans != null ? plans.run(executor, registry, inputs) : executor.run(inputs, OutputAllocator.FRESH, ExecutionListener.NONE);
        }

        @Override public String toString() {
            return "one device (cpu): " + executor.model().graph().nodes().size() + " nodes in order on "
                + executor.parallelism().threads() + " threads, intermediates " + (plans == null ? "fresh" : "from the memory plan");
        }
    }

    /**
     * Nodes on several devices: the placement's MemGraph run by the dispatcher on the devices' lanes.
     *
     * @param executor the MemGraph's executor
     */
    record Placed(MemGraphExecutor executor) implements Executable {
        @Override public Map<String, Tensor> run(Map<String, Tensor> inputs) { return executor.run(inputs).outputs(); }

        @Override public String toString() {
            return "placed: " + executor.plan().tasks().size() + " tasks on " + executor.plan().devices().size() + " devices";
        }
    }
}
