package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The three nodes an InstanceNormalization whose plane does not fit its device becomes ({@link InstanceNormSplit}):
 * the plane sums and the sums of squares (sluice.PlaneSum, sluice.PlaneSquares; [N, C] float64) cut by images,
 * channels and along the plane's first axis as a reduction ({@link ReductionCut}: their boxes are [N, C] and then that
 * axis, the K tiles of one (image, channel) box run in order, each continuing the sums the one before left), and the
 * normalization (sluice.PlaneNormalize) cut by images, channels and rows of the plane's first axis like an
 * elementwise node, reading its planes' statistics and channels' scale and bias.
 *
 * <p>Bits: a K tile reads x's box [images, channels, rows k0..k1, all of the other axes], whose every plane holds a
 * contiguous run of that plane in order, and adds it in order to the partial sums (InstanceNormParts), so the chain of
 * K tiles of a box adds each plane's terms in the whole loop's order: the same doubles. Each output element is
 * computed from its own input element and its plane's two sums by the whole kernel's expressions, so a box of the
 * output is the whole's box. Least piece: one row of the plane's first axis (of one image and channel).
 */
record PlaneTiling(Node node, Shape output, List<Cut> cuts, Kind kind, String x, Shape xShape, List<String> stats,
                   List<String> channelParams) implements OpTiling {
    enum Kind { SUM, SQUARES, NORMALIZE }

    static PlaneTiling of(Graph g, Node n, Shape os) {
        if (!n.domain().equals("sluice")) return null;
        Kind kind = switch (n.opType()) {
            case "PlaneSum" -> Kind.SUM;
            case "PlaneSquares" -> Kind.SQUARES;
            case "PlaneNormalize" -> Kind.NORMALIZE;
            default -> null;
        };
        if (kind == null || n.inputs().isEmpty() || n.inputs().getFirst().isEmpty()) return null;
        if (n.attributes().has(dev.sluice.kernels.PartialSums.ATTRIBUTE)) return null; // a tile already
        int ins = switch (kind) { case SUM -> 1; case SQUARES -> 2; case NORMALIZE -> 5; };
        if (n.inputs().size() != ins) return null;
        String x = n.inputs().getFirst();
        Shape xs = OpTiling.shapeOf(g, x);
        if (xs.rank() < 3) return null;
        for (String v : n.inputs().subList(1, ins)) if (v.isEmpty() || v.equals(x)) return null;
        List<Cut> cuts = new ArrayList<>();
        if (xs.dim(0) > 1) cuts.add(new Cut(0, 1, 1));
        if (xs.dim(1) > 1) cuts.add(new Cut(1, 1, 1));
        if (kind == Kind.NORMALIZE) {
            if (!os.equals(xs)) return null;
            if (xs.dim(2) > 1) cuts.add(new Cut(2, 1, 1));
            if (cuts.isEmpty()) return null;
            return new PlaneTiling(n, os, List.copyOf(cuts), kind, x, xs, n.inputs().subList(1, 3), n.inputs().subList(3, 5));
        }
        if (os.rank() != 2 || os.dim(0) != xs.dim(0) || os.dim(1) != xs.dim(1)) return null;
        // the plane's first axis as the reduction: last, so that one box's K tiles run one after another
        if (xs.dim(2) > 1) cuts.add(new Cut(2, 1, 1));
        if (cuts.isEmpty()) return null;
        return new PlaneTiling(n, ReductionCut.extend(os, xs.dim(2)), List.copyOf(cuts), kind, x, xs,
            kind == Kind.SQUARES ? List.of(n.inputs().get(1)) : List.of(), List.of());
    }

    private boolean reduces() { return kind != Kind.NORMALIZE; }

    @Override public Box outputBox(Box tile) { return reduces() ? ReductionCut.outputBox(tile) : tile; }

    @Override public Map<String, Box> boxes(Box tile) {
        Map<String, Box> m = new LinkedHashMap<>();
        Box planes = new Box(new long[] {xShape.dim(0), xShape.dim(1)}, new long[] {tile.lo(0), tile.lo(1)}, new long[] {tile.hi(0), tile.hi(1)});
        Box xb = Box.whole(xShape).with(0, tile.lo(0), tile.hi(0)).with(1, tile.lo(1), tile.hi(1)).with(2, tile.lo(2), tile.hi(2));
        if (!xb.isWhole()) m.put(x, xb);
        if (!planes.isWhole()) for (String s : stats) m.put(s, planes);
        if (tile.lo(1) != 0 || tile.hi(1) != xShape.dim(1)) {
            Box cb = new Box(new long[] {xShape.dim(1)}, new long[] {tile.lo(1)}, new long[] {tile.hi(1)});
            for (String v : channelParams) m.put(v, cb);
        }
        if (reduces() && !(ReductionCut.first(tile) && ReductionCut.last(tile))) ReductionCut.partial(m, node, tile);
        return m;
    }

    @Override public Node node(Box tile) {
        if (!reduces()) return node;
        // the partial sums after x (PlaneSum) or after x and the sums (PlaneSquares)
        return ReductionCut.tileNode(node, node.attributes().asMap(), tile, kind == Kind.SUM ? 1 : 2, List.of(), List.of());
    }
}
