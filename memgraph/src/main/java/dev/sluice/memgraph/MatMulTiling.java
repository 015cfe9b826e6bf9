package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MatMul / sluice.FusedMatMul with A of rank 2 or more: a tile computes a box of the output on its batch axes
 * and its rows (M), reading A's matching batches and rows and B's matching batches (B broadcast as in the
 * whole node, its matrices whole); FusedMatMul's column bias is read whole. Columns stay whole here (weight
 * columns are {@link Tile.Kind#OUTPUT_COLUMNS}' job).
 *
 * <p>Bits: Gemm32 sums each output element over K in an order that depends on K and on the element's column
 * only, except that a product of one row takes the matrix-vector path: so row blocks hold at least two rows
 * when the whole node has more than one.
 */
record MatMulTiling(Node node, Shape output, String a, Shape aShape, String b, Shape bShape, List<Cut> cuts) implements OpTiling {
    static MatMulTiling of(Graph g, Node n, Shape os) {
        boolean fused = n.opType().equals("FusedMatMul");
        if (!(n.opType().equals("MatMul") || fused) || !n.domain().equals(fused ? "sluice" : "") || n.inputs().size() < 2) return null;
        Shape as = OpTiling.shapeOf(g, n.inputs().get(0)), bs = OpTiling.shapeOf(g, n.inputs().get(1));
        int r = os.rank();
        if (as.rank() < 2 || bs.rank() < 2 || r != Math.max(as.rank(), bs.rank()) || n.inputs().get(0).equals(n.inputs().get(1))) return null;
        long m = as.dim(as.rank() - 2);
        if (os.dim(r - 2) != m) return null;
        List<Cut> cuts = new ArrayList<>();
        for (int j = 0; j < r - 2; j++) if (os.dim(j) > 1) cuts.add(new Cut(j, 1, 1));
        if (m >= 4) cuts.add(new Cut(r - 2, 1, 2));
        if (cuts.isEmpty()) return null;
        return new MatMulTiling(n, os, n.inputs().get(0), as, n.inputs().get(1), bs, List.copyOf(cuts));
    }

    @Override public Map<String, Box> boxes(Box out) {
        Map<String, Box> r = new LinkedHashMap<>();
        Box ab = box(aShape, out, true), bb = box(bShape, out, false);
        if (ab != null) r.put(a, ab);
        if (bb != null) r.put(b, bb);
        return r;
    }

    /** An operand's box: its batch axes broadcast against the output's, its rows the output's (A) or whole (B), its last axis whole. */
    private static Box box(Shape s, Box out, boolean rows) {
        int k = s.rank(), off = out.rank() - k;
        long[] lo = new long[k], hi = s.dims();
        for (int j = 0; j < k - 2; j++) if (s.dim(j) != 1) { lo[j] = out.lo(j + off); hi[j] = out.hi(j + off); }
        if (rows) { lo[k - 2] = out.lo(out.rank() - 2); hi[k - 2] = out.hi(out.rank() - 2); }
        Box b = new Box(s.dims(), lo, hi);
        return b.isWhole() ? null : b;
    }

    @Override public Node node(Box out) { return node; }
}
