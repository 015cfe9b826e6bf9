package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Conv / sluice.FusedConv (2-D, float32), by images x output rows x output channels: a tile computes channels
 * {@code [c0, c1)} of output rows {@code [r0, r1)}, reading the input rows those output rows see (the window's
 * halo, {@link RowBands.Band}), the input channels of those output channels' groups (all of them for group 1),
 * and the weight and bias rows of its channels. It runs the conv with the band's own top and bottom pads (the
 * real pad where the band meets the image's edge, 0 inside) and, for a grouped conv, with its number of groups.
 *
 * <p>Bits: the conv computes every output element as a dot product over (input channel, kernel position) of
 * its group, whose order depends on the group's K and on where the element sits among the output positions
 * modulo the widest vector, not on how many output channels or positions there are, except that a product of
 * one output channel or one output position takes Gemm32's matrix-vector path (another order). So row bands
 * start where {@code r0 * W} is a multiple of 16 ({@link RowBands}), no band holds one output position, and a
 * group-1 conv's channel blocks hold at least two channels (a grouped conv's blocks are whole groups, whose
 * products are the whole node's).
 */
record ConvTiling(Node node, Shape output, RowBands.Form rows, long groupOut, long groupIn, long group,
                  List<Cut> cuts, Shape xShape, Shape wShape, String x, String w, String b) implements OpTiling {

    static ConvTiling of(Graph g, Node n, Shape os) {
        boolean fused = n.opType().equals("FusedConv");
        if (!(n.opType().equals("Conv") || fused) || !n.domain().equals(fused ? "sluice" : "")) return null;
        if (os.rank() != 4 || n.inputs().size() < 2 || n.inputs().size() > 3 || g.typeOf(n.outputs().getFirst()).dtype() != DType.FLOAT32) return null;
        String x = n.inputs().get(0), w = n.inputs().get(1), b = n.inputs().size() > 2 ? n.inputs().get(2) : "";
        Shape xs = OpTiling.shapeOf(g, x), ws = OpTiling.shapeOf(g, w);
        if (xs.rank() != 4 || ws.rank() != 4 || g.initializers().containsKey(x)) return null;
        String autoPad = n.attributes().getString("auto_pad", "NOTSET");
        if (!autoPad.equals("NOTSET") && !autoPad.equals("VALID")) return null;
        long group = n.attributes().getInt("group", 1), m = ws.dim(0), c = xs.dim(1);
        if (group <= 0 || m % group != 0 || c % group != 0 || os.dim(1) != m) return null;
        long groupOut = m / group, groupIn = c / group;
        List<Cut> cuts = new ArrayList<>();
        if (os.dim(0) > 1) cuts.add(new Cut(0, 1, 1)); // images of a batch are convolved one by one
        if (group == 1 ? m >= 4 : group >= 2) cuts.add(new Cut(1, group == 1 ? 2 : groupOut, group == 1 ? 2 : groupOut));
        RowBands.Form f = RowBands.form(g, n);
        if (f != null && f.bands().size() == 1 && f.rows() == os.dim(2)) {
            long least = os.dim(3) >= 2 ? 1 : 2;
            if (os.dim(2) >= 2 * Math.max(f.unit(), least)) cuts.add(new Cut(2, f.unit(), least));
        } else f = null;
        if (cuts.isEmpty()) return null;
        return new ConvTiling(n, os, f, groupOut, groupIn, group, List.copyOf(cuts), xs, ws, x, w, b);
    }

    @Override public Map<String, Box> boxes(Box out) {
        long c0 = out.lo(1), c1 = out.hi(1), r0 = out.lo(2), r1 = out.hi(2);
        Map<String, Box> m = new LinkedHashMap<>();
        Box xb = Box.whole(xShape).with(0, out.lo(0), out.hi(0));
        if (group > 1) xb = xb.with(1, c0 / groupOut * groupIn, c1 / groupOut * groupIn);
        if (rows != null) {
            long[] ab = rows.bands().getFirst().rowsFor(r0, r1);
            xb = xb.with(2, ab[0], ab[1]);
        }
        if (!xb.isWhole()) m.put(x, xb);
        if (c0 != 0 || c1 != output.dim(1)) {
            m.put(w, Box.whole(wShape).with(0, c0, c1));
            if (!b.isEmpty()) m.put(b, new Box(new long[] {wShape.dim(0)}, new long[] {c0}, new long[] {c1}));
        }
        return m;
    }

    @Override public Node node(Box out) {
        Map<String, Attr> a = new LinkedHashMap<>(node.attributes().asMap());
        if (rows != null && (out.lo(2) != 0 || out.hi(2) != output.dim(2))) {
            RowBands.Band band = rows.bands().getFirst();
            long top = Math.max(0, -band.start(out.lo(2))), bottom = Math.max(0, band.end(out.hi(2)) - band.rows());
            long[] pads = node.attributes().getInts("pads");
            if (pads == null || node.attributes().getString("auto_pad", "NOTSET").equals("VALID")) pads = new long[4];
            a.remove("auto_pad");
            a.put("pads", new Attr.Ints(new long[] {top, pads[1], bottom, pads[3]}));
        }
        if (group > 1) a.put("group", new Attr.Int((out.hi(1) - out.lo(1)) / groupOut));
        return new Node(node.name(), node.opType(), node.domain(), node.inputs(), node.outputs(), new Attributes(a));
    }
}
