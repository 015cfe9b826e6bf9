package dev.sluice.runtime.compile;

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
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.placement.Simulator;
import dev.sluice.runtime.dispatch.Trace;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Calibration read off hand-made traces whose figures are worked out by hand. */
class SimulatorCalibrationTest {
    static final TensorType ACT = TensorType.of(DType.FLOAT32, Shape.of(1, 1000));

    /** x -> A -> B -> C -> D, Relus. */
    static Graph chain() {
        Map<String, TensorType> types = new HashMap<>();
        for (String v : List.of("x", "a", "b", "c", "d")) types.put(v, ACT);
        List<Node> nodes = List.of(
            new Node("A", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
            new Node("B", "Relu", "", List.of("a"), List.of("b"), Attributes.EMPTY),
            new Node("C", "Relu", "", List.of("b"), List.of("c"), Attributes.EMPTY),
            new Node("D", "Relu", "", List.of("c"), List.of("d"), Attributes.EMPTY));
        return new Graph("chain", nodes, List.of(new Value("x", ACT)), List.of(new Value("d", ACT)), Map.of(), types);
    }

    static CostModel costs(Graph g) {
        List<CostModel.NodeCost> ns = new ArrayList<>();
        for (String k : CostModel.nodeKeys(g)) {
            ns.add(new CostModel.NodeCost(k, "Relu", 0, 0, 0, 0, List.of(new CostModel.Timing(9, CostModel.Source.MEASURED),
                new CostModel.Timing(9, CostModel.Source.MEASURED))));
        }
        return new CostModel(g.name(), CostModel.fingerprint(g), List.of(
            new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0),
            new CostModel.DeviceCost("throttled", "throttled", CostModel.Source.MEASURED, 1, 9, CostModel.Source.MEASURED, 1 << 20)), ns);
    }

    static MemGraph plan(Graph g, int[] nodes) {
        return MemGraph.build(g, List.of(DeviceSpec.host(), new DeviceSpec("throttled", DeviceKind.THROTTLED, 1 << 20)), nodes);
    }

    /** A trace of the tasks in id order on lanes by (device, lane kind): each starts {@code gap} us after the later of its lane's last end and its ready time. */
    static Trace serialTrace(MemGraph g, double[] bodyUs, double gapUs, double wakeUs, double startUs, double endUs) {
        return serialTrace(g, bodyUs, gapUs, wakeUs, wakeUs, startUs, endUs);
    }

    /** As above, a hand-off to a lane idle at least 50 us before the task was ready taking {@code parkedWakeUs}. */
    static Trace serialTrace(MemGraph g, double[] bodyUs, double gapUs, double wakeUs, double parkedWakeUs, double startUs, double endUs) {
        List<String> laneNames = new ArrayList<>();
        List<Trace.Slice> slices = new ArrayList<>();
        Map<String, Double> laneFree = new HashMap<>();
        double[] end = new double[g.tasks().size()];
        List<List<Integer>> preds = new ArrayList<>();
        for (int i = 0; i < end.length; i++) preds.add(new ArrayList<>());
        for (var e : g.edges()) preds.get(e.to()).add(e.from());
        double last = 0;
        for (Task t : g.tasks()) {
            String lane = t.device() + "." + t.lane();
            if (!laneNames.contains(lane)) laneNames.add(lane);
            double ready = startUs;
            int by = -1;
            for (int p : preds.get(t.id())) if (end[p] >= ready) { ready = end[p]; by = p; }
            Double free = laneFree.get(lane);
            double s;
            if (free == null) s = ready;
            else if (ready <= free) s = free + gapUs;
            else s = ready + (by >= 0 && !(g.tasks().get(by).device() + "." + g.tasks().get(by).lane()).equals(lane)
                ? (ready - free >= 50 ? parkedWakeUs : wakeUs) : 0);
            end[t.id()] = s + bodyUs[t.id()];
            laneFree.put(lane, end[t.id()]);
            last = Math.max(last, end[t.id()]);
            slices.add(new Trace.Slice(t.label(), laneNames.indexOf(lane), (long) (s * 1e3), (long) (end[t.id()] * 1e3), t.bytes()));
        }
        List<Trace.Track> tracks = laneNames.stream().map(n -> new Trace.Track(n, !n.endsWith("COMPUTE"))).toList();
        return new Trace(tracks, slices, (long) ((last + endUs) * 1e3));
    }

    @Test void nodeTimesLinkAndOverheadsAreReadOffTheTraces() {
        Graph g = chain();
        MemGraph cpu = plan(g, new int[] {0, 0, 0, 0});
        MemGraph acc = plan(g, new int[] {1, 0, 1, 0}); // four copies: x up, a down, b up, c down
        // cpu: A..D take 40, 30, 20, 10 us, back to back with 5 us between; the run starts at 7 us and ends 3 us after D
        Trace ct = serialTrace(cpu, new double[] {40, 30, 20, 10}, 5, 0, 7, 3);
        double[] ab = new double[acc.tasks().size()];
        long copies = 0;
        for (Task t : acc.tasks()) {
            // a copy takes 2 us + 1 us per 1000 bytes (1 GB/s); a kernel 50 us
            ab[t.id()] = t instanceof Task.Kernel ? 50 : 2 + t.bytes() / 1000.0;
            if (!(t instanceof Task.Kernel)) copies++;
        }
        assertTrue(copies >= 3, "the plan has " + copies + " copies");
        // every task of this chain waits for one on another lane (or nothing): hand-offs of 11 us; start 7, end 3
        Trace at = serialTrace(acc, ab, 5, 11, 7, 3);
        SimulatorCalibration c = SimulatorCalibration.of(costs(g), cpu, ct, acc, at);
        double[] want = {0.040, 0.030, 0.020, 0.010};
        for (int n = 0; n < 4; n++) {
            assertEquals(want[n], c.costs().nodes().get(n).millis(0), 1e-6, "node " + n + " on the cpu");
            assertEquals(want[n], c.costs().nodes().get(n).millis(1), 1e-6, "node " + n + " on the throttled device");
        }
        CostModel.DeviceCost link = c.costs().devices().get(1);
        // all four copies move the same 4096 bytes, so no bandwidth can be told apart from latency: the fit is their time
        for (Task t : acc.tasks()) if (!(t instanceof Task.Kernel)) assertEquals(4096, t.bytes());
        assertEquals(0.006096, link.linkLatencyMs(), 1e-6);
        assertEquals(0, link.linkBytesPerSecond());
        // gaps: only the cpu trace has tasks ready before their lane is free (B, C, D: 5 us each), all on the host's lane,
        // so the accelerator's lanes borrow the host's figure
        assertEquals(0.005, c.overheads().hostTaskMillis(), 1e-6);
        assertEquals(0.005, c.overheads().taskMillis(), 1e-6);
        assertEquals(0.011, c.overheads().wakeMillis(), 1e-6);
        assertEquals(0.011, c.overheads().copyWakeMillis(), 1e-6);
        assertEquals(0.010, c.overheads().runMillis(), 1e-6);
        // the simulator with them reproduces the cpu trace's wall time: 7 + 100 + 3 * 5 + 3 (the run's 10 us are the mean of
        // both traces', which are equal here)
        assertEquals(ct.wallNanos() / 1e6, Simulator.run(cpu, c.costs(), c.overheads()).makespanMillis(), 1e-3);
    }

    /**
     * Hand-offs to a lane that sat idle 50 us or more before its task was ready (parked, in the dispatcher) are read
     * apart from those to a lane idle for less (still spinning). The chain alternates between the devices (x up, A on
     * the accelerator, a down, B on the host, b up, C on the accelerator, c down, D on the host); A, B and the copies take
     * 1 us, C 80 us, D 5 us; hand-offs take 4 us to a lane idle under 50 us and 90 us to one idle longer, a lane's first
     * task none. Worked out: b up (its lane idle 3 us) and C (7 us) are short hand-offs, c down (90 us) and D (180 us)
     * parked ones, so each kind has one of each, and the calibration gives all four figures back.
     */
    @Test void handOffsToLanesThatHadTimeToParkAreReadApart() {
        Graph g = chain();
        MemGraph cpu = plan(g, new int[] {0, 0, 0, 0});
        MemGraph acc = plan(g, new int[] {1, 0, 1, 0});
        Trace ct = serialTrace(cpu, new double[] {40, 30, 20, 10}, 5, 0, 7, 3);
        double[] ab = new double[acc.tasks().size()];
        for (Task t : acc.tasks()) {
            String node = t instanceof Task.Kernel k ? g.nodes().get(k.node()).name() : "";
            ab[t.id()] = switch (node) { case "C" -> 80; case "D" -> 5; default -> 1; };
        }
        Trace at = serialTrace(acc, ab, 5, 4, 90, 7, 3);
        // {compute short, compute parked, copy short, copy parked}
        assertArrayEquals(new double[] {0.004, 0.090, 0.004, 0.090}, SimulatorCalibration.handOffsByIdle(List.of(cpu, acc), List.of(ct, at)), 1e-6);
        Simulator.Overheads o = SimulatorCalibration.of(costs(g), cpu, ct, acc, at).overheads();
        assertEquals(SimulatorCalibration.PARKED_AFTER_MILLIS, o.parkedAfterMillis(), 0);
        assertEquals(0.004, o.wakeMillis(), 1e-6);
        assertEquals(0.090, o.parkedWakeMillis(), 1e-6);
        assertEquals(0.004, o.copyWakeMillis(), 1e-6);
        assertEquals(0.090, o.parkedCopyWakeMillis(), 1e-6);
        // without the PARKED part: one figure per kind (the mean of all its hand-offs), whatever the idle time
        Simulator.Overheads one = SimulatorCalibration.of(costs(g), cpu, List.of(ct), acc, List.of(at),
            java.util.EnumSet.of(SimulatorCalibration.Part.KERNEL_TASKS)).overheads();
        assertEquals(Double.POSITIVE_INFINITY, one.parkedAfterMillis());
        assertEquals(0.047, one.wakeMillis(), 1e-6);
        assertEquals(0.047, one.copyWakeMillis(), 1e-6);
        // with every hand-off alike (the first test's traces) the two classes have one figure
        Trace flat = serialTrace(acc, ab, 5, 11, 7, 3);
        Simulator.Overheads f = SimulatorCalibration.of(costs(g), cpu, ct, acc, flat).overheads();
        assertEquals(f.wakeMillis(), f.parkedWakeMillis(), 1e-9);
        assertEquals(f.copyWakeMillis(), f.parkedCopyWakeMillis(), 1e-9);
    }

    /** One run out of three the host disturbed (everything ten times slower) sets no figure. */
    @Test void aDisturbedRunDoesNotSetTheFigures() {
        Graph g = chain();
        MemGraph cpu = plan(g, new int[] {0, 0, 0, 0});
        MemGraph acc = plan(g, new int[] {1, 0, 1, 0});
        double[] ab = new double[acc.tasks().size()], slow = new double[ab.length];
        for (Task t : acc.tasks()) { ab[t.id()] = t instanceof Task.Kernel ? 50 : 6; slow[t.id()] = 10 * ab[t.id()]; }
        Trace quiet = serialTrace(cpu, new double[] {40, 30, 20, 10}, 5, 0, 7, 3);
        Trace disturbed = serialTrace(cpu, new double[] {400, 300, 200, 100}, 50, 0, 70, 30);
        Trace accQuiet = serialTrace(acc, ab, 5, 11, 7, 3), accDisturbed = serialTrace(acc, slow, 50, 110, 70, 30);
        SimulatorCalibration c = SimulatorCalibration.of(costs(g), cpu, List.of(quiet, disturbed, quiet), acc,
            List.of(accQuiet, accDisturbed, accQuiet));
        assertEquals(0.040, c.costs().nodes().get(0).millis(0), 1e-6);
        assertEquals(0.010, c.costs().nodes().get(3).millis(1), 1e-6);
        // every copy moves 4096 bytes and takes 6 us in the quiet runs (60 in the disturbed one): the link's latency
        assertEquals(0.006, c.costs().devices().get(1).linkLatencyMs(), 1e-6);
        assertEquals(0.005, c.overheads().hostTaskMillis(), 1e-6);
        assertEquals(0.011, c.overheads().wakeMillis(), 1e-6);
        assertEquals(0.010, c.overheads().runMillis(), 1e-6);
    }

    /**
     * All four nodes on the accelerator, each task taking twice its share plus 3 us: the calibration reads a scale of 2
     * and a fixed 3 us per kernel task off all-accel's trace, and the simulator then reproduces that trace's kernels.
     */
    @Test void theAcceleratorsKernelTasksAreALineThroughTheirShares() {
        Graph g = chain();
        MemGraph cpu = plan(g, new int[] {0, 0, 0, 0});
        MemGraph acc = plan(g, new int[] {1, 1, 1, 1});
        double[] cpuUs = {40, 30, 20, 10};
        Trace ct = serialTrace(cpu, cpuUs, 5, 0, 7, 3);
        double[] ab = new double[acc.tasks().size()];
        int kernels = 0;
        for (Task t : acc.tasks()) {
            if (t instanceof Task.Kernel k) { ab[t.id()] = 2 * cpuUs[k.node()] + 3; kernels++; }
            else ab[t.id()] = 2 + t.bytes() / 1000.0;
        }
        assertEquals(4, kernels);
        Trace at = serialTrace(acc, ab, 5, 11, 7, 3);
        SimulatorCalibration c = SimulatorCalibration.of(costs(g), cpu, ct, acc, at);
        assertEquals(0.003, c.overheads().kernelMillis(), 1e-6);
        for (int n = 0; n < 4; n++) {
            assertEquals(cpuUs[n] / 1e3, c.costs().nodes().get(n).millis(0), 1e-6, "node " + n + " on the cpu");
            assertEquals(2 * cpuUs[n] / 1e3, c.costs().nodes().get(n).millis(1), 1e-6, "node " + n + " on the throttled device");
        }
        Simulator.Prediction p = Simulator.run(acc, c.costs(), c.overheads());
        for (Simulator.Slice s : p.slices()) {
            if (acc.tasks().get(s.task()) instanceof Task.Kernel) assertEquals(ab[s.task()] / 1e3, s.end() - s.start(), 1e-6);
        }
    }

    /**
     * TornadoVM runs kernels of its own: its profiled node times are not replaced by all-cpu's (they are only scaled by
     * all-accel's line, here 1 with no fixed cost), while the cpu's are.
     */
    @Test void aDeviceWithKernelsOfItsOwnKeepsItsProfiledTimes() {
        Graph g = chain();
        List<CostModel.NodeCost> ns = new ArrayList<>();
        double[] tvm = {0.5, 0.4, 0.3, 0.2};
        List<String> keys = CostModel.nodeKeys(g);
        for (int n = 0; n < 4; n++) {
            ns.add(new CostModel.NodeCost(keys.get(n), "Relu", 0, 0, 0, 0, List.of(new CostModel.Timing(9, CostModel.Source.MEASURED),
                new CostModel.Timing(tvm[n], CostModel.Source.MEASURED))));
        }
        CostModel costs = new CostModel(g.name(), CostModel.fingerprint(g), List.of(
            new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0),
            new CostModel.DeviceCost("tornadovm", "tornadovm", CostModel.Source.MEASURED, 1, 9, CostModel.Source.MEASURED, 1 << 20)), ns);
        MemGraph cpu = plan(g, new int[] {0, 0, 0, 0});
        MemGraph acc = plan(g, new int[] {1, 1, 1, 1});
        double[] ab = new double[acc.tasks().size()];
        for (Task t : acc.tasks()) ab[t.id()] = t instanceof Task.Kernel k ? tvm[k.node()] * 1e3 : 6;
        SimulatorCalibration c = SimulatorCalibration.of(costs, cpu, serialTrace(cpu, new double[] {40, 30, 20, 10}, 5, 0, 7, 3), acc,
            serialTrace(acc, ab, 5, 11, 7, 3));
        assertEquals(0, c.overheads().kernelMillis(), 1e-6);
        for (int n = 0; n < 4; n++) {
            assertEquals(tvm[n], c.costs().nodes().get(n).millis(1), 1e-6, "node " + n + " on tornadovm");
            assertEquals(new double[] {0.040, 0.030, 0.020, 0.010}[n], c.costs().nodes().get(n).millis(0), 1e-6, "node " + n + " on the cpu");
        }
    }

    /**
     * Three all-cpu runs, each losing 90 us inside a different node (a time slice the host took): every node's median
     * is its quiet time, yet every run is 90 us longer than the quiet run. With the stretch, compute is stretched so that
     * the calibrated simulator gives all-cpu's median wall time, not the quiet run's; the default leaves it out.
     */
    @Test void computeIsStretchedToAllCpusWallTime() {
        Graph g = chain();
        MemGraph cpu = plan(g, new int[] {0, 0, 0, 0});
        MemGraph acc = plan(g, new int[] {1, 0, 1, 0});
        double[] ab = new double[acc.tasks().size()];
        for (Task t : acc.tasks()) ab[t.id()] = t instanceof Task.Kernel ? 50 : 6;
        List<Trace> runs = new ArrayList<>();
        for (int r = 0; r < 3; r++) {
            double[] us = {40, 30, 20, 10};
            us[r] += 90;
            runs.add(serialTrace(cpu, us, 5, 0, 7, 3));
        }
        Trace accTrace = serialTrace(acc, ab, 5, 11, 7, 3);
        SimulatorCalibration c = SimulatorCalibration.of(costs(g), cpu, runs, acc, List.of(accTrace, accTrace, accTrace),
            java.util.EnumSet.allOf(SimulatorCalibration.Part.class));
        // each run: 7 + 100 + 90 + 3 * 5 + 3 = 215 us
        assertEquals(0.215, Simulator.run(cpu, c.costs(), c.overheads()).makespanMillis(), 1e-6);
        // the run's 10 us of hand-offs are not compute: the 100 us of nodes and 15 us of gaps are stretched by 205 / 115
        assertEquals(0.040 * 205 / 115, c.costs().nodes().get(0).millis(0), 1e-9);
        assertEquals(0.005 * 205 / 115, c.overheads().hostTaskMillis(), 1e-9);
        assertEquals(0.010, c.overheads().runMillis(), 1e-9);
        // the default calibration does not stretch: it gives the quiet run's 125 us
        SimulatorCalibration plain = SimulatorCalibration.of(costs(g), cpu, runs, acc, List.of(accTrace, accTrace, accTrace));
        assertEquals(0.125, Simulator.run(cpu, plain.costs(), plain.overheads()).makespanMillis(), 1e-6);
    }

    /** Every dispatcher order has the simulator order of the same name (a new order must be simulated too). */
    @org.junit.jupiter.api.Test
    void everyDispatcherOrderHasItsSimulatorOrder() {
        for (dev.sluice.runtime.dispatch.Dispatcher.Order o : dev.sluice.runtime.dispatch.Dispatcher.Order.values()) {
            org.junit.jupiter.api.Assertions.assertEquals(o.name(), PlacementPipeline.simulatorOrder(o).name());
        }
        org.junit.jupiter.api.Assertions.assertEquals(dev.sluice.runtime.dispatch.Dispatcher.Order.values().length,
            dev.sluice.memgraph.placement.Simulator.Order.values().length);
    }
}
