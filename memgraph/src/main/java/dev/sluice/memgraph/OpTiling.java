package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.List;
import java.util.Map;

/**
 * Tiling as a property of an op family: how a box of a node's output ({@link Box}) is computed from boxes of
 * its inputs, so that a node too large for its device's budget runs tile by tile ({@link Tile.Kind#OUTPUT_BOX}).
 * The memory-graph builder asks it which inputs a tile reads and how much of each (to size and place the tile's
 * buffers); the executor asks it which node a tile runs (attributes adjusted to the box, e.g. a conv's pads).
 * Both go through {@link #of}, so there is no per-op switch outside the families.
 *
 * <p>Invariant of every family: running {@link #node} on the input boxes gives, bit for bit, the output box of
 * the whole node (each family says why). Families: {@link ElementwiseTiling} (broadcasting elementwise ops, by
 * output ranges and the matching input slices), {@link ReductionTiling} (reductions, global and windowed pools,
 * softmax, by the axes they do not reduce), {@link PointwiseTiling} (1x1 convs, by images x channels x flat
 * positions), {@link ConvTiling} (convs, by rows x output channels),
 * {@link MovementTiling} (Transpose; Reshape, Flatten, Squeeze, Unsqueeze, Identity by flat ranges), {@link GatherTiling}
 * (Gather by output slabs),
 * {@link MatMulTiling} (MatMul by batches, rows, columns and K), {@link QuantMatMulTiling} (sluice.DynamicQuantMatMul by
 * columns), {@link SignalTiling} (STFT by batches and frames, DFT by the axes it does not transform), {@link NormTiling}
 * (layer, RMS, skip, embedding and group norms by rows), {@link AttentionTiling} (attention by batches and heads),
 * {@link BatchedProductTiling} (com.microsoft FusedMatMul by batches), {@link ExpandTiling} (Expand by output slabs),
 * {@link PlaneTiling} (InstanceNormalization's plane statistics and normalization, by planes and rows of a plane).
 */
public sealed interface OpTiling permits ElementwiseTiling, ReductionTiling, PointwiseTiling, ConvTiling, MovementTiling, GatherTiling, MatMulTiling, QuantMatMulTiling,
        SignalTiling, NormTiling, AttentionTiling, BatchedProductTiling, ExpandTiling, PlaneTiling {
    /**
     * An output axis tiles may cut: blocks start on multiples of {@code unit} and hold at least {@code least}
     * elements along it (a shorter last block joins the one before).
     */
    record Cut(int axis, long unit, long least) {}

    /** The shape boxes of the output are taken in (the output's own, or flat for a reshape). */
    Shape output();

    /** The axes of {@link #output} tiles may cut; empty when none. */
    List<Cut> cuts();

    /**
     * Whether a grid of these block sizes (one per {@link #cuts() cut}, in their order) gives tiles this family computes
     * with the whole node's bits; every grid of the cuts' units, unless a family says otherwise.
     */
    default boolean allows(long[] block) { return true; }

    /**
     * The inputs a tile of output box {@code out} reads in part, by value name, with the box of each; the tile
     * node's other inputs are read whole. A box that would be the whole input is left out (read whole).
     */
    Map<String, Box> boxes(Box out);

    /** The node a tile computing {@code out} runs on the boxes (and whole inputs); its single output is the box. */
    Node node(Box out);

    /**
     * The box of the node's output that tile {@code tile} (a box of {@link #output}) computes: the tile itself, but
     * for a tiling that also cuts a reduction axis ({@link ReductionCut}), whose boxes carry that axis last.
     */
    default Box outputBox(Box tile) { return tile; }

    /**
     * The op family's tiling of node n, or null when n cannot be split this way: a property of the op alone (whether
     * the builder splits into boxes is {@link TilingOptions#boxes()}'s choice, made where it plans), so the executor
     * finds the tiling the builder used.
     */
    static OpTiling of(Graph g, Node n) {
        if (n.outputs().size() != 1 || n.outputs().getFirst().isEmpty() || !n.subgraphs().isEmpty()) return null;
        var ot = g.typeOf(n.outputs().getFirst());
        if (ot == null || !ot.isStatic()) return null;
        Shape os = ot.shape().toShape();
        if (os.rank() == 0 || os.elementCount() < 2) return null;
        for (String v : n.inputs()) {
            if (v.isEmpty()) continue;
            var t = g.typeOf(v);
            if (t == null || !t.isStatic()) return null;
            // an empty input has no box to cut (a Concat's zero-width part, RotaryEmbedding's unrotated rest):
            // such a node moves nothing and stays whole
            if (t.shape().toShape().elementCount() == 0) return null;
        }
        OpTiling t = ElementwiseTiling.of(g, n, os);
        if (t == null) t = ReductionTiling.of(g, n, os);
        if (t == null) t = PointwiseTiling.of(g, n, os);
        if (t == null) t = ConvTiling.of(g, n, os);
        if (t == null) t = MovementTiling.of(g, n, os);
        if (t == null) t = GatherTiling.of(g, n, os);
        if (t == null) t = MatMulTiling.of(g, n, os);
        if (t == null) t = QuantMatMulTiling.of(g, n, os);
        if (t == null) t = SignalTiling.of(g, n, os);
        if (t == null) t = NormTiling.of(g, n, os);
        if (t == null) t = AttentionTiling.of(g, n, os);
        if (t == null) t = BatchedProductTiling.of(g, n, os);
        if (t == null) t = ExpandTiling.of(g, n, os);
        if (t == null) t = PlaneTiling.of(g, n, os);
        return t == null || t.cuts().isEmpty() ? null : t;
    }

    /** The static shape of value v (a constant's, else its inferred type's). */
    static Shape shapeOf(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        return c != null ? c.shape() : g.typeOf(v).shape().toShape();
    }

    /**
     * The box of an input of shape {@code s} broadcast (numpy-style, aligned on the right) to an output of which
     * {@code out} is a box: the same range on axes where the input has the output's size, all of an axis of
     * size 1. Null when that is the whole input.
     */
    static Box broadcastBox(Shape s, Box out) {
        int r = s.rank(), off = out.rank() - r;
        if (off < 0) return null;
        long[] lo = new long[r], hi = s.dims();
        boolean whole = true;
        for (int j = 0; j < r; j++) {
            if (s.dim(j) == 1) continue;
            lo[j] = out.lo(j + off);
            hi[j] = out.hi(j + off);
            if (lo[j] != 0 || hi[j] != s.dim(j)) whole = false;
        }
        return whole ? null : new Box(s.dims(), lo, hi);
    }
}
