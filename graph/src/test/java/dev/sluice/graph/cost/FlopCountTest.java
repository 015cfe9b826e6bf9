package dev.sluice.graph.cost;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The bytes a node touches, which the roofline of a described device turns into time. */
class FlopCountTest {
    /** An embedding lookup: 8 rows of 64 floats out of a 1,000-row table. */
    private static Graph lookup(String op) {
        Tensor table = Tensor.allocate(DType.FLOAT32, Shape.of(1000, 64));
        TensorType ids = TensorType.of(DType.INT64, Shape.of(1, 8));
        TensorType out = TensorType.of(DType.FLOAT32, Shape.of(1, 8, 64));
        TensorType sum = TensorType.of(DType.FLOAT32, Shape.of(1, 8, 64));
        List<Node> nodes = List.of(
            new Node("lookup", op, "", List.of("table", "ids"), List.of("rows"), Attributes.EMPTY),
            new Node("add", "Add", "", List.of("rows", "rows"), List.of("sum"), Attributes.EMPTY));
        return new Graph("g", nodes, List.of(new Value("ids", ids)), List.of(new Value("sum", sum)), Map.of("table", table),
            Map.of("ids", ids, "rows", out, "sum", sum));
    }

    @Test void aGatherTouchesTheRowsItCopiesNotTheWholeTable() {
        Graph g = lookup("Gather");
        long rows = 8 * 64 * 4, ids = 8 * 8;
        // reads the 8 rows and the ids, writes the 8 rows; the 256,000-byte table is not streamed
        assertEquals(rows + ids + rows, FlopCount.bytesTouched(g, g.nodes().get(0)));
        // an elementwise op still counts every input it reads (here the same value twice) and its output
        assertEquals(3L * rows, FlopCount.bytesTouched(g, g.nodes().get(1)));
    }

    @Test void anOpThatIsNotIndexingCountsItsWholeInputs() {
        Graph g = lookup("MatMulLike");
        assertEquals(1000L * 64 * 4 + 8 * 8 + 8 * 64 * 4, FlopCount.bytesTouched(g, g.nodes().get(0)));
    }

    /** ai.onnx Attention over a past cache: 2 * T multiply-adds per element of Q and of Y, T = past + new keys. */
    @Test void attentionCountsItsTwoProductsOverPastAndNewKeys() {
        TensorType q = TensorType.of(DType.FLOAT32, Shape.of(1, 4, 5, 16)), k = TensorType.of(DType.FLOAT32, Shape.of(1, 2, 5, 16));
        TensorType v = TensorType.of(DType.FLOAT32, Shape.of(1, 2, 5, 8)), pk = TensorType.of(DType.FLOAT32, Shape.of(1, 2, 7, 16));
        TensorType pv = TensorType.of(DType.FLOAT32, Shape.of(1, 2, 7, 8)), y = TensorType.of(DType.FLOAT32, Shape.of(1, 4, 5, 8));
        Node n = new Node("att", "Attention", "", List.of("q", "k", "v", "", "pk", "pv"), List.of("y"), Attributes.EMPTY);
        Graph g = new Graph("g", List.of(n), List.of(new Value("q", q), new Value("k", k), new Value("v", v), new Value("pk", pk), new Value("pv", pv)),
            List.of(new Value("y", y)), Map.of(), Map.of("q", q, "k", k, "v", v, "pk", pk, "pv", pv, "y", y));
        assertEquals(2.0 * 12 * (4 * 5 * 16 + 4 * 5 * 8), FlopCount.flops(g, n));
    }
}
