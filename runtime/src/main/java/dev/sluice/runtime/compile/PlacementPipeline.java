package dev.sluice.runtime.compile;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TilingOptions;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.memgraph.placement.Coarsening;
import dev.sluice.memgraph.placement.MilpPlacer;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.memgraph.placement.PlacementProblem;
import dev.sluice.memgraph.placement.Simulator;
import dev.sluice.memgraph.placement.Strategies;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.device.ComputeLane;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.Device;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The compile pipeline across devices: Graph (static shapes) -> {@link CostModel} -> coarsened
 * {@link PlacementProblem} -> a strategy's assignment -> {@link Placement} with its {@link MemGraph} (exact per-device
 * peak) and the {@link Simulator}'s prediction -> an executor on real lanes. Two devices: the cpu and one accelerator
 * (throttled; tornadovm, its share running TornadoVM's kernels in its device arena; or described: a described
 * accelerator's share executes on a throttled device under its budget).
 *
 * <p>In a placed run each device gets half the session's threads (at least one): the host one compute lane using
 * its share as a pool, the accelerator its compute lane with the other share, so that the two run at once without
 * oversubscribing the cores; profiling times nodes with that same share.
 */
public final class PlacementPipeline {
    private PlacementPipeline() {}

    /** Default fraction of the optimum's lower bound that coarsening may give up. */
    public static final double COARSEN_FRACTION = 0.02;

    /** Everything fixed before a strategy runs; {@code tiling}: the splits each placement's MemGraph may use (the session's). */
    public record Setup(Model model, OpRegistry registry, CostModel costs, PlacementProblem fine, Coarsening.Result coarse,
                        List<String> deviceNames, long accelBudget, boolean allReal, long bandwidth, int threadsPerDevice,
                        TilingOptions tiling) {
        public Graph graph() { return model.graph(); }

        public String accelerator() { return deviceNames.get(1); }
    }

    /** One strategy's placement made real: its MemGraph and prediction; {@code refusal} when its budget cannot hold it. */
    public record Outcome(Strategies.Result result, Placement placement, MemGraph memGraph, Simulator.Prediction prediction, String refusal) {
        public long acceleratorPeak() { return memGraph == null ? -1 : memGraph.plannedPeak().get(1); }
    }

    /** Threads each device of a placed run gets. */
    public static int threadsPerDevice(int threads) { return Math.max(1, threads / 2); }

    /** Profiles {@code m} (static shapes) on the options' devices and coarsens its problem. */
    public static Setup prepare(Model m, OpRegistry registry, Map<String, Tensor> inputs, SessionOptions o, int runs, double coarsen) {
        List<SessionOptions.DeviceRequest> ds = o.devices();
        if (ds.size() != 2 || !ds.get(0).name().equals("cpu")) {
            throw new SluiceException("placement takes two devices, the cpu first: --devices cpu,ACCEL; got " + ds);
        }
        int per = threadsPerDevice(o.threads());
        CostModel costs = Profiler.profile(m, registry, inputs, ds, o.bandwidthBytesPerSecond(), per, runs, o.profileWarmupMillis() * 1_000_000L);
        PlacementProblem fine = PlacementProblem.of(m.graph(), costs);
        Coarsening.Result coarse = Coarsening.coarsen(fine, coarsen);
        List<String> names = costs.devices().stream().map(CostModel.DeviceCost::name).toList();
        boolean real = !ds.get(1).described();
        return new Setup(m, registry, costs, fine, coarse, names, costs.devices().get(1).memoryBytes(), real, o.bandwidthBytesPerSecond(), per,
            o.tiling());
    }

    /** A setup from a saved cost model instead of profiling (refused if it was made for another graph). */
    public static Setup fromCosts(Model m, OpRegistry registry, CostModel costs, SessionOptions o, double coarsen) {
        PlacementProblem fine = PlacementProblem.of(m.graph(), costs);
        List<String> names = costs.devices().stream().map(CostModel.DeviceCost::name).toList();
        boolean real = costs.devices().stream().allMatch(d -> d.timeSource() == CostModel.Source.MEASURED);
        return new Setup(m, registry, costs, fine, Coarsening.coarsen(fine, coarsen), names, costs.devices().get(1).memoryBytes(), real,
            o.bandwidthBytesPerSecond(), threadsPerDevice(o.threads()), o.tiling());
    }

    /**
     * The SLO in ms: absolute, or a factor of all-accel's predicted latency (the simulator's, before any calibration;
     * the placement model's where all-accel cannot run within the budget).
     */
    public static double sloMillis(Setup s, SessionOptions.Slo slo) {
        double accel = allAccelPredicted(s);
        return slo == null ? 1.2 * accel : slo.millis(accel);
    }

    private static double allAccelPredicted(Setup s) {
        Strategies.Result acc = Strategies.allOn(s.coarse().problem(), 1, "all-accel");
        Outcome o = realize(s, acc);
        return o.refusal() == null ? o.prediction().makespanMillis() : acc.makespan();
    }

    /**
     * chrion-memory held to the SLO as the simulator predicts it: the heuristic works in the placement model, which
     * does not see offloads under a budget, so its model SLO is scaled down (1, 0.9, ... 0.1 of the SLO mapped into the
     * model) until the simulated latency of its answer meets the SLO. Never more accelerator memory than all-accel
     * (exact peaks): all-accel is kept where it would be, or where nothing tried meets the SLO and all-accel does.
     */
    static Strategies.Result chrionMemoryChecked(Setup s, double slo) {
        PlacementProblem p = s.coarse().problem();
        Strategies.Result lat = Strategies.chrionLatency(p);
        Strategies.Result acc = Strategies.allOn(p, 1, "all-accel");
        Outcome accOut = realize(s, acc);
        double simAccel = accOut.refusal() == null ? accOut.prediction().makespanMillis() : Double.NaN;
        double scale = Double.isNaN(simAccel) ? 1 : acc.makespan() / simAccel;
        for (int k = 10; k >= 1; k--) {
            Strategies.Result r = Strategies.chrionMemory(p, slo * scale * k / 10, lat);
            Outcome o = realize(s, r);
            if (o.refusal() != null || o.prediction().makespanMillis() > slo) continue;
            if (accOut.refusal() == null && o.acceleratorPeak() > accOut.acceleratorPeak()) {
                return new Strategies.Result("chrion-memory", acc.assign(), acc.schedule(), r.solverMillis(),
                    "all-accel's placement holds less accelerator memory, so it is kept");
            }
            return k == 10 ? r : new Strategies.Result("chrion-memory", r.assign(), r.schedule(), r.solverMillis(),
                String.format("model SLO scaled to %d%% so that the simulated latency meets the SLO", k * 10));
        }
        boolean accOk = accOut.refusal() == null && simAccel <= slo;
        Strategies.Result keep = accOk ? acc : lat;
        return new Strategies.Result("chrion-memory", keep.assign(), keep.schedule(), 0,
            String.format("no placement tried meets the SLO of %.3f ms as simulated; %s's is kept", slo, keep.strategy()));
    }

    /** Runs one strategy by name on the coarse problem. */
    public static Strategies.Result solve(Setup s, String strategy, SessionOptions.Objective objective, double sloMillis, double milpSeconds) {
        PlacementProblem p = s.coarse().problem();
        return switch (strategy) {
            case "all-cpu" -> Strategies.allOn(p, 0, "all-cpu");
            case "all-accel" -> Strategies.allOn(p, 1, "all-accel");
            case "heft" -> Strategies.heft(p);
            case "chrion-latency" -> {
                long t0 = System.nanoTime();
                Strategies.Result r = noWorseThanHeuristics(s, Strategies.chrionLatency(p));
                yield new Strategies.Result("chrion-latency", r.assign(), r.schedule(), (System.nanoTime() - t0) / 1e6, r.note());
            }
            case "chrion-memory" -> {
                long t0 = System.nanoTime();
                Strategies.Result r = chrionMemoryChecked(s, sloMillis);
                yield new Strategies.Result("chrion-memory", r.assign(), r.schedule(), (System.nanoTime() - t0) / 1e6, r.note());
            }
            case "milp" -> {
                long t0 = System.nanoTime();
                Strategies.Result hint = bestHeuristic(p, objective, sloMillis);
                Strategies.Result r = objective == SessionOptions.Objective.MEMORY
                    ? MilpPlacer.memory(p, hint, milpSeconds, sloMillis) : MilpPlacer.latency(p, hint, milpSeconds);
                if (objective == SessionOptions.Objective.LATENCY) r = noWorseThanHeuristics(s, r);
                // the warm start's own search counts towards the MILP's time
                yield new Strategies.Result("milp", r.assign(), r.schedule(), (System.nanoTime() - t0) / 1e6, r.note());
            }
            default -> throw new SluiceException("unknown strategy '" + strategy + "'; strategies: " + String.join(", ", Strategies.NAMES));
        };
    }

    /**
     * The MILP's and chrion-latency's answers are best in the placement model; the simulator, which runs the MemGraph
     * (weights, copies, offloads under the budget, tiles), can rank placements differently. So that neither is reported
     * slower than a heuristic, each other heuristic (for the MILP: each that fits its capacity) is simulated too and the
     * fastest kept, the note saying which.
     */
    static Strategies.Result noWorseThanHeuristics(Setup s, Strategies.Result answer) {
        PlacementProblem p = s.coarse().problem();
        Outcome best = realize(s, answer);
        double bestMs = best.refusal() == null ? best.prediction().makespanMillis() : Double.MAX_VALUE;
        Strategies.Result chosen = answer;
        for (Strategies.Result h : List.of(Strategies.allOn(p, 0, "all-cpu"), Strategies.allOn(p, 1, "all-accel"), Strategies.heft(p),
                Strategies.chrionLatency(p))) {
            if (h.strategy().equals(answer.strategy())) continue;
            if (answer.strategy().equals("answer") && !p.fits(h.assign())) continue;
            Outcome o = realize(s, h);
            if (o.refusal() == null && o.prediction().makespanMillis() < bestMs - 1e-9) {
                bestMs = o.prediction().makespanMillis();
                chosen = h;
            }
        }
        if (chosen == answer) return answer;
        return new Strategies.Result(answer.strategy(), chosen.assign(), chosen.schedule(), answer.solverMillis(),
            (answer.note().isEmpty() ? "" : answer.note() + "; ") + "the simulator ranks " + chosen.strategy() + "'s placement faster, so it is kept");
    }

    /** The best heuristic that fits (the MILP's warm start): least makespan, or least memory within the SLO. */
    static Strategies.Result bestHeuristic(PlacementProblem p, SessionOptions.Objective objective, double slo) {
        List<Strategies.Result> c = new ArrayList<>(List.of(Strategies.allOn(p, 0, "all-cpu"), Strategies.allOn(p, 1, "all-accel"),
            Strategies.heft(p), Strategies.chrionLatency(p)));
        if (objective == SessionOptions.Objective.MEMORY) c.add(Strategies.chrionMemory(p, slo));
        Strategies.Result best = null;
        for (Strategies.Result r : c) {
            if (!p.fits(r.assign())) continue;
            if (best == null) { best = r; continue; }
            if (objective == SessionOptions.Objective.LATENCY) {
                if (r.makespan() < best.makespan()) best = r;
            } else {
                boolean ok = r.makespan() <= slo, bestOk = best.makespan() <= slo;
                if (ok && (!bestOk || p.acceleratorBytes(r.assign(), 1) < p.acceleratorBytes(best.assign(), 1))) best = r;
                else if (!ok && !bestOk && r.makespan() < best.makespan()) best = r;
            }
        }
        return best;
    }

    /** The spec of the accelerator as the MemGraph sees it (throttled when it will execute there). */
    static DeviceSpec accelSpec(Setup s, boolean forExecution) {
        if (s.accelerator().equals("tornadovm")) return executionSpec("tornadovm", s.accelBudget());
        DeviceKind kind = forExecution || s.allReal() ? DeviceKind.THROTTLED : DeviceKind.ACCELERATOR;
        return new DeviceSpec(forExecution ? "throttled" : s.accelerator(), kind, s.accelBudget());
    }

    /**
     * Makes a strategy's answer real: node assignment, MemGraph under the accelerator's budget (refused, with the bytes
     * needed, when a node cannot fit it), the simulator's prediction, and the placement value.
     */
    public static Outcome realize(Setup s, Strategies.Result r) {
        int[] nodes = s.coarse().problem().nodeAssignment(r.assign(), s.graph().nodes().size());
        return realize(s, r, nodes);
    }

    static Outcome realize(Setup s, Strategies.Result r, int[] nodes) {
        MemGraph mg;
        MemGraph.Placed rewritten;
        try {
            // the rewrites the dispatched pipeline applies (PlanRewrite), for the nodes on the accelerator
            List<DeviceSpec> specs = List.of(DeviceSpec.host(), accelSpec(s, false));
            rewritten = MemGraph.rewriteFor(s.graph(), specs, nodes, s.tiling(), s.model().opset(""));
            mg = MemGraph.build(rewritten.graph(), specs, rewritten.placement(), s.tiling());
        } catch (MemGraphException e) {
            String why = "placement " + r.strategy() + " cannot run on " + s.accelerator() + " within its budget of " + s.accelBudget()
                + " bytes: it needs at least " + e.neededBytes() + " bytes (" + e.getMessage() + ")";
            Placement p = Placement.of(s.graph(), s.deviceNames(), nodes, r.strategy(), Double.NaN, List.of(0L, -1L), r.solverMillis(), why);
            return new Outcome(r, p, null, null, why);
        }
        Simulator.Prediction pred = Simulator.run(mg, costsOf(s.costs(), rewritten.origin()));
        Placement p = Placement.of(s.graph(), s.deviceNames(), nodes, r.strategy(), pred.makespanMillis(), mg.plannedPeak(), r.solverMillis(),
            r.note());
        return new Outcome(r, p, mg, pred, null);
    }

    /**
     * The costs of a rewritten graph's nodes ({@link MemGraph#rewriteFor}): each node the costs of the node it stands for,
     * its times shared among the nodes that replace that one (a Split's time among its Slices); {@code costs} itself when
     * nothing was rewritten.
     */
    static CostModel costsOf(CostModel costs, int[] origin) {
        boolean same = origin.length == costs.nodes().size();
        for (int i = 0; same && i < origin.length; i++) same = origin[i] == i;
        if (same) return costs;
        int[] parts = new int[costs.nodes().size()];
        for (int o : origin) parts[o]++;
        List<CostModel.NodeCost> nodes = new java.util.ArrayList<>();
        for (int o : origin) {
            CostModel.NodeCost c = costs.nodes().get(o);
            List<CostModel.Timing> times = c.times().stream().map(t -> new CostModel.Timing(t.millis() / parts[o], t.source())).toList();
            nodes.add(new CostModel.NodeCost(c.node(), c.opType(), c.flops() / parts[o], c.weightBytes(), c.activationBytes(), c.outputBytes(), times));
        }
        return new CostModel(costs.model(), costs.fingerprint(), costs.devices(), nodes);
    }

    /** Checks a loaded placement against the setup's graph and makes it real (refusals name the nodes). */
    public static Outcome realize(Setup s, Placement loaded) {
        int[] nodes = loaded.toArray(s.graph(), s.deviceNames());
        int[] tasks = new int[s.fine().size()];
        for (int t = 0; t < tasks.length; t++) tasks[t] = nodes[s.fine().members()[t][0]];
        Strategies.Result r = new Strategies.Result("file:" + loaded.strategy(), tasks,
            dev.sluice.memgraph.placement.Schedule.list(s.fine(), tasks, dev.sluice.memgraph.placement.Schedule.rankOrder(s.fine())), 0, "");
        return realize(s, r, nodes);
    }

    /** The devices a placed run executes on: the host's lane with its pool, and the accelerator at the budget. */
    public static List<Device> devices(Setup s) { return devices(s.accelerator(), s.accelBudget(), s.bandwidth(), s.threadsPerDevice()); }

    /**
     * The MemGraph's spec of the device that executes an accelerator's share: TornadoVM's device for {@code tornadovm},
     * else the throttled device (a described accelerator's share runs there).
     */
    public static DeviceSpec executionSpec(String accelerator, long budget) {
        return accelerator.equals("tornadovm") ? new DeviceSpec("tornadovm", DeviceKind.ACCELERATOR, budget)
            : new DeviceSpec("throttled", DeviceKind.THROTTLED, budget);
    }

    /**
     * The host's one compute lane with a pool of {@code threads}, and the device that executes the accelerator's share
     * with as many: TornadoVM's with a device arena of the budget for {@code tornadovm}, else a throttled device.
     */
    public static List<Device> devices(String accelerator, long budget, long bandwidth, int threads) {
        if (!accelerator.equals("tornadovm")) return devices(budget, bandwidth, threads);
        CpuDevice cpu = new CpuDevice("cpu", List.of(new ComputeLane("cpu.compute", Parallelism.of(threads))));
        return List.of(cpu, dev.sluice.runtime.device.TornadoDevice.withArena(budget, Parallelism.of(threads)));
    }

    /** The host's one compute lane with a pool of {@code threads}, and a throttled device with as many. */
    public static List<Device> devices(long budget, long bandwidth, int threads) {
        CpuDevice cpu = new CpuDevice("cpu", List.of(new ComputeLane("cpu.compute", Parallelism.of(threads))));
        ThrottledDevice t = ThrottledDevice.of(budget, bandwidth, Parallelism.of(threads));
        return List.of(cpu, t);
    }

    /** An executor of an outcome on real lanes (a described accelerator's share on the throttled device). */
    public static MemGraphExecutor executor(Setup s, Outcome o, Dispatcher.Order order, Dispatcher shared) {
        if (o.refusal() != null) throw new SluiceException(o.refusal());
        MemGraph mg = o.memGraph();
        if (!s.allReal()) {
            int[] nodes = o.placement().toArray(s.graph(), s.deviceNames());
            mg = MemGraph.placed(s.graph(), List.of(DeviceSpec.host(), accelSpec(s, true)), nodes, s.tiling(), s.model().opset(""));
        }
        return new MemGraphExecutor(s.model(), s.registry(), mg, devices(s), order, shared);
    }

    /** The simulator's ready-task order for runs dispatched in {@code order} (the same three orders, by name). */
    public static Simulator.Order simulatorOrder(Dispatcher.Order order) { return Simulator.Order.valueOf(order.name()); }

    /**
     * Closes what {@link #executor} opened for a placed run: the dispatcher's lane workers (unless it was given a
     * shared one, the caller's to close) and each device's worker pool, so that a caller placing one configuration
     * after another does not collect a pool of threads per executor until they time out.
     */
    public static void close(MemGraphExecutor ex, boolean sharedDispatcher) {
        if (!sharedDispatcher) ex.dispatcher().close();
        for (Device d : ex.devices()) {
            for (var lane : d.lanes(dev.sluice.kernels.device.LaneKind.COMPUTE)) if (lane instanceof ComputeLane c) c.parallelism().close();
        }
    }

    /** Median wall time (ms) of {@code runs} runs after two warm-up runs; outputs closed. */
    public static double measure(MemGraphExecutor ex, Map<String, Tensor> inputs, int runs) {
        long warmEnd = System.nanoTime() + Profiler.WARMUP_NANOS / 4;
        for (int w = 0; w < 2 || (w < 500 && System.nanoTime() < warmEnd); w++) close(ex.run(inputs).outputs());
        double[] t = new double[runs];
        for (int r = 0; r < runs; r++) {
            MemGraphExecutor.Result res = ex.run(inputs);
            t[r] = res.trace().wallNanos() / 1e6;
            close(res.outputs());
        }
        Arrays.sort(t);
        return t[runs / 2];
    }

    private static void close(Map<String, Tensor> out) {
        for (Tensor x : out.values()) x.close();
    }
}
