package dev.sluice.runtime.compile;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.TypeInference;
import dev.sluice.graph.Value;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.TilingOptions;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The placed pipeline rewrites the accelerator's nodes as the dispatched one does (PlanRewrite, through
 * {@link MemGraph#placed}): a Split placed on a throttled accelerator whose budget holds a quarter of it (a node of two
 * outputs stays whole, so the plain build refuses it) becomes Slices cut into windows and runs, bit for bit the plain
 * executor's outputs, across the cpu (the Add after it) and the accelerator; the host's nodes are left as they are,
 * and the rewritten graph's costs carry over to the simulator.
 */
class PlacedRewriteTest {
    /** x [1, 8, L] -> Split on axis 1 into 3 + 5 channels -> Slice-free Add of their first 3 -> out, typed. */
    private static Model model(int length) {
        OpRegistry ops = OpRegistry.cpu();
        Map<String, Tensor> init = new HashMap<>();
        init.put("sizes", Tensor.ofLongs(Shape.of(2), 3, 5));
        init.put("three", Tensor.ofLongs(Shape.of(1), 3));
        init.put("zero", Tensor.ofLongs(Shape.of(1), 0));
        init.put("one", Tensor.ofLongs(Shape.of(1), 1));
        List<Node> nodes = List.of(
            new Node("split", "Split", "", List.of("x", "sizes"), List.of("a", "b"), new Attributes(Map.of("axis", new Attr.Int(1)))),
            new Node("head", "Slice", "", List.of("b", "zero", "three", "one"), List.of("b3"), Attributes.EMPTY),
            new Node("add", "Add", "", List.of("a", "b3"), List.of("out"), Attributes.EMPTY));
        TensorType xt = TensorType.of(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, 8, length));
        Graph raw = new Graph("placed-split", nodes, List.of(new Value("x", xt)), List.of(new Value("out", null)), init, Map.of("x", xt));
        return TypeInference.run(new Model(raw, 8, Map.of("", 18L), "test", "test"), ops, Map.of(), false);
    }

    @Test
    void theAcceleratorsNodesAreRewrittenAsTheDispatchedPipelineDoes() {
        Model m = model(2000);
        Graph g = m.graph();
        OpRegistry ops = OpRegistry.cpu();
        Tensor x = dev.sluice.runtime.fixtures.RandomConvNets.tensor(new SplittableRandom(5), Shape.of(1, 8, 2000));
        Map<String, Tensor> in = Map.of("x", x);
        Map<String, Tensor> want = new GraphExecutor(m, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        // the Split on the accelerator, the rest on the cpu; a budget of a quarter of the Split's input and outputs
        int[] nodes = {1, 0, 0};
        long splitBytes = 2L * 8 * 2000 * 4;
        DeviceSpec accel = new DeviceSpec("throttled", DeviceKind.THROTTLED, splitBytes / 4);
        List<DeviceSpec> specs = List.of(DeviceSpec.host(), accel);
        // as the placed pipeline built it before: the Split whole, which its budget cannot hold
        MemGraphException old = assertThrows(MemGraphException.class, () -> MemGraph.build(g, specs, nodes, TilingOptions.defaults()));
        assertTrue(old.getMessage().contains("'split'"), old.getMessage());
        // now: Slices on the accelerator, the cpu's nodes as they were
        MemGraph.Placed p = MemGraph.rewriteFor(g, specs, nodes, TilingOptions.defaults(), 18);
        List<String> ops2 = p.graph().nodes().stream().map(Node::opType).toList();
        assertEquals(List.of("Slice", "Slice", "Slice", "Add"), ops2, "rewritten: " + p.graph().nodes());
        assertArrayEquals(new int[] {1, 1, 0, 0}, p.placement());
        assertArrayEquals(new int[] {0, 0, 1, 2}, p.origin());
        // the placement file's path (PlacedRunner.buildOrRefuse) builds it, and it runs bit for bit
        MemGraph mg = PlacedRunner.buildOrRefuse(m, nodes, accel, "by-hand", TilingOptions.defaults());
        assertEquals(4, mg.graph().nodes().size());
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            MemGraphExecutor ex = new MemGraphExecutor(m, ops, mg, PlacementPipeline.devices(accel.budgetBytes(), 0, 1), order);
            try {
                MemGraphExecutor.Result got = ex.run(in);
                assertTrue(want.get("out").sameBits(got.outputs().get("out")), "out differs (" + order + ")");
                assertTrue(got.peakBytes().get(1) <= accel.budgetBytes(), got.peakBytes() + " over " + accel.budgetBytes());
            } finally {
                PlacementPipeline.close(ex, false);
            }
        }
        // all on the cpu: nothing to rewrite, the graph itself
        MemGraph.Placed none = MemGraph.rewriteFor(g, specs, new int[3], TilingOptions.defaults(), 18);
        assertSame(g, none.graph());
        // a budget below the Slices' least piece is still refused before running, with the bytes
        DeviceSpec tiny = accel.withBudget(64);
        var e = assertThrows(SluiceException.class, () -> PlacedRunner.buildOrRefuse(m, nodes, tiny, "by-hand", TilingOptions.defaults()));
        assertTrue(e.getMessage().contains("budget of 64 bytes: it needs at least"), e.getMessage());
    }

    @Test
    void theSimulatorReadsEachRewrittenNodesShareOfItsOriginalsCosts() {
        CostModel costs = PlacedRunTest.fixtureCosts(model(2000).graph(), 1 << 20);
        CostModel same = PlacementPipeline.costsOf(costs, new int[] {0, 1, 2});
        assertSame(costs, same);
        CostModel split = PlacementPipeline.costsOf(costs, new int[] {0, 0, 1, 2});
        assertEquals(4, split.nodes().size());
        for (int d = 0; d < 2; d++) {
            assertEquals(costs.nodes().get(0).millis(d), split.nodes().get(0).millis(d) + split.nodes().get(1).millis(d), 1e-12);
            assertEquals(costs.nodes().get(2).millis(d), split.nodes().get(3).millis(d));
        }
    }
}
