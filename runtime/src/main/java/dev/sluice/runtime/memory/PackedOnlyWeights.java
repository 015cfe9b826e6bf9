package dev.sluice.runtime.memory;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.WeightRelease;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * Finds the weights of a graph that only packing kernels read, and lets {@link WeightRelease} hand their original
 * bytes back once packed: the session then holds such a weight once (its packed copy), not twice.
 *
 * <p>A weight qualifies when every node that reads it does so at inputs where its kernel
 * {@linkplain OpKernel#readsOnlyPacked reads only the packed copy}, and it is not a graph output. A graph with
 * subgraphs qualifies nothing (their nodes see the outer weights by name, and are not walked here). The caller
 * answers for the rest: the model is its own (no other executor reads the same tensors) and runs on the plain
 * CPU path (no tiling, offload or upload reads weights directly).
 */
public final class PackedOnlyWeights {
    private PackedOnlyWeights() {}

    /**
     * Allows the release of every qualifying weight of {@code g}.
     *
     * @param g the graph a session runs (fused, as its kernels see it)
     * @param registry the kernels that run it
     * @return the weights allowed, by identity of the tensors
     */
    public static Set<Tensor> allow(Graph g, OpRegistry registry) {
        Map<String, Tensor> inits = g.initializers();
        Set<Tensor> allowed = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        if (inits.isEmpty()) return allowed;
        Map<String, Boolean> packedOnly = new HashMap<>();
        for (Node n : g.nodes()) {
            if (!n.subgraphs().isEmpty()) return allowed;
            OpKernel k = registry.find(n.domain(), n.opType());
            for (int i = 0; i < n.inputs().size(); i++) {
                String in = n.inputs().get(i);
                if (!inits.containsKey(in)) continue;
                boolean ok = k != null && k.readsOnlyPacked(i);
                packedOnly.merge(in, ok, Boolean::logicalAnd);
            }
        }
        Set<String> outputs = new HashSet<>(g.outputNames());
        for (Map.Entry<String, Boolean> e : packedOnly.entrySet()) {
            if (!e.getValue() || outputs.contains(e.getKey())) continue;
            Tensor t = inits.get(e.getKey());
            WeightRelease.allow(t);
            allowed.add(t);
        }
        return allowed;
    }
}
