package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The simulator against schedules worked out by hand on tiny graphs. */
class SimulatorTest {
    static final TensorType ACT = TensorType.of(DType.FLOAT32, Shape.of(1, 1000)); // 4000 B: a 4096-byte block with its prefix

    /** x -> a (Relu) and x -> b (Relu) in parallel, then c = Add(a, b). */
    static Graph diamond() {
        Map<String, TensorType> types = new HashMap<>();
        for (String v : List.of("x", "a", "b", "c")) types.put(v, ACT);
        List<Node> nodes = List.of(
            new Node("A", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
            new Node("B", "Relu", "", List.of("x"), List.of("b"), Attributes.EMPTY),
            new Node("C", "Add", "", List.of("a", "b"), List.of("c"), Attributes.EMPTY));
        return new Graph("diamond", nodes, List.of(new Value("x", ACT)), List.of(new Value("c", ACT)), Map.of(), types);
    }

    static CostModel costs(Graph g, double[] cpu, double[] acc) {
        List<CostModel.NodeCost> ns = new ArrayList<>();
        List<String> keys = CostModel.nodeKeys(g);
        for (int i = 0; i < keys.size(); i++) {
            ns.add(new CostModel.NodeCost(keys.get(i), g.nodes().get(i).opType(), 0, 0, 0, 0, List.of(
                new CostModel.Timing(cpu[i], CostModel.Source.MEASURED), new CostModel.Timing(acc[i], CostModel.Source.ESTIMATED))));
        }
        // 4096 B at 4.096 MB/s = 1 ms, plus 0.5 ms latency: 1.5 ms a copy
        return new CostModel(g.name(), CostModel.fingerprint(g), List.of(
            new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0),
            new CostModel.DeviceCost("gpu", "described", CostModel.Source.ESTIMATED, 4.096e6, 0.5, CostModel.Source.ESTIMATED, 1 << 20)), ns);
    }

    @Test
    void branchesOnTwoDevicesOverlapAndCopiesCostTheirLink() {
        Graph g = diamond();
        CostModel c = costs(g, new double[] {10, 10, 1}, new double[] {4, 4, 1});
        MemGraph mg = MemGraph.build(g, List.of(DeviceSpec.host(), new DeviceSpec("gpu", DeviceKind.ACCELERATOR, 1 << 20)), new int[] {0, 1, 0});
        Simulator.Prediction p = Simulator.run(mg, c);
        // A on the cpu: 0..10. B: x up (1.5), B 1.5..5.5, b down 5.5..7. C after both: 10..11.
        assertEquals(11, p.makespanMillis(), 1e-9);
        // on the gpu x and b live at once: two 4096-byte blocks
        assertEquals(8192, p.peakBytes().get(1));
        assertEquals(mg.plannedPeak().get(1), p.peakBytes().get(1));
        // all on the gpu: x up 1.5, A 4, B 4, C 1, c down 1.5 = 12
        MemGraph accel = MemGraph.build(g, List.of(DeviceSpec.host(), new DeviceSpec("gpu", DeviceKind.ACCELERATOR, 1 << 20)), new int[] {1, 1, 1});
        assertEquals(12, Simulator.run(accel, c).makespanMillis(), 1e-9);
        // dispatcher overheads: 0.1 between tasks a lane takes back to back (B after A, C after B on the gpu's compute lane),
        // 0.2 per hand-off to an idle lane (A after the up copy, the down copy after C), 0.4 a run (half before, half after)
        Simulator.Prediction o = Simulator.run(accel, c, new Simulator.Overheads(0.1, 0));
        assertEquals(12.2, o.makespanMillis(), 1e-9);
        Simulator.Prediction w = Simulator.run(accel, c, new Simulator.Overheads(0.1, 0.2, 0.2, 0.4));
        assertEquals(12.2 + 0.4 + 0.4, w.makespanMillis(), 1e-9);
        // hand-offs to a copy lane (the down copy) priced apart from those to a compute lane (A after the up copy)
        Simulator.Prediction cw = Simulator.run(accel, c, new Simulator.Overheads(0.1, 0.2, 0.7, 0.4));
        assertEquals(12.2 + 0.2 + 0.7 + 0.4, cw.makespanMillis(), 1e-9);
        // a hand-off to a lane that sat idle long enough to have parked costs the parked figure: the compute lane idles 1.5
        // ms (the run's start to A, after x up), the down copy's lane the whole run; parked after 1 ms both are parked
        // (0.5 and 2.0 instead of 0.2 and 0.7), after 1.6 ms only the copy, after 100 ms neither
        Simulator.Overheads base = new Simulator.Overheads(0.1, 0.2, 0.7, 0.4);
        assertEquals(12.2 + 0.5 + 2.0 + 0.4, Simulator.run(accel, c, base.withParked(1.0, 0.5, 2.0)).makespanMillis(), 1e-9);
        assertEquals(12.2 + 0.2 + 2.0 + 0.4, Simulator.run(accel, c, base.withParked(1.6, 0.5, 2.0)).makespanMillis(), 1e-9);
        assertEquals(cw.makespanMillis(), Simulator.run(accel, c, base.withParked(100, 0.5, 2.0)).makespanMillis(), 1e-9);
        assertEquals(cw.makespanMillis(), Simulator.run(accel, c, base.withConcurrency(0).withParked(100, 0.5, 2.0)).makespanMillis(), 1e-9);
        // the host's per-task gap applies to host tasks only: all on the gpu, a host gap of 5 changes nothing
        assertEquals(cw.makespanMillis(), Simulator.run(accel, c, new Simulator.Overheads(0.1, 0.2, 0.7, 0.4, 5)).makespanMillis(), 1e-9);
        // a fixed cost inside each kernel task on the accelerator (A, B, C: three tasks), none on the host
        assertEquals(cw.makespanMillis() + 3 * 0.25,
            Simulator.run(accel, c, new Simulator.Overheads(0.1, 0.2, 0.7, 0.4, 0.1, 0.25)).makespanMillis(), 1e-9);
        MemGraph host = MemGraph.build(g, List.of(DeviceSpec.host(), new DeviceSpec("gpu", DeviceKind.ACCELERATOR, 1 << 20)), new int[] {0, 0, 0});
        assertEquals(Simulator.run(host, c, new Simulator.Overheads(0.1, 0.2, 0.7, 0.4, 0.1, 0)).makespanMillis(),
            Simulator.run(host, c, new Simulator.Overheads(0.1, 0.2, 0.7, 0.4, 0.1, 0.25)).makespanMillis(), 1e-9);
    }

    /**
     * The diamond split as above (A on the cpu 0..10; x up 0..1.5, B 4 ms on the gpu, b down, C 1 ms) on a host that
     * runs one compute lane at full speed at a time: from 1.5 A and B share it at half speed each, so B's 4 ms end at
     * 9.5, when A has 4.5 ms left at full speed again (ends 14); b goes down 9.5..11; C runs 14..15. With two lanes'
     * worth of cores nothing changes, and a copy lane never slows (x up still ends at 1.5).
     */
    @Test
    void computeLanesShareTheCoresTheHostGivesThem() {
        Graph g = diamond();
        CostModel c = costs(g, new double[] {10, 10, 1}, new double[] {4, 4, 1});
        MemGraph mg = MemGraph.build(g, List.of(DeviceSpec.host(), new DeviceSpec("gpu", DeviceKind.ACCELERATOR, 1 << 20)), new int[] {0, 1, 0});
        Simulator.Overheads one = Simulator.Overheads.NONE.withConcurrency(1);
        Simulator.Prediction p = Simulator.run(mg, c, one);
        assertEquals(15, p.makespanMillis(), 1e-9);
        assertEquals(14, endOf(mg, p, "A"), 1e-9);
        assertEquals(9.5, endOf(mg, p, "B"), 1e-9);
        assertEquals(14, startOf(mg, p, "C"), 1e-9);
        assertEquals(1.5, startOf(mg, p, "B"), 1e-9);
        assertEquals(11, Simulator.run(mg, c, Simulator.Overheads.NONE.withConcurrency(2)).makespanMillis(), 1e-9);
        assertThrows(IllegalArgumentException.class, () -> Simulator.Overheads.NONE.withConcurrency(0.5));
    }

    /** When node {@code node}'s kernel ends in the prediction. */
    static double endOf(MemGraph mg, Simulator.Prediction p, String node) {
        int index = -1;
        for (int i = 0; i < mg.graph().nodes().size(); i++) if (mg.graph().nodes().get(i).name().equals(node)) index = i;
        for (dev.sluice.memgraph.Task t : mg.tasks()) {
            if (t instanceof dev.sluice.memgraph.Task.Kernel k && k.node() == index) {
                return p.slices().stream().filter(s -> s.task() == k.id()).findFirst().orElseThrow().end();
            }
        }
        throw new AssertionError("no kernel for " + node);
    }

    @Test
    void theStrategiesOnTheDiamondUseBothDevices() {
        Graph g = diamond();
        CostModel c = costs(g, new double[] {10, 10, 1}, new double[] {4, 4, 1});
        PlacementProblem p = PlacementProblem.of(g, c);
        Strategies.Result fast = Strategies.chrionLatency(p);
        // best by hand: A on the cpu (10) beside x up, B, b down on the gpu (7), or all on the gpu (12): 11
        assertEquals(11, fast.makespan(), 1e-9);
        Strategies.Result milp = MilpPlacer.latency(p, Strategies.heft(p), 5);
        assertEquals(11, milp.makespan(), 1e-6);
    }

    /**
     * One lane, four kernels: A = Relu(x) 1 ms, B = Relu(x) 5 ms, C = Relu(a) 1 ms, D = Add(b, c) 1 ms. A and B are
     * ready at the start; A's end makes C ready. The dynamic dispatcher's lane runs C next (handed over, unqueued)
     * while B waits in the queue; in priority order (kernels by id) and fixed order B goes first.
     */
    @Test
    void theLaneTakesReadyTasksInTheDispatchersOrder() {
        Map<String, TensorType> types = new HashMap<>();
        for (String v : List.of("x", "a", "b", "c", "d")) types.put(v, ACT);
        List<Node> nodes = List.of(
            new Node("A", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
            new Node("B", "Relu", "", List.of("x"), List.of("b"), Attributes.EMPTY),
            new Node("C", "Relu", "", List.of("a"), List.of("c"), Attributes.EMPTY),
            new Node("D", "Add", "", List.of("b", "c"), List.of("d"), Attributes.EMPTY));
        Graph g = new Graph("order", nodes, List.of(new Value("x", ACT)), List.of(new Value("d", ACT)), Map.of(), types);
        CostModel c = costs(g, new double[] {1, 5, 1, 1}, new double[] {1, 5, 1, 1});
        MemGraph mg = MemGraph.build(g, List.of(DeviceSpec.host(), new DeviceSpec("gpu", DeviceKind.ACCELERATOR, 1 << 20)), new int[] {0, 0, 0, 0});
        assertEquals(1, startOf(mg, Simulator.run(mg, c, Simulator.Overheads.NONE, Simulator.Order.DYNAMIC), "C"), 1e-9);
        assertEquals(2, startOf(mg, Simulator.run(mg, c, Simulator.Overheads.NONE, Simulator.Order.DYNAMIC), "B"), 1e-9);
        assertEquals(6, startOf(mg, Simulator.run(mg, c, Simulator.Overheads.NONE, Simulator.Order.PRIORITY), "C"), 1e-9);
        assertEquals(6, startOf(mg, Simulator.run(mg, c, Simulator.Overheads.NONE, Simulator.Order.FIXED), "C"), 1e-9);
        assertEquals(8, Simulator.run(mg, c).makespanMillis(), 1e-9);
    }

    /** When node {@code node}'s kernel starts in the prediction. */
    static double startOf(MemGraph mg, Simulator.Prediction p, String node) {
        int index = -1;
        for (int i = 0; i < mg.graph().nodes().size(); i++) if (mg.graph().nodes().get(i).name().equals(node)) index = i;
        for (dev.sluice.memgraph.Task t : mg.tasks()) {
            if (t instanceof dev.sluice.memgraph.Task.Kernel k && k.node() == index) {
                return p.slices().stream().filter(s -> s.task() == k.id()).findFirst().orElseThrow().start();
            }
        }
        throw new AssertionError("no kernel for " + node);
    }
}
