package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Gather by output slabs: with data of rank r gathered on axis {@code a} by indices of shape I (rank q), output axis
 * {@code j < a} is data axis j, axes {@code a .. a+q-1} are the indices' axes, and axis {@code j >= a+q} is data axis
 * {@code j-q+1}. A box of the output reads the same ranges of data on the data axes and of the indices on theirs,
 * with data's axis {@code a} whole (an index may name any of its entries; negative ones count from its end, which the
 * whole axis keeps), and runs the Gather itself on them. Every output element is one data element copied, never summed,
 * so any box is bit-identical to the whole node's. A scalar index ({@code qkv[0]} in an attention block, CaiT) leaves
 * the output the data's other axes, all of them cut.
 *
 * <p>Not here: a Gather on axis 0 of a constant table (an embedding), which {@link Tiling}'s table-row tiles
 * (GATHER_ROWS) split by the table's rows instead, reading only part of the table; a box would read it whole.
 */
record GatherTiling(Node node, Shape output, int axis, String data, Shape dataShape, String indices, Shape indexShape) implements OpTiling {

    static GatherTiling of(Graph g, Node n, Shape os) {
        if (!n.opType().equals("Gather") || !n.domain().isEmpty() || n.inputs().size() != 2) return null;
        String x = n.inputs().get(0), i = n.inputs().get(1);
        // data and indices one value (Gather(x, x) on integers) would need two boxes of it
        if (x.isEmpty() || i.isEmpty() || x.equals(i)) return null;
        Shape xs = OpTiling.shapeOf(g, x), is = OpTiling.shapeOf(g, i);
        int r = xs.rank(), q = is.rank();
        long a = n.attributes().getInt("axis", 0);
        if (r == 0 || a < -r || a >= r) return null;
        int axis = (int) (a < 0 ? a + r : a);
        if (axis == 0 && g.initializers().containsKey(x)) return null;
        if (g.typeOf(x) == null || g.typeOf(x).dtype() != g.typeOf(n.outputs().getFirst()).dtype()) return null;
        // the output's shape as the op defines it, else the graph's types are not what this tiling reads
        if (os.rank() != r + q - 1) return null;
        for (int j = 0; j < os.rank(); j++) if (os.dim(j) != (j < axis ? xs.dim(j) : j < axis + q ? is.dim(j - axis) : xs.dim(j - q + 1))) return null;
        return new GatherTiling(n, os, axis, x, xs, i, is);
    }

    @Override public List<Cut> cuts() {
        List<Cut> c = new ArrayList<>();
        for (int j = 0; j < output.rank(); j++) if (output.dim(j) > 1) c.add(new Cut(j, 1, 1));
        return c;
    }

    @Override public Map<String, Box> boxes(Box out) {
        int q = indexShape.rank();
        Box xb = Box.whole(dataShape);
        for (int j = 0; j < dataShape.rank(); j++) {
            if (j < axis) xb = xb.with(j, out.lo(j), out.hi(j));
            else if (j > axis) xb = xb.with(j, out.lo(j + q - 1), out.hi(j + q - 1));
        }
        Box ib = Box.whole(indexShape);
        for (int k = 0; k < q; k++) ib = ib.with(k, out.lo(axis + k), out.hi(axis + k));
        Map<String, Box> m = new LinkedHashMap<>();
        if (!xb.isWhole()) m.put(data, xb);
        if (!ib.isWhole()) m.put(indices, ib);
        return m;
    }

    @Override public Node node(Box out) { return node; }
}
