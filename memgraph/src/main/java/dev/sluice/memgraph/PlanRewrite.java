package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rewrites, before a graph is planned onto a device with a budget, the nodes whose tiles the MemGraph cannot express
 * as they are into equivalent nodes it can split ({@link OpTiling}), bit for bit the same values:
 * <ul>
 *   <li>Split: a tile writes one output (a box of it), so a node with several outputs stays whole; a Split's outputs
 *       are independent slabs of its input, so it becomes one Slice per output (constant starts, ends and axis), each
 *       then cut into windows that read only their slab ({@link MovementTiling}). Same copies, same bits.</li>
 *   <li>Resize given sizes of every axis: a tile along an axis the Resize keeps would be handed the whole sizes; it
 *       becomes the same Resize in its {@code axes} form, listing the axes whose size changes with their sizes alone.
 *       The kernel computes each listed axis's scale as {@code size / length} either way, and an axis it is not given
 *       has scale 1 and its length, as a size equal to the length gives.</li>
 *   <li>Softmax / LogSoftmax of opset 13 on over an axis before the last: marked so that its tiling cuts the axes after
 *       the normalized one too ({@link #AXIS_ONLY}).</li>
 *   <li>A float16 MatMul / Gemm that only a K cut brings within its device: its float32 values into a value of their own,
 *       then a Cast to float16 ({@link HalfProducts}), so that its K tiles hand float32 partial sums on.</li>
 *   <li>An InstanceNormalization whose one plane does not fit its device: the plane sums, the sums of squares and
 *       the normalization as three nodes that cut the plane ({@link InstanceNormSplit}, {@link PlaneTiling}).</li>
 *   <li>A ReduceMax / ReduceMin, or an integer ReduceSum / ReduceProd, folding more into one element than fits: two folds, the inner axes first
 *       ({@link FoldStages}), each cut as reductions are.</li>
 *   <li>sluice.FusedConvAdd whose residual is its own conv input: the residual read through an Identity copy
 *       ({@link #ownResidual}), so that the conv's input and its residual are two values, each read in its own box.</li>
 * </ul>
 * Only nodes that need more than {@code threshold} bytes at once are rewritten (the others fit their device whole),
 * so an unconstrained plan is the graph's own. Other multi-output ops stay whole (their outputs are not per-output
 * slabs of inputs: TopK, the norms' statistics, recurrent states, which the recurrent tilings handle on their own).
 */
final class PlanRewrite {
    private PlanRewrite() {}

    /** The graph with its large Splits and full-sizes Resizes rewritten; {@code g} itself when none is. */
    static Graph of(Graph g, long threshold, int onnxOpset) {
        return of(g, i -> threshold, onnxOpset).graph();
    }

    /**
     * A rewritten graph, and for each of its nodes the index of the node of the original graph it stands for (a
     * rewrite's nodes all stand for the node they replace), so that a placement of the original's nodes carries over.
     */
    record Rewritten(Graph graph, int[] origin) {
        /** A placement of the original graph's nodes as the same devices for the rewritten graph's nodes. */
        int[] placement(int[] original) {
            int[] p = new int[origin.length];
            for (int i = 0; i < p.length; i++) p[i] = original[origin[i]];
            return p;
        }
    }

    /**
     * The graph with node i rewritten when it needs more than {@code threshold.applyAsLong(i)} bytes at once (a placed
     * graph: each node against the budget of the device it is placed on, {@link Long#MAX_VALUE} for none).
     */
    static Rewritten of(Graph g, java.util.function.IntToLongFunction threshold, int onnxOpset) {
        List<Node> nodes = new ArrayList<>();
        List<Integer> origin = new ArrayList<>();
        Map<String, Tensor> inits = new LinkedHashMap<>(g.initializers());
        Map<String, dev.sluice.kernels.TensorType> types = new LinkedHashMap<>(g.types());
        boolean changed = false;
        for (int i = 0; i < g.nodes().size(); i++) {
            Node n = g.nodes().get(i);
            long t = threshold.applyAsLong(i);
            List<Node> r = t != Long.MAX_VALUE && BuildState.nodeNeed(g, n) > t ? rewrite(g, n, inits, types, onnxOpset, t) : null;
            if (r == null) r = List.of(n);
            else changed = true;
            for (Node x : r) { nodes.add(x); origin.add(i); }
        }
        int[] o = origin.stream().mapToInt(Integer::intValue).toArray();
        return new Rewritten(changed ? g.withNodes(nodes, inits, types) : g, o);
    }

    private static List<Node> rewrite(Graph g, Node n, Map<String, Tensor> inits, Map<String, dev.sluice.kernels.TensorType> types, int onnxOpset,
                                      long threshold) {
        if (n.domain().equals("sluice") && n.opType().equals("FusedConvAdd") && n.subgraphs().isEmpty()) return ownResidual(g, n, types);
        if (!n.domain().isEmpty() || !n.subgraphs().isEmpty()) return null;
        return switch (n.opType()) {
            case "MatMul", "Gemm" -> HalfProducts.rewrite(g, n, types, threshold);
            case "InstanceNormalization" -> InstanceNormSplit.rewrite(g, n, types, threshold);
            case "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd" -> FoldStages.rewrite(g, n, inits, types);
            case "Split" -> split(g, n, inits);
            case "Resize" -> resize(g, n, inits);
            case "Softmax", "LogSoftmax" -> onnxOpset >= 13 ? axisOnly(g, n) : null;
            default -> null;
        };
    }

    /**
     * A sluice.FusedConvAdd whose residual (input 3) is also its conv input, weight or bias: a tile reads each input
     * value in one box, but the conv's input box (the window's halo, all input channels) is not its residual's (the
     * output box), so the node could not be cut. The residual becomes an Identity copy of that value, a value of its
     * own (FLAT-tiled like any Identity) that the node reads in its place. The copy holds the same bits, so the sum
     * does too.
     */
    private static List<Node> ownResidual(Graph g, Node n, Map<String, dev.sluice.kernels.TensorType> types) {
        if (n.inputs().size() != 4 || n.outputs().size() != 1) return null;
        String res = n.inputs().get(3);
        if (res.isEmpty() || g.initializers().containsKey(res) || !n.inputs().subList(0, 3).contains(res)) return null;
        var t = g.typeOf(res);
        if (t == null || !t.isStatic()) return null;
        String copy = res + "#residual." + n.outputs().getFirst();
        types.put(copy, t);
        List<String> in = new ArrayList<>(n.inputs());
        in.set(3, copy);
        String name = (n.name().isEmpty() ? n.outputs().getFirst() : n.name()) + "#residual";
        return List.of(new Node(name, "Identity", "", List.of(res), List.of(copy), Attributes.EMPTY),
            new Node(n.name(), n.opType(), n.domain(), in, n.outputs(), n.attributes()));
    }

    /** One Slice per output, its sizes the outputs' static lengths along the axis. */
    private static List<Node> split(Graph g, Node n, Map<String, Tensor> inits) {
        if (n.inputs().isEmpty() || n.inputs().getFirst().isEmpty() || n.outputs().size() < 2) return null;
        String x = n.inputs().getFirst();
        var xt = g.typeOf(x);
        if (xt == null || !xt.isStatic()) return null;
        Shape xs = xt.shape().toShape();
        int r = xs.rank();
        long a = n.attributes().getInt("axis", 0);
        if (a < -r || a >= r) return null;
        int axis = (int) (a < 0 ? a + r : a);
        long at = 0;
        List<Node> out = new ArrayList<>();
        for (int k = 0; k < n.outputs().size(); k++) {
            String o = n.outputs().get(k);
            if (o.isEmpty()) return null;
            var ot = g.typeOf(o);
            if (ot == null || !ot.isStatic() || ot.dtype() != xt.dtype()) return null;
            Shape os = ot.shape().toShape();
            if (os.rank() != r) return null;
            for (int j = 0; j < r; j++) if (j != axis && os.dim(j) != xs.dim(j)) return null;
            long len = os.dim(axis);
            String base = o + "#split" + k;
            inits.put(base + ".starts", Tensor.ofLongs(Shape.of(1), at));
            inits.put(base + ".ends", Tensor.ofLongs(Shape.of(1), at + len));
            inits.put(base + ".axes", Tensor.ofLongs(Shape.of(1), axis));
            String name = (n.name().isEmpty() ? o : n.name()) + "#" + k;
            out.add(new Node(name, "Slice", "", List.of(x, base + ".starts", base + ".ends", base + ".axes"), List.of(o), Attributes.EMPTY));
            at += len;
        }
        // the outputs must tile the axis exactly, as the kernel checks
        return at == xs.dim(axis) ? out : null;
    }

    /** The node attribute that marks a Softmax / LogSoftmax of opset 13 on (its axis alone normalized) for ReductionTiling. */
    static final String AXIS_ONLY = "sluice_axis_only";

    /**
     * A Softmax / LogSoftmax of opset 13 on over an axis before the last: marked ({@link #AXIS_ONLY}) so that its tiles
     * may cut the axes after its own, which that opset leaves independent (before 13 the axes from it on are one row).
     * The kernel ignores the mark; the graph carries no opset, so the mark is how the tiling learns it.
     */
    private static List<Node> axisOnly(Graph g, Node n) {
        var xt = n.inputs().isEmpty() ? null : g.typeOf(n.inputs().getFirst());
        if (xt == null || !xt.isStatic() || n.attributes().has(AXIS_ONLY)) return null;
        int r = xt.shape().rank();
        long a = n.attributes().getInt("axis", -1);
        if (a < -r || a >= r || (a < 0 ? a + r : a) == r - 1) return null;
        Map<String, Attr> at = new LinkedHashMap<>(n.attributes().asMap());
        at.put(AXIS_ONLY, new Attr.Int(1));
        return List.of(new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(at)));
    }

    /** A Resize with sizes of every axis (and no axes attribute), in the axes form over the axes it resizes. */
    private static List<Node> resize(Graph g, Node n, Map<String, Tensor> inits) {
        if (n.inputs().size() != 4 || n.attributes().has("axes") || n.inputs().get(3).isEmpty()) return null;
        if (!n.inputs().get(2).isEmpty() && (g.initializers().get(n.inputs().get(2)) == null || g.initializers().get(n.inputs().get(2)).elementCount() != 0)) return null;
        if (!n.attributes().getString("keep_aspect_ratio_policy", "stretch").equals("stretch")) return null;
        Tensor sizes = g.initializers().get(n.inputs().get(3));
        var xt = g.typeOf(n.inputs().getFirst());
        if (sizes == null || sizes.dtype().isFloatingPoint() || xt == null || !xt.isStatic()) return null;
        Shape xs = xt.shape().toShape();
        long[] z = sizes.toLongArray();
        if (z.length != xs.rank()) return null;
        List<Long> axes = new ArrayList<>(), kept = new ArrayList<>();
        for (int a = 0; a < z.length; a++) if (z[a] != xs.dim(a)) { axes.add((long) a); kept.add(z[a]); }
        if (axes.isEmpty() || axes.size() == z.length) return null;
        String sz = n.inputs().get(3) + "#axes-form." + n.outputs().getFirst();
        inits.put(sz, Tensor.ofLongs(Shape.of(kept.size()), kept.stream().mapToLong(Long::longValue).toArray()));
        Map<String, Attr> at = new LinkedHashMap<>(n.attributes().asMap());
        at.put("axes", new Attr.Ints(axes.stream().mapToLong(Long::longValue).toArray()));
        List<String> in = new ArrayList<>(n.inputs());
        in.set(3, sz);
        return List.of(new Node(n.name(), n.opType(), n.domain(), in, n.outputs(), new Attributes(at)));
    }
}
