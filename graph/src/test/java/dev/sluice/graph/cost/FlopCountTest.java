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
}
