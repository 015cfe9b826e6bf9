package dev.sluice.graph;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Replaces If nodes whose condition is known, for one set of inputs, by the nodes of the branch they take.
 * A planner that needs one static task graph (the MemGraph) then sees the branch's nodes: it can place,
 * split and offload them one by one instead of treating the whole branch as one opaque task.
 *
 * <p>Each inlined If leaves a guard ({@code sluice.BranchGuard}) that reads the condition and fails the run,
 * naming the If, when the condition is not the one the graph was specialized for; the guard runs on every
 * run, so a specialized graph never returns a result computed down the wrong branch.
 *
 * <p>Invariants of the result: the If's outputs keep their names (an Identity copies each from the branch's
 * output, as the If itself copies), so readers and graph outputs are untouched; the branch's initializers and
 * types move to the graph; a name the branch defines that the graph already defines is renamed, also where
 * subgraphs nested in the branch read it; every other node is kept as it is, in the same order.
 */
public final class BranchInlining {
    /** The guard's op type, in {@link dev.sluice.graph.fusion.PatternFusion#DOMAIN}. */
    public static final String GUARD = "BranchGuard";

    private final Set<String> defined = new HashSet<>();
    private final List<Node> nodes = new ArrayList<>();
    private final Map<String, Tensor> initializers;
    private final Map<String, TensorType> types;

    private BranchInlining(Graph g) {
        initializers = new LinkedHashMap<>(g.initializers());
        types = new LinkedHashMap<>(g.types());
        g.inputs().forEach(v -> defined.add(v.name()));
        defined.addAll(g.initializers().keySet());
        for (Node n : g.nodes()) n.outputs().forEach(defined::add);
    }

    /** Top-level If nodes whose condition value is the name of a value in {@code known}, inlined. */
    public static Graph inline(Graph g, Map<String, Boolean> known) {
        BranchInlining b = new BranchInlining(g);
        boolean changed = false;
        for (Node n : g.nodes()) {
            if (isIf(n) && known.containsKey(n.inputs().getFirst())) {
                b.inlineBranch(n, known.get(n.inputs().getFirst()));
                changed = true;
            } else {
                b.nodes.add(n);
            }
        }
        return changed ? g.withNodes(b.nodes, b.initializers, b.types) : g;
    }

    /** The condition values of the graph's top-level If nodes, which {@link #inline} can use. */
    public static Set<String> conditions(Graph g) {
        Set<String> r = new java.util.LinkedHashSet<>();
        for (Node n : g.nodes()) if (isIf(n)) r.add(n.inputs().getFirst());
        return r;
    }

    private static boolean isIf(Node n) {
        return n.domain().isEmpty() && n.opType().equals("If") && !n.inputs().isEmpty() && !n.inputs().getFirst().isEmpty();
    }

    private void inlineBranch(Node n, boolean taken) {
        String cond = n.inputs().getFirst();
        if (!(n.attributes().getGraph(taken ? "then_branch" : "else_branch") instanceof Graph body)) {
            throw new ModelException("If " + n.label() + ": its " + (taken ? "then" : "else") + "_branch is not an imported graph");
        }
        if (body.outputs().size() != n.outputs().size()) {
            throw new ModelException("If " + n.label() + ": " + (taken ? "then" : "else") + "_branch returns "
                + body.outputs().size() + " values for " + n.outputs().size() + " outputs");
        }
        Map<String, Attr> guardAttrs = new LinkedHashMap<>();
        guardAttrs.put("then", new Attr.Int(taken ? 1 : 0));
        guardAttrs.put("node", new Attr.Str(n.label()));
        String guardName = n.name().isEmpty() ? n.outputs().getFirst() : n.name();
        nodes.add(new Node(guardName + "/guard", GUARD, dev.sluice.graph.fusion.PatternFusion.DOMAIN, List.of(cond),
            List.of(fresh(cond + "/guard")), new Attributes(guardAttrs)));

        Map<String, String> rename = new HashMap<>();
        Set<String> local = new java.util.LinkedHashSet<>(body.initializers().keySet());
        for (Node bn : body.nodes()) for (String o : bn.outputs()) if (!o.isEmpty()) local.add(o);
        for (String x : local) {
            if (defined.contains(x)) rename.put(x, fresh(x));
            else defined.add(x);
        }
        body.initializers().forEach((k, t) -> initializers.put(rename.getOrDefault(k, k), t));
        body.types().forEach((k, t) -> {
            if (local.contains(k)) types.put(rename.getOrDefault(k, k), t);
        });
        for (Node bn : body.nodes()) nodes.add(renamed(bn, rename));
        for (int i = 0; i < n.outputs().size(); i++) {
            String out = n.outputs().get(i);
            if (out.isEmpty()) continue;
            String src = body.outputs().get(i).name();
            nodes.add(new Node(guardName + "/out" + i, "Identity", "", List.of(rename.getOrDefault(src, src)),
                List.of(out), Attributes.EMPTY));
        }
    }

    private String fresh(String base) {
        String s = base;
        for (int k = 1; defined.contains(s); k++) s = base + "~" + k;
        defined.add(s);
        return s;
    }

    /** The node with renamed inputs and outputs; subgraphs it holds read the renamed names too. */
    private static Node renamed(Node n, Map<String, String> rename) {
        if (rename.isEmpty()) return n;
        List<String> ins = n.inputs().stream().map(x -> rename.getOrDefault(x, x)).toList();
        List<String> outs = n.outputs().stream().map(x -> rename.getOrDefault(x, x)).toList();
        Attributes attrs = n.attributes();
        if (!n.subgraphs().isEmpty()) {
            Map<String, Attr> a = new LinkedHashMap<>();
            attrs.asMap().forEach((k, v) -> a.put(k, switch (v) {
                case Attr.Graph g when g.value() instanceof Graph sg -> new Attr.Graph(capturing(sg, rename));
                case Attr.Graphs gs -> new Attr.Graphs(gs.values().stream()
                    .map(s -> s instanceof Graph sg ? (Subgraph) capturing(sg, rename) : s).toList());
                default -> v;
            }));
            attrs = new Attributes(a);
        }
        return new Node(n.name(), n.opType(), n.domain(), ins, outs, attrs);
    }

    /** A nested subgraph whose reads of enclosing names follow {@code rename}; names it defines itself stay. */
    private static Graph capturing(Graph sg, Map<String, String> rename) {
        Map<String, String> r = new HashMap<>(rename);
        sg.inputs().forEach(v -> r.remove(v.name()));
        sg.initializers().keySet().forEach(r::remove);
        for (Node n : sg.nodes()) n.outputs().forEach(r::remove);
        if (r.isEmpty()) return sg;
        List<Node> ns = sg.nodes().stream().map(n -> renamed(n, r)).toList();
        List<Value> outs = sg.outputs().stream().map(v -> new Value(r.getOrDefault(v.name(), v.name()), v.type())).toList();
        return new Graph(sg.name(), ns, sg.inputs(), outs, sg.initializers(), sg.types());
    }
}
