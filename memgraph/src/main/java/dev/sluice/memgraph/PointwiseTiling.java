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
 * Group-1 pointwise convs (Conv / sluice.FusedConv / sluice.FusedConvAdd, 1x1 kernel, stride 1, no padding), seen as
 * 1-D over their flat positions: output {@code [N, M, P]} with {@code P} the product of the spatial sizes. A tile
 * computes images x output channels x a range of positions, reading the same positions of all input channels, its
 * channels' weight rows and biases and, for FusedConvAdd, the same box of its residual (in the output's 1-D view), and
 * runs the conv as a 1-D pointwise conv on them (the input and weight seen with one spatial axis, which changes no
 * element; the residual is added element by element after the conv, in the tile as in the whole).
 *
 * <p>Bits: ConvKernels sends a pointwise conv over at least two register tiles of positions to PointwiseConv, whose
 * every output element is an FMA chain over the input channels in order from zero, then bias and activation by
 * vector code for every element, independent of tile, position, channel count or position count. Fewer positions
 * take other kernels. So when the whole node runs PointwiseConv, every tile keeps {@link #LEAST_POSITIONS}
 * positions (two tiles of 3 vectors at the widest, 16 floats) and channel blocks at least two channels; a node over
 * fewer positions is cut by images and channels only.
 *
 * <p>A node over PointwiseConv's positions is also cut along its input channels ({@link ReductionCut}; boxes
 * {@code [N, M, P, C]}): each block continues the FMA chains from the partial sums of the blocks before it
 * (ConvKernels sends such a K tile to PointwiseConv's continuing form), the bias and activation going to the last,
 * with a FusedConvAdd's residual (its earlier blocks run as FusedConv alone, the partial sums at input 4).
 *
 * <p>Float16 convs are cut the same way but for that K cut ({@link Tiling#viaFloat32}): the kernel computes them on the
 * float32 path and rounds each element once at the end, so a tile's elements are the whole node's; handed from one
 * K block to the next, float16 partial sums would be rounded after every block (and the kernel refuses them).
 */
record PointwiseTiling(Node node, Shape output, Shape xView, Shape wView, String x, String w, String b, List<Cut> cuts, long kIn, String res) implements OpTiling {
    static final long LEAST_POSITIONS = 2 * 3 * 16;

    static PointwiseTiling of(Graph g, Node n, Shape os) {
        if (!ConvTiling.isConv(n) || os.rank() < 3 || n.inputs().size() < 2 || !Tiling.viaFloat32(g.typeOf(n.outputs().getFirst()).dtype())) return null;
        String x = n.inputs().get(0), w = n.inputs().get(1), b = n.inputs().size() > 2 ? n.inputs().get(2) : "";
        String res = ConvTiling.residual(g, n, os);
        if (res == null) return null;
        Shape xs = OpTiling.shapeOf(g, x), ws = OpTiling.shapeOf(g, w);
        if (xs.rank() != os.rank() || ws.rank() != os.rank() || g.initializers().containsKey(x) || x.equals(w)) return null;
        if (n.attributes().getInt("group", 1) != 1 || !ConvTiling.pointwise(n, ws)) return null;
        // SAME_UPPER / SAME_LOWER pad a 1x1 stride-1 window by nothing
        if (!List.of("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER").contains(n.attributes().getString("auto_pad", "NOTSET"))) return null;
        long positions = os.product(2, os.rank());
        if (xs.product(2, xs.rank()) != positions || os.dim(1) != ws.dim(0) || xs.dim(1) != ws.dim(1)) return null;
        Shape out = Shape.of(os.dim(0), os.dim(1), positions);
        List<Cut> cuts = new ArrayList<>();
        if (os.dim(0) > 1) cuts.add(new Cut(0, 1, 1));
        if (os.dim(1) >= 4) cuts.add(new Cut(1, 2, 2));
        if (positions >= 2 * LEAST_POSITIONS) cuts.add(new Cut(2, 16, LEAST_POSITIONS));
        long kIn = positions >= LEAST_POSITIONS && xs.dim(1) >= 2 && BoxTiles.dtype(g, x) == DType.FLOAT32 && BoxTiles.dtype(g, w) == DType.FLOAT32 ? xs.dim(1) : 0;
        if (kIn > 0) cuts.add(new Cut(3, 1, 1)); // last: the K tiles of an output box run one after another
        if (cuts.isEmpty()) return null;
        return new PointwiseTiling(n, kIn > 0 ? ReductionCut.extend(out, kIn) : out, Shape.of(xs.dim(0), xs.dim(1), positions),
            Shape.of(ws.dim(0), ws.dim(1), 1), x, w, b, List.copyOf(cuts), kIn, res);
    }

    @Override public Box outputBox(Box tile) { return kIn > 0 ? ReductionCut.outputBox(tile) : tile; }

    @Override public Map<String, Box> boxes(Box tile) {
        Box out = outputBox(tile);
        boolean kBlock = kIn > 0 && !(ReductionCut.first(tile) && ReductionCut.last(tile));
        long k0 = kBlock ? ReductionCut.block(tile)[0] : 0, k1 = kBlock ? ReductionCut.block(tile)[1] : xView.dim(1);
        Map<String, Box> m = new LinkedHashMap<>();
        // the input and weight always go through their 1-D views (so the tile's conv sees rank 3), whole or not
        m.put(x, Box.whole(xView).with(0, out.lo(0), out.hi(0)).with(1, k0, k1).with(2, out.lo(2), out.hi(2)));
        m.put(w, Box.whole(wView).with(0, out.lo(1), out.hi(1)).with(1, k0, k1));
        // with K cut the bias is the last K tile's alone: gathered by it
        if (!b.isEmpty() && (kBlock ? ReductionCut.last(tile) : out.lo(1) != 0 || out.hi(1) != out.dim(1))) {
            m.put(b, new Box(new long[] {out.dim(1)}, new long[] {out.lo(1)}, new long[] {out.hi(1)}));
        }
        // a FusedConvAdd's residual: the output box in the output's 1-D view (always, so the tile's sees rank 3), with K
        // cut the last K tile's alone
        if (!res.isEmpty() && (!kBlock || ReductionCut.last(tile))) m.put(res, out);
        if (kBlock) ReductionCut.partial(m, node, tile);
        return m;
    }

    @Override public Node node(Box tile) {
        Map<String, Attr> a = new LinkedHashMap<>(node.attributes().asMap());
        a.remove("auto_pad");
        a.put("kernel_shape", new Attr.Ints(new long[] {1}));
        a.put("strides", new Attr.Ints(new long[] {1}));
        a.put("dilations", new Attr.Ints(new long[] {1}));
        a.put("pads", new Attr.Ints(new long[] {0, 0}));
        if (kIn > 0) {
            if (res.isEmpty()) return ReductionCut.tileNode(node, a, tile, 3, List.of(2), List.of());
            // FusedConvAdd: as ConvTiling's K tiles, the conv alone (FusedConv) before the last, partial sums at input 4
            Node t = ReductionCut.tileNode(node, a, tile, 4, List.of(2, 3), List.of());
            return ReductionCut.last(tile) ? t : new Node(t.name(), "FusedConv", "sluice", t.inputs(), t.outputs(), t.attributes());
        }
        return new Node(node.name(), node.opType(), node.domain(), node.inputs(), node.outputs(), new Attributes(a));
    }
}
