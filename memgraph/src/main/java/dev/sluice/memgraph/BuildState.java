package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.TilingOptions;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What every {@link NodeTasks} of one build shares: the graph (with its weight blocks), the placement, the splits,
 * the residency, the task emitter and the tiling switches it was planned with. Invariant: {@code g}'s nodes are the builder's nodes, indexed alike.
 */
final class BuildState {
    final Graph g;
    final List<Node> nodes;
    final int[] placement;
    final Map<Integer, Tiling.Split> splits;
    final TaskEmitter out;
    final TilingOptions tiling;
    Residency res;
    /** Whether row bands may read resident inputs in place and keep their output resident (one of the builder's walks). */
    boolean keepBands;
    /** Whether box tiles keep input boxes that later tiles read again on the device (one of the builder's walks, BoxTileTasks). */
    boolean boxCache;

    BuildState(Graph g, int[] placement, Map<Integer, Tiling.Split> splits, TaskEmitter out, TilingOptions tiling) {
        this.g = g;
        this.nodes = g.nodes();
        this.placement = placement;
        this.splits = splits;
        this.out = out;
        this.tiling = tiling;
    }

    Node node(int i) { return nodes.get(i); }

    Tiling.Split split(int i) { return splits.get(i); }

    long blockBytes(String v) { return blockBytes(g, v); }

    /** Bytes of v's block in an arena (header slot and alignment included); v must have a static shape. */
    static long blockBytes(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return Tensor.blockBytes(c.byteSize());
        TensorType t = g.typeOf(v);
        if (!t.isStatic()) {
            throw new MemGraphException("value '" + v + "' has type " + t + ", not a static shape: a device with its own memory"
                + " needs every size before running (run through a session, which specializes shapes to the inputs)", -1);
        }
        return Tensor.blockBytes(Tensor.byteSize(t.dtype(), t.shape().toShape()));
    }

    /** What node n needs whole: its inputs, what its subgraphs capture, and its outputs, each once. */
    static long nodeNeed(Graph g, Node n) {
        long s = 0;
        Set<String> in = new LinkedHashSet<>();
        for (String v : n.inputs()) if (!v.isEmpty()) in.add(v);
        for (Graph sg : n.subgraphs()) in.addAll(sg.capturedNames());
        for (String v : in) s += blockBytes(g, v);
        for (String o : n.outputs()) if (!o.isEmpty()) s += blockBytes(g, o);
        return s;
    }

    /** n's non-empty inputs, each once, in order. */
    static List<String> distinctInputs(Node n) {
        Set<String> r = new LinkedHashSet<>();
        for (String v : n.inputs()) if (!v.isEmpty()) r.add(v);
        return new ArrayList<>(r);
    }

    /** Frees device copies of what node i read or wrote that nobody reads after it. */
    void releaseDead(int i, NodeTasks t) {
        List<String> touched = new ArrayList<>(t.reads());
        for (String o : nodes.get(i).outputs()) if (!o.isEmpty()) touched.add(o);
        res.releaseDead(i, touched);
    }
}
