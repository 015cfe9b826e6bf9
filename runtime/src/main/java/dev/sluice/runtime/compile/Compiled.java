package dev.sluice.runtime.compile;

import dev.sluice.graph.Model;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.placement.Placement;

/**
 * What the compile pipeline made of one model for one set of input shapes: each stage's value, kept so that a
 * run can be explained (which node ran where, under which plan) and a stage saved or compared.
 *
 * <p>Invariants: {@code placement} places every node of {@code model}'s graph; {@code memGraph} is null exactly in
 * the one-device case, where the memory plan is the session's profile-guided one; {@code costs} is null there too
 * (there is no choice to cost) and when the placement was read from a file rather than chosen from costs;
 * {@code executable} runs {@code model} as {@code placement} says.
 *
 * @param model      the graph as it runs: fused, typed, specialised to the input shapes (static shapes when placed)
 * @param costs      per node and device, what the placement was chosen from; null for one device or a placement file
 * @param placement  which device runs each node ({@code all-cpu} on the device {@code cpu} for one device)
 * @param memGraph   the placed graph's tasks under the devices' budgets; null for one device
 * @param executable what runs it
 */
public record Compiled(Model model, CostModel costs, Placement placement, MemGraph memGraph, Executable executable) {
    /** Checks the stages that are always present. */
    public Compiled {
        java.util.Objects.requireNonNull(model, "model");
        java.util.Objects.requireNonNull(placement, "placement");
        java.util.Objects.requireNonNull(executable, "executable");
        if (memGraph == null && costs != null) throw new IllegalArgumentException("costs without a MemGraph: a one-device compilation has none");
        if ((memGraph == null) != (executable instanceof Executable.OneDevice)) {
            throw new IllegalArgumentException("a MemGraph goes with a placed executable, none with a one-device one");
        }
    }

    /** True for the one-device case (every node on the cpu, no MemGraph). */
    public boolean oneDevice() { return executable instanceof Executable.OneDevice; }

    @Override public String toString() {
        StringBuilder b = new StringBuilder();
        b.append("compiled '").append(model.graph().name()).append("': ").append(model.graph().nodes().size()).append(" nodes\n");
        if (costs != null) b.append("  costs: ").append(costs.devices().size()).append(" devices, ").append(costs.nodes().size()).append(" nodes\n");
        for (String line : placement.toString().split("\n")) b.append("  ").append(line).append('\n');
        if (memGraph != null) b.append("  memgraph: ").append(memGraph.tasks().size()).append(" tasks, planned peaks ").append(memGraph.plannedPeak()).append('\n');
        b.append("  executable: ").append(executable).append('\n');
        return b.toString();
    }
}
