package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.ExpandBoxes;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Expand by output slabs: the output is the data input broadcast (numpy-style, aligned on the right) to the shape
 * input's shape, so a box of the output reads the data's matching box ({@link OpTiling#broadcastBox}: the box's range
 * on an axis the data has at full length, all of an axis of length 1) and broadcasts it to the box's extents, which
 * the tile node carries ({@link ExpandBoxes#TILE_SHAPE}); the shape input is read whole (the kernel then ignores it).
 * Any output axis longer than one may be cut.
 *
 * <p>Bits: every output element is one data element copied, never computed, so any box is the whole node's box
 * bit for bit, whatever the element type.
 */
record ExpandTiling(Node node, Shape output, String data, Shape dataShape) implements OpTiling {

    static ExpandTiling of(Graph g, Node n, Shape os) {
        if (!n.opType().equals("Expand") || !n.domain().isEmpty() || n.inputs().size() != 2) return null;
        String x = n.inputs().get(0), s = n.inputs().get(1);
        // one value as data and shape (an int64 vector expanded by itself) would need two boxes of it
        if (x.isEmpty() || s.isEmpty() || x.equals(s)) return null;
        var xt = g.typeOf(x);
        if (xt == null || xt.dtype() != g.typeOf(n.outputs().getFirst()).dtype()) return null;
        Shape xs = OpTiling.shapeOf(g, x);
        // the output must be the data broadcast: every data axis 1 or the output's length (the kernel checks the rest)
        int off = os.rank() - xs.rank();
        if (off < 0) return null;
        for (int j = 0; j < xs.rank(); j++) if (xs.dim(j) != 1 && xs.dim(j) != os.dim(j + off)) return null;
        return new ExpandTiling(n, os, x, xs);
    }

    @Override public List<Cut> cuts() {
        List<Cut> c = new ArrayList<>();
        for (int a = 0; a < output.rank(); a++) if (output.dim(a) > 1) c.add(new Cut(a, 1, 1));
        return c;
    }

    @Override public Map<String, Box> boxes(Box out) {
        Box b = OpTiling.broadcastBox(dataShape, out);
        return b == null ? Map.of() : Map.of(data, b);
    }

    @Override public Node node(Box out) {
        Map<String, Attr> a = new LinkedHashMap<>(node.attributes().asMap());
        a.put(ExpandBoxes.TILE_SHAPE, new Attr.Ints(out.extents().dims()));
        return new Node(node.name(), node.opType(), node.domain(), node.inputs(), node.outputs(), new Attributes(a));
    }
}
