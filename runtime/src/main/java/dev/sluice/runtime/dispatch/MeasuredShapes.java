package dev.sluice.runtime.dispatch;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A device with its own memory is planned before running, so it needs every value's size. Shape inference
 * cannot know some (an If's branches of different lengths, a NonZero): for those, one reference run with
 * the very inputs about to be used records the size each value actually had. The plan is then valid for
 * these inputs; the executor refuses, naming the value, any run in which a value outgrows its block.
 */
public final class MeasuredShapes {
    private MeasuredShapes() {}

    /** The executor's model with every value's type static: unchanged when inference already knew them all. */
    public static Model of(GraphExecutor reference, Map<String, Tensor> inputs) {
        Model m = reference.model();
        Graph g = m.graph();
        if (allStatic(g)) return m;
        Map<String, TensorType> seen = new HashMap<>();
        reference.run(inputs, OutputAllocator.FRESH, new ExecutionListener() {
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

    private static boolean allStatic(Graph g) {
        for (Node n : g.nodes()) {
            for (String o : n.outputs()) if (!o.isEmpty() && !g.typeOf(o).isStatic()) return false;
        }
        return true;
    }
}
