package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A ReduceMax / ReduceMin (any type), or a ReduceSum / ReduceProd of integers, that folds more than its device holds
 * into one output element (a reduction of everything to one value, t5's overflow guards: the maximum of an activation,
 * the count of its infinities): {@link ReductionTiling} keeps one element's fold whole, so the node could not be
 * split at all. It becomes two nodes: the first folds the inner reduced axes (from a split axis on) and keeps the
 * others, so its tiles cut those ({@link ReductionTiling}); the second folds what the first left along the node's own
 * axes, into the node's own output.
 *
 * <p>Bits: a maximum or minimum is exact and the kernels take it as {@code Math.max} / {@code Math.min} do (a NaN wins,
 * +0 is above -0), which are associative and commutative on values, so folding in two stages gives the one-stage
 * value; for integer and bool types trivially. (Which of several NaNs of the input a NaN result carries may differ.)
 * Integer sums and products wrap (the kernel folds in 64-bit two's complement and stores the element type's low
 * bits), and wrapping addition and multiplication are associative and commutative, and commute with taking the low
 * bits, so two stages give the same bits too. Float sums and products, means and the other folds are not rewritten:
 * their association changes the bits.
 *
 * <p>The first node states its axes both ways, as an attribute (read before opset 18) and as a constant input (read
 * from 18 on), because the graph does not say its opset: the kernel reads the one its model's opset defines, the
 * same axes either way. The split axis is chosen so that the larger of the first node's least piece (one output
 * element's fold) and the second node's whole input is least.
 */
final class FoldStages {
    private FoldStages() {}

    static List<Node> rewrite(Graph g, Node n, Map<String, Tensor> inits, Map<String, TensorType> types) {
        if (n.outputs().size() != 1 || n.inputs().isEmpty()) return null;
        String x = n.inputs().getFirst();
        TensorType xt = x.isEmpty() ? null : g.typeOf(x);
        if (xt == null || !xt.isStatic()) return null;
        boolean extreme = n.opType().equals("ReduceMax") || n.opType().equals("ReduceMin");
        boolean wrapping = (n.opType().equals("ReduceSum") || n.opType().equals("ReduceProd")) && xt.dtype().isInteger();
        if (!extreme && !wrapping) return null;
        Shape xs = xt.shape().toShape();
        int r = xs.rank();
        if (r < 2 || xs.elementCount() == 0) return null;
        boolean[] combined = combined(g, n, r);
        if (combined == null) return null;
        int best = -1;
        long bestCost = Long.MAX_VALUE;
        for (int s = 1; s < r; s++) {
            long fold = 1, left = 1;
            boolean inner = false, outer = false;
            for (int a = 0; a < r; a++) {
                if (a >= s && combined[a]) { fold *= xs.dim(a); inner = true; }
                else left *= xs.dim(a);
                if (a < s && combined[a]) outer = true;
            }
            // without a reduced axis on both sides the node's own tiling already cuts what it keeps
            if (!inner || !outer) continue;
            long cost = Math.max(fold, left);
            if (cost < bestCost) { bestCost = cost; best = s; }
        }
        if (best < 0) return null;
        long[] mid = xs.dims().clone();
        List<Long> firstAxes = new ArrayList<>(), allAxes = new ArrayList<>();
        for (int a = 0; a < r; a++) {
            if (!combined[a]) continue;
            allAxes.add((long) a);
            if (a >= best) { firstAxes.add((long) a); mid[a] = 1; }
        }
        String out = n.outputs().getFirst();
        String between = out + "#fold1";
        types.put(between, TensorType.of(xt.dtype(), Shape.of(mid)));
        String name = n.name().isEmpty() ? out : n.name();
        Node first = stage(n, name + "#fold1", x, between, firstAxes, 1, inits);
        Node second = stage(n, name, between, out, allAxes, n.attributes().getInt("keepdims", 1), inits);
        return List.of(first, second);
    }

    /** A node of n's op folding {@code axes} of {@code in} into {@code out}, its axes as an attribute and as a constant input. */
    private static Node stage(Node n, String name, String in, String out, List<Long> axes, long keepdims, Map<String, Tensor> inits) {
        long[] a = axes.stream().mapToLong(Long::longValue).toArray();
        String axesValue = out + "#axes";
        inits.put(axesValue, Tensor.ofLongs(Shape.of(a.length), a));
        Map<String, Attr> at = new LinkedHashMap<>();
        at.put("axes", new Attr.Ints(a));
        at.put("keepdims", new Attr.Int(keepdims));
        return new Node(name, n.opType(), n.domain(), List.of(in, axesValue), List.of(out), new Attributes(at));
    }

    /** The axes n folds, read as {@link ReductionTiling} reads them; null when they are not known or n folds none. */
    private static boolean[] combined(Graph g, Node n, int r) {
        long[] axes = null;
        if (n.attributes().has("axes")) axes = n.attributes().getInts("axes");
        else if (n.inputs().size() > 1 && !n.inputs().get(1).isEmpty()) {
            Tensor a = g.initializers().get(n.inputs().get(1));
            if (a == null) return null;
            axes = a.toLongArray();
        }
        boolean[] c = new boolean[r];
        if (axes == null || axes.length == 0) {
            if (n.attributes().getInt("noop_with_empty_axes", 0) != 0) return null;
            java.util.Arrays.fill(c, true);
            return c;
        }
        for (long a : axes) {
            if (a < -r || a >= r) return null;
            c[(int) (a < 0 ? a + r : a)] = true;
        }
        return c;
    }
}
