package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.Tile;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * MatMul / Gemm split by weight columns (on by default) against the whole node, with the real CPU kernels:
 * bit-identical for one row and many, and whatever width the last tile has. A last tile of one column was
 * the case that broke it on ppocr-rec (6,625 = 69 x 96 + 1 columns): Gemm32 computes an n = 1 product as
 * matrix-vector dots, summing K in another order than the blocked kernel does for that column of the whole.
 */
class ColumnTilingTest {
    @ParameterizedTest(name = "{0} m={1} n={2}")
    @CsvSource({"MatMul,40,6625", "MatMul,40,1601", "MatMul,1,1601", "MatMul,7,1617", "MatMul,40,1630", "Gemm,40,1601", "Gemm,1,1615", "Gemm,6,1600"})
    void columnTilesAreBitIdenticalToTheWholeNode(String op, int m, int n) {
        int k = 64;
        SplittableRandom r = new SplittableRandom(m * 31L + n);
        boolean gemm = op.equals("Gemm");
        Tensor w = random(r, gemm ? Shape.of(n, k) : Shape.of(k, n));
        Map<String, Tensor> init = gemm ? Map.of("w", w, "b", random(r, Shape.of(n))) : Map.of("w", w);
        TensorType x = TensorType.of(DType.FLOAT32, Shape.of(m, k)), y = TensorType.of(DType.FLOAT32, Shape.of(m, n));
        Node node = gemm
            ? new Node("g", "Gemm", "", List.of("x", "w", "b"), List.of("y"), new Attributes(Map.of("transB", new dev.sluice.kernels.Attr.Int(1), "alpha", new dev.sluice.kernels.Attr.Float(0.5f))))
            : new Node("mm", "MatMul", "", List.of("x", "w"), List.of("y"), Attributes.EMPTY);
        Graph g = new Graph("t", List.of(node), List.of(new Value("x", x)), List.of(new Value("y", y)), new java.util.LinkedHashMap<>(init),
            new java.util.HashMap<>(Map.of("x", x, "y", y)));
        Model model = new Model(g, 8, Map.of("", 17L), "test", "test");
        Map<String, Tensor> in = Map.of("x", random(r, Shape.of(m, k)));
        OpRegistry ops = OpRegistry.cpu();
        Tensor ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE).get("y");
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        // at least the least without output boxes (which take over below it, by rows x columns; BoxTilingTest)
        long budget = Math.max(full / 4, MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false));
        MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
        List<Tile> tiles = plan.tasks().stream().filter(t -> t instanceof Task.Kernel kk && kk.tile() != null).map(t -> ((Task.Kernel) t).tile()).toList();
        assertTrue(tiles.size() > 1, plan.summary());
        for (Tile t : tiles) {
            assertEquals(Tile.Kind.OUTPUT_COLUMNS, t.kind());
            if (m == 1) assertEquals(0, t.start() % 16, "tile " + t);
            assertTrue(t.end() - t.start() > 1 || m == 1, "a one-column tile: " + t);
        }
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
            MemGraphExecutor.Result res = ex.run(in);
            assertTrue(ref.sameBits(res.outputs().get("y")), op + " " + m + "x" + n + " in " + tiles.size() + " tiles (" + order + ")");
            assertTrue(res.peakBytes().get(1) <= budget);
        }
    }

    static Tensor random(SplittableRandom r, Shape s) { return dev.sluice.runtime.fixtures.RandomConvNets.tensor(r, s); }
}
