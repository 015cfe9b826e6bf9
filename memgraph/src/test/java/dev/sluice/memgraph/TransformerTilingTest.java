package dev.sluice.memgraph;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The box tilings of the transformer ops ({@link NormTiling}, {@link AttentionTiling}): which axes they cut, which
 * slices of which inputs a tile reads, the attributes a tile runs with, and when they leave a node whole. The bits
 * of the tiles against the whole node are checked in the runtime (BoxTilingTest, TransformerBlockTilingTest); here,
 * also that a split's stated need is its largest tile's own, counted tile by tile.
 */
class TransformerTilingTest {
    /** A one-node graph: inputs by shape (float32 unless given as a constant), the node's output "y" of shape out. */
    private static Graph graph(Node n, Map<String, Shape> inputs, Map<String, Tensor> init, Shape out) {
        Map<String, TensorType> types = new HashMap<>();
        List<Value> in = new java.util.ArrayList<>();
        for (var e : inputs.entrySet()) {
            TensorType t = TensorType.of(e.getKey().startsWith("ids") ? DType.INT32 : DType.FLOAT32, e.getValue());
            types.put(e.getKey(), t);
            in.add(new Value(e.getKey(), t));
        }
        types.put("y", TensorType.of(DType.FLOAT32, out));
        return new Graph("t", List.of(n), in, List.of(new Value("y", types.get("y"))), init, types);
    }

    private static Tensor f(long... dims) { return Tensor.allocate(DType.FLOAT32, Shape.of(dims)); }

    private static Attributes attrs(Object... kv) {
        Map<String, Attr> a = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) a.put((String) kv[i], kv[i + 1] instanceof Long l ? new Attr.Int(l) : (Attr) kv[i + 1]);
        return new Attributes(a);
    }

    @Test void layerNormIsCutOnTheAxesBeforeItsNormalizedOnesAndReadsScaleAndBiasWhole() {
        Node n = new Node("ln", "LayerNormalization", "", List.of("x", "g", "b"), List.of("y"), attrs("axis", -2L));
        Graph g = graph(n, Map.of("x", Shape.of(3, 5, 7, 9)), Map.of("g", f(7, 9), "b", f(7, 9)), Shape.of(3, 5, 7, 9));
        OpTiling t = OpTiling.of(g, n);
        assertInstanceOf(NormTiling.class, t);
        assertEquals(List.of(0, 1), t.cuts().stream().map(OpTiling.Cut::axis).toList());
        Box out = Box.whole(t.output()).with(0, 1, 2).with(1, 2, 5);
        assertEquals(Map.of("x", out), t.boxes(out));
        assertSame(n, t.node(out));
    }

    @Test void aNormWhoseStatisticsOutputIsNamedStaysWhole() {
        Node n = new Node("ln", "LayerNormalization", "", List.of("x", "g"), List.of("y", "mean"), attrs("axis", -1L));
        Graph g = graph(n, Map.of("x", Shape.of(4, 16)), Map.of("g", f(16)), Shape.of(4, 16));
        assertNull(OpTiling.of(g, n));
    }

    @Test void aSkipOfTheTrailingDimsIsReadByTheTilesPositions() {
        Node n = new Node("sln", "SkipLayerNormalization", "com.microsoft", List.of("x", "skip", "g", "b"), List.of("y"), Attributes.EMPTY);
        Graph g = graph(n, Map.of("x", Shape.of(2, 6, 8), "skip", Shape.of(6, 8)), Map.of("g", f(8), "b", f(8)), Shape.of(2, 6, 8));
        OpTiling t = OpTiling.of(g, n);
        Box out = Box.whole(t.output()).with(0, 1, 2).with(1, 3, 5);
        Map<String, Box> b = t.boxes(out);
        assertEquals(out, b.get("x"));
        assertEquals(Box.whole(Shape.of(6, 8)).with(0, 3, 5), b.get("skip"));
        assertFalse(b.containsKey("g") || b.containsKey("b"));
    }

    @Test void groupNormIsCutByWholeGroupsAndItsTilesRunTheirOwnGroupCount() {
        // 12 channels in 4 groups of 3; opset 18's scale per group, opset 21's per channel (told by the length)
        for (long scale : new long[] {4, 12}) {
            Node n = new Node("gn", "GroupNormalization", "", List.of("x", "s", "b"), List.of("y"), attrs("num_groups", 4L));
            Graph g = graph(n, Map.of("x", Shape.of(2, 12, 5, 5)), Map.of("s", f(scale), "b", f(scale)), Shape.of(2, 12, 5, 5));
            OpTiling t = OpTiling.of(g, n);
            OpTiling.Cut channels = t.cuts().stream().filter(c -> c.axis() == 1).findFirst().orElseThrow();
            assertEquals(3, channels.unit());
            assertEquals(3, channels.least());
            Box out = Box.whole(t.output()).with(0, 1, 2).with(1, 3, 9);
            Map<String, Box> b = t.boxes(out);
            assertEquals(out, b.get("x"));
            Box sb = scale == 4 ? new Box(new long[] {4}, new long[] {1}, new long[] {3}) : new Box(new long[] {12}, new long[] {3}, new long[] {9});
            assertEquals(sb, b.get("s"));
            assertEquals(sb, b.get("b"));
            assertEquals(2, t.node(out).attributes().getInt("num_groups"));
        }
    }

    @Test void embedLayerNormReadsItsTokensIdsAndTheRowsOfItsPositionsWithTheWordTableWhole() {
        Node n = new Node("e", "EmbedLayerNormalization", "com.microsoft", List.of("ids", "", "word", "pos", "", "g", "b"), List.of("y"), Attributes.EMPTY);
        Graph g = graph(n, Map.of("ids", Shape.of(2, 10)), Map.of("word", f(50, 16), "pos", f(12, 16), "g", f(16), "b", f(16)), Shape.of(2, 10, 16));
        OpTiling t = OpTiling.of(g, n);
        Box out = Box.whole(t.output()).with(0, 1, 2).with(1, 4, 7);
        Map<String, Box> b = t.boxes(out);
        assertEquals(new Box(new long[] {2, 10}, new long[] {1, 4}, new long[] {2, 7}), b.get("ids"));
        assertEquals(Box.whole(Shape.of(12, 16)).with(0, 4, 7), b.get("pos"));
        assertFalse(b.containsKey("word"));
        // with position_ids the table is indexed by them: read whole, the ids sliced
        Node p = new Node("e", "EmbedLayerNormalization", "com.microsoft", List.of("ids", "", "word", "pos", "", "g", "b", "", "ids2"), List.of("y"),
            Attributes.EMPTY);
        Graph gp = graph(p, Map.of("ids", Shape.of(2, 10), "ids2", Shape.of(1, 10)), Map.of("word", f(50, 16), "pos", f(12, 16), "g", f(16), "b", f(16)),
            Shape.of(2, 10, 16));
        Map<String, Box> bp = OpTiling.of(gp, p).boxes(out);
        assertFalse(bp.containsKey("pos"));
        assertEquals(new Box(new long[] {1, 10}, new long[] {0, 4}, new long[] {1, 7}), bp.get("ids2"));
    }

    @Test void onnxAttentionCutsHeadsByKvGroupsAndRowsOnlyWithoutACausalLimit() {
        // 6 query heads over 2 KV heads: blocks of 3 query heads read 1 KV head
        for (long causal : new long[] {0, 1}) {
            Node n = new Node("a", "Attention", "", List.of("q", "k", "v", "m"), List.of("y"), attrs("is_causal", causal));
            Graph g = graph(n, Map.of("q", Shape.of(2, 6, 9, 8), "k", Shape.of(2, 2, 11, 8), "v", Shape.of(2, 2, 11, 5), "m", Shape.of(9, 11)), Map.of(),
                Shape.of(2, 6, 9, 5));
            OpTiling t = OpTiling.of(g, n);
            OpTiling.Cut heads = t.cuts().stream().filter(c -> c.axis() == 1).findFirst().orElseThrow();
            assertEquals(3, heads.unit());
            assertEquals(causal == 0, t.cuts().stream().anyMatch(c -> c.axis() == 2), "rows cut with is_causal " + causal);
            Box out = Box.whole(t.output()).with(0, 1, 2).with(1, 3, 6);
            if (causal == 0) out = out.with(2, 2, 6);
            Map<String, Box> b = t.boxes(out);
            assertEquals(Box.whole(Shape.of(2, 6, 9, 8)).with(0, 1, 2).with(1, 3, 6).with(2, out.lo(2), out.hi(2)), b.get("q"));
            assertEquals(Box.whole(Shape.of(2, 2, 11, 8)).with(0, 1, 2).with(1, 1, 2), b.get("k"));
            assertEquals(Box.whole(Shape.of(2, 2, 11, 5)).with(0, 1, 2).with(1, 1, 2), b.get("v"));
            if (causal == 0) assertEquals(Box.whole(Shape.of(9, 11)).with(0, 2, 6), b.get("m"));
            else assertFalse(b.containsKey("m"));
        }
    }

    @Test void packedAttentionTilesRunWithTheirOwnHeadCounts() {
        Node n = new Node("a", "Attention", "", List.of("q", "k", "v"), List.of("y"), attrs("q_num_heads", 4L, "kv_num_heads", 2L));
        Graph g = graph(n, Map.of("q", Shape.of(1, 7, 4 * 8), "k", Shape.of(1, 7, 2 * 8), "v", Shape.of(1, 7, 2 * 6)), Map.of(), Shape.of(1, 7, 4 * 6));
        OpTiling t = OpTiling.of(g, n);
        Box out = Box.whole(t.output()).with(2, 12, 24); // query heads 2 and 3, KV head 1
        Map<String, Box> b = t.boxes(out);
        assertEquals(Box.whole(Shape.of(1, 7, 32)).with(2, 16, 32), b.get("q"));
        assertEquals(Box.whole(Shape.of(1, 7, 16)).with(2, 8, 16), b.get("k"));
        assertEquals(Box.whole(Shape.of(1, 7, 12)).with(2, 6, 12), b.get("v"));
        assertEquals(2, t.node(out).attributes().getInt("q_num_heads"));
        assertEquals(1, t.node(out).attributes().getInt("kv_num_heads"));
    }

    @Test void selfAttentionOnOneValueIsNotCutByRows() {
        Node n = new Node("a", "Attention", "sluice", List.of("x", "x", "x"), List.of("y"), Attributes.EMPTY);
        Graph g = graph(n, Map.of("x", Shape.of(2, 9, 3, 8)), Map.of(), Shape.of(2, 9, 3, 8));
        OpTiling t = OpTiling.of(g, n);
        assertEquals(List.of(0, 2), t.cuts().stream().map(OpTiling.Cut::axis).toList());
    }

    @Test void theStatedNeedIsTheLargestTilesOwn() {
        SplittableRandom r = new SplittableRandom(23);
        int grids = 0;
        for (int k = 0; k < 40; k++) {
            int b = 1 + r.nextInt(3), l = 2 + r.nextInt(30), heads = 1 + r.nextInt(5), d = 1 + r.nextInt(20), lk = 1 + r.nextInt(40);
            Node a = new Node("a", "Attention", "sluice", List.of("q", "k", "v", "m"), List.of("y"), Attributes.EMPTY);
            Graph ga = graph(a, Map.of("q", Shape.of(b, l, heads, d), "k", Shape.of(b, lk, heads, d), "v", Shape.of(b, lk, heads, d),
                "m", Shape.of(b, 1, l, lk)), Map.of(), Shape.of(b, l, heads, d));
            Node ln = new Node("ln", "LayerNormalization", "", List.of("x", "g"), List.of("y"), attrs("axis", -1L));
            Graph gl = graph(ln, Map.of("x", Shape.of(b, l, d + 3)), Map.of("g", f(d + 3)), Shape.of(b, l, d + 3));
            for (Graph g : List.of(ga, gl)) {
                Node n = g.nodes().getFirst();
                long full = BuildState.nodeNeed(g, n);
                for (long target : new long[] {0, full / 8, full / 3}) {
                    BoxTiles.Plan plan = BoxTiles.plan(g, n, target, target > 0);
                    if (plan == null) continue;
                    String out = n.outputs().getFirst();
                    Set<String> sliced = BoxTiles.sliced(plan.tiling(), out, plan.boxes());
                    long most = 0;
                    for (Box x : plan.boxes()) most = Math.max(most, BoxTiles.footprint(g, plan.tiling(), out, x, sliced).bytes());
                    for (String v : BoxTiles.wholeInputs(plan.tiling(), out, plan.boxes().getFirst(), sliced)) most += BoxTiles.bytes(g, v);
                    assertEquals(most, plan.need(), n.opType() + " " + g.typeOf("y") + ", " + plan.boxes().size() + " tiles");
                    grids++;
                }
            }
        }
        assertTrue(grids > 100, grids + " grids checked");
    }
}
