package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.Tile;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.fixtures.RandomConvNets;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * TURNIP's promise on small random conv nets: any budget at least the minimum the builder states (its largest
 * indivisible piece) runs, bit for bit as the plain executor's whole graph, and any budget below it is refused
 * before running, naming the node and the bytes. The nets (convs of group 1 and depthwise, 3x3 and 5x5, weights
 * shared between convs, ReLUs, residual Adds keeping older activations alive, two outputs) are small enough that
 * their minimum splits convs into output boxes or row bands; each runs at its stated minimum, at a few budgets
 * between it and the full need, in every dispatch order, with and without injected lane delays.
 */
class MinimumBudgetTest {
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {14, 1, 2})
    void everyBudgetFromTheStatedMinimumRunsBitIdentically(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        OpRegistry ops = OpRegistry.cpu();
        List<String> failures = new ArrayList<>();
        java.util.Set<Tile.Kind> kinds = java.util.EnumSet.noneOf(Tile.Kind.class);
        for (int k = 0; k < 10; k++) {
            Model m = new Model(RandomConvNets.of(rnd), 8, Map.of("", 17L), "test", "test");
            Graph g = m.graph();
            Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(rnd, g.inputs().getFirst().type().shape().toShape()));
            Map<String, Tensor> ref = new GraphExecutor(m, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
            long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED), min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
            String net = "seed " + seed + " net " + k + " (min " + min + ", full " + full + ")";
            MemGraphException below = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 1)), net);
            assertEquals(min, below.neededBytes(), net + ": " + below.getMessage());
            assertTrue(below.getMessage().matches("(?s).*node '[^']+' \\(\\w+\\) needs \\d+ bytes.*needs at least " + min + " bytes.*"), net + ": " + below.getMessage());
            List<Long> budgets = List.of(min, min + 64, min + (full - min) / 16, min + (full - min) / 4, min + (full - min) / 2);
            for (int b = 0; b < budgets.size(); b++) {
                long budget = budgets.get(b);
                MemGraph plan;
                try {
                    plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
                } catch (MemGraphException e) {
                    failures.add(net + " at " + budget + " B: " + e.getMessage());
                    continue;
                }
                for (Task t : plan.tasks()) if (t instanceof Task.Kernel kt && kt.tile() != null) kinds.add(kt.tile().kind());
                // every order at the minimum, one order (rotating) above it: the plan's edges are what is checked
                List<Dispatcher.Order> orders = b == 0 ? List.of(Dispatcher.Order.values()) : List.of(Dispatcher.Order.values()[(k + b) % Dispatcher.Order.values().length]);
                for (Dispatcher.Order order : orders) {
                    var ex = new MemGraphExecutor(m, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
                    for (int run = 0; run < 2; run++) {
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 1009 + k * 31 + run, 20_000);
                        MemGraphExecutor.Result r = ex.run(in, d);
                        String where = net + " at " + budget + " B (" + order + ", run " + run + "; " + plan.summary() + ")";
                        for (var e : ref.entrySet()) assertTrue(e.getValue().sameBits(r.outputs().get(e.getKey())), e.getKey() + " differs: " + where);
                        assertTrue(r.peakBytes().get(1) <= budget, r.peakBytes() + " over " + budget + ": " + where);
                    }
                }
            }
        }
        System.out.println("MinimumBudgetTest seed " + seed + ": tiles of kinds " + kinds);
        // the nets must exercise what the promise is about: convs split into output boxes and into row bands
        assertTrue(kinds.containsAll(java.util.Set.of(Tile.Kind.OUTPUT_BOX, Tile.Kind.OUTPUT_ROWS)) || !failures.isEmpty(), "tiles of kinds " + kinds);
        assertTrue(failures.isEmpty(), failures.size() + " budgets at or above the stated minimum refused:\n" + String.join("\n", failures));
    }
}
