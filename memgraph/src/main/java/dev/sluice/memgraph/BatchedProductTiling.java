package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * com.microsoft FusedMatMul (alpha * op(A) x op(B), as ONNX Runtime fuses attention's Q K^T * scale) by its batch axes
 * only: a tile computes a block of whole products, reading the same batches of A and B (an operand broadcast along
 * a batch axis, whole along it) and each product's matrices whole. Rows and columns are not cut: with transA or
 * transB the operands' boxes would be their other axes, and the batch axes are what such a node has in plenty (batch x
 * heads in an attention's scores).
 *
 * <p>Bits: the kernel runs each product as its own Gemm32 call of the same m, n and k whatever the batch count (one
 * after another, or batches spread over the threads), so a tile's products are the whole node's bit for bit.
 */
record BatchedProductTiling(Node node, Shape output, List<Cut> cuts, Map<String, Shape> operands) implements OpTiling {
    static BatchedProductTiling of(Graph g, Node n, Shape os) {
        if (!n.domain().equals("com.microsoft") || !n.opType().equals("FusedMatMul") || n.inputs().size() != 2) return null;
        if (n.attributes().getInt("transBatchA", 0) != 0 || n.attributes().getInt("transBatchB", 0) != 0) return null;
        Shape as = OpTiling.shapeOf(g, n.inputs().get(0)), bs = OpTiling.shapeOf(g, n.inputs().get(1));
        int r = os.rank(), batch = r - 2;
        if (as.rank() < 2 || bs.rank() < 2 || r != Math.max(as.rank(), bs.rank()) || batch < 1) return null;
        Map<String, Shape> ops = new LinkedHashMap<>();
        for (int k = 0; k < 2; k++) {
            Shape s = k == 0 ? as : bs;
            int off = r - s.rank();
            for (int j = 0; j < s.rank() - 2; j++) if (s.dim(j) != 1 && s.dim(j) != os.dim(j + off)) return null;
            String v = n.inputs().get(k);
            if (ops.containsKey(v) && !ops.get(v).equals(s)) return null;
            ops.put(v, s);
        }
        List<Cut> cuts = new ArrayList<>();
        for (int j = 0; j < batch; j++) if (os.dim(j) > 1) cuts.add(new Cut(j, 1, 1));
        return cuts.isEmpty() ? null : new BatchedProductTiling(n, os, List.copyOf(cuts), ops);
    }

    @Override public Map<String, Box> boxes(Box out) {
        Map<String, Box> m = new LinkedHashMap<>();
        for (var e : operands.entrySet()) {
            Shape s = e.getValue();
            int off = out.rank() - s.rank();
            Box b = Box.whole(s);
            for (int j = 0; j < s.rank() - 2; j++) if (s.dim(j) != 1) b = b.with(j, out.lo(j + off), out.hi(j + off));
            if (!b.isWhole()) m.put(e.getKey(), b);
        }
        return m;
    }

    @Override public Node node(Box out) { return node; }
}
