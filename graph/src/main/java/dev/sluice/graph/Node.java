package dev.sluice.graph;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import java.util.List;

/**
 * One operator application. Inputs and outputs are value names; an empty name marks an absent optional
 * input or an unwanted optional output, as in ONNX.
 */
public record Node(String name, String opType, String domain, List<String> inputs, List<String> outputs,
                   Attributes attributes) {
    public Node {
        inputs = List.copyOf(inputs);
        outputs = List.copyOf(outputs);
        domain = domain == null || domain.equals("ai.onnx") ? "" : domain;
    }

    /** Graphs held by this node's attributes (If branches, Loop bodies). */
    public List<Graph> subgraphs() {
        java.util.ArrayList<Graph> r = new java.util.ArrayList<>();
        for (Attr a : attributes.asMap().values()) {
            if (a instanceof Attr.Graph g && g.value() instanceof Graph gr) r.add(gr);
            if (a instanceof Attr.Graphs gs) for (var s : gs.values()) if (s instanceof Graph gr) r.add(gr);
        }
        return r;
    }

    /** How errors and reports name this node: its name if it has one, else its first output. */
    public String label() {
        String n = !name.isEmpty() ? name : outputs.isEmpty() ? "?" : outputs.get(0);
        return "'" + n + "' (" + (domain.isEmpty() ? "" : domain + ":") + opType + ")";
    }
}
