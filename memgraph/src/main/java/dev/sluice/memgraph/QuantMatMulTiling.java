package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * sluice.DynamicQuantMatMul (x float32 quantized on the fly, an 8-bit 2-D W with per-column or scalar zero point and
 * scale, a bias of W's columns, an activation), by blocks of output columns: a tile reads all of x, its columns of W
 * and of every per-column input, and runs the same op on them. Rows are not cut: x's range (hence its scale and
 * zero point) is taken over the whole of x.
 *
 * <p>Bits: each output element is its exact integer dot product, converted, scaled by its column's float product of
 * the two scales, then bias and activation by Activation's row code; which path runs (the 8-bit pass or the 32-bit
 * one) depends on x's rows only. Activation's vector code and its scalar tail may round differently, so blocks start
 * on multiples of 16 columns (the widest vector) and the last ends where the whole row does: every element stays on
 * the same side of its row's tail.
 */
record QuantMatMulTiling(Node node, Shape output, List<Cut> cuts, String w, Shape wShape, List<String> perColumn) implements OpTiling {
    static final int COLUMN_UNIT = 16;

    static QuantMatMulTiling of(Graph g, Node n, Shape os) {
        if (!n.opType().equals("DynamicQuantMatMul") || !n.domain().equals("sluice") || n.inputs().size() < 4) return null;
        String w = n.inputs().get(1);
        Shape ws = OpTiling.shapeOf(g, w);
        int r = os.rank();
        if (ws.rank() != 2 || r < 2 || os.dim(r - 1) != ws.dim(1) || n.inputs().get(0).equals(w)) return null;
        long cols = ws.dim(1);
        if (cols < 2 * COLUMN_UNIT) return null;
        List<String> per = new java.util.ArrayList<>();
        for (int i = 2; i < n.inputs().size(); i++) {
            String v = n.inputs().get(i);
            if (v.isEmpty() || v.equals(w) || v.equals(n.inputs().get(0))) continue;
            Shape s = OpTiling.shapeOf(g, v);
            if (s.elementCount() == 1) continue; // a scalar zero point or scale: read whole
            if (s.rank() != 1 || s.dim(0) != cols) return null;
            per.add(v);
        }
        return new QuantMatMulTiling(n, os, List.of(new Cut(r - 1, COLUMN_UNIT, COLUMN_UNIT)), w, ws, List.copyOf(per));
    }

    @Override public Map<String, Box> boxes(Box out) {
        Map<String, Box> m = new LinkedHashMap<>();
        int last = out.rank() - 1;
        long lo = out.lo(last), hi = out.hi(last);
        if (lo == 0 && hi == wShape.dim(1)) return m;
        m.put(w, Box.whole(wShape).with(1, lo, hi));
        for (String v : perColumn) m.put(v, new Box(new long[] {wShape.dim(1)}, new long[] {lo}, new long[] {hi}));
        return m;
    }

    @Override public Node node(Box out) { return node; }
}
