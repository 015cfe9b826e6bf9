package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Attention by batches and heads: sluice.Attention (q, k, v [B, L, H, d], a mask broadcast to [B, H, L, Lk]; output
 * [B, L, H, dv]) and ai.onnx Attention (Q [B, Hq, L, d], K / V [B, Hkv, T, d], or packed 3-D [B, L, Hq * d] with
 * {@code q_num_heads} / {@code kv_num_heads}; a mask broadcast to [B, Hq, L, T]; nonpad_kv_seqlen [B]), without a
 * past cache and with Y its only output; also by blocks of query rows. Heads are cut in blocks of whole KV groups (query heads per KV head), so a
 * tile's query heads read exactly its KV heads; a packed tile runs with its own head counts. A tile reads its
 * batches' and heads' slices of the operands (one of a single batch or head, broadcast, whole along that axis).
 *
 * <p>Bits: both kernels compute each (batch, head) alone, on per-worker scratch, by a path (SmallHeads, Gemm32, a
 * one-query matrix-vector product) chosen from l, lk, d and dv only, with the mask read at the head's own strides:
 * a tile's heads are the whole node's bit for bit. Query rows are cut too, in blocks of at least {@link #ROWS}: the
 * path depends on the number of rows only as one row or more (SmallHeads gives Gemm32's bits for two rows and more,
 * and Gemm32's order depends on the depth alone; one row takes Gemm32's matrix-vector dots, summed in another order).
 * ai.onnx Attention's rows are cut only without {@code is_causal} and window limits, which the kernel counts from
 * the query's index within its input.
 */
record AttentionTiling(Node node, Shape output, List<Cut> cuts, Map<String, Slice> slices, int headAxis, long outUnit,
                       long group, int rowAxis) implements OpTiling {
    /**
     * How a tile slices one operand: its batch axis and head axis (-1: none, or broadcast), the elements per head along
     * that axis ({@code unit}: 1 for a heads axis, the depth for a packed one), and whether it holds KV heads (its
     * block is the query heads' divided by the group), and its query-row axis (-1: none, broadcast, or rows not cut).
     */
    record Slice(Shape shape, int batchAxis, int headAxis, long unit, boolean kv, int rowAxis) {}

    /** The fewest query rows a block holds. */
    static final long ROWS = 2;

    static AttentionTiling of(Graph g, Node n, Shape os) {
        if (n.domain().equals("sluice") && n.opType().equals("Attention")) return fused(g, n, os);
        if (n.domain().isEmpty() && n.opType().equals("Attention")) return onnx(g, n, os);
        return null;
    }

    private static AttentionTiling fused(Graph g, Node n, Shape os) {
        List<String> in = n.inputs();
        if (os.rank() != 4 || in.size() < 3 || in.size() > 4) return null;
        boolean rows = !aliased(in);
        Map<String, Slice> slices = new LinkedHashMap<>();
        for (int k = 0; k < in.size(); k++) {
            String v = in.get(k);
            if (v.isEmpty()) continue;
            Shape s = OpTiling.shapeOf(g, v);
            if (k < 3 ? s.rank() != 4 : s.rank() > 4) return null;
            // the mask is aligned on the right of [B, H, L, Lk]
            int b = k < 3 ? 0 : s.rank() - 4, h = k < 3 ? 2 : s.rank() - 3, row = !rows ? -1 : k == 0 ? 1 : k == 3 ? s.rank() - 2 : -1;
            if (!put(slices, v, s, b, h, 1, false, os.dim(0), os.dim(2), 1, row, os.dim(1))) return null;
        }
        return make(n, os, slices, 2, 1, 1, rows ? 1 : -1);
    }

    /** Whether the queries are also the keys or values (one value, which a row block of the queries would cut apart). */
    private static boolean aliased(List<String> in) {
        return in.get(0).equals(in.get(1)) || in.get(0).equals(in.get(2));
    }

    private static AttentionTiling onnx(Graph g, Node n, Shape os) {
        List<String> in = n.inputs();
        if (in.size() < 3 || in.size() > 7) return null;
        for (int k = 4; k < in.size(); k++) if (k != 6 && !in.get(k).isEmpty()) return null; // a past cache
        Shape qs = OpTiling.shapeOf(g, in.get(0)), ks = OpTiling.shapeOf(g, in.get(1)), vs = OpTiling.shapeOf(g, in.get(2));
        boolean four = qs.rank() == 4;
        if (qs.rank() != os.rank() || (!four && qs.rank() != 3) || ks.rank() != qs.rank() || vs.rank() != qs.rank()) return null;
        long hq, hkv, d, dk, dv;
        if (four) {
            hq = qs.dim(1);
            hkv = ks.dim(1);
            d = dk = dv = 1;
        } else {
            hq = n.attributes().getInt("q_num_heads", 0);
            hkv = n.attributes().getInt("kv_num_heads", 0);
            if (hq < 1 || hkv < 1 || qs.dim(2) % hq != 0 || ks.dim(2) % hkv != 0 || vs.dim(2) % hkv != 0 || os.dim(2) % hq != 0) return null;
            d = qs.dim(2) / hq;
            dk = ks.dim(2) / hkv;
            dv = vs.dim(2) / hkv;
        }
        if (hkv < 1 || hq % hkv != 0) return null;
        long group = hq / hkv;
        // query rows only where a row's bias does not depend on where the row is (causal and window limits count from
        // the query's index, which a tile would number from its first row)
        boolean rows = n.attributes().getInt("is_causal", 0) == 0 && !n.attributes().has("left_window_size") && !n.attributes().has("right_window_size")
            && !aliased(in);
        long l = four ? qs.dim(2) : qs.dim(1);
        Map<String, Slice> slices = new LinkedHashMap<>();
        for (int k = 0; k < in.size(); k++) {
            String v = in.get(k);
            if (v.isEmpty()) continue;
            Shape s = OpTiling.shapeOf(g, v);
            boolean ok;
            if (k < 3) {
                int h = four ? 1 : 2;
                int row = rows && k == 0 ? (four ? 2 : 1) : -1;
                ok = s.rank() == qs.rank() && put(slices, v, s, 0, h, k == 0 ? d : k == 1 ? dk : dv, k > 0, os.dim(0), hq, group, row, l);
            } else if (k == 3) { // attn_mask, aligned on the right of [B, Hq, L, T]
                ok = s.rank() >= 1 && s.rank() <= 4
                    && put(slices, v, s, s.rank() - 4, s.rank() - 3, 1, false, os.dim(0), hq, group, rows ? s.rank() - 2 : -1, l);
            } else { // nonpad_kv_seqlen [B]
                ok = s.rank() == 1 && put(slices, v, s, 0, -1, 1, false, os.dim(0), hq, group, -1, l);
            }
            if (!ok) return null;
        }
        return make(n, os, slices, four ? 1 : 2, four ? 1 : os.dim(2) / hq, group, rows ? (four ? 2 : 1) : -1);
    }

    /** Records how value v is sliced (-1 for an axis absent or of size 1); false when it does not line up with the output. */
    private static boolean put(Map<String, Slice> slices, String v, Shape s, int b, int h, long unit, boolean kv, long batches, long heads,
                               long group, int row, long rows) {
        if (b >= 0 && s.dim(b) == 1) b = -1;
        if (h >= 0 && s.dim(h) == unit && (kv ? heads / group : heads) != 1) h = -1; // one head for all
        if (row >= 0 && s.dim(row) == 1 && rows != 1) row = -1;
        if (b < 0) b = -1;
        if (h < 0) h = -1;
        if (row < 0) row = -1;
        if (b >= 0 && s.dim(b) != batches || h >= 0 && s.dim(h) != (kv ? heads / group : heads) * unit || row >= 0 && s.dim(row) != rows) return false;
        Slice sl = new Slice(s, b, h, unit, kv, row);
        Slice had = slices.putIfAbsent(v, sl);
        return had == null || had.equals(sl); // one value read as two operands must be sliced alike
    }

    private static AttentionTiling make(Node n, Shape os, Map<String, Slice> slices, int headAxis, long outUnit, long group, int rowAxis) {
        List<Cut> cuts = new ArrayList<>();
        if (os.dim(0) > 1) cuts.add(new Cut(0, 1, 1));
        if (os.dim(headAxis) > group * outUnit) cuts.add(new Cut(headAxis, group * outUnit, group * outUnit));
        // blocks of at least two query rows: a one-row head takes Gemm32's matrix-vector path, summed in another order
        if (rowAxis >= 0 && os.dim(rowAxis) >= 2 * ROWS) cuts.add(new Cut(rowAxis, 1, ROWS));
        return cuts.isEmpty() ? null : new AttentionTiling(n, os, List.copyOf(cuts), Map.copyOf(slices), headAxis, outUnit, group, rowAxis);
    }

    /** The query heads [first, end) of output box out. */
    private long[] heads(Box out) { return new long[] {out.lo(headAxis) / outUnit, out.hi(headAxis) / outUnit}; }

    @Override public Map<String, Box> boxes(Box out) {
        Map<String, Box> m = new LinkedHashMap<>();
        long[] h = heads(out);
        for (var e : slices.entrySet()) {
            Slice s = e.getValue();
            Box b = Box.whole(s.shape());
            if (s.batchAxis() >= 0) b = b.with(s.batchAxis(), out.lo(0), out.hi(0));
            long per = s.kv() ? group : 1;
            if (s.headAxis() >= 0) b = b.with(s.headAxis(), h[0] / per * s.unit(), h[1] / per * s.unit());
            if (s.rowAxis() >= 0) b = b.with(s.rowAxis(), out.lo(rowAxis), out.hi(rowAxis));
            if (!b.isWhole()) m.put(e.getKey(), b);
        }
        return m;
    }

    @Override public Node node(Box out) {
        if (!node.attributes().has("q_num_heads") || output.rank() != 3) return node;
        long[] h = heads(out);
        Map<String, Attr> a = new LinkedHashMap<>(node.attributes().asMap());
        a.put("q_num_heads", new Attr.Int(h[1] - h[0]));
        a.put("kv_num_heads", new Attr.Int((h[1] - h[0]) / group));
        return new Node(node.name(), node.opType(), node.domain(), node.inputs(), node.outputs(), new Attributes(a));
    }
}
