package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Float16 products cut along K (issue #14): a MatMul or Gemm whose reduction axis is long enough that every tile
 * holding all of K (a column block of the weight, two rows of the activations) is larger than the budget. Before, K cuts
 * were float32 only, so such a node was refused at any budget below that; now the product hands float32 partial sums
 * from K tile to K tile and a Cast rounds once (HalfProducts). For shapes drawn at random (odd K, odd columns, one row
 * for the matrix-vector path), at the minimum budget and at 10% and 25% of the whole need: the output bit for bit the
 * untiled float16 kernel's (the plain executor), the arena never over its budget, in every dispatch order and with one
 * and three threads. The minimum is asserted below the least a tile without a K cut holds (16 of the weight's columns
 * over all of K), so the test fails on the code before the cut; below the minimum the plan is refused before running,
 * naming the node and the bytes.
 */
class HalfKCutTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"matmul", "matmul-batched", "matmul-one-row", "gemm-transB-bias", "gemm"})
    void float16KTilesGiveTheWholeNodesBits(String op) {
        for (long seed = 1; seed <= 2; seed++) check(op, seed);
    }

    private static int dim(SplittableRandom r, int lo, int hi) { return r.nextInt(lo, hi + 1); }

    private record Case(Node node, Map<String, Tensor> inputs, Map<String, Tensor> init, long k, long cols) {}

    private static Case build(String op, SplittableRandom r) {
        Map<String, Tensor> in = new LinkedHashMap<>(), init = new LinkedHashMap<>();
        boolean oneRow = op.equals("matmul-one-row");
        // K past two GEMM runs (512), or two GEMV runs (2048) for one row, and not a multiple of either
        int k = oneRow ? dim(r, 2100, 2900) : dim(r, 530, 1500), cols = dim(r, 33, 97);
        Node node = switch (op) {
            case "matmul", "matmul-one-row" -> {
                in.put("a", HalfTilingTest.half(r, Shape.of(oneRow ? 1 : dim(r, 3, 29), k)));
                init.put("b", HalfTilingTest.half(r, Shape.of(k, cols)));
                yield new Node("op", "MatMul", "", List.of("a", "b"), List.of("out"), Attributes.EMPTY);
            }
            case "matmul-batched" -> {
                in.put("a", HalfTilingTest.half(r, Shape.of(dim(r, 2, 3), dim(r, 3, 17), k)));
                init.put("b", HalfTilingTest.half(r, Shape.of(k, cols)));
                yield new Node("op", "MatMul", "", List.of("a", "b"), List.of("out"), Attributes.EMPTY);
            }
            case "gemm-transB-bias" -> {
                in.put("a", HalfTilingTest.half(r, Shape.of(dim(r, 2, 19), k)));
                init.put("b", HalfTilingTest.half(r, Shape.of(cols, k)));
                init.put("c", HalfTilingTest.half(r, Shape.of(cols)));
                yield new Node("op", "Gemm", "", List.of("a", "b", "c"), List.of("out"),
                    new Attributes(Map.of("transB", new Attr.Int(1), "alpha", new Attr.Float(0.75f), "beta", new Attr.Float(1.5f))));
            }
            case "gemm" -> {
                in.put("a", HalfTilingTest.half(r, Shape.of(dim(r, 2, 19), k)));
                init.put("b", HalfTilingTest.half(r, Shape.of(k, cols)));
                yield new Node("op", "Gemm", "", List.of("a", "b"), List.of("out"), Attributes.EMPTY);
            }
            default -> throw new IllegalArgumentException(op);
        };
        return new Case(node, in, init, k, cols);
    }

    private static void check(String op, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 104729 + op.hashCode());
        Case c = build(op, r);
        OpRegistry ops = OpRegistry.cpu();
        Model model = BoxTilingTest.singleNodeModel(c.node(), c.inputs(), c.init(), Map.of("", 17L), ops);
        Graph g = model.graph();
        assertEquals(DType.FLOAT16, g.typeOf("out").dtype(), op);
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(c.inputs(), OutputAllocator.FRESH, ExecutionListener.NONE);
        String what = op + " seed " + seed + " " + c.inputs().values().stream().map(t -> t.shape().toString()).toList() + " x K " + c.k() + " -> " + g.typeOf("out");
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        // without a K cut a tile holds at least 16 of the weight's columns over all of K (float16): the cut goes below
        long columnBlock = 16L * c.k() * 2;
        assertTrue(min < columnBlock, what + ": the minimum " + min + " is below a column block over all of K (" + columnBlock + ")");
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 64)), what);
        assertEquals(min, e.neededBytes(), e.getMessage());
        assertTrue(e.getMessage().contains("needs at least " + min + " bytes"), e.getMessage());
        TreeSet<Long> budgets = new TreeSet<>(List.of(min));
        for (long pct : new long[] {25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            long kTiles = plan.tasks().stream().filter(t -> t instanceof Task.Kernel kt && kt.tile() != null).count();
            if (budget == min) assertTrue(kTiles >= 2, what + " is split at its minimum: " + plan.summary());
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                    MemGraphExecutor.Result res = ex.run(c.inputs(), ex.dispatcher());
                    String where = what + " at " + budget + " B of " + full + " (" + order + ", " + par + "; " + plan.summary() + ", " + kTiles + " tiles)";
                    assertTrue(ref.get("out").sameBits(res.outputs().get("out")), "out differs: " + where);
                    assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
                }
            }
        }
    }
}
