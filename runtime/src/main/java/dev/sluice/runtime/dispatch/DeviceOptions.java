package dev.sluice.runtime.dispatch;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.Model;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.device.AcceleratorBackend;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.compile.Compiled;
import dev.sluice.runtime.compile.Executable;
import dev.sluice.runtime.compile.Pipeline;
import dev.sluice.runtime.compile.PipelineRunner;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.Device;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.device.TornadoDevice;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The command-line face of devices and the dispatcher: {@code --device cpu|throttled|tornadovm}, {@code --budget
 * PERCENT%|BYTES}, {@code --bandwidth BYTES_PER_S}, {@code --order dynamic|priority|fixed}, {@code --trace FILE.json}.
 * Commands add {@link #NAMES} to their options and hand a session to {@link #attach}; with none of these
 * options given the session keeps the reference executor. Each set of input shapes compiles through the pipeline's
 * dispatched case ({@link Pipeline#dispatched}: every node on the device, its MemGraph under the budget, split as the
 * session's {@code TilingOptions} allow); this class adds the devices' lanes and the report after each run.
 */
public record DeviceOptions(String device, String budget, long bandwidth, Dispatcher.Order order, Path trace, int threads,
                            dev.sluice.runtime.SessionOptions base) {
    public static final Set<String> NAMES = Set.of("device", "budget", "bandwidth", "order", "trace");

    public static final String HELP = """
          --device cpu|throttled|tornadovm
                                   run through the dispatcher on the CPU (one lane per thread), on a throttled
                                   device (a CPU with a capped arena and bandwidth-limited copy lanes), or on
                                   TornadoVM's device (needs TORNADOVM_HOME; ops it lacks run on the CPU, and
                                   the report says which)
          --budget P%|BYTES        throttled or tornadovm device memory (a device arena; the run goes through
                                   the MemGraph with copies as copy tasks); P% of what the run needs with
                                   nothing offloaded
          --bandwidth BYTES_PER_S  throttled copy lanes' speed (k, M, G suffixes; default unlimited)
          --order dynamic|priority|fixed
                                   any ready task on the first idle lane (first come, first served; or,
                                   with priority, the ready task earliest in the planned order), or one
                                   fixed topological order (the baseline)
          --trace FILE.json        write a Chrome/Perfetto trace: a track per lane, a slice per task""";

    /** Reads the options (null when none is given). */
    public static DeviceOptions from(Function<String, String> option, int threads) {
        if (NAMES.stream().allMatch(n -> option.apply(n) == null)) return null;
        String device = option.apply("device") == null ? (option.apply("budget") != null || option.apply("bandwidth") != null ? "throttled" : "cpu")
            : option.apply("device").toLowerCase(Locale.ROOT);
        if (!device.equals("cpu") && !device.equals("throttled") && !device.equals("tornadovm")) {
            throw new SluiceException("--device must be cpu, throttled or tornadovm, got '" + device + "'");
        }
        if (device.equals("cpu") && option.apply("budget") != null) {
            throw new SluiceException("--budget applies to --device throttled or tornadovm; cpu reads host memory in place");
        }
        if (!device.equals("throttled") && option.apply("bandwidth") != null) {
            throw new SluiceException("--bandwidth applies to --device throttled; " + device + " copies at its own speed");
        }
        String ord = option.apply("order") == null ? "dynamic" : option.apply("order").toLowerCase(Locale.ROOT);
        Dispatcher.Order order = switch (ord) {
            case "dynamic" -> Dispatcher.Order.DYNAMIC;
            case "priority" -> Dispatcher.Order.PRIORITY;
            case "fixed" -> Dispatcher.Order.FIXED;
            default -> throw new SluiceException("--order must be dynamic, priority or fixed, got '" + ord + "'");
        };
        long bw = option.apply("bandwidth") == null ? 0 : parseBytes("--bandwidth", option.apply("bandwidth"));
        Path trace = option.apply("trace") == null ? null : Path.of(option.apply("trace"));
        return new DeviceOptions(device, option.apply("budget"), bw, order, trace, threads,
            dev.sluice.runtime.SessionOptions.builder().threads(threads).build());
    }

    /**
     * The dispatcher settings of session options that are not the plain CPU run: one device besides the host
     * (throttled with its budget, or tornadovm), or the CPU through the dispatcher (an order or a trace given).
     */
    public static DeviceOptions of(dev.sluice.runtime.SessionOptions o) {
        String device = "cpu";
        String budget = null;
        for (var d : o.devices()) {
            if (d.name().equals("cpu")) continue;
            if (!device.equals("cpu")) {
                throw new SluiceException("running on " + o.devices() + " needs a placement across devices; one device besides the cpu is supported here");
            }
            if (d.described()) {
                throw new SluiceException("device " + d.name() + " is a description, not a device on this machine: it can be planned for, not run on");
            }
            device = d.name();
            var b = d.budget();
            if (b instanceof dev.sluice.runtime.SessionOptions.Budget.Percent p) budget = p.percent() + "%";
            else if (b instanceof dev.sluice.runtime.SessionOptions.Budget.Bytes n) budget = Long.toString(n.bytes());
        }
        if (budget != null && device.equals("cpu")) {
            throw new SluiceException("a memory budget applies to the throttled or tornadovm device; cpu reads host memory in place");
        }
        if (o.bandwidthBytesPerSecond() > 0 && !device.equals("throttled")) {
            throw new SluiceException("a copy bandwidth applies to the throttled device, not to " + device);
        }
        Dispatcher.Order order = switch (o.order()) {
            case DYNAMIC -> Dispatcher.Order.DYNAMIC;
            case PRIORITY -> Dispatcher.Order.PRIORITY;
            case FIXED -> Dispatcher.Order.FIXED;
        };
        return new DeviceOptions(device, budget, o.bandwidthBytesPerSecond(), order, o.traceFile(), o.threads(), o);
    }

    /**
     * Makes the session run through the dispatcher with these options, printing a report after each run.
     * The session keeps one prepared executor per set of input shapes (plan, devices) and one set of lane
     * workers for all of them, so later runs reuse the lane threads; closing the session lets them go.
     */
    public Session attach(Session s, PrintStream out) {
        return s.withRunner(new SessionRunner(out));
    }

    /**
     * Opens a model for this device and attaches to it. An accelerator gets the graph fused into standard ops
     * only (its kernels do not know the CPU's sluice.Fused* ops); the CPU and throttled devices run CPU kernels.
     */
    public Session open(dev.sluice.graph.Model imported, PrintStream out) {
        var fusion = device.equals("tornadovm") ? dev.sluice.graph.fusion.PatternFusion.Target.STANDARD_OPS
            : dev.sluice.graph.fusion.PatternFusion.Target.CPU;
        return attach(SessionInternals.open(imported, base, dev.sluice.kernels.OpRegistry.cpu(base.kernels()), fusion), out);
    }

    /** What a run with given input shapes needs, built once per session and shapes: the pipeline's values, the devices. */
    private record Prepared(Compiled compiled, List<Device> devices, long full, TornadoDevice tornado) {
        MemGraphExecutor executor() { return ((Executable.Placed) compiled.executable()).executor(); }

        MemGraph plan() { return compiled.memGraph(); }
    }

    private final class SessionRunner implements PipelineRunner {
        final PrintStream out;
        final Map<List<Object>, Prepared> prepared = new java.util.concurrent.ConcurrentHashMap<>();
        /** The lane workers every prepared executor issues through (the first one's). */
        volatile Dispatcher lanes;

        SessionRunner(PrintStream out) { this.out = out; }

        @Override public Map<String, Tensor> run(Session session, Map<String, Tensor> inputs) {
            Prepared p = prepared(session, inputs);
            return DeviceOptions.this.run(p, inputs, out);
        }

        @Override public Compiled compiled(Session session, Map<String, Tensor> inputs) { return prepared(session, inputs).compiled(); }

        private Prepared prepared(Session session, Map<String, Tensor> inputs) {
            // A plan holds for input shapes and, since If nodes are inlined for the branch they take, for the
            // values of one-element integer/bool inputs too (Silero's sample rate picks a branch, say).
            List<Object> key = new java.util.ArrayList<>();
            for (var e : new java.util.TreeMap<>(inputs).entrySet()) {
                Tensor t = e.getValue();
                key.add(t.shape());
                if (t.elementCount() == 1 && !t.dtype().isFloatingPoint()) key.add(t.getLong(0));
            }
            Prepared p = prepared.computeIfAbsent(key, k -> prepare(session, inputs, lanes));
            if (lanes == null) lanes = p.executor().dispatcher();
            return p;
        }

        @Override public void close() {
            Dispatcher d = lanes;
            if (d != null) d.close();
            prepared.clear();
        }
    }

    Prepared prepare(Session session, Map<String, Tensor> inputs, Dispatcher shared) {
        Model m = MeasuredShapes.of(SessionInternals.executorFor(session, inputs), inputs);
        List<Device> devices;
        DeviceSpec spec = DeviceSpec.host();
        long full = 0;
        OpRegistry registry = session.registry();
        TornadoDevice tornado = null;
        if (device.equals("tornadovm") && budget != null) {
            // the MemGraph form: a device arena of the budget, copies as copy tasks, TornadoVM's kernels on its compute lane
            TornadoDevice.backendOrThrow(); // where it is absent, say so before judging the budget
            spec = new DeviceSpec("tornadovm", dev.sluice.kernels.device.DeviceKind.ACCELERATOR, 1);
            full = MemGraph.fullNeed(m.graph(), spec);
            long bytes = budgetBytes(full);
            tornado = TornadoDevice.withArena(bytes, session.parallelism(), base.accelerator());
            devices = List.of(CpuDevice.withWorkers(1), tornado);
            spec = spec.withBudget(bytes);
        } else if (device.equals("tornadovm")) {
            // op by op: the executor runs the device's own kernels (TornadoVM's, the CPU's where it has none)
            tornado = TornadoDevice.open(session.parallelism(), base.accelerator());
            devices = List.of(tornado);
        } else if (device.equals("cpu")) {
            devices = List.of(CpuDevice.withWorkers(threads));
        } else {
            spec = new DeviceSpec("throttled", dev.sluice.kernels.device.DeviceKind.THROTTLED, 1);
            full = MemGraph.fullNeed(m.graph(), spec);
            long bytes = budgetBytes(full);
            ThrottledDevice t = ThrottledDevice.of(bytes, bandwidth, session.parallelism());
            devices = List.of(CpuDevice.withWorkers(1), t);
            spec = spec.withBudget(bytes);
        }
        // the compile pipeline's one-device-through-the-dispatcher configuration: every node on the device, its
        // MemGraph under the device's budget, the executor on the devices' lanes
        Compiled c = Pipeline.dispatched(m, registry, device, spec, base.tiling(), devices, order, shared);
        return new Prepared(c, devices, full, tornado);
    }

    Map<String, Tensor> run(Prepared p, Map<String, Tensor> inputs, PrintStream out) {
        if (p.tornado() != null) p.tornado().backend().resetUsage();
        MemGraphExecutor.Result r = p.executor().run(inputs);
        report(out, p.devices().getLast(), p.plan(), p.full(), r);
        if (p.tornado() != null) reportTornado(out, p.tornado().backend().usage());
        if (trace != null) {
            try {
                r.trace().writeChromeJson(trace);
                out.println("trace written to " + trace + " (open in ui.perfetto.dev or chrome://tracing)");
            } catch (IOException e) {
                // the user's path, not our bug: a user error naming the file
                throw new SluiceException("trace file " + trace + " cannot be written: " + e.getMessage());
            }
        }
        return r.outputs();
    }

    long budgetBytes(long full) {
        if (budget == null) return Math.max(full, Tensor.ALIGNMENT);
        // SessionOptions' parser refuses NaN, infinities, zero, negatives and overflow, naming the option
        var b = dev.sluice.runtime.SessionOptions.Budget.parse("--budget", budget);
        if (b instanceof dev.sluice.runtime.SessionOptions.Budget.Percent p) return Math.max(Tensor.ALIGNMENT, (long) (full * p.percent() / 100));
        return ((dev.sluice.runtime.SessionOptions.Budget.Bytes) b).bytes();
    }

    static long parseBytes(String what, String s) {
        return dev.sluice.runtime.SessionOptions.parseBytes(what, s);
    }

    private static void reportTornado(PrintStream out, AcceleratorBackend.Usage u) {
        long on = u.ran().values().stream().mapToLong(Long::longValue).sum();
        long off = u.fellBack().values().stream().mapToLong(Long::longValue).sum();
        out.printf("tornadovm: %d kernel calls on the device, %d on the CPU%n", on, off);
        u.ran().forEach((op, n) -> out.printf("  on tornadovm  %-24s x%d%n", op, n));
        u.fellBack().forEach((why, n) -> out.printf("  on the cpu    %-24s x%d%n", why, n));
    }

    private void report(PrintStream out, Device d, MemGraph plan, long full, MemGraphExecutor.Result r) {
        Trace tr = r.trace();
        out.println("device: " + d.describe() + ", order " + order.name().toLowerCase(Locale.ROOT));
        if (d instanceof ThrottledDevice t) {
            out.printf("plan (throttled): budget %d B = %.1f%% of the %d B needed with no offload; planned peak %d B; %s%n",
                t.budgetBytes(), 100.0 * t.budgetBytes() / Math.max(1, full), full, plan.plannedPeak().getLast(), plan.summary());
            out.printf("measured peak on the throttled arena: %d B of %d B%n", r.peakBytes().getLast(), t.budgetBytes());
        } else if (d instanceof TornadoDevice t && t.hasArena()) {
            out.printf("plan (tornadovm): budget %d B = %.1f%% of the %d B needed with no offload; planned peak %d B; %s%n",
                t.budgetBytes(), 100.0 * t.budgetBytes() / Math.max(1, full), full, plan.plannedPeak().getLast(), plan.summary());
            out.printf("measured peak on the tornadovm device arena: %d B of %d B (TornadoVM's own buffers come on top)%n",
                r.peakBytes().getLast(), t.budgetBytes());
        } else {
            out.println("plan: " + plan.summary());
        }
        double wall = tr.wallNanos() / 1e6;
        for (int i = 0; i < tr.tracks().size(); i++) {
            long busy = tr.busyNanos(i);
            out.printf("lane %-20s busy %9.3f ms (%5.1f%% of %.3f ms)%n", tr.tracks().get(i).name(), busy / 1e6,
                wall == 0 ? 0 : 100 * busy / 1e6 / wall, wall);
        }
        long copy = tr.busyUnionNanos(true);
        out.printf("copy/compute overlap: %.3f ms (%.1f%% of copy time); bytes moved: %d%n", tr.overlapNanos() / 1e6,
            copy == 0 ? 0 : 100.0 * tr.overlapNanos() / copy, tr.bytesMoved());
    }
}
