package dev.sluice.bench.place;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.Model;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.placement.Simulator;
import dev.sluice.memgraph.placement.Strategies;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.runtime.compile.PlacementPipeline;
import dev.sluice.runtime.compile.SimulatorCalibration;
import dev.sluice.runtime.compile.Profiler;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.Trace;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import dev.sluice.runtime.zoo.Zoo;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code sluice place-bench}: every zoo model, every strategy, the accelerator at 100/50/25% of what the model
 * needs on it with nothing offloaded, on a described GPU (predictions: estimates), on the throttled device and, asked
 * for, on TornadoVM's device (predicted and measured, the simulator's error). One CPU profile per model (and graph:
 * TornadoVM's placements run the graph fused into standard ops) serves every configuration.
 */
public final class PlaceBenchCommand implements Command {
    @Override public String name() { return "place-bench"; }
    @Override public String summary() { return "every placement strategy on the zoo at 100/50/25% accelerator budgets (described GPU and throttled)"; }
    @Override public Set<String> valueOptions() {
        return Set.of("models", "gpu", "runs", "milp-seconds", "threads", "budgets", "explain", "accelerators", "malloc");
    }
    @Override public String help() {
        return """
            usage: sluice place-bench [--models a,b,...] [--gpu FILE.json] [--accelerators LIST] [--budgets 100,50,25] [--runs N]
                                      [--milp-seconds S] [--threads N] [--explain none|summary|tasks] [--malloc default|fixed]

            For each zoo model (default all), profiles the CPU once (see 'sluice help profile'), then for each
            accelerator of --accelerators (default: the described GPU of --gpu, default nvidia-t4.json, estimates, never
            run; and throttled, a CPU standing in for an accelerator, measured; tornadovm, TornadoVM's device, measured,
            needs TORNADOVM_HOME: both devices then run the graph fused into standard ops, and TornadoVM's node times are
            profiled too) at each budget, runs every strategy (see 'sluice help place') and prints one line each:
              place-bench: <model> <accel>:<budget>% <strategy> predicted_ms= [measured_ms=] accel_peak_bytes= solver_ms= nodes= [gap=]
            and per configuration the ratios the issue's targets are about: chrion-memory's accelerator peak over
            all-accel's, chrion-latency's and milp's predicted latency over all-accel's and heft's, and on a measured
            accelerator the simulator's median error. The simulator is calibrated on the traces of all-cpu and
            all-accel (run interleaved with the others; not counted in the error): node times, the accelerator's kernel
            tasks (a scale and a fixed cost per task), the link, and the dispatcher's per-task gap, hand-off and per-run
            costs; how many compute lanes the host runs at full speed at once is measured by a spin before each round.
            Each round runs the placements in a rotated order. The error line adds the error against each placement's
            fastest quarter of runs (on a loaded host the median run may be a disturbed one) and the median error of
            calibrations with fewer parts, on the same runs. --explain summary prints, per placement, bodies and ready-to-start delays measured against predicted
            and the page faults per run; --explain tasks adds the tasks that differ most.
            --malloc fixed sets glibc's mmap and trim thresholds (32 MiB, 1 GiB) before anything runs, so that a placed
            run's host intermediates (fresh memory each run) reuse the C heap's pages instead of faulting in new ones as
            glibc's adaptive thresholds decide, which differs from one executor to the next (see bench/RESULTS.md);
            default leaves malloc as it is.""";
    }

    @Override public int run(Args args, PrintStream out) {
        int threads = args.intOption("threads", SessionOptions.defaultThreads());
        int runs = args.intOption("runs", 5);
        double milp = Double.parseDouble(args.option("milp-seconds", "10"));
        explain = args.option("explain", "none");
        if (!List.of("none", "summary", "tasks").contains(explain)) throw new dev.sluice.kernels.SluiceException("--explain takes none, summary or tasks, got " + explain);
        String malloc = args.option("malloc", "default");
        if (!List.of("default", "fixed").contains(malloc)) throw new dev.sluice.kernels.SluiceException("--malloc takes default or fixed, got " + malloc);
        if (malloc.equals("fixed")) fixMallocThresholds(out);
        String gpu = args.option("gpu", "nvidia-t4.json");
        List<String> accelerators = Arrays.stream(args.option("accelerators", gpu + ",throttled").split(",")).map(String::trim).toList();
        List<Integer> budgets = Arrays.stream(args.option("budgets", "100,50,25").split(",")).map(String::trim).map(Integer::parseInt).toList();
        List<Zoo.Model> models = args.option("models") == null ? Zoo.models()
            : Arrays.stream(args.option("models").split(",")).map(String::trim).map(Zoo::find).toList();
        List<String> cpuKernels = accelerators.stream().filter(a -> !a.equals("tornadovm")).toList();
        for (Zoo.Model z : models) {
            if (!cpuKernels.isEmpty()) {
                try (Session s = Session.open(z.path(), SessionOptions.builder().threads(threads).memoryPlanning(false).build())) {
                    Map<String, Tensor> in = z.sampleInputs(1);
                    Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
                    double[] cpu = Profiler.medianNodeMillis(m, s.registry(), in, PlacementPipeline.threadsPerDevice(threads), runs);
                    for (String accel : cpuKernels) {
                        for (int pct : budgets) {
                            SessionOptions o = SessionOptions.builder().threads(threads).devices("cpu", accel + ":" + pct + "%").build();
                            CostModel costs = Profiler.fromCpuTimes(m, cpu, o.devices(), 0);
                            PlacementPipeline.Setup setup = PlacementPipeline.fromCosts(m, s.registry(), costs, o, PlacementPipeline.COARSEN_FRACTION);
                            config(z.name(), accel + ":" + pct + "%", setup, in, s, o, milp, runs, out);
                            releaseNativeMemory();
                        }
                    }
                }
            }
            if (accelerators.contains("tornadovm")) tornado(z, threads, budgets, milp, runs, out);
        }
        return 0;
    }

    /**
     * The model on the cpu and TornadoVM's device: as {@code place --devices cpu,tornadovm}, both run the graph fused
     * into standard ops only (TornadoVM's kernels know no others), and each node is profiled on both.
     */
    private static void tornado(Zoo.Model z, int threads, List<Integer> budgets, double milp, int runs, PrintStream out) {
        try (Session s = dev.sluice.runtime.compile.StandardOpsSession.open(z.path(), SessionOptions.builder().threads(threads).memoryPlanning(false).build())) {
            Map<String, Tensor> in = z.sampleInputs(1);
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
            int per = PlacementPipeline.threadsPerDevice(threads);
            double[] cpu = Profiler.medianNodeMillis(m, s.registry(), in, per, runs);
            double[] tvm = Profiler.medianNodeMillis(m, dev.sluice.runtime.device.TornadoDevice.backendOrThrow().registry(s.registry()), in, per, runs);
            for (int pct : budgets) {
                SessionOptions o = SessionOptions.builder().threads(threads).devices("cpu", "tornadovm:" + pct + "%").build();
                CostModel costs = Profiler.fromTimes(m, cpu, Map.of("tornadovm", tvm), o.devices(), 0);
                PlacementPipeline.Setup setup = PlacementPipeline.fromCosts(m, s.registry(), costs, o, PlacementPipeline.COARSEN_FRACTION);
                config(z.name(), "tornadovm:" + pct + "%", setup, in, s, o, milp, runs, out);
                releaseNativeMemory();
            }
        }
    }

    /**
     * glibc's mmap threshold (M_MMAP_THRESHOLD, -3) at 32 MiB, its largest, and its trim threshold (M_TRIM_THRESHOLD, -1)
     * at 1 GiB: setting them also stops glibc from adapting them as blocks are freed. A placed run takes its host
     * intermediates as fresh memory each run; with the adaptive thresholds some executors get pages that fault in every
     * run and others reuse the heap's, so one placement's kernels took 0.25 ms in one executor and 1.2 ms in another.
     * Between configurations {@link #releaseNativeMemory} still trims the heap.
     */
    static void fixMallocThresholds(PrintStream out) {
        var linker = java.lang.foreign.Linker.nativeLinker();
        var f = linker.defaultLookup().find("mallopt");
        if (f.isEmpty()) { out.println("place-bench: --malloc fixed: this C library has no mallopt; malloc left as it is"); return; }
        var mallopt = linker.downcallHandle(f.get(), java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT,
            java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_INT));
        try {
            int mmap = (int) mallopt.invokeExact(-3, 32 << 20), trim = (int) mallopt.invokeExact(-1, 1 << 30);
            if (mmap != 1 || trim != 1) throw new IllegalStateException("mallopt refused: mmap threshold " + mmap + ", trim threshold " + trim);
        } catch (Throwable e) {
            throw new IllegalStateException("mallopt failed", e);
        }
        out.println("place-bench: malloc thresholds fixed (mmap 32 MiB, trim 1 GiB)");
    }

    /** This process's minor page faults so far (Linux: /proc/self/stat), or -1 where it cannot be read. */
    static long minorFaults() {
        try {
            String st = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/stat"));
            // fields after the command name (which may hold spaces): state is field 3, minflt field 10
            String[] f = st.substring(st.lastIndexOf(')') + 2).split(" ");
            return Long.parseLong(f[7]);
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Between configurations: what a configuration closed is gone already (its runs' host intermediates, device
     * arenas, worker pools), but kernels' own temporaries and the profiler's tensors are native memory the collector
     * frees, and once their small heap objects are old only a full collection finds them: a full-zoo run held
     * gigabytes that way (7 GB resident by ppocr-rec, 2.3 GB after a collection and a trim). So collect, and give
     * the C heap's free pages back to the system (glibc's malloc_trim, where there is one).
     */
    static void releaseNativeMemory() {
        System.gc();
        if (MALLOC_TRIM != null) {
            try { int released = (int) MALLOC_TRIM.invokeExact(0L); } catch (Throwable e) { throw new IllegalStateException("malloc_trim failed", e); }
        }
    }

    private static final java.lang.invoke.MethodHandle MALLOC_TRIM = java.lang.foreign.Linker.nativeLinker().defaultLookup().find("malloc_trim")
        .map(f -> java.lang.foreign.Linker.nativeLinker().downcallHandle(f,
            java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_LONG)))
        .orElse(null);

    /** {@code --explain}: none, summary (per placement, where measured and predicted part) or tasks (and the worst tasks). */
    private static String explain = "none";

    private static void config(String model, String accel, PlacementPipeline.Setup setup, Map<String, Tensor> in, Session s, SessionOptions o,
                               double milp, int runs, PrintStream out) {
        double slo = PlacementPipeline.sloMillis(setup, SessionOptions.Slo.parse("1.2x"));
        Map<String, PlacementPipeline.Outcome> got = new LinkedHashMap<>();
        for (String name : Strategies.NAMES) {
            Strategies.Result r = PlacementPipeline.solve(setup, name, SessionOptions.Objective.LATENCY, slo, milp);
            if (name.equals("chrion-memory")) r = PlacementPipeline.solve(setup, name, SessionOptions.Objective.MEMORY, slo, milp);
            PlacementPipeline.Outcome oc = PlacementPipeline.realize(setup, r);
            if (oc.refusal() != null) {
                out.printf("place-bench: %s %s %s refused: needs more than the budget%n", model, accel, name);
                continue;
            }
            got.put(name, oc);
        }
        Map<String, Double> measured = new LinkedHashMap<>();
        Map<String, Trace> medianTrace = new LinkedHashMap<>();
        Map<String, List<Trace>> allTraces = new LinkedHashMap<>();
        Map<String, Double> predicted = new LinkedHashMap<>();
        got.forEach((k, v) -> predicted.put(k, v.prediction().makespanMillis()));
        Map<String, Double> uncalibrated = new LinkedHashMap<>(predicted); // what the SLO was set and held against
        List<Map<String, Double>> predictedBy = new ArrayList<>(); // plain, +kernel tasks, the default +stretch, the default without the parked split
        if (setup.allReal()) {
            List<MemGraphExecutor> exs = new ArrayList<>();
            try {
                for (var e : got.values()) exs.add(PlacementPipeline.executor(setup, e, Dispatcher.Order.DYNAMIC, null));
                for (MemGraphExecutor ex : exs) PlacementPipeline.measure(ex, in, 1);
                List<List<Trace>> traces = new ArrayList<>();
                for (int i = 0; i < exs.size(); i++) traces.add(new ArrayList<>());
                long[] faults = new long[exs.size()];
                double[] lanes = new double[runs];
                StringBuilder[] walls = new StringBuilder[exs.size()];
                for (int i = 0; i < exs.size(); i++) walls[i] = new StringBuilder();
                for (int r = 0; r < runs; r++) {
                    lanes[r] = SimulatorCalibration.concurrency(5);
                    for (int j = 0; j < exs.size(); j++) {
                        int i = (j + r) % exs.size();
                        long f0 = minorFaults();
                        MemGraphExecutor.Result res = exs.get(i).run(in);
                        faults[i] += minorFaults() - f0;
                        traces.get(i).add(res.trace());
                        walls[i].append(String.format(java.util.Locale.ROOT, " %.2f@%d", res.trace().wallNanos() / 1e6, j));
                        for (Tensor x : res.outputs().values()) x.close();
                    }
                }
                if (!explain.equals("none")) {
                    int w = 0;
                    for (String k : got.keySet()) out.printf("place-bench: explain %s %s %s: walls (ms@position in the round)%s%n", model, accel, k, walls[w++]);
                }
                int i = 0;
                for (String k : got.keySet()) {
                    List<Trace> ts = traces.get(i++);
                    ts.sort(java.util.Comparator.comparingLong(Trace::wallNanos));
                    measured.put(k, ts.get(runs / 2).wallNanos() / 1e6);
                    medianTrace.put(k, ts.get(runs / 2));
                    allTraces.put(k, ts);
                }
            if (got.containsKey("all-cpu") && got.containsKey("all-accel")) {
                Arrays.sort(lanes);
                SimulatorCalibration cal = SimulatorCalibration.of(setup.costs(), got.get("all-cpu").memGraph(), allTraces.get("all-cpu"),
                    got.get("all-accel").memGraph(), allTraces.get("all-accel")).withConcurrency(lanes[runs / 2]);
                Simulator.Overheads over = cal.overheads();
                CostModel.DeviceCost link = cal.costs().devices().get(1);
                out.printf(java.util.Locale.ROOT, "place-bench: %s %s calibrated on the all-cpu and all-accel traces: node times, link %.1f us + %s,"
                        + " dispatcher %.1f us a task on the host (%.1f us on the accelerator), hand-offs %.1f us to a compute lane and %.1f us to a copy lane,"
                        + " (to a lane idle %.0f us or more, parked: %.1f us and %.1f us),"
                        + " %.1f us a run, %.1f us inside each accelerator kernel task, compute lanes at %.2f cores' speed%n", model, accel,
                    link.linkLatencyMs() * 1e3,
                    link.linkBytesPerSecond() == 0 ? "no bandwidth term" : String.format(java.util.Locale.ROOT, "%.2f GB/s", link.linkBytesPerSecond() / 1e9),
                    over.hostTaskMillis() * 1e3, over.taskMillis() * 1e3, over.wakeMillis() * 1e3, over.copyWakeMillis() * 1e3,
                    over.parkedAfterMillis() * 1e3, over.parkedWakeMillis() * 1e3, over.parkedCopyWakeMillis() * 1e3, over.runMillis() * 1e3,
                    over.kernelMillis() * 1e3, over.concurrency());
                got.forEach((k, v) -> predicted.put(k, Simulator.run(v.memGraph(), cal.costs(), over, PlacementPipeline.simulatorOrder(Dispatcher.Order.DYNAMIC)).makespanMillis()));
                // the same runs predicted by the calibration with fewer of its parts, so each part's effect shows on the same runs
                var none = java.util.EnumSet.noneOf(SimulatorCalibration.Part.class);
                var kt = java.util.EnumSet.of(SimulatorCalibration.Part.KERNEL_TASKS);
                SimulatorCalibration plain = SimulatorCalibration.of(setup.costs(), got.get("all-cpu").memGraph(), allTraces.get("all-cpu"),
                    got.get("all-accel").memGraph(), allTraces.get("all-accel"), none);
                SimulatorCalibration withKernelTasks = SimulatorCalibration.of(setup.costs(), got.get("all-cpu").memGraph(), allTraces.get("all-cpu"),
                    got.get("all-accel").memGraph(), allTraces.get("all-accel"), kt);
                SimulatorCalibration all = SimulatorCalibration.of(setup.costs(), got.get("all-cpu").memGraph(), allTraces.get("all-cpu"),
                    got.get("all-accel").memGraph(), allTraces.get("all-accel"), java.util.EnumSet.allOf(SimulatorCalibration.Part.class));
                List<SimulatorCalibration> variants = List.of(plain, withKernelTasks, all.withConcurrency(lanes[runs / 2]),
                    withKernelTasks.withConcurrency(lanes[runs / 2]));
                for (int v = 0; v < variants.size(); v++) {
                    SimulatorCalibration c = variants.get(v);
                    Map<String, Double> pv = new LinkedHashMap<>();
                    got.forEach((k, x) -> pv.put(k, Simulator.run(x.memGraph(), c.costs(), c.overheads(),
                        PlacementPipeline.simulatorOrder(Dispatcher.Order.DYNAMIC)).makespanMillis()));
                    predictedBy.add(pv);
                }
                if (!explain.equals("none")) {
                    int f = 0;
                    for (String k : got.keySet()) {
                        long per = faults[f++] / runs;
                        out.printf("place-bench: explain %s %s %s: %s minor page faults a run%n", model, accel, k, per < 0 ? "unknown" : per);
                    }
                    for (var e : got.entrySet()) {
                        SimulatorCheck.explain(model + " " + accel + " " + e.getKey(), e.getValue().memGraph(), cal.costs(), over,
                            medianTrace.get(e.getKey()), explain.equals("tasks"), out);
                    }
                }
            }
            } finally {
                for (MemGraphExecutor ex : exs) PlacementPipeline.close(ex, false);
            }
        }
        for (var e : got.entrySet()) {
            String k = e.getKey();
            PlacementPipeline.Outcome oc = e.getValue();
            out.printf("place-bench: %s %s %s predicted_ms=%.3f%s accel_peak_bytes=%d solver_ms=%.1f nodes=%d%s%n", model, accel, k, predicted.get(k),
                measured.containsKey(k) ? String.format(" measured_ms=%.3f", measured.get(k)) : "", oc.acceleratorPeak(),
                oc.result().solverMillis(), setup.coarse().after(), k.equals("milp") ? " (" + oc.result().note() + ")" : "");
        }
        PlacementPipeline.Outcome acc = got.get("all-accel"), mem = got.get("chrion-memory"), lat = got.get("chrion-latency"), heft = got.get("heft"),
            mi = got.get("milp");
        if (acc != null && mem != null && lat != null && heft != null && mi != null) {
            out.printf("place-bench: %s %s summary: chrion-memory peak/all-accel %.3f (uncalibrated latency %.3f of the %.3f ms SLO); chrion-latency/all-accel %.3f;"
                    + " milp/heft %.3f; coarse %d of %d nodes%n", model, accel,
                (double) mem.acceleratorPeak() / Math.max(1, acc.acceleratorPeak()), uncalibrated.get("chrion-memory") / slo, slo,
                predicted.get("chrion-latency") / predicted.get("all-accel"), predicted.get("milp") / predicted.get("heft"),
                setup.coarse().after(), setup.coarse().before());
        }
        if (!measured.isEmpty()) {
            double[] err = measured.keySet().stream().filter(k -> !k.equals("all-cpu") && !k.equals("all-accel"))
                .mapToDouble(k -> Math.abs(predicted.get(k) - measured.get(k)) / measured.get(k)).sorted().toArray();
            StringBuilder parts = new StringBuilder();
            String[] names = {"node times, link and dispatcher only", "those + the kernel-task line", "the default + the stretch to all-cpu's wall",
                "the default without the parked lanes' hand-offs apart"};
            for (int v = 0; v < predictedBy.size(); v++) {
                Map<String, Double> pv = predictedBy.get(v);
                double[] e = measured.keySet().stream().filter(k -> !k.equals("all-cpu") && !k.equals("all-accel"))
                    .mapToDouble(k -> Math.abs(pv.get(k) - measured.get(k)) / measured.get(k)).sorted().toArray();
                if (e.length > 0) parts.append(String.format(java.util.Locale.ROOT, "%s %.1f%%; ", names[v], 100 * e[e.length / 2]));
            }
            // on a host whose load comes in bursts a placement's median run may be a disturbed one: the error against each
            // placement's fastest quarter of runs shows how much of the error is the host's
            double[] quiet = measured.keySet().stream().filter(k -> !k.equals("all-cpu") && !k.equals("all-accel")).mapToDouble(k -> {
                List<Trace> ts = allTraces.get(k);
                double q = ts.get((ts.size() - 1) / 4).wallNanos() / 1e6;
                return Math.abs(predicted.get(k) - q) / q;
            }).sorted().toArray();
            if (err.length > 0) out.printf("place-bench: %s %s simulator median error %.1f%% (max %.1f%%); against each placement's fastest quarter of"
                    + " runs %.1f%%%s%n", model, accel, 100 * err[err.length / 2], 100 * err[err.length - 1], 100 * quiet[quiet.length / 2],
                parts.isEmpty() ? "" : "; calibrated with " + parts + "(the default, as above: + the kernel-task line + the lanes' concurrency + the parked lanes' hand-offs apart)");
        }
    }
}
