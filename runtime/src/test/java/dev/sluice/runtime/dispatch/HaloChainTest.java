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
 * Band chains across reads with a halo (memgraph's BandChains, ChainTileTasks): a stack of windows (3x3 conv of stride
 * 1, 3x3 depthwise, 3x3 conv of stride 2, a Relu, a 3x3 conv with uneven pads, a Sigmoid) on an odd height, every
 * activation larger than the smaller budgets. Each conv reads its input with a halo, so before halo chains no value
 * between two convs could stay on the device band by band. Now: at 100, 50, 25 and 10% of the unbudgeted need (and
 * the minimum budget) every plan runs bit-identically to the plain executor in every dispatch order, with and without
 * injected delays, within its budget; at the budgets that split, a chain links two convs over a halo read, the values
 * inside chains never cross the link, and the plan moves fewer link bytes than the same budget without chains.
 */
class HaloChainTest {
    private static final long H = 157, W = 24, C = 4, HALF = (H - 1) / 2 + 1;

    static Graph windows(SplittableRandom r) {
        TensorType x = TensorType.of(DType.FLOAT32, Shape.of(1, C, H, W));
        TensorType half = TensorType.of(DType.FLOAT32, Shape.of(1, C, HALF, W / 2)), tall = TensorType.of(DType.FLOAT32, Shape.of(1, C, HALF + 1, W / 2));
        Map<String, Tensor> init = new LinkedHashMap<>();
        init.put("w1", ColumnTilingTest.random(r, Shape.of(C, C, 3, 3)));
        init.put("b1", ColumnTilingTest.random(r, Shape.of(C)));
        init.put("w2", ColumnTilingTest.random(r, Shape.of(C, 1, 3, 3)));
        init.put("w3", ColumnTilingTest.random(r, Shape.of(C, C, 3, 3)));
        init.put("w4", ColumnTilingTest.random(r, Shape.of(C, C, 3, 3)));
        init.put("b4", ColumnTilingTest.random(r, Shape.of(C)));
        List<Node> nodes = List.of(
            new Node("conv1", "Conv", "", List.of("x", "w1", "b1"), List.of("c1"), conv(new long[] {1, 1, 1, 1}, 1, 1)),
            new Node("dw", "Conv", "", List.of("c1", "w2"), List.of("c2"), conv(new long[] {1, 1, 1, 1}, 1, C)),
            new Node("down", "Conv", "", List.of("c2", "w3"), List.of("c3"), conv(new long[] {1, 1, 1, 1}, 2, 1)),
            new Node("relu", "Relu", "", List.of("c3"), List.of("r3"), Attributes.EMPTY),
            new Node("conv4", "Conv", "", List.of("r3", "w4", "b4"), List.of("c4"), conv(new long[] {1, 1, 2, 1}, 1, 1)),
            new Node("sig", "Sigmoid", "", List.of("c4"), List.of("out"), Attributes.EMPTY));
        Map<String, TensorType> types = new HashMap<>(Map.of("x", x, "c1", x, "c2", x, "c3", half, "r3", half, "c4", tall, "out", tall));
        return new Graph("t", nodes, List.of(new Value("x", x)), List.of(new Value("out", tall)), init, types);
    }

    private static Attributes conv(long[] pads, long stride, long group) {
        return new Attributes(Map.of("pads", new Attr.Ints(pads), "kernel_shape", new Attr.Ints(new long[] {3, 3}),
            "strides", new Attr.Ints(new long[] {stride, stride}), "group", new Attr.Int(group)));
    }

    @Test void chainsCrossHaloReadsAndRunBitIdentically() {
        SplittableRandom r = new SplittableRandom(41);
        Graph g = windows(r);
        Model model = new Model(g, 8, Map.of("", 17L), "test", "test");
        OpRegistry ops = OpRegistry.cpu();
        Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(r, Shape.of(1, C, H, W)));
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED), min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false);
        int haloChains = 0;
        for (long budget : new long[] {full, full / 2, full / 4, full / 10, min}) {
            if (budget < min) continue;
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            MemGraph own = BandChainTest.withoutChains(g, budget);
            Graph pg = plan.graph();
            Set<Integer> inChain = new HashSet<>();
            for (Task t : plan.tasks()) if (t instanceof Task.Kernel k && k.label().contains("of a chain")) inChain.add(k.node());
            // values made and read inside a chain, and those of them that their reader reads with a halo (a conv's input)
            Set<String> inside = new HashSet<>(), halo = new HashSet<>();
            for (int i : inChain) {
                if (!inChain.contains(i + 1)) continue;
                String v = pg.nodes().get(i).outputs().getFirst();
                inside.add(v);
                if (pg.nodes().get(i + 1).opType().contains("Conv")) halo.add(v);
            }
            BandChainTest.assertNeverOnTheLink(plan, inside);
            if (!halo.isEmpty()) {
                haloChains++;
                long chained = BandChainTest.linkBytes(plan), alone = BandChainTest.linkBytes(own);
                assertTrue(chained < alone, "chains move " + chained + " B, without " + alone + " B at " + budget);
            }
            for (MemGraph p : List.of(plan, own)) BandChainTest.assertRunsAsTheWholeGraph(model, ops, p, in, ref.get("out"), budget, full);
        }
        assertTrue(haloChains >= 2, "chains across a halo read in " + haloChains + " plans");
    }
}
