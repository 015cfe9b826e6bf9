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
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Band chains (memgraph's BandChains): consecutive row-banded nodes run band by band together, the value one makes and
 * the next alone reads living on the device a band at a time. On a det-head-like chain (3x3 conv, Relu, nearest Resize
 * by 2, an Add of a graph input, ConvTranspose with kernel = stride = 2, Sigmoid), whose activations are each larger
 * than the budgets tried: plans with chains run bit-identically to the plain executor in every order, with and without
 * injected delays, within the budget; no value inside a chain crosses the link; and the plan moves fewer link bytes than
 * the same budget's plan without chains ({@code -Dsluice.memgraph.bandChains=false}), which moves each such value down
 * and up again.
 */
class BandChainTest {
    private static final String OFF = "sluice.memgraph.bandChains";

    static Graph detHead(SplittableRandom r) {
        TensorType x = TensorType.of(DType.FLOAT32, Shape.of(1, 8, 40, 48)), big = TensorType.of(DType.FLOAT32, Shape.of(1, 8, 80, 96));
        TensorType up = TensorType.of(DType.FLOAT32, Shape.of(1, 4, 160, 192));
        Map<String, Tensor> init = new LinkedHashMap<>();
        init.put("w", ColumnTilingTest.random(r, Shape.of(8, 8, 3, 3)));
        init.put("b", ColumnTilingTest.random(r, Shape.of(8)));
        init.put("roi", Tensor.ofFloats(Shape.of(0)));
        init.put("scales", Tensor.ofFloats(Shape.of(4), 1, 1, 2, 2));
        init.put("wt", ColumnTilingTest.random(r, Shape.of(8, 4, 2, 2)));
        List<Node> nodes = List.of(
            new Node("conv", "Conv", "", List.of("x", "w", "b"), List.of("c"), new Attributes(Map.of(
                "pads", new Attr.Ints(new long[] {1, 1, 1, 1}), "kernel_shape", new Attr.Ints(new long[] {3, 3})))),
            new Node("relu", "Relu", "", List.of("c"), List.of("rc"), Attributes.EMPTY),
            new Node("resize", "Resize", "", List.of("rc", "roi", "scales"), List.of("u"), new Attributes(Map.of(
                "mode", new Attr.Str("nearest"), "coordinate_transformation_mode", new Attr.Str("asymmetric"), "nearest_mode", new Attr.Str("floor")))),
            new Node("add", "Add", "", List.of("u", "y"), List.of("a"), Attributes.EMPTY),
            new Node("convt", "ConvTranspose", "", List.of("a", "wt"), List.of("t"), new Attributes(Map.of(
                "kernel_shape", new Attr.Ints(new long[] {2, 2}), "strides", new Attr.Ints(new long[] {2, 2})))),
            new Node("sig", "Sigmoid", "", List.of("t"), List.of("out"), Attributes.EMPTY));
        Map<String, TensorType> types = new HashMap<>(Map.of("x", x, "c", x, "rc", x, "u", big, "y", big, "a", big, "t", up, "out", up));
        return new Graph("t", nodes, List.of(new Value("x", x), new Value("y", big)), List.of(new Value("out", up)), init, types);
    }

    @Test void chainsKeepTheirValuesOffTheLinkAndRunBitIdentically() {
        SplittableRandom r = new SplittableRandom(14);
        Graph g = detHead(r);
        Model model = new Model(g, 8, Map.of("", 17L), "test", "test");
        OpRegistry ops = OpRegistry.cpu();
        Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(r, Shape.of(1, 8, 40, 48)), "y", ColumnTilingTest.random(r, Shape.of(1, 8, 80, 96)));
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED), min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false);
        int chained = 0;
        for (long budget : new long[] {min, full / 10, full / 4}) {
            if (budget < min) continue;
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            MemGraph own = BandChainTest.withoutChains(g, budget);
            assertTrue(own.tasks().stream().noneMatch(t -> t.label().contains("of a chain")), own.summary());
            Set<Integer> inChain = new HashSet<>();
            for (Task t : plan.tasks()) if (t instanceof Task.Kernel k && k.label().contains("of a chain")) inChain.add(k.node());
            if (inChain.isEmpty()) continue;
            chained++;
            // a value whose maker and (only) reader are both in the chain never crosses the link
            Set<String> inside = new HashSet<>();
            for (int i : inChain) if (inChain.contains(i + 1)) inside.add(g.nodes().get(i).outputs().getFirst());
            assertFalse(inside.isEmpty(), plan.summary());
            assertNeverOnTheLink(plan, inside);
            assertTrue(linkBytes(plan) < linkBytes(own), "chains move " + linkBytes(plan) + " B, without " + linkBytes(own) + " B at " + budget);
            for (MemGraph p : List.of(plan, own)) assertRunsAsTheWholeGraph(model, ops, p, in, ref.get("out"), budget, full);
        }
        assertTrue(chained > 0, "no plan ran a chain");
    }

    /** The plan the builder makes for {@code budget} with band chains turned off (the switch read per plan). */
    static MemGraph withoutChains(Graph g, long budget) {
        System.setProperty(OFF, "false");
        try {
            return MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
        } finally {
            System.clearProperty(OFF);
        }
    }

    /** No copy task carries any of {@code values} (values made and read inside a chain). */
    static void assertNeverOnTheLink(MemGraph plan, Set<String> values) {
        for (Task t : plan.tasks()) {
            if (!t.lane().isCopy()) continue;
            for (String v : values) assertFalse(t.label().split(" ")[1].equals(v), v + " is inside a chain, yet " + t.label());
        }
    }

    /** Plan p gives output "out" the untiled run's bits in every order, with and without jitter, within its budget. */
    static void assertRunsAsTheWholeGraph(Model model, OpRegistry ops, MemGraph p, Map<String, Tensor> in, Tensor ref, long budget, long full) {
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            var ex = new MemGraphExecutor(model, ops, p, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.of(2))), order);
            for (int run = 0; run < 2; run++) {
                Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(budget * 31 + run, 20_000);
                MemGraphExecutor.Result res = ex.run(in, d);
                String where = budget + " B of " + full + " (" + order + ", run " + run + "; " + p.summary() + ")";
                assertTrue(ref.sameBits(res.outputs().get("out")), "out differs at " + where);
                assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
            }
        }
    }

    static long linkBytes(MemGraph m) {
        long b = 0;
        for (Task t : m.tasks()) if (t.lane().isCopy()) b += t.bytes();
        return b;
    }
}
