package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.PartialSums;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A cut of a product's reduction axis (K: a MatMul's inner dimension, a conv's input channels), for the
 * {@link OpTiling}s that sum over one. Such a tiling's boxes live in the node's iteration space: the output's axes
 * followed by K, so a tile is an output box times a block of K, and {@link OpTiling#outputBox} drops K again. The
 * K cut is the last cut, so the tiles of one output box run one after another in K order (BoxTiles puts the first
 * cut outermost); each but the first reads the output box as it stands after the one before (its partial sums,
 * scattered to the output's host copy by that tile and gathered back) and continues every element's sum from it
 * ({@link PartialSums}: the kernels sum in an order that such a chain reproduces bit for bit, given blocks that
 * start where the kernel's own order allows: multiples of Gemm32.KC for a GEMM, any input channel for the direct
 * conv). Terms the whole op adds once are kept to one tile: a bias or activation applied after the sum to the last
 * K tile, Gemm's C (added before it) to the first.
 */
final class ReductionCut {
    private ReductionCut() {}

    /** The iteration shape: the output's axes and then K. */
    static Shape extend(Shape out, long k) {
        long[] d = java.util.Arrays.copyOf(out.dims(), out.rank() + 1);
        d[out.rank()] = k;
        return Shape.of(d);
    }

    /** The output box of an iteration box: without its last (K) axis. */
    static Box outputBox(Box tile) {
        int r = tile.rank() - 1;
        return new Box(java.util.Arrays.copyOf(tile.dims(), r), java.util.Arrays.copyOf(tile.lo(), r), java.util.Arrays.copyOf(tile.hi(), r));
    }

    /** The K block of an iteration box: {lo, hi}. */
    static long[] block(Box tile) { return new long[] {tile.lo(tile.rank() - 1), tile.hi(tile.rank() - 1)}; }

    static boolean first(Box tile) { return tile.lo(tile.rank() - 1) == 0; }

    static boolean last(Box tile) { return tile.hi(tile.rank() - 1) == tile.dim(tile.rank() - 1); }

    /**
     * The node a K tile runs: n's inputs with the output (its partial sums) at input {@code partialSlot} for every
     * tile but the first, the inputs at {@code afterSum} (added after the sum: a bias) and the activation only in
     * the last, the inputs at {@code beforeSum} (added before it: Gemm's C) only in the first. The node's own
     * attributes otherwise ({@code attributes}, e.g. a conv's band pads).
     */
    static Node tileNode(Node n, Map<String, Attr> attributes, Box tile, int partialSlot, List<Integer> afterSum, List<Integer> beforeSum) {
        boolean first = first(tile), last = last(tile);
        if (first && last) return new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(attributes));
        List<String> in = new ArrayList<>(n.inputs());
        Map<String, Attr> a = new LinkedHashMap<>(attributes);
        if (!last) {
            for (int s : afterSum) if (s < in.size()) in.set(s, "");
            a.remove("activation");
        }
        if (!first) {
            for (int s : beforeSum) if (s < in.size()) in.set(s, "");
            while (in.size() <= partialSlot) in.add("");
            in.set(partialSlot, n.outputs().getFirst());
            a.put(PartialSums.ATTRIBUTE, new Attr.Int(partialSlot));
        }
        while (!in.isEmpty() && in.getLast().isEmpty()) in.removeLast();
        return new Node(n.name(), n.opType(), n.domain(), in, n.outputs(), new Attributes(a));
    }

    /** Adds the partial sums' box (the output box) to a K tile's input boxes, for every tile but the first. */
    static void partial(Map<String, Box> boxes, Node n, Box tile) {
        if (!first(tile)) boxes.put(n.outputs().getFirst(), outputBox(tile));
    }
}
