package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.TilingOptions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An InstanceNormalization whose least piece under {@link NormTiling} (one (image, channel) plane in and out) does not
 * fit its device ({@link PlanRewrite}): rewritten as three nodes that can cut the plane ({@link PlaneTiling}):
 * {@code S = sluice.PlaneSum(x)}, {@code Q = sluice.PlaneSquares(x, S)}, {@code y = sluice.PlaneNormalize(x, S, Q,
 * scale, B)}, S and Q float64 [N, C] values of their own, the whole plane's element count an attribute of the last
 * two. They compute each plane by the whole kernel's functions in its order (kernels' InstanceNormParts), so y has the
 * node's bits. The cost: x is read three times instead of (in the kernel's loops) three passes over a plane in cache.
 */
final class InstanceNormSplit {
    private InstanceNormSplit() {}

    /** The attribute of the plane's element count (kernels' InstanceNormParts.COUNT). */
    static final String COUNT = "plane_count";

    /**
     * The three nodes standing for n, or null when n is not such an InstanceNormalization or fits its device without
     * cutting a plane: its least need split every other way is within {@code 4 * threshold} (the device's budget;
     * PlanRewrite's threshold is a quarter of it, 0 when reckoning the least budget, which rewrites every one).
     */
    static List<Node> rewrite(Graph g, Node n, Map<String, TensorType> types, long threshold) {
        if (!n.domain().isEmpty() || !n.opType().equals("InstanceNormalization") || n.inputs().size() != 3 || n.outputs().size() != 1) return null;
        String x = n.inputs().get(0), y = n.outputs().getFirst();
        if (x.isEmpty() || y.isEmpty() || n.inputs().get(1).isEmpty() || n.inputs().get(2).isEmpty()) return null;
        TensorType xt = g.typeOf(x), yt = g.typeOf(y);
        if (xt == null || !xt.isStatic() || yt == null || !yt.isStatic() || !xt.equals(yt) || !xt.dtype().isFloatingPoint()) return null;
        Shape xs = xt.shape().toShape();
        if (xs.rank() < 3 || xs.dim(2) < 2) return null; // no plane axis to cut
        for (int k = 1; k <= 2; k++) {
            Shape ps = OpTiling.shapeOf(g, n.inputs().get(k));
            if (ps.rank() != 1 || ps.dim(0) != xs.dim(1)) return null; // the kernel refuses it, naming the node
        }
        long whole = BuildState.nodeNeed(g, n);
        long others = Tiling.smallestNeedOf(g, n, whole, TilingOptions.defaults());
        if (threshold > 0 && others <= (threshold > Long.MAX_VALUE / 4 ? Long.MAX_VALUE : threshold * 4)) return null;
        String sums = y + "#plane-sum", squares = y + "#plane-squares";
        TensorType st = TensorType.of(DType.FLOAT64, Shape.of(xs.dim(0), xs.dim(1)));
        types.put(sums, st);
        types.put(squares, st);
        long count = xs.product(2, xs.rank());
        Map<String, Attr> at = new LinkedHashMap<>(n.attributes().asMap());
        at.put(COUNT, new Attr.Int(count));
        String name = n.name().isEmpty() ? y : n.name();
        List<Node> r = List.of(new Node(name + "#sum", "PlaneSum", "sluice", List.of(x), List.of(sums), Attributes.EMPTY),
            new Node(name + "#squares", "PlaneSquares", "sluice", List.of(x, sums), List.of(squares), new Attributes(Map.of(COUNT, new Attr.Int(count)))),
            new Node(n.name(), "PlaneNormalize", "sluice", List.of(x, sums, squares, n.inputs().get(1), n.inputs().get(2)), List.of(y), new Attributes(at)));
        return kept(g, r, types, others, List.of(sums, squares));
    }

    /**
     * {@code r} when its nodes, each split as finely as allowed, need less at once than the node they stand for
     * ({@code others}); else null, its values' types taken back out of {@code types}. (Tiny planes: the three nodes'
     * blocks, each rounded up to a block, can need more than the one node's.)
     */
    static List<Node> kept(Graph g, List<Node> r, Map<String, TensorType> types, long others, List<String> added) {
        Graph rg = g.withNodes(r, g.initializers(), types);
        long most = 0;
        for (Node x : r) most = Math.max(most, Tiling.smallestNeedOf(rg, x, BuildState.nodeNeed(rg, x), TilingOptions.defaults()));
        if (most < others) return r;
        for (String v : added) types.remove(v);
        return null;
    }
}
