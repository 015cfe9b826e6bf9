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
            Model m = new Model(randomNet(rnd), 8, Map.of("", 17L), "test", "test");
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

    /**
     * A conv net on [1, C, H, W] activations with random weights: each node a conv (3x3 or 5x5, group 1 or depthwise,
     * with a bias one time in two, its weight reused from an earlier conv of the same shape one time in three), a
     * ReLU, or an Add of the newest value and an older one of its shape (which keeps that one alive); the newest
     * value and one older are outputs.
     */
    static Graph randomNet(SplittableRandom rnd) {
        int h = 8 + rnd.nextInt(17), w = 16 * (1 + rnd.nextInt(2));
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> init = new LinkedHashMap<>();
        Map<String, TensorType> types = new HashMap<>();
        List<String> values = new ArrayList<>();
        TensorType xt = TensorType.of(DType.FLOAT32, Shape.of(1, 2 + rnd.nextInt(6), h, w));
        types.put("x", xt);
        values.add("x");
        int count = 4 + rnd.nextInt(10);
        for (int i = 0; i < count; i++) {
            String in = values.getLast();
            long c = types.get(in).shape().toShape().dim(1);
            String out = "v" + i;
            int op = rnd.nextInt(6);
            if (op <= 2) {
                boolean depthwise = op == 2;
                long m = depthwise ? c : 2 + rnd.nextInt(12);
                int k = rnd.nextBoolean() ? 3 : 5;
                Shape ws = Shape.of(m, depthwise ? 1 : c, k, k);
                String wn = null;
                if (rnd.nextInt(3) == 0) for (var e : init.entrySet()) if (e.getValue().shape().equals(ws)) wn = e.getKey();
                if (wn == null) {
                    wn = "w" + i;
                    init.put(wn, ColumnTilingTest.random(rnd, ws));
                }
                List<String> ins = new ArrayList<>(List.of(in, wn));
                if (rnd.nextBoolean()) {
                    init.put("b" + i, ColumnTilingTest.random(rnd, Shape.of(m)));
                    ins.add("b" + i);
                }
                Map<String, Attr> a = new HashMap<>();
                a.put("pads", new Attr.Ints(new long[] {k / 2, k / 2, k / 2, k / 2}));
                a.put("kernel_shape", new Attr.Ints(new long[] {k, k}));
                a.put("group", new Attr.Int(depthwise ? c : 1));
                nodes.add(new Node("conv" + i, "Conv", "", ins, List.of(out), new Attributes(a)));
                types.put(out, TensorType.of(DType.FLOAT32, Shape.of(1, m, h, w)));
            } else {
                String other = null;
                if (op == 5) for (int j = 0; j + 1 < values.size(); j++) if (types.get(values.get(j)).equals(types.get(in))) { other = values.get(j); break; }
                if (other == null) nodes.add(new Node("relu" + i, "Relu", "", List.of(in), List.of(out), Attributes.EMPTY));
                else nodes.add(new Node("add" + i, "Add", "", List.of(in, other), List.of(out), Attributes.EMPTY));
                types.put(out, types.get(in));
            }
            values.add(out);
        }
        List<Value> outs = new ArrayList<>(List.of(new Value(values.getLast(), types.get(values.getLast()))));
        String older = values.get(1 + rnd.nextInt(values.size() - 2));
        if (!older.equals(values.getLast())) outs.add(new Value(older, types.get(older)));
        return new Graph("net", nodes, List.of(new Value("x", xt)), outs, init, types);
    }
}
