package dev.sluice.runtime.memory;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.plan.InPlace;
import dev.sluice.memgraph.plan.Lifetime;
import dev.sluice.memgraph.plan.MemoryProfile;
import dev.sluice.runtime.exec.ExecutionListener;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Records, during one run of the top-level graph, each intermediate tensor's real size and lifetime (the
 * step that writes it, the step after which the executor releases it) and where an in-place safe kernel
 * could write its output over an input that dies there. Graph outputs are left out: they are handed to the
 * caller and never live in the arena. Weights and constants are counted apart.
 */
public final class ProfilingListener implements ExecutionListener {
    private final Graph graph;
    private final OpRegistry registry;
    private final Set<String> graphOutputs = new HashSet<>();
    /** value -> {data bytes, first step, last step or -1}. */
    private final Map<String, long[]> seen = new LinkedHashMap<>();
    private final List<InPlace> inPlace = new ArrayList<>();
    private long nanos;

    public ProfilingListener(Graph graph, OpRegistry registry) {
        this.graph = graph;
        this.registry = registry;
        for (Value v : graph.outputs()) graphOutputs.add(v.name());
    }

    @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
        this.nanos += nanos;
        for (int i = 0; i < outputs.size(); i++) {
            String name = node.outputs().get(i);
            Tensor t = outputs.get(i);
            if (name.isEmpty() || t == null || graphOutputs.contains(name)) continue;
            seen.put(name, new long[] {t.byteSize(), step, -1});
        }
        OpKernel k = registry.find(node.domain(), node.opType());
        if (k != null && k.inPlaceSafe() && !node.inputs().isEmpty() && !node.outputs().isEmpty()) {
            long[] in = seen.get(node.inputs().get(0)), out = seen.get(node.outputs().get(0));
            if (in != null && out != null && in[0] == out[0] && in[2] < 0) {
                inPlace.add(new InPlace(node.outputs().get(0), node.inputs().get(0), step));
            }
        }
    }

    @Override public void released(int step, String value, Tensor tensor) {
        long[] r = seen.get(value);
        if (r != null) r[2] = step;
    }

    /** Kernel time of the profiled run, summed over nodes. */
    public long kernelNanos() { return nanos; }

    /** The profile of the run so far; tensors never released (none in a complete run) are left out. */
    public MemoryProfile profile() {
        List<Lifetime> ls = new ArrayList<>();
        for (var e : seen.entrySet()) {
            long[] r = e.getValue();
            if (r[2] < 0) continue;
            ls.add(new Lifetime(e.getKey(), Tensor.blockBytes(r[0]), (int) r[1], (int) r[2]));
        }
        long constants = 0;
        for (Tensor t : graph.initializers().values()) constants += Tensor.blockBytes(t.byteSize());
        return new MemoryProfile(graph.name(), graph.nodes().size(), ls, inPlace, constants);
    }

    /** Data bytes (without block padding) of a recorded value, or -1. */
    public long dataBytes(String value) {
        long[] r = seen.get(value);
        return r == null ? -1 : r[0];
    }
}
