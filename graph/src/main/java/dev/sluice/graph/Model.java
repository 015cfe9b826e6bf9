package dev.sluice.graph;

import java.util.Map;

/** An imported model: its main graph plus the metadata the importer keeps. */
public record Model(Graph graph, long irVersion, Map<String, Long> opsets, String producer, String source) {
    public Model {
        opsets = Map.copyOf(opsets);
    }

    /** The opset of the default ONNX domain. */
    public int defaultOpset() {
        Long v = opsets.get("");
        if (v == null) v = opsets.get("ai.onnx");
        return v == null ? 1 : v.intValue();
    }

    public int opset(String domain) {
        Long v = opsets.get(domain == null ? "" : domain);
        return v == null ? defaultOpset() : v.intValue();
    }

    public Model withGraph(Graph g) { return new Model(g, irVersion, opsets, producer, source); }
}
