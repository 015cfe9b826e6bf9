package dev.sluice.runtime.compile;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.graph.cost.DeviceDescription;
import dev.sluice.graph.cost.FlopCount;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.device.CopyLane;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.memory.MemoryPlans;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds a {@link CostModel} for a graph with static shapes (the profiled run's real ones, see MeasuredShapes):
 * every node timed on the CPU, the median of {@code runs} runs after a warm-up, with the thread count each device
 * gets; the throttled device runs the CPU's kernels on the same number of threads, so its node times are those
 * measurements, and its link is measured through a copy lane at its bandwidth setting (a large and a tiny copy:
 * bandwidth from their difference, latency from the tiny one); a described device gets roofline estimates from its
 * figures. TornadoVM's device ({@code tornadovm}) is measured like the cpu: every node run with its kernels (TornadoVM's
 * where it has one, the CPU's otherwise, as a placed run runs them), the median of {@code runs} runs after the same
 * warm-up; its link is its copy lanes' (host memory into its device arena, see TornadoDevice). Profiled through a
 * plain executor, weights stay resident in TornadoVM between calls, which a placed run (weights copied into the arena)
 * does not do: on PoCL, where copies are a small share of device time, the difference is small. Measured and
 * estimated columns never mix (the CostModel checks it).
 */
public final class Profiler {
    private Profiler() {}

    /** How long runs warm the JIT up before timing by default: SessionOptions' profileWarmupMillis default. */
    static final long WARMUP_NANOS = SessionOptions.defaults().profileWarmupMillis() * 1_000_000L;

    /** Per node (graph order), the median time in ms of {@code runs} runs of the graph with {@code threads} threads. */
    public static double[] medianNodeMillis(Model m, OpRegistry registry, Map<String, Tensor> inputs, int threads, int runs) {
        return medianNodeMillis(m, registry, inputs, threads, runs, WARMUP_NANOS);
    }

    /** As above, warming up for at least {@code warmupNanos} (a session's profileWarmupMillis) first. */
    public static double[] medianNodeMillis(Model m, OpRegistry registry, Map<String, Tensor> inputs, int threads, int runs, long warmupNanos) {
        return nodeTimes(m, registry, inputs, threads, runs, warmupNanos).millis();
    }

    /**
     * What the profiler measured, per node in graph order: {@code millis}, the median of the node's {@code kept}
     * samples (exactly the {@code runs} asked for, unless {@code timedRuns} reached its cap); {@code gcDropped}, the
     * samples thrown away because a garbage collection ran inside the node's timed interval. Of the whole run:
     * {@code runMillis}, the median wall time of the timed runs (the time the node medians should add up to on a
     * quiet host), {@code runNodesMillis}, the median over the timed runs of the time inside nodes in each run, every
     * sample counted (against runMillis: what a run spends outside the nodes' timers; against the node medians' sum:
     * what the host's disturbances, spread over different nodes in different runs, add to a run), {@code timedRuns} runs timed in all, {@code warmupRuns} warm-up runs before them, and
     * {@code jitQuiet}, whether the warm-up ended with the JIT idle (false: it ran out of time first, or this JVM
     * cannot tell, and a kernel may still have been running code that was not yet compiled).
     */
    public record NodeTimes(double[] millis, int[] kept, int[] gcDropped, double runMillis, double runNodesMillis, int timedRuns, int warmupRuns,
                            boolean jitQuiet) {
        /** The sum of the node medians, ms. */
        public double sumMillis() { return Arrays.stream(millis).sum(); }

        /** Samples dropped for a collection, over all nodes. */
        public int gcDroppedTotal() { return Arrays.stream(gcDropped).sum(); }
    }

    /** Runs of the JIT's idle stretch that end a warm-up (and at least {@link #JIT_QUIET_NANOS} of them). */
    static final int JIT_QUIET_RUNS = 10;
    /** The shortest idle stretch of the JIT that ends a warm-up. */
    static final long JIT_QUIET_NANOS = 1_000_000_000L;
    /** Warm-up runs that a warm-up past five times its minimum time still waits for (see {@link #nodeTimes}). */
    static final int MIN_WARMUP_RUNS = 30;
    /** Timed runs at most, as a multiple of {@code runs}, when collections keep landing inside a node. */
    static final int MAX_RUNS_FACTOR = 4;

    /**
     * Times every node: warms up, then times runs until every node has {@code runs} samples that no garbage collection
     * fell into (at most {@link #MAX_RUNS_FACTOR} times {@code runs} runs), and takes each node's median.
     *
     * <p>Why the two rules (yolov8-like's last Sigmoid, a 42,000-element op that takes 0.1 ms once compiled, was
     * profiled at 7 ms): a kernel that runs once per inference gets its invocation counts slowly, so it is still in
     * the interpreter or in C1's profiling tier when the kernels every convolution shares are long compiled; there its
     * Vector API code boxes every vector, so it is both slow and the node that allocates most, and the young
     * collections (the young generation is small, see jdk-config/jvm.args) then fall inside it, a pause of
     * milliseconds charged to a node whose work takes 0.1 ms. A median of five did not hide that when most of the five
     * had a collection in that node. So the warm-up goes on, after its minimum and the whole-run steadiness of before,
     * until the JIT has compiled nothing for {@link #JIT_QUIET_RUNS} runs and {@link #JIT_QUIET_NANOS} (capped at five
     * times the minimum as before, once {@link #MIN_WARMUP_RUNS} runs are done; at ten times in any case), and a sample with a collection inside it is not a sample of the node.
     */
    public static NodeTimes nodeTimes(Model m, OpRegistry registry, Map<String, Tensor> inputs, int threads, int runs, long warmupNanos) {
        if (runs < 1) throw new SluiceException("profiling needs at least one timed run, got " + runs);
        Graph g = m.graph();
        GraphExecutor ex = new GraphExecutor(m, registry, Parallelism.of(threads));
        // Intermediates from a planned arena, as a session runs: a node's time is then its kernel's, not the cost
        // of fresh memory (touching a new block costs about as much as a small kernel on the machines we use).
        MemoryPlans plans = new MemoryPlans();
        int n = g.nodes().size();
        // warm-up: the JIT compiles the Vector API kernels only after they ran a while (seconds on a quiet machine)
        // and a kernel run once per inference (a pooling over a large input) stays interpreted for many runs: warm up
        // at least warmupNanos, until the best of the last five runs no longer beats the best before them by 5%, and
        // until the JIT compiled nothing for a while (at most five times as long in all).
        JitClock jit = new JitClock();
        long start = System.nanoTime(), bestBefore = Long.MAX_VALUE;
        long jitAt = jit.millis(), jitQuietSince = start;
        int quietRuns = 0, warmups = 0;
        boolean jitQuiet = false;
        List<Long> times = new ArrayList<>();
        for (int w = 0; w < 4000; w++) {
            long t0 = System.nanoTime();
            close(plans.run(ex, registry, inputs));
            long t1 = System.nanoTime();
            warmups++;
            times.add(t1 - t0);
            long j = jit.millis();
            if (j != jitAt || j < 0) { jitAt = j; quietRuns = 0; jitQuietSince = t1; }
            else quietRuns++;
            jitQuiet = j >= 0 && quietRuns >= JIT_QUIET_RUNS && t1 - jitQuietSince >= JIT_QUIET_NANOS;
            long elapsed = t1 - start;
            if (times.size() > 5) bestBefore = Math.min(bestBefore, times.get(times.size() - 6));
            long recent = times.subList(Math.max(0, times.size() - 5), times.size()).stream().mapToLong(Long::longValue).min().orElse(0);
            boolean steady = times.size() > 10 && recent >= 0.95 * bestBefore;
            // the JIT tiers code up by invocation counts, so a loaded host, where a run takes ten times as long, needs as
            // many runs, not as much time: past five times the minimum the warm-up stops only after MIN_WARMUP_RUNS
            // runs, and at ten times it stops whatever it has seen (sessions placed without a file profile too)
            if (elapsed > 10 * warmupNanos || (elapsed > 5 * warmupNanos && warmups >= MIN_WARMUP_RUNS)
                || (elapsed > warmupNanos && steady && jitQuiet)) break;
        }
        long[][] samples = new long[n][runs], disturbed = new long[n][runs];
        int[] kept = new int[n], dropped = new int[n];
        List<Long> walls = new ArrayList<>(), inNodes = new ArrayList<>();
        GcClock gc = new GcClock();
        int maxRuns = MAX_RUNS_FACTOR * runs;
        while (walls.size() < maxRuns && Arrays.stream(kept).min().orElse(runs) < runs) {
            long[] gcBefore = new long[1], nodes = new long[1];
            long t0 = System.nanoTime();
            close(plans.run(ex, registry, inputs, new ExecutionListener() {
                // read outside the node's timed interval: the executor takes its clock after beforeNode, before afterNode
                @Override public void beforeNode(int step, Node node) { gcBefore[0] = gc.collections(); }
                @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
                    nodes[0] += nanos;
                    if (gc.collections() != gcBefore[0]) { if (dropped[step] < runs) disturbed[step][dropped[step]] = nanos; dropped[step]++; }
                    else if (kept[step] < runs) samples[step][kept[step]++] = nanos;
                }
            }));
            walls.add(System.nanoTime() - t0);
            inNodes.add(nodes[0]);
        }
        double[] ms = new double[n];
        for (int i = 0; i < n; i++) {
            // a node that had a collection in every run (one that itself allocates enough to fill the young generation
            // each time): the collections are then its own cost, and its disturbed samples are all there is (kept says 0)
            long[] s = kept[i] > 0 ? Arrays.copyOf(samples[i], kept[i]) : Arrays.copyOf(disturbed[i], Math.min(runs, dropped[i]));
            Arrays.sort(s);
            ms[i] = s[s.length / 2] / 1e6;
        }
        long[] w = walls.stream().mapToLong(Long::longValue).sorted().toArray(), in = inNodes.stream().mapToLong(Long::longValue).sorted().toArray();
        return new NodeTimes(ms, kept, dropped, w[w.length / 2] / 1e6, in[in.length / 2] / 1e6, w.length, warmups, jitQuiet);
    }

    /** The JIT's total compilation time so far (ms), or -1 where this JVM does not count it. */
    private static final class JitClock {
        private final java.lang.management.CompilationMXBean bean = java.lang.management.ManagementFactory.getCompilationMXBean();
        long millis() { return bean != null && bean.isCompilationTimeMonitoringSupported() ? bean.getTotalCompilationTime() : -1; }
    }

    /** Garbage collections so far, all collectors together. */
    private static final class GcClock {
        private final List<java.lang.management.GarbageCollectorMXBean> beans = java.lang.management.ManagementFactory.getGarbageCollectorMXBeans();
        long collections() {
            long c = 0;
            for (var b : beans) c += Math.max(0, b.getCollectionCount());
            return c;
        }
    }

    private static void close(Map<String, Tensor> out) { for (Tensor t : out.values()) t.close(); }

    /** Measured link of a throttled device: {bytes per second (0: unlimited), latency ms}. */
    public static double[] measureLink(long bandwidth) {
        CopyLane lane = new CopyLane("probe.h2d", LaneKind.H2D, bandwidth);
        long big = 4L << 20, small = 64;
        try (Tensor a = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, dev.sluice.kernels.Shape.of(big / 4));
             Tensor b = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, dev.sluice.kernels.Shape.of(big / 4));
             Tensor c = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, dev.sluice.kernels.Shape.of(small / 4));
             Tensor d = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, dev.sluice.kernels.Shape.of(small / 4))) {
            // warm the copy path first: timed cold, a tiny copy measured the interpreter (several times the latency of a
            // copy in a run), and every predicted copy carried that
            for (int i = 0; i < 20_000; i++) lane.copy(c, d);
            long[] tb = new long[7], ts = new long[7];
            for (int i = 0; i < 7; i++) {
                long t0 = System.nanoTime();
                lane.copy(a, b);
                tb[i] = System.nanoTime() - t0;
                t0 = System.nanoTime();
                lane.copy(c, d);
                ts[i] = System.nanoTime() - t0;
            }
            Arrays.sort(tb);
            Arrays.sort(ts);
            double lat = ts[3] / 1e9, perByte = Math.max(1e-15, (tb[3] - ts[3]) / 1e9 / (big - small));
            return new double[] {1 / perByte, lat * 1e3};
        }
    }

    /**
     * The cost model of {@code m} (static shapes) on {@code devices}: device 0 must be {@code cpu}. Budgets given as a
     * percentage are of the bytes the graph needs on the accelerator with every node there and nothing offloaded.
     */
    public static CostModel profile(Model m, OpRegistry registry, Map<String, Tensor> inputs, List<SessionOptions.DeviceRequest> devices,
                                    long bandwidth, int threadsPerDevice, int runs) {
        return profile(m, registry, inputs, devices, bandwidth, threadsPerDevice, runs, WARMUP_NANOS);
    }

    /** As above, the profiler warming up for at least {@code warmupNanos} first. */
    public static CostModel profile(Model m, OpRegistry registry, Map<String, Tensor> inputs, List<SessionOptions.DeviceRequest> devices,
                                    long bandwidth, int threadsPerDevice, int runs, long warmupNanos) {
        return profiled(m, registry, inputs, devices, bandwidth, threadsPerDevice, runs, warmupNanos).costs();
    }

    /** A cost model and what the profiler measured on the cpu to make it (samples, the whole run's time). */
    public record Profiled(CostModel costs, NodeTimes cpu) {}

    /** As {@link #profile}, with the cpu's measurement beside the cost model. */
    public static Profiled profiled(Model m, OpRegistry registry, Map<String, Tensor> inputs, List<SessionOptions.DeviceRequest> devices,
                                    long bandwidth, int threadsPerDevice, int runs, long warmupNanos) {
        if (devices.isEmpty() || !devices.get(0).name().equals("cpu")) {
            throw new SluiceException("profiling needs the cpu first in the device list, got " + devices);
        }
        NodeTimes times = nodeTimes(m, registry, inputs, threadsPerDevice, runs, warmupNanos);
        double[] cpu = times.millis();
        Map<String, double[]> measured = new java.util.HashMap<>();
        for (SessionOptions.DeviceRequest r : devices.subList(1, devices.size())) {
            if (r.name().equals("tornadovm") && !measured.containsKey("tornadovm")) {
                OpRegistry tornado = dev.sluice.runtime.device.TornadoDevice.backendOrThrow().registry(registry);
                measured.put("tornadovm", medianNodeMillis(m, tornado, inputs, threadsPerDevice, runs, warmupNanos));
            }
        }
        return new Profiled(fromTimes(m, cpu, measured, devices, bandwidth), times);
    }

    /**
     * The cost model from node times already measured on the cpu (graph order): the throttled device's link is
     * measured here, a described device's times estimated. Lets one profile serve several budgets and devices.
     */
    public static CostModel fromCpuTimes(Model m, double[] cpu, List<SessionOptions.DeviceRequest> devices, long bandwidth) {
        return fromTimes(m, cpu, Map.of(), devices, bandwidth);
    }

    /**
     * As {@link #fromCpuTimes}, with node times already measured on devices that run kernels of their own ({@code
     * tornadovm}), by device name (graph order).
     */
    public static CostModel fromTimes(Model m, double[] cpu, Map<String, double[]> measured, List<SessionOptions.DeviceRequest> devices,
                                      long bandwidth) {
        Graph g = m.graph();
        if (cpu.length != g.nodes().size()) throw new SluiceException(cpu.length + " node times for " + g.nodes().size() + " nodes");
        List<CostModel.DeviceCost> ds = new ArrayList<>();
        List<double[]> cols = new ArrayList<>();
        List<CostModel.Source> sources = new ArrayList<>();
        ds.add(new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0));
        cols.add(cpu);
        sources.add(CostModel.Source.MEASURED);
        for (SessionOptions.DeviceRequest r : devices.subList(1, devices.size())) {
            if (r.name().equals("throttled")) {
                double[] link = measureLink(bandwidth);
                long full = MemGraph.fullNeed(g, new DeviceSpec("throttled", DeviceKind.THROTTLED, 1));
                ds.add(new CostModel.DeviceCost("throttled", "throttled", CostModel.Source.MEASURED, link[0], link[1],
                    CostModel.Source.MEASURED, budgetBytes(r.budget(), full, full)));
                cols.add(cpu.clone());
                sources.add(CostModel.Source.MEASURED);
            } else if (r.described()) {
                DeviceDescription dd = DeviceDescription.load(r.name());
                long full = MemGraph.fullNeed(g, new DeviceSpec(dd.name(), DeviceKind.ACCELERATOR, 1));
                double[] est = new double[g.nodes().size()];
                for (int i = 0; i < est.length; i++) {
                    Node node = g.nodes().get(i);
                    est[i] = dd.kernelMillis(FlopCount.flops(g, node), FlopCount.bytesTouched(g, node));
                }
                ds.add(new CostModel.DeviceCost(dd.name(), "described", CostModel.Source.ESTIMATED, dd.linkBytesPerSecond(),
                    dd.linkLatencyUs() / 1e3, CostModel.Source.ESTIMATED, Math.min(dd.memoryBytes(), budgetBytes(r.budget(), full, dd.memoryBytes()))));
                cols.add(est);
                sources.add(CostModel.Source.ESTIMATED);
            } else if (r.name().equals("tornadovm")) {
                double[] t = measured.get("tornadovm");
                if (t == null || t.length != g.nodes().size()) throw new SluiceException("device 'tornadovm' has no node times measured for " + g.name());
                double[] link = measureLink(0); // its copy lanes: host memory into the device arena
                long full = MemGraph.fullNeed(g, new DeviceSpec("tornadovm", DeviceKind.ACCELERATOR, 1));
                ds.add(new CostModel.DeviceCost("tornadovm", "tornadovm", CostModel.Source.MEASURED, link[0], link[1],
                    CostModel.Source.MEASURED, budgetBytes(r.budget(), full, full)));
                cols.add(t.clone());
                sources.add(CostModel.Source.MEASURED);
            } else {
                throw new SluiceException("device '" + r.name() + "': profiling and placement take cpu, throttled, tornadovm or a description FILE.json");
            }
        }
        List<String> keys = CostModel.nodeKeys(g);
        List<CostModel.NodeCost> nodes = new ArrayList<>();
        for (int i = 0; i < keys.size(); i++) {
            Node node = g.nodes().get(i);
            long w = 0, act = 0, out = 0;
            Set<String> seen = new HashSet<>();
            for (String v : node.inputs()) {
                if (v.isEmpty() || !seen.add(v)) continue;
                long b = FlopCount.bytes(g, v);
                if (g.initializers().containsKey(v)) w += b;
                else act += b;
            }
            for (String o : node.outputs()) out += FlopCount.bytes(g, o);
            List<CostModel.Timing> ts = new ArrayList<>();
            for (int d = 0; d < cols.size(); d++) ts.add(new CostModel.Timing(cols.get(d)[i], sources.get(d)));
            nodes.add(new CostModel.NodeCost(keys.get(i), node.opType(), FlopCount.flops(g, node), w, act + out, out, ts));
        }
        return new CostModel(g.name(), CostModel.fingerprint(g), ds, nodes);
    }

    /** A budget in bytes: a percentage of {@code full}, a byte count, or {@code unlimited} when none is given. */
    static long budgetBytes(SessionOptions.Budget b, long full, long unlimited) {
        return switch (b) {
            case SessionOptions.Budget.Unlimited u -> Math.max(unlimited, Tensor.ALIGNMENT);
            case SessionOptions.Budget.Bytes x -> x.bytes();
            case SessionOptions.Budget.Percent p -> Math.max(Tensor.ALIGNMENT, (long) (full * p.percent() / 100));
        };
    }
}
