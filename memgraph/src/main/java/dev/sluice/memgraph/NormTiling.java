package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The row normalizations transformers are built of, cut by rows: every output axis before the normalized ones.
 * LayerNormalization, sluice.AddLayerNorm (a residual Add folded in), RMSNormalization and ONNX Runtime's
 * SimplifiedLayerNormalization normalize the axes from {@code axis} on; com.microsoft SkipLayerNormalization and
 * SkipSimplifiedLayerNormalization the last axis; com.microsoft EmbedLayerNormalization the hidden axis of its
 * [B, S, H] output (by token rows: batches x positions); GroupNormalization each (image, group) of [N, C, ...]
 * (by images and whole groups of channels, the tile's {@code num_groups} its own groups). ONNX Runtime's row-wise
 * activations ({@link #ROW_ACTIVATIONS}: Gelu forms with a bias along the last axis, BiasAdd) are cut the same way.
 *
 * <p>A tile reads the matching rows of the activations (an input broadcast along a cut axis, e.g. a skip of [S, H]
 * under [B, S, H], reads all of that axis: {@link OpTiling#broadcastBox}), and its scale and bias whole (they lie
 * along the normalized axes, never cut), but for GroupNormalization's per-channel or per-group scale and bias, which
 * it reads for its own channels or groups; and for EmbedLayerNormalization its tokens' ids and, without
 * position_ids, the position table's rows of its positions (the kernel numbers positions from 0 within its input).
 * The word table is read whole: which of its rows a tile needs depends on the ids, which a plan made before the run
 * cannot know.
 *
 * <p>Bits: each kernel computes a row (a group) from that row's elements alone, by a loop that takes the row's offset
 * and length and nothing of the row count or the thread split (NormKernels.layerNormRow, the RMS rows, the
 * GroupNormalization double sums over one group in order), so a tile's rows are the whole node's rows bit for bit.
 * BatchNormalization (inference) and InstanceNormalization ({@link Kind#CHANNELS}): BatchNormalization's element is
 * {@code x * a + b} with its channel's a and b computed from that channel's four parameters alone (float32 products
 * and sums, no vector code), so any box will do; InstanceNormalization sums one (image, channel) plane in order, so
 * it is cut by images and channels (planes whole). Each tile reads its channels of the per-channel parameters.
 * Not split here: one InstanceNormalization plane, so its least piece is one plane in and out. A plane that does not fit
 * its device is cut by another route, a PlanRewrite ({@link InstanceNormSplit}): no element of the output can be written
 * before two full passes over its plane (the sum, then the squares of the differences from the mean), so a block of
 * the output depends on all of its plane's input, and the node becomes three: the plane sums and the sums of squares
 * ([N, C] float64, each cut along the plane's rows as a {@link ReductionCut} continuing its sum in order, which
 * NormKernels' in-order double sums make the same sum bit for bit) and the normalization by any box reading them
 * ({@link PlaneTiling}). Not split at all: BatchNormalization in training mode (batch statistics over every axis but
 * the channels, and several outputs), which stays whole.
 * Only nodes with one output are cut (OpTiling's rule): the optional statistics outputs (mean, inv_std_var, the
 * skip sum, EmbedLayerNormalization's mask_index) keep a node whole when the graph names them.
 */
record NormTiling(Node node, Shape output, List<Cut> cuts, Map<String, Shape> rowInputs, Kind kind, long channelsPerScale,
                  String scale, String bias, String positions, Shape positionShape, List<String> channelParams) implements OpTiling {
    enum Kind { ROWS, GROUPS, EMBED, CHANNELS }

    /**
     * ONNX Runtime's elementwise contrib ops over rows of the last axis (a bias along it): GeluKernels runs them row by
     * row, its vector code from each row's start, so they split by rows like the norms.
     */
    static final java.util.Set<String> ROW_ACTIVATIONS = java.util.Set.of("Gelu", "BiasGelu", "FastGelu", "QuickGelu", "BiasAdd");

    static NormTiling of(Graph g, Node n, Shape os) {
        String op = n.opType(), dom = n.domain();
        int r = os.rank();
        if (dom.equals("com.microsoft") && op.equals("EmbedLayerNormalization")) return embed(g, n, os);
        int axis;
        List<Integer> rows = List.of(0);
        if (dom.isEmpty() && (op.equals("LayerNormalization") || op.equals("RMSNormalization") || op.equals("SimplifiedLayerNormalization"))
            || dom.equals("sluice") && op.equals("AddLayerNorm")) {
            long a = n.attributes().getInt("axis", -1);
            if (a < -r || a >= r) return null;
            axis = (int) (a < 0 ? a + r : a);
            if (op.equals("AddLayerNorm")) rows = List.of(0, 1);
        } else if (dom.equals("com.microsoft") && (op.equals("SkipLayerNormalization") || op.equals("SkipSimplifiedLayerNormalization"))) {
            axis = r - 1;
            rows = List.of(0, 1);
        } else if (dom.equals("com.microsoft") && ROW_ACTIVATIONS.contains(op)) {
            axis = r - 1;
            if (op.equals("BiasAdd")) rows = List.of(0, 2);
        } else if (dom.isEmpty() && op.equals("GroupNormalization")) {
            return groups(g, n, os);
        } else if (dom.isEmpty() && (op.equals("BatchNormalization") || op.equals("InstanceNormalization"))) {
            return channels(g, n, os);
        } else return null;
        Map<String, Shape> in = new LinkedHashMap<>();
        for (int k : rows) {
            if (k >= n.inputs().size() || n.inputs().get(k).isEmpty()) return null;
            String v = n.inputs().get(k);
            Shape s = OpTiling.shapeOf(g, v);
            if (!broadcasts(s, os)) return null;
            in.put(v, s);
        }
        List<Cut> cuts = new ArrayList<>();
        for (int a = 0; a < axis; a++) if (os.dim(a) > 1) cuts.add(new Cut(a, 1, 1));
        return cuts.isEmpty() ? null : new NormTiling(n, os, List.copyOf(cuts), in, Kind.ROWS, 0, null, null, null, null, List.of());
    }

    /** Whether s broadcasts (numpy-style, aligned on the right) to os without growing it. */
    private static boolean broadcasts(Shape s, Shape os) {
        if (s.rank() > os.rank()) return false;
        for (int j = 0; j < s.rank(); j++) {
            long o = os.dim(j + os.rank() - s.rank());
            if (s.dim(j) != 1 && s.dim(j) != o) return false;
        }
        return true;
    }

    /** GroupNormalization by images and whole groups; scale and bias per channel (opset 21) or per group (18), told by their length. */
    private static NormTiling groups(Graph g, Node n, Shape os) {
        if (n.inputs().size() != 3 || os.rank() < 2 || !n.attributes().has("num_groups")) return null;
        String x = n.inputs().get(0), sc = n.inputs().get(1), b = n.inputs().get(2);
        if (x.isEmpty() || sc.isEmpty() || b.isEmpty()) return null;
        Shape xs = OpTiling.shapeOf(g, x), ss = OpTiling.shapeOf(g, sc), bs = OpTiling.shapeOf(g, b);
        long c = os.dim(1), groups = n.attributes().getInt("num_groups");
        if (!xs.equals(os) || groups < 1 || c % groups != 0 || ss.rank() != 1 || !ss.equals(bs)) return null;
        if (ss.dim(0) != c && ss.dim(0) != groups) return null; // the kernel refuses it, naming the node
        long per = c / groups;
        List<Cut> cuts = new ArrayList<>();
        if (os.dim(0) > 1) cuts.add(new Cut(0, 1, 1));
        if (groups > 1) cuts.add(new Cut(1, per, per));
        if (cuts.isEmpty()) return null;
        // per-group scale when its length is the group count (and differs from the channel count: else both read alike)
        boolean perGroup = ss.dim(0) == groups && groups != c;
        return new NormTiling(n, os, List.copyOf(cuts), Map.of(x, xs), Kind.GROUPS, perGroup ? per : 1, sc, b, null, null, List.of());
    }

    /**
     * BatchNormalization (inference) by any box, InstanceNormalization by images x channels: their per-channel
     * parameters (scale, bias; BatchNormalization's mean and variance) read for the tile's channels.
     */
    private static NormTiling channels(Graph g, Node n, Shape os) {
        boolean batch = n.opType().equals("BatchNormalization");
        int params = batch ? 4 : 2;
        if (n.inputs().size() != params + 1 || os.rank() < (batch ? 2 : 3)) return null;
        if (batch && n.attributes().getInt("training_mode", 0) != 0) return null;
        String x = n.inputs().getFirst();
        if (x.isEmpty() || !OpTiling.shapeOf(g, x).equals(os)) return null;
        List<String> ps = new ArrayList<>();
        for (int k = 1; k <= params; k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty() || v.equals(x)) return null;
            Shape s = OpTiling.shapeOf(g, v);
            if (s.rank() != 1 || s.dim(0) != os.dim(1)) return null; // the kernel refuses it, naming the node
            ps.add(v);
        }
        List<Cut> cuts = new ArrayList<>();
        for (int a = 0; a < (batch ? os.rank() : 2); a++) if (os.dim(a) > 1) cuts.add(new Cut(a, 1, 1));
        if (cuts.isEmpty()) return null;
        return new NormTiling(n, os, List.copyOf(cuts), Map.of(x, os), Kind.CHANNELS, 0, null, null, null, null, List.copyOf(ps));
    }

    /** EmbedLayerNormalization [B, S, H] by batches x positions; positions numbered from 0 read the position table's rows. */
    private static NormTiling embed(Graph g, Node n, Shape os) {
        List<String> in = n.inputs();
        if (os.rank() != 3 || in.size() < 6 || in.get(0).isEmpty() || in.get(3).isEmpty()) return null;
        Map<String, Shape> rows = new LinkedHashMap<>();
        Shape bs = Shape.of(os.dim(0), os.dim(1));
        // input_ids, segment_ids, mask, position_ids: [B, S] (position_ids also [1, S])
        for (int k : new int[] {0, 1, 7, 8}) {
            if (k >= in.size() || in.get(k).isEmpty()) continue;
            Shape s = OpTiling.shapeOf(g, in.get(k));
            if (s.rank() != 2 || s.dim(1) != os.dim(1) || s.dim(0) != os.dim(0) && !(k == 8 && s.dim(0) == 1)) return null;
            rows.put(in.get(k), s);
        }
        boolean numbered = in.size() <= 8 || in.get(8).isEmpty();
        String pos = in.get(3);
        Shape ps = OpTiling.shapeOf(g, pos);
        if (ps.rank() != 2 || numbered && ps.dim(0) < os.dim(1)) return null;
        for (int k : new int[] {0, 1, 7, 8}) if (k < in.size() && in.get(k).equals(pos)) return null;
        List<Cut> cuts = new ArrayList<>();
        if (os.dim(0) > 1) cuts.add(new Cut(0, 1, 1));
        if (os.dim(1) > 1) cuts.add(new Cut(1, 1, 1));
        if (cuts.isEmpty()) return null;
        return new NormTiling(n, os, List.copyOf(cuts), rows, Kind.EMBED, 0, null, null, numbered ? pos : null, ps, List.of());
    }

    @Override public Map<String, Box> boxes(Box out) {
        Map<String, Box> m = new LinkedHashMap<>();
        switch (kind) {
            case ROWS -> {
                for (var e : rowInputs.entrySet()) {
                    Box b = OpTiling.broadcastBox(e.getValue(), out);
                    if (b != null) m.put(e.getKey(), b);
                }
            }
            case GROUPS -> {
                for (var e : rowInputs.entrySet()) if (!out.isWhole()) m.put(e.getKey(), out);
                if (out.lo(1) != 0 || out.hi(1) != out.dim(1)) {
                    long c = out.dim(1) / channelsPerScale;
                    Box sb = new Box(new long[] {c}, new long[] {out.lo(1) / channelsPerScale}, new long[] {out.hi(1) / channelsPerScale});
                    m.put(scale, sb);
                    m.put(bias, sb);
                }
            }
            case CHANNELS -> {
                for (var e : rowInputs.entrySet()) if (!out.isWhole()) m.put(e.getKey(), out);
                if (out.lo(1) != 0 || out.hi(1) != out.dim(1)) {
                    Box cb = new Box(new long[] {out.dim(1)}, new long[] {out.lo(1)}, new long[] {out.hi(1)});
                    for (String v : channelParams) m.put(v, cb);
                }
            }
            case EMBED -> {
                for (var e : rowInputs.entrySet()) {
                    Shape s = e.getValue();
                    long b0 = s.dim(0) == 1 ? 0 : out.lo(0), b1 = s.dim(0) == 1 ? 1 : out.hi(0);
                    Box b = new Box(s.dims(), new long[] {b0, out.lo(1)}, new long[] {b1, out.hi(1)});
                    if (!b.isWhole()) m.put(e.getKey(), b);
                }
                // positions numbered 0.. within the tile: its rows of the table are those of its own positions
                if (positions != null && (out.lo(1) != 0 || out.hi(1) != positionShape.dim(0))) {
                    m.put(positions, Box.whole(positionShape).with(0, out.lo(1), out.hi(1)));
                }
            }
        }
        return m;
    }

    @Override public Node node(Box out) {
        if (kind != Kind.GROUPS) return node;
        Map<String, Attr> a = new LinkedHashMap<>(node.attributes().asMap());
        long per = out.dim(1) / node.attributes().getInt("num_groups");
        a.put("num_groups", new Attr.Int((out.hi(1) - out.lo(1)) / per));
        return new Node(node.name(), node.opType(), node.domain(), node.inputs(), node.outputs(), new Attributes(a));
    }
}
