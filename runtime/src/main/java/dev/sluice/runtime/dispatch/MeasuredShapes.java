package dev.sluice.runtime.dispatch;

import dev.sluice.graph.BranchInlining;
import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A device with its own memory is planned before running, so it needs one static graph and every value's
 * size. Shape inference cannot know some sizes (an If's branches of different lengths, a NonZero), and an If
 * hides its branch's nodes inside one opaque node: for those, reference runs with the very inputs about to
 * be used record the size each value actually had and the branch each If took. The If nodes are replaced by
 * the branch they took ({@link BranchInlining}), round after round for nested ones, so that the planner can
 * place, split and offload the branch's nodes one by one.
 *
 * <p>The result is valid for these inputs: the executor refuses, naming the value, any run in which a value
 * outgrows its block, and the guard each inlined If leaves fails, naming the If, any run that would take
 * the other branch.
 */
public final class MeasuredShapes {
    /** Nested If nodes deeper than this stay If nodes (each level costs one reference run). */
    static final int MAX_INLINE_ROUNDS = 8;

    private MeasuredShapes() {}

    /** The executor's model with its If nodes inlined for these inputs and every value's type static. */
    public static Model of(GraphExecutor reference, Map<String, Tensor> inputs) {
        Model m = reference.model();
        GraphExecutor ex = reference;
        for (int round = 0; round < MAX_INLINE_ROUNDS; round++) {
            Set<String> conds = BranchInlining.conditions(m.graph());
            if (conds.isEmpty()) break;
            Map<String, Boolean> known = conditionValues(ex, m.graph(), conds, inputs);
            Graph inlined = BranchInlining.inline(m.graph(), known);
            if (inlined == m.graph()) break;
            m = m.withGraph(inlined);
            ex = reference.withModel(m);
        }
        Graph g = m.graph();
        if (allStatic(g)) return m;
        Map<String, TensorType> seen = new HashMap<>();
        ex.run(inputs, OutputAllocator.FRESH, new ExecutionListener() {
            @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
                for (int i = 0; i < outputs.size(); i++) {
                    if (outputs.get(i) != null) seen.put(node.outputs().get(i), outputs.get(i).type());
                }
            }
        });
        Map<String, TensorType> types = new HashMap<>(g.types());
        types.putAll(seen);
        return m.withGraph(g.withNodes(g.nodes(), g.initializers(), types));
    }

    /** The value each condition had in a reference run with these inputs. */
    private static Map<String, Boolean> conditionValues(GraphExecutor ex, Graph g, Set<String> conds, Map<String, Tensor> inputs) {
        Map<String, Boolean> known = new HashMap<>();
        for (String c : conds) {
            Tensor t = inputs.containsKey(c) ? inputs.get(c) : g.initializers().get(c);
            if (t != null && t.elementCount() == 1) known.put(c, t.getBoolean(0));
        }
        if (known.size() == conds.size()) return known;
        ex.run(inputs, OutputAllocator.FRESH, new ExecutionListener() {
            @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
                for (int i = 0; i < outputs.size(); i++) {
                    Tensor t = outputs.get(i);
                    if (t != null && t.elementCount() == 1 && conds.contains(node.outputs().get(i))) {
                        known.put(node.outputs().get(i), t.getBoolean(0));
                    }
                }
            }
        });
        return known;
    }

    private static boolean allStatic(Graph g) {
        for (Node n : g.nodes()) {
            for (String o : n.outputs()) if (!o.isEmpty() && !g.typeOf(o).isStatic()) return false;
        }
        for (Value v : g.outputs()) if (!g.typeOf(v.name()).isStatic()) return false;
        return true;
    }
}
