package dev.sluice.graph;

import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A dataflow graph in topological order. {@code inputs} are the values a caller supplies (initializers are
 * not among them); {@code initializers} are constants (weights and folded values); {@code types} holds
 * the inferred type of every value known so far. A subgraph may read names of enclosing graphs.
 *
 * <p>Invariant: every node input is a graph input, an initializer, an earlier node's output, an
 * enclosing scope's value (subgraphs only), or empty.
 */
public record Graph(String name, List<Node> nodes, List<Value> inputs, List<Value> outputs,
                    Map<String, Tensor> initializers, Map<String, TensorType> types) implements Subgraph {
    public Graph {
        nodes = List.copyOf(nodes);
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        initializers = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(initializers));
        types = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(types));
    }

    public TensorType typeOf(String value) {
        TensorType t = types.get(value);
        if (t != null) return t;
        Tensor c = initializers.get(value);
        return c != null ? c.type() : TensorType.UNKNOWN;
    }

    public Graph withNodes(List<Node> newNodes, Map<String, Tensor> newInitializers, Map<String, TensorType> newTypes) {
        return new Graph(name, newNodes, inputs, outputs, newInitializers, newTypes);
    }

    public Graph withInputs(List<Value> newInputs) {
        return new Graph(name, nodes, newInputs, outputs, initializers, types);
    }

    public Graph withOutputs(List<Value> newOutputs) {
        return new Graph(name, nodes, inputs, newOutputs, initializers, types);
    }

    @Override public List<String> inputNames() { return inputs.stream().map(Value::name).toList(); }
    @Override public List<String> outputNames() { return outputs.stream().map(Value::name).toList(); }
    @Override public List<TensorType> inputTypes() { return inputs.stream().map(v -> typeOf(v.name())).toList(); }
    @Override public List<TensorType> outputTypes() { return outputs.stream().map(v -> typeOf(v.name())).toList(); }

    /** Names this graph reads but does not define: what it captures from enclosing scopes. */
    public Set<String> capturedNames() {
        Set<String> defined = new HashSet<>(initializers.keySet());
        inputs.forEach(v -> defined.add(v.name()));
        Set<String> captured = new java.util.LinkedHashSet<>();
        for (Node n : nodes) {
            for (String in : n.inputs()) if (!in.isEmpty() && !defined.contains(in)) captured.add(in);
            for (Graph g : n.subgraphs()) for (String c : g.capturedNames()) if (!defined.contains(c)) captured.add(c);
            defined.addAll(n.outputs());
        }
        for (Value v : outputs) if (!defined.contains(v.name())) captured.add(v.name());
        return captured;
    }

    /** Every node of this graph and, recursively, of its subgraphs. */
    public List<Node> allNodes() {
        List<Node> r = new ArrayList<>();
        for (Node n : nodes) {
            r.add(n);
            for (Graph g : n.subgraphs()) r.addAll(g.allNodes());
        }
        return r;
    }
}
