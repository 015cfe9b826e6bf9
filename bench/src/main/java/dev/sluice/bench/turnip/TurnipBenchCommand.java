package dev.sluice.bench.turnip;

import dev.sluice.graph.Model;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.Device;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import dev.sluice.runtime.dispatch.TaskGraph;
import dev.sluice.runtime.dispatch.Trace;
import dev.sluice.runtime.zoo.Zoo;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code sluice turnip-bench}: the dispatcher and MemGraph offload on the throttled device (a CPU standing
 * in for an accelerator; every line says so). (a) Dispatcher overhead: tasks per second on a graph of
 * empty tasks, dynamic vs fixed order. (b) Each zoo model at 100/50/25% of its no-offload need: median
 * wall time in dynamic and fixed order against the bound max(compute, H2D transfer, D2H transfer), with
 * the copy lanes' bandwidth set so that moving the 100% plan's bytes takes as long as its measured compute.
 */
public final class TurnipBenchCommand implements Command {
    static final DeviceSpec THROTTLED = new DeviceSpec("throttled", DeviceKind.THROTTLED, 1);

    @Override public String name() { return "turnip-bench"; }
    @Override public String summary() { return "dispatcher throughput and dynamic vs fixed order under memory budgets (throttled device)"; }
    @Override public Set<String> valueOptions() { return Set.of("runs", "models", "tasks"); }
    @Override public String help() {
        return """
            usage: sluice turnip-bench [--runs N] [--models a,b,...] [--tasks N]

            On the throttled device (a CPU standing in for an accelerator: capped arena, one compute lane,
            bandwidth-limited H2D and D2H copy lanes; not a GPU):
              (a) dispatcher throughput: N empty tasks (default 20000) in a layered graph over a 2-lane and a
                  1-lane queue, tasks/s in dynamic and fixed order (median of --runs);
              (b) every zoo model (or --models) at 100%, 50%, 25%, 10% of the bytes it needs with nothing offloaded
                  (or the refused minimum, said so): median wall time of --runs (default 5, after one warm-up)
                  in dynamic and fixed order, and the bound max(compute, H2D bytes / bw, D2H bytes / bw).
                  The bandwidth bw is derived per model: the 100% plan's bytes / its measured compute time,
                  so that transfer is comparable to compute; it is printed.
            Kernels run on one thread so that the copy lanes and the dispatcher have the other core.""";
    }

    @Override public int run(Args args, PrintStream out) {
        int runs = args.intOption("runs", 5);
        int tasks = args.intOption("tasks", 20_000);
        out.println("turnip-bench: throttled device (CPU standing in for an accelerator), " + Runtime.getRuntime().availableProcessors()
            + " cores, runs " + runs + " (median)");
        dispatcher(out, tasks, runs);
        List<Zoo.Model> models = args.option("models") == null ? Zoo.models()
            : Arrays.stream(args.option("models").split(",")).map(String::trim).map(Zoo::find).toList();
        for (Zoo.Model z : models) model(out, z, runs);
        return 0;
    }

    // ---- (a) ----

    static void dispatcher(PrintStream out, int n, int runs) {
        List<Dispatcher.LaneSlot> lanes = List.of(new Dispatcher.LaneSlot("throttled.a0", 0, false),
            new Dispatcher.LaneSlot("throttled.a1", 0, false), new Dispatcher.LaneSlot("throttled.b", 1, true));
        TaskGraph g = new TaskGraph();
        int width = 16;
        Runnable empty = () -> {};
        long edges = 0;
        for (int i = 0; i < n; i++) {
            g.add(new TaskGraph.Job("t" + i, i % 3 == 2 ? 1 : 0, 0, empty));
            // Layers of 16: each task waits for the one above it and the one above-right.
            if (i >= width) { g.edge(i - width, i); edges++; }
            if (i >= width && i % width != width - 1) { g.edge(i - width + 1, i); edges++; }
        }
        try (Dispatcher d = new Dispatcher(lanes, Dispatcher.Order.DYNAMIC)) {
            for (Dispatcher.Order o : Dispatcher.Order.values()) {
                Dispatcher x = d.withOrder(o);
                for (int w = 0; w < 3; w++) x.run(g);
                long[] ns = new long[runs];
                for (int r = 0; r < runs; r++) ns[r] = x.run(g).wallNanos();
                long med = median(ns);
                out.printf(Locale.ROOT, "dispatcher (throttled lanes, empty tasks): %-7s %d tasks, %d edges, 3 lanes on 2 queues: %.3f ms, %.0f tasks/s%n",
                    o.name().toLowerCase(Locale.ROOT), n, edges, med / 1e6, n / (med / 1e9));
            }
        }
    }

    // ---- (b) ----

    static void model(PrintStream out, Zoo.Model z, int runs) {
        try (Session s = Session.open(z.path(), 1)) {
            Map<String, Tensor> in = z.sampleInputs(1);
            Model m = MeasuredShapes.of(s.executorFor(in), in);
            long full = MemGraph.fullNeed(m.graph(), THROTTLED);
            long min = MemGraph.minimumBudget(m.graph(), THROTTLED);
            // Bandwidth: the 100% plan's bytes over its compute time, measured with unlimited copy lanes.
            MemGraph plan100 = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(full));
            long[] compute = new long[runs];
            long bytes100 = 0;
            try (var ex = new Exec(m, s, in, plan100, full, 0, Dispatcher.Order.FIXED)) {
                for (int w = 0; w < 3; w++) ex.run(); // JIT warm-up
                for (int r = 0; r < runs; r++) {
                    Trace t = ex.run();
                    compute[r] = computeNanos(t);
                    bytes100 = t.bytesMoved();
                }
            }
            long computeNs = median(compute);
            long bw = Math.max(1, (long) (bytes100 / (computeNs / 1e9)));
            out.printf(Locale.ROOT, "%s (throttled): no-offload need %d B, minimum %d B = %.2f%% of it (largest indivisible piece); compute %.2f ms at 100%%; bandwidth %s = %d B moved at 100%% / compute time%n",
                z.name(), full, min, 100.0 * min / full, computeNs / 1e6, human(bw), bytes100);
            for (int pct : new int[] {100, 50, 25, 10}) {
                long budget = full * pct / 100;
                String note = "";
                if (budget < min) {
                    note = " (" + pct + "% = " + budget + " B refused: needs at least " + min + " B; ran at that minimum)";
                    budget = min;
                }
                MemGraph plan = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(budget));
                // The three orders alternate run by run (after one warm-up run each), so that all see the same host.
                Dispatcher.Order[] orders = Dispatcher.Order.values();
                long[] wall = new long[orders.length];
                long[][] w = new long[orders.length][runs];
                long[] comp = new long[runs], h2d = new long[runs], d2h = new long[runs];
                List<Exec> execs = new java.util.ArrayList<>();
                try {
                    for (Dispatcher.Order o : orders) {
                        Exec ex = new Exec(m, s, in, plan, budget, bw, o);
                        execs.add(ex);
                        ex.run();
                    }
                    for (int r = 0; r < runs; r++) {
                        for (Dispatcher.Order o : orders) {
                            Trace t = execs.get(o.ordinal()).run();
                            w[o.ordinal()][r] = t.wallNanos();
                            if (o == Dispatcher.Order.DYNAMIC) {
                                comp[r] = computeNanos(t);
                                h2d[r] = laneBytes(t, ".h2d");
                                d2h[r] = laneBytes(t, ".d2h");
                            }
                        }
                    }
                } finally {
                    for (Exec ex : execs) ex.close();
                }
                for (Dispatcher.Order o : orders) wall[o.ordinal()] = median(w[o.ordinal()]);
                double c = median(comp) / 1e6, up = median(h2d) * 1e3 / bw, down = median(d2h) * 1e3 / bw;
                double bound = Math.max(c, Math.max(up, down));
                double dyn = wall[Dispatcher.Order.DYNAMIC.ordinal()] / 1e6, fix = wall[Dispatcher.Order.FIXED.ordinal()] / 1e6;
                double pri = wall[Dispatcher.Order.PRIORITY.ordinal()] / 1e6;
                out.printf(Locale.ROOT, "%s throttled %3d%% (%d B)%s: dynamic %.2f ms, priority %.2f ms, fixed %.2f ms (fixed/dynamic %.2fx, fixed/priority %.2fx); bound %.2f ms = max(compute %.2f, h2d %.2f, d2h %.2f); dynamic/bound %.2fx; %s%n",
                    z.name(), pct, budget, note, dyn, pri, fix, fix / dyn, fix / pri, bound, c, up, down, dyn / bound, plan.summary());
            }
        }
    }

    /** One plan on a fresh throttled device and its executor, with its lane workers closed at the end. */
    private static final class Exec implements AutoCloseable {
        final MemGraphExecutor ex;
        final Map<String, Tensor> in;

        Exec(Model m, Session s, Map<String, Tensor> in, MemGraph plan, long budget, long bw, Dispatcher.Order o) {
            List<Device> devices = List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, bw, s.parallelism()));
            ex = new MemGraphExecutor(m, s.registry(), plan, devices, o);
            this.in = in;
        }

        Trace run() { return ex.run(in).trace(); }

        @Override public void close() { ex.dispatcher().close(); }
    }

    static long computeNanos(Trace t) {
        long s = 0;
        for (Trace.Slice x : t.slices()) if (!t.tracks().get(x.track()).copy() && t.tracks().get(x.track()).name().startsWith("throttled")) s += x.nanos();
        return s;
    }

    static long laneBytes(Trace t, String suffix) {
        long s = 0;
        for (Trace.Slice x : t.slices()) if (t.tracks().get(x.track()).name().endsWith(suffix)) s += x.bytes();
        return s;
    }

    static long median(long[] v) {
        long[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    static String human(long bytesPerSecond) {
        if (bytesPerSecond >= 1_000_000_000) return String.format(Locale.ROOT, "%.2f GB/s", bytesPerSecond / 1e9);
        if (bytesPerSecond >= 1_000_000) return String.format(Locale.ROOT, "%.1f MB/s", bytesPerSecond / 1e6);
        return String.format(Locale.ROOT, "%.1f kB/s", bytesPerSecond / 1e3);
    }
}
