package dev.sluice.graph.fusion;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Rewrites the many-node patterns exporters emit into the single ops the kernels run fused:
 * <ul>
 *   <li>LayerNorm: ReduceMean, Sub, Pow 2 (or Mul by itself), ReduceMean, Add eps, Sqrt, Div, [Mul gamma, Add
 *       beta] over the last axis → LayerNormalization;</li>
 *   <li>Gelu (erf form): Div √2 (or Mul 1/√2), Erf, Add 1, Mul x, Mul 0.5 → Gelu.</li>
 * </ul>
 * A pattern is fused only when its inner values have no reader outside it and are not graph outputs, so the
 * rewrite never changes what the graph computes. Constants must already be initializers (run after folding).
 */
public final class PatternFusion {
    private final Graph g;
    private final Map<String, Node> producer = new HashMap<>();
    private final Map<String, List<Node>> readers = new HashMap<>();
    private final Set<String> graphOutputs = new HashSet<>();
    private final Set<Node> removed = new HashSet<>();
    private final Map<Node, Node> replacement = new LinkedHashMap<>();
    private final Map<String, Tensor> newInitializers;
    private int fresh;

    private PatternFusion(Graph g) {
        this.g = g;
        this.newInitializers = new LinkedHashMap<>(g.initializers());
        for (Node n : g.nodes()) {
            for (String o : n.outputs()) if (!o.isEmpty()) producer.put(o, n);
            for (String in : n.inputs()) if (!in.isEmpty()) readers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            for (Graph sg : n.subgraphs()) for (String c : sg.capturedNames()) readers.computeIfAbsent(c, k -> new ArrayList<>()).add(n);
        }
        for (Value v : g.outputs()) graphOutputs.add(v.name());
    }

    /** The graph with every recognised pattern fused. */
    public static Graph run(Graph g) {
        PatternFusion f = new PatternFusion(g);
        for (Node n : g.nodes()) {
            if (f.removed.contains(n)) continue;
            if (!f.tryLayerNorm(n)) f.tryGelu(n);
        }
        if (f.replacement.isEmpty()) return g;
        List<Node> nodes = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (f.replacement.containsKey(n)) nodes.add(f.replacement.get(n));
            else if (!f.removed.contains(n)) nodes.add(n);
        }
        return g.withNodes(nodes, f.newInitializers, g.types());
    }

    // ---- LayerNorm -------------------------------------------------------------------------------------

    private boolean tryLayerNorm(Node mean1) {
        if (!mean1.opType().equals("ReduceMean") || !lastAxisOnly(mean1)) return false;
        String x = mean1.inputs().get(0);
        Node sub = onlyReader(mean1.outputs().get(0), "Sub");
        if (sub == null || !sub.inputs().get(0).equals(x) || !sub.inputs().get(1).equals(mean1.outputs().get(0))) return false;
        String d = sub.outputs().get(0);
        List<Node> dReaders = readers.getOrDefault(d, List.of());
        if (dReaders.size() != 2 || graphOutputs.contains(d)) return false;
        Node square = null, div = null;
        for (Node r : dReaders) {
            if (r.opType().equals("Pow") && r.inputs().get(0).equals(d) && constEquals(r.inputs().get(1), 2.0)) square = r;
            else if (r.opType().equals("Mul") && r.inputs().get(0).equals(d) && r.inputs().get(1).equals(d)) square = r;
            else if (r.opType().equals("Div") && r.inputs().get(0).equals(d)) div = r;
        }
        if (square == null || div == null) return false;
        Node mean2 = onlyReader(square.outputs().get(0), "ReduceMean");
        if (mean2 == null || !lastAxisOnly(mean2)) return false;
        Node addEps = onlyReader(mean2.outputs().get(0), "Add");
        if (addEps == null) return false;
        Double eps = scalarConst(other(addEps, mean2.outputs().get(0)));
        if (eps == null) return false;
        Node sqrt = onlyReader(addEps.outputs().get(0), "Sqrt");
        if (sqrt == null || !div.inputs().get(1).equals(sqrt.outputs().get(0)) || !singleReader(sqrt.outputs().get(0))) return false;
        List<Node> chain = new ArrayList<>(List.of(mean1, sub, square, mean2, addEps, sqrt, div));
        String out = div.outputs().get(0);
        String gamma = null, beta = null;
        Node mul = onlyReader(out, "Mul");
        if (mul != null && isConst(other(mul, out))) {
            gamma = other(mul, out);
            chain.add(mul);
            out = mul.outputs().get(0);
            Node add = onlyReader(out, "Add");
            if (add != null && isConst(other(add, out))) {
                beta = other(add, out);
                chain.add(add);
                out = add.outputs().get(0);
            }
        }
        if (gamma == null) return false; // LayerNormalization needs a scale; the bare form is rare enough to skip
        // gamma/beta must be 1-D over the normalized axis for LayerNormalization's broadcasting to match
        if (newInitializers.get(gamma).rank() != 1 || beta != null && newInitializers.get(beta).rank() != 1) return false;
        if (!innerValuesPrivate(chain, out)) return false;
        List<String> ins = new ArrayList<>(List.of(x, gamma));
        if (beta != null) ins.add(beta);
        Map<String, Attr> attrs = new LinkedHashMap<>();
        attrs.put("axis", new Attr.Int(-1));
        attrs.put("epsilon", new Attr.Float(eps.floatValue()));
        replace(chain, new Node(fusedName(mean1, "LayerNorm"), "LayerNormalization", "", ins, List.of(out), new Attributes(attrs)));
        return true;
    }

    private boolean lastAxisOnly(Node reduce) {
        long[] axes = reduce.attributes().getInts("axes");
        if (axes == null && reduce.inputs().size() > 1 && isConst(reduce.inputs().get(1))) {
            axes = newInitializers.get(reduce.inputs().get(1)).toLongArray();
        }
        if (axes == null || axes.length != 1) return false;
        if (reduce.attributes().getInt("keepdims", 1) != 1) return false;
        if (axes[0] == -1) return true;
        var t = g.types().get(reduce.inputs().get(0));
        return t != null && t.shape().hasRank() && axes[0] == t.shape().rank() - 1;
    }

    // ---- Gelu --------------------------------------------------------------------------------------------

    private boolean tryGelu(Node scale) {
        // x / sqrt(2) or x * (1/sqrt(2))
        boolean isDiv = scale.opType().equals("Div") && constNear(scale.inputs().get(1), Math.sqrt(2));
        boolean isMul = scale.opType().equals("Mul") && constNear(scale.inputs().get(1), 1 / Math.sqrt(2));
        if (!isDiv && !isMul) return false;
        String x = scale.inputs().get(0);
        Node erf = onlyReader(scale.outputs().get(0), "Erf");
        if (erf == null) return false;
        Node add = onlyReader(erf.outputs().get(0), "Add");
        if (add == null || !constNear(other(add, erf.outputs().get(0)), 1.0)) return false;
        Node mulX = onlyReader(add.outputs().get(0), "Mul");
        if (mulX == null || !other(mulX, add.outputs().get(0)).equals(x)) return false;
        Node half = onlyReader(mulX.outputs().get(0), "Mul");
        if (half == null || !constNear(other(half, mulX.outputs().get(0)), 0.5)) return false;
        List<Node> chain = List.of(scale, erf, add, mulX, half);
        String out = half.outputs().get(0);
        if (!innerValuesPrivate(chain, out)) return false;
        replace(chain, new Node(fusedName(scale, "Gelu"), "Gelu", "", List.of(x), List.of(out), Attributes.EMPTY));
        return true;
    }

    // ---- helpers -----------------------------------------------------------------------------------------

    private void replace(List<Node> chain, Node fused) {
        removed.addAll(chain);
        // the fused node takes the place of the chain's last node, where all its inputs are defined
        replacement.put(chain.get(chain.size() - 1), fused);
    }

    private String fusedName(Node first, String what) {
        return (first.name().isEmpty() ? first.outputs().get(0) : first.name()) + "/fused" + what + (fresh++);
    }

    /** The single reader of {@code value} if it has exactly one, of the given op type, and is not an output. */
    private Node onlyReader(String value, String opType) {
        List<Node> r = readers.getOrDefault(value, List.of());
        if (r.size() != 1 || graphOutputs.contains(value) || removed.contains(r.get(0))) return null;
        return r.get(0).opType().equals(opType) && r.get(0).domain().isEmpty() ? r.get(0) : null;
    }

    private boolean singleReader(String value) { return readers.getOrDefault(value, List.of()).size() == 1; }

    /** Every value the chain produces, except its final output, is read only inside the chain. */
    private boolean innerValuesPrivate(List<Node> chain, String out) {
        Set<Node> inChain = new HashSet<>(chain);
        for (Node n : chain) {
            if (removed.contains(n)) return false;
            for (String o : n.outputs()) {
                if (o.isEmpty() || o.equals(out)) continue;
                if (graphOutputs.contains(o)) return false;
                for (Node r : readers.getOrDefault(o, List.of())) if (!inChain.contains(r)) return false;
            }
        }
        return true;
    }

    private static String other(Node binary, String one) {
        return binary.inputs().get(0).equals(one) ? binary.inputs().get(1) : binary.inputs().get(0);
    }

    private boolean isConst(String name) { return newInitializers.containsKey(name); }

    private Double scalarConst(String name) {
        Tensor t = newInitializers.get(name);
        if (t == null || t.elementCount() != 1 || !t.dtype().isFloatingPoint()) return null;
        return t.getDouble(0);
    }

    private boolean constEquals(String name, double v) {
        Tensor t = newInitializers.get(name);
        return t != null && t.elementCount() == 1 && t.getDouble(0) == v;
    }

    private boolean constNear(String name, double v) {
        Double c = scalarConst(name);
        return c != null && Math.abs(c - v) <= 1e-4 * Math.abs(v);
    }
}
