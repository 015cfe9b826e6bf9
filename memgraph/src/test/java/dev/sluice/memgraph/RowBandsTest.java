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
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Row bands ({@link RowBands}, {@link Tile.Kind#OUTPUT_ROWS}) as planned, without kernels: the input rows a band
 * reads and the pads it runs with, worked out by hand from the ONNX Conv definition (output row r reads input
 * rows r * s - pad_top + i * d for i in [0, k)); and plans that stay within the budget and never write a live
 * region under hundreds of random orders their edges allow.
 */
class RowBandsTest {
    /** x [1, c, h, w] -> conv (k x k, stride s, pads p, dilation d, group) -> y -> Relu -> z. */
    static Graph convChain(int c, int m, int group, int h, int w, int k, int s, int p, int d) {
        int ext = (k - 1) * d + 1, oh = (h + 2 * p - ext) / s + 1, ow = (w + 2 * p - ext) / s + 1;
        Map<String, Tensor> init = new LinkedHashMap<>();
        init.put("w", Tensor.allocate(DType.FLOAT32, Shape.of(m, c / group, k, k)));
        init.put("b", Tensor.allocate(DType.FLOAT32, Shape.of(m)));
        Map<String, Attr> a = new HashMap<>();
        a.put("pads", new Attr.Ints(new long[] {p, p, p, p}));
        a.put("strides", new Attr.Ints(new long[] {s, s}));
        a.put("dilations", new Attr.Ints(new long[] {d, d}));
        a.put("group", new Attr.Int(group));
        TensorType x = TensorType.of(DType.FLOAT32, Shape.of(1, c, h, w)), y = TensorType.of(DType.FLOAT32, Shape.of(1, m, oh, ow));
        List<Node> nodes = List.of(new Node("conv", "Conv", "", List.of("x", "w", "b"), List.of("y"), new Attributes(a)),
            new Node("relu", "Relu", "", List.of("y"), List.of("z"), Attributes.EMPTY));
        return new Graph("t", nodes, List.of(new Value("x", x)), List.of(new Value("z", y)), init,
            new HashMap<>(Map.of("x", x, "y", y, "z", y)));
    }

    @Test void convBandsReadTheirReceptiveFieldAndRunWithTheirOwnPads() {
        // 3x3, stride 2, pad 1 on 32 rows: 16 output rows; output row r reads input rows 2r - 1 .. 2r + 1
        Graph g = convChain(4, 8, 1, 32, 32, 3, 2, 1, 1);
        Node conv = g.nodes().getFirst();
        RowBands.Band b = RowBands.form(g, conv).bands().getFirst();
        assertArrayEquals(new long[] {0, 8}, b.rowsFor(0, 4));    // rows -1..7, the top one in the padding
        assertArrayEquals(new long[] {7, 16}, b.rowsFor(4, 8));   // rows 7..15
        assertArrayEquals(new long[] {23, 32}, b.rowsFor(12, 16)); // rows 23..31: 2 * 15 + 1 = 31 is the last
        assertArrayEquals(new long[] {1, 1, 0, 1}, pads(RowBands.tileNode(g, conv, new Tile(Tile.Kind.OUTPUT_ROWS, 0, 4, 0, 4, 16))));
        assertArrayEquals(new long[] {0, 1, 0, 1}, pads(RowBands.tileNode(g, conv, new Tile(Tile.Kind.OUTPUT_ROWS, 1, 4, 4, 8, 16))));
        // the bottom pad is only used if the last row's window passes the image: 2 * 15 + 1 = 31 < 32, so 0
        assertArrayEquals(new long[] {0, 1, 0, 1}, pads(RowBands.tileNode(g, conv, new Tile(Tile.Kind.OUTPUT_ROWS, 3, 4, 12, 16, 16))));

        // 5x5, dilation 2 (extent 9), pad 4, stride 1 on 20 rows: output row r reads rows r - 4 .. r + 4
        Graph g2 = convChain(6, 6, 6, 20, 16, 5, 1, 4, 2);
        Node dw = g2.nodes().getFirst();
        RowBands.Band b2 = RowBands.form(g2, dw).bands().getFirst();
        assertArrayEquals(new long[] {0, 9}, b2.rowsFor(0, 5));
        assertArrayEquals(new long[] {6, 18}, b2.rowsFor(10, 14));
        assertArrayEquals(new long[] {12, 20}, b2.rowsFor(16, 20));
        assertArrayEquals(new long[] {4, 4, 0, 4}, pads(RowBands.tileNode(g2, dw, new Tile(Tile.Kind.OUTPUT_ROWS, 0, 4, 0, 5, 20))));
        assertArrayEquals(new long[] {0, 4, 4, 4}, pads(RowBands.tileNode(g2, dw, new Tile(Tile.Kind.OUTPUT_ROWS, 3, 4, 16, 20, 20))));
        // the band conv gives exactly the band's rows: (rows + top + bottom - extent) / s + 1
        assertEquals(4, (20 - 12 + 0 + 4 - 9) / 1 + 1);
    }

    private static long[] pads(Node n) { return n.attributes().getInts("pads"); }

    @Test void bandStartsKeepVectorLanesAndNoBandHoldsOneOutputElement() {
        // output width 20: bands start on multiples of 4 rows (4 * 20 = 80 = 5 * 16)
        RowBands.Form f = RowBands.form(convChain(4, 1, 1, 30, 20, 3, 1, 1, 1), convChain(4, 1, 1, 30, 20, 3, 1, 1, 1).nodes().getFirst());
        assertEquals(4, f.unit());
        for (long e : RowBands.edges(f, 8)) assertEquals(0, (e == 30 ? 0 : e * 20) % 16);
        // width 1, 17 rows in bands of 16: the last band would hold one element, it joins the first
        Graph narrow = convChain(2, 3, 1, 17, 1, 1, 1, 0, 1);
        RowBands.Form fn = RowBands.form(narrow, narrow.nodes().getFirst());
        assertArrayEquals(new long[] {0, 17}, RowBands.edges(fn, 16));
    }

    @Test void bandPlansStayWithinBudgetInAnyOrder() {
        for (Graph g : List.of(convChain(8, 16, 1, 48, 64, 3, 1, 1, 1), convChain(16, 16, 16, 64, 48, 5, 2, 2, 1),
                               convChain(8, 24, 1, 40, 32, 1, 1, 0, 1))) {
            long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
            long min = MemGraph.minimumBudget(g, MemGraphTest.throttled(1));
            assertTrue(min < full / 4, min + " of " + full);
            MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, MemGraphTest.throttled(min - 64)));
            assertEquals(min, e.neededBytes());
            for (long budget : new long[] {min, min + 4096, (min + full) / 3}) {
                MemGraph m = MemGraph.onDevice(g, MemGraphTest.throttled(budget));
                assertTrue(m.plannedPeak().get(1) <= budget, m.plannedPeak() + " over " + budget);
                if (budget == min) {
                    // split by rows, or (lower still) by output boxes of rows x channels (ConvTiling)
                    assertTrue(m.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.tile() != null
                        && (k.tile().kind() == Tile.Kind.OUTPUT_ROWS || k.tile().kind() == Tile.Kind.OUTPUT_BOX) && k.node() == 0), m.summary());
                }
                for (int seed = 0; seed < 200; seed++) MemGraphTest.checkOrder(m, budget, new SplittableRandom(seed));
            }
        }
    }
}
