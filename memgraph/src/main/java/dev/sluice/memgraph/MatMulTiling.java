package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * MatMul / sluice.FusedMatMul with operands of rank 2 or more, and Gemm without transA: a tile computes a box of
 * the output on its batch axes, rows (M) and columns (N), reading A's matching batches and rows (all of K), B's
 * matching batches and columns (all of K; a transposed Gemm B by its rows), and the matching part of a bias
 * (broadcast like an elementwise operand). K is never cut: a partial sum over part of K, added to another,
 * associates differently from the whole dot product.
 *
 * <p>Bits: Gemm32 sums each output element over K in an order that depends on K and on the element's column
 * modulo the widest vector only, except that a product of one row, or one column, takes the matrix-vector path
 * (another order). So row blocks hold at least two rows when the node has several, column blocks start on
 * multiples of 16 columns and never hold one column.
 */
record MatMulTiling(Node node, Shape output, String a, Shape aShape, String b, Shape bShape, boolean transB,
                    String bias, Shape biasShape, List<Cut> cuts) implements OpTiling {
    static final int COLUMN_UNIT = 16;

    static MatMulTiling of(Graph g, Node n, Shape os) {
        boolean fused = n.opType().equals("FusedMatMul"), gemm = n.opType().equals("Gemm");
        if (!(n.opType().equals("MatMul") || fused || gemm) || !n.domain().equals(fused ? "sluice" : "") || n.inputs().size() < 2) return null;
        if (gemm && n.attributes().getInt("transA", 0) != 0) return null;
        boolean transB = gemm && n.attributes().getInt("transB", 0) != 0;
        Shape as = OpTiling.shapeOf(g, n.inputs().get(0)), bs = OpTiling.shapeOf(g, n.inputs().get(1));
        int r = os.rank();
        if (as.rank() < 2 || bs.rank() < 2 || r != Math.max(as.rank(), bs.rank()) || n.inputs().get(0).equals(n.inputs().get(1))) return null;
        if (gemm && (r != 2 || as.rank() != 2 || bs.rank() != 2)) return null;
        long m = as.dim(as.rank() - 2), cols = bs.dim(transB ? 0 : bs.rank() - 1);
        if (os.dim(r - 2) != m || os.dim(r - 1) != cols) return null;
        String bias = "";
        Shape biasShape = null;
        if (n.inputs().size() > 2 && !n.inputs().get(2).isEmpty()) {
            bias = n.inputs().get(2);
            biasShape = OpTiling.shapeOf(g, bias);
            if (bias.equals(n.inputs().get(0)) || bias.equals(n.inputs().get(1)) || biasShape.rank() > r) return null;
            for (int j = 0; j < biasShape.rank(); j++) {
                long o = os.dim(j + r - biasShape.rank());
                if (biasShape.dim(j) != 1 && biasShape.dim(j) != o) return null;
            }
        }
        List<Cut> cuts = new ArrayList<>();
        for (int j = 0; j < r - 2; j++) if (os.dim(j) > 1) cuts.add(new Cut(j, 1, 1));
        if (m >= 4) cuts.add(new Cut(r - 2, 1, 2));
        if (cols >= 2 * COLUMN_UNIT) cuts.add(new Cut(r - 1, COLUMN_UNIT, 2));
        if (cuts.isEmpty()) return null;
        return new MatMulTiling(n, os, n.inputs().get(0), as, n.inputs().get(1), bs, transB, bias, biasShape, List.copyOf(cuts));
    }

    @Override public Map<String, Box> boxes(Box out) {
        Map<String, Box> r = new LinkedHashMap<>();
        int k = out.rank();
        Box ab = operand(aShape, out, k - 2, aShape.rank() - 2);
        Box bb = operand(bShape, out, k - 1, transB ? 0 : bShape.rank() - 1);
        if (ab != null) r.put(a, ab);
        if (bb != null) r.put(b, bb);
        if (!bias.isEmpty()) {
            Box cb = OpTiling.broadcastBox(biasShape, out);
            if (cb != null) r.put(bias, cb);
        }
        return r;
    }

    /** An operand's box: batch axes broadcast against the output's, axis {@code own} the output's axis {@code outAxis}, the rest whole. */
    private static Box operand(Shape s, Box out, int outAxis, int own) {
        int k = s.rank(), off = out.rank() - k;
        long[] lo = new long[k], hi = s.dims();
        for (int j = 0; j < k - 2; j++) if (s.dim(j) != 1) { lo[j] = out.lo(j + off); hi[j] = out.hi(j + off); }
        lo[own] = out.lo(outAxis);
        hi[own] = out.hi(outAxis);
        Box b = new Box(s.dims(), lo, hi);
        return b.isWhole() ? null : b;
    }

    @Override public Node node(Box out) { return node; }
}
