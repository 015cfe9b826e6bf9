package dev.sluice.bench.turnip;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.Model;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.kernels.TilingOptions;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.runtime.device.CopyLane;
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
    @Override public Set<String> valueOptions() {
        Set<String> s = new java.util.TreeSet<>(Set.of("runs", "models", "tasks", "jitter", "breakdown", "bandwidth", "bytes-only"));
        s.addAll(TILING_FLAGS);
        return s;
    }

    /** The session switches that choose the MemGraph's tiles ({@code --tiling}, {@code --tiling-rows}, ...). */
    static final Set<String> TILING_FLAGS = SessionOptions.SWITCHES.keySet().stream().filter(k -> k.startsWith("tiling"))
        .collect(java.util.stream.Collectors.toUnmodifiableSet());

    @Override public String help() {
        return """
            usage: sluice turnip-bench [--runs N] [--models a,b,...] [--tasks N] [--jitter false] [--breakdown true] [--bandwidth B/s] [--tiling-KIND on|off ...]
                           [--bytes-only true|N]

            On the throttled device (a CPU standing in for an accelerator: capped arena, one compute lane,
            bandwidth-limited H2D and D2H copy lanes; not a GPU):
              (a) dispatcher throughput: N empty tasks (default 20000) in a layered graph over a 2-lane and a
                  1-lane queue, tasks/s in dynamic and fixed order (median of --runs);
              (d) hand-off: a chain of tasks alternating between the compute lane and a copy lane, empty, then with
                  100 us kernels and 100 us parked copies: wall and CPU time per task, and the kernels' time, with the
                  idle lanes' spin on imminent work on and off, alternating (medians);
              (c) jitter: 4 chains x 48 tiles (copy, kernel, copy) over one link, and 192 tiles whose copies
                  alternate between two links, with lognormal copy times and data-dependent kernel times: each plan
                  first simulated in every order (the policy alone), then measured, dynamic / priority / fixed
                  alternating, medians (--jitter false skips it);
              (b) every zoo model (or --models) at 100%, 50%, 25%, 10% of the bytes it needs with nothing offloaded
                  (or the refused minimum, said so): median wall time of --runs (default 5, after one warm-up)
                  in dynamic and fixed order, and the bound max(compute, H2D bytes / bw, D2H bytes / bw): compute the
                  sum of the compute lane's task times in the same run, the link's bytes those its copies carried
                  (each copy's data, as the link paces it; not the device blocks, which add a header and alignment).
                  The bandwidth bw is derived per model: the bytes the 100% plan's copies carry / its measured compute time
                  (after warm-up runs until that time settles), so that transfer is comparable to compute; it is printed. A second line per budget gives the
                  bytes moved (H2D + D2H) against a lower bound on what any plan must move at that budget
                  (inputs and constants up once, outputs down once, plus a round trip for every byte of the
                  intermediates live across a cut between nodes beyond the budget, summed over cuts that share
                  no value; see BytesBound).
                  --breakdown true adds, per budget, where the dynamic run of median wall time spent it (see
                  TaskBreakdown): the last-ending chain split into kernels, link time, copy time beyond the link's,
                  hand-off gaps; per lane, busy time and the mean gap from ready to start.
                  --bandwidth B/s fixes the copy lanes' bandwidth for every model instead (for comparing builds on a
                  loaded host, where the derived one moves from run to run).
            Kernels run on one thread so that the copy lanes and the dispatcher have the other core.
            --tiling off, --tiling-rows off, ... (the session's tiling switches, see 'sluice help run') plan every
            MemGraph with those splits only, for comparisons.
            --bytes-only true skips (a), (c), (d) and every run: per model and budget only the plans' bytes over the link
            (exact: the copy tasks' bytes, which a run's trace repeats) against the lower bound, and what the
            intermediates larger than the whole budget move (a plan keeps a value resident whole or not at all, so
            those go down and up whole; the bound charges them only beyond the budget); --bytes-only N also
            lists the N values that move the most bytes in each plan.""";
    }

    @Override public int run(Args args, PrintStream out) {
        int runs = args.intOption("runs", 5);
        int tasks = args.intOption("tasks", 20_000);
        String bytesOnly = args.option("bytes-only");
        if (bytesOnly != null && !"false".equals(bytesOnly)) return BytesReport.run(args, out, "true".equals(bytesOnly) ? 0 : Integer.parseInt(bytesOnly));
        out.println("turnip-bench: throttled device (CPU standing in for an accelerator), " + Runtime.getRuntime().availableProcessors()
            + " cores, runs " + runs + " (median)");
        dispatcher(out, tasks, runs);
        handOff(out, Math.max(runs, 5));
        if (!"false".equals(args.option("jitter"))) jitter(out, Math.max(runs, 5));
        List<Zoo.Model> models = args.option("models") == null ? Zoo.models()
            : Arrays.stream(args.option("models").split(",")).map(String::trim).map(Zoo::find).toList();
        SessionOptions.Builder b = SessionOptions.builder();
        for (String f : TILING_FLAGS) if (args.option(f) != null) b.set(f, args.option(f));
        TilingOptions tiling = b.build().tiling();
        if (!tiling.equals(TilingOptions.allOn())) out.println("tiling switches: " + tiling);
        boolean breakdown = "true".equals(args.option("breakdown"));
        long bandwidth = args.option("bandwidth") == null ? 0 : Long.parseLong(args.option("bandwidth"));
        if (bandwidth < 0) throw new IllegalArgumentException("--bandwidth must be positive bytes per second");
        for (Zoo.Model z : models) model(out, z, runs, tiling, breakdown, bandwidth);
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

    // ---- (d) ----

    /**
     * The hand-off between the compute lane and a copy lane, with the spin on imminent work on (50 us) and off (the default),
     * alternating run by run, medians. (1) A chain of empty tasks alternating between the two lanes: wall time per task
     * is the hand-off's latency, and the process's CPU time per task what it costs. (2) The same chain with 100 us
     * kernels spun on the compute lane and 100 us copies parked on the copy lane (a paced link): the kernels' total time,
     * which must not grow when the idle lanes spin (on a 2-core host the copy lanes share the kernels' spare core).
     */
    static void handOff(PrintStream out, int runs) {
        List<Dispatcher.LaneSlot> lanes = List.of(new Dispatcher.LaneSlot("throttled.compute", 0, false),
            new Dispatcher.LaneSlot("throttled.h2d", 1, true), new Dispatcher.LaneSlot("throttled.d2h", 2, true));
        for (boolean work : new boolean[] {false, true}) {
            int n = work ? 400 : 4000;
            TaskGraph g = new TaskGraph();
            for (int i = 0; i < n; i++) {
                boolean kernel = i % 2 == 0;
                Runnable body = !work ? () -> {} : kernel ? () -> spin(100_000) : () -> park(100_000);
                g.add(new TaskGraph.Job((kernel ? "kernel " : "copy ") + i, kernel ? 0 : 1, 0, body));
                if (i > 0) g.edge(i - 1, i);
            }
            try (Dispatcher d = new Dispatcher(lanes, Dispatcher.Order.DYNAMIC)) {
                Dispatcher[] sides = {d.withSpinNanos(50_000), d.withSpinNanos(0)};
                long[][] wall = new long[2][runs], cpu = new long[2][runs], kernels = new long[2][runs];
                for (Dispatcher x : sides) x.run(g);
                for (int r = 0; r < runs; r++) {
                    for (int s = 0; s < 2; s++) {
                        long c0 = processCpuNanos();
                        Trace t = sides[s].run(g);
                        cpu[s][r] = processCpuNanos() - c0;
                        wall[s][r] = t.wallNanos();
                        kernels[s][r] = computeNanos(t);
                    }
                }
                for (int s = 0; s < 2; s++) {
                    out.printf(Locale.ROOT, "hand-off (throttled lanes), %s, spin on imminent work %s: %d tasks alternating compute/copy, %.1f us/task wall,"
                            + " %.1f us/task CPU (process)%s (medians of %d alternating runs)%n",
                        work ? "100 us kernels spun, 100 us copies parked" : "empty tasks", s == 0 ? "on (50 us)" : "off (default)", n, median(wall[s]) / 1e3 / n,
                        median(cpu[s]) / 1e3 / n, work ? String.format(Locale.ROOT, ", kernels %.2f ms in all", median(kernels[s]) / 1e6) : "", runs);
                }
            }
        }
    }

    private static long processCpuNanos() {
        return ProcessHandle.current().info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(0L);
    }

    // ---- (c) ----

    /**
     * Does firing any ready task on the first idle lane beat issuing each lane's tasks in the planned order when task
     * times vary? A synthetic plan like a split node's: 4 independent chains of 48 tiles (H2D copy, kernel, D2H copy,
     * the copy of tile i + 2 reusing tile i's buffer), interleaved round-robin in the planned order. Copy times are
     * lognormal (median 150 us, sigma 1: a link shared with others), parked, taking no core; kernel times depend on
     * the tile's "data" (lognormal, median 150 us, sigma 0.5), spun on the compute lane. Every duration is drawn
     * once per seed, so both orders run the same work; the orders alternate run by run; medians.
     */
    static void jitter(PrintStream out, int runs) {
        List<Dispatcher.LaneSlot> lanes = List.of(new Dispatcher.LaneSlot("throttled.compute", 0, false),
            new Dispatcher.LaneSlot("throttled.h2d", 1, true), new Dispatcher.LaneSlot("throttled.d2h", 2, true));
        int chains = 4, tiles = 48;
        java.util.SplittableRandom r = new java.util.SplittableRandom(2026);
        TaskGraph g = new TaskGraph();
        int[][] id = new int[chains * tiles][3];
        List<Long> nanos = new java.util.ArrayList<>();
        List<int[]> edges = new java.util.ArrayList<>();
        for (int t = 0; t < tiles; t++) {
            for (int c = 0; c < chains; c++) {
                int k = t * chains + c;
                long up = lognormal(r, 150_000, 1.0), run = lognormal(r, 150_000, 0.5), down = lognormal(r, 150_000, 1.0);
                id[k][0] = g.add(new TaskGraph.Job("h2d " + c + "." + t, 1, 0, () -> park(up)));
                id[k][1] = g.add(new TaskGraph.Job("kernel " + c + "." + t, 0, 0, () -> spin(run)));
                id[k][2] = g.add(new TaskGraph.Job("d2h " + c + "." + t, 2, 0, () -> park(down)));
                nanos.addAll(List.of(up, run, down));
                edges.add(new int[] {id[k][0], id[k][1]});
                edges.add(new int[] {id[k][1], id[k][2]});
                if (t >= 2) edges.add(new int[] {id[k - 2 * chains][2], id[k][0]}); // double buffering: reuse of tile t - 2's region
            }
        }
        for (int[] e : edges) g.edge(e[0], e[1]);
        compareOrders(out, "one link, " + chains + " chains x " + tiles + " tiles", lanes, g, nanos, edges, runs);

        // Two copy engines (e.g. two links, or a link per device) feeding one compute lane, tiles alternating between them,
        // each engine double-buffered: kernel t needs copy t, copy t reuses the buffer of tile t - 4 (same engine, after its
        // kernel). In id order a slow copy on one engine holds the compute lane while a later tile's copy on the other has
        // landed; any-ready-task order runs that tile's kernel instead.
        List<Dispatcher.LaneSlot> two = List.of(new Dispatcher.LaneSlot("throttled.compute", 0, false),
            new Dispatcher.LaneSlot("throttled.h2d0", 1, true), new Dispatcher.LaneSlot("throttled.h2d1", 2, true));
        TaskGraph g2 = new TaskGraph();
        List<Long> nanos2 = new java.util.ArrayList<>();
        List<int[]> edges2 = new java.util.ArrayList<>();
        int n2 = 192;
        int[] kern = new int[n2];
        for (int t = 0; t < n2; t++) {
            long up = lognormal(r, 300_000, 1.0), run = lognormal(r, 150_000, 0.5);
            int c = g2.add(new TaskGraph.Job("h2d" + (t % 2) + " " + t, 1 + t % 2, 0, () -> park(up)));
            kern[t] = g2.add(new TaskGraph.Job("kernel " + t, 0, 0, () -> spin(run)));
            nanos2.addAll(List.of(up, run));
            edges2.add(new int[] {c, kern[t]});
            if (t >= 4) edges2.add(new int[] {kern[t - 4], c});
        }
        for (int[] e : edges2) g2.edge(e[0], e[1]);
        compareOrders(out, "two links, " + n2 + " tiles alternating, copies lognormal median 300 us sigma 1", two, g2, nanos2, edges2, runs);
    }

    /** The plan simulated in each order (the policy alone), then measured, orders alternating run by run (medians). */
    private static void compareOrders(PrintStream out, String what, List<Dispatcher.LaneSlot> lanes, TaskGraph g, List<Long> nanos, List<int[]> edges,
                                      int runs) {
        int n = g.size(), queues = lanes.stream().mapToInt(Dispatcher.LaneSlot::queue).max().orElse(0) + 1;
        int[] queue = new int[n];
        long[] dur = new long[n];
        boolean[] copyQueue = new boolean[queues];
        for (Dispatcher.LaneSlot l : lanes) copyQueue[l.queue()] = l.copy();
        List<List<Integer>> succ = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) { queue[i] = g.job(i).queue(); dur[i] = nanos.get(i); succ.add(new java.util.ArrayList<>()); }
        for (int[] e : edges) succ.get(e[0]).add(e[1]);
        OrderSimulation.Plan plan = new OrderSimulation.Plan(queue, dur, succ.stream().map(l -> l.stream().mapToInt(Integer::intValue).toArray())
            .toArray(int[][]::new), copyQueue);
        long sd = OrderSimulation.makespan(plan, OrderSimulation.Order.DYNAMIC), sp = OrderSimulation.makespan(plan, OrderSimulation.Order.PRIORITY),
            sf = OrderSimulation.makespan(plan, OrderSimulation.Order.FIXED);
        long lane = 0;
        for (int q = 0; q < queues; q++) { long busy = 0; for (int i = 0; i < n; i++) if (queue[i] == q) busy += dur[i]; lane = Math.max(lane, busy); }
        out.printf(Locale.ROOT, "jitter, %s, simulated (one lane per queue, no dispatcher or host costs): dynamic %.2f ms, priority %.2f ms,"
                + " fixed %.2f ms; dynamic/fixed %.2fx, priority/fixed %.2fx; busiest lane %.2f ms%n",
            what, sd / 1e6, sp / 1e6, sf / 1e6, (double) sd / sf, (double) sp / sf, lane / 1e6);
        try (Dispatcher d = new Dispatcher(lanes, Dispatcher.Order.DYNAMIC)) {
            Dispatcher.Order[] orders = Dispatcher.Order.values();
            long[][] wall = new long[orders.length][runs];
            for (Dispatcher.Order o : orders) d.withOrder(o).run(g);
            for (int i = 0; i < runs; i++) for (int o = 0; o < orders.length; o++) wall[o][i] = d.withOrder(orders[o]).run(g).wallNanos();
            long dyn = median(wall[0]), pri = median(wall[1]), fix = median(wall[2]);
            out.printf(Locale.ROOT, "jitter, %s, measured on throttled lanes (medians of %d alternating runs): dynamic %.2f ms, priority %.2f ms,"
                    + " fixed %.2f ms; dynamic/fixed %.2fx, priority/fixed %.2fx%n",
                what, runs, dyn / 1e6, pri / 1e6, fix / 1e6, (double) dyn / fix, (double) pri / fix);
        }
    }

    private static long lognormal(java.util.SplittableRandom r, double median, double sigma) {
        double u1 = r.nextDouble(), u2 = r.nextDouble();
        double z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
        return (long) (median * Math.exp(sigma * z));
    }

    private static void park(long nanos) {
        long until = System.nanoTime() + nanos;
        for (long left; (left = until - System.nanoTime()) > 0; ) java.util.concurrent.locks.LockSupport.parkNanos(left);
    }

    private static void spin(long nanos) {
        long until = System.nanoTime() + nanos;
        while (System.nanoTime() < until) Thread.onSpinWait();
    }

    // ---- (b) ----

    static void model(PrintStream out, Zoo.Model z, int runs, TilingOptions tiling, boolean breakdown, long fixedBandwidth) {
        try (Session s = Session.open(z.path(), 1)) {
            Map<String, Tensor> in = z.sampleInputs(1);
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
            long full = MemGraph.fullNeed(m.graph(), THROTTLED);
            long min = MemGraph.minimumBudget(m.graph(), THROTTLED, tiling);
            // Bandwidth: the 100% plan's bytes over its compute time, measured with unlimited copy lanes.
            MemGraph plan100 = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(full), tiling);
            long[] compute = new long[runs];
            long bytes100 = 0;
            try (var ex = new Exec(m, s, in, plan100, full, 0, Dispatcher.Order.FIXED)) {
                warmUp(ex);
                for (int r = 0; r < runs; r++) {
                    Trace t = ex.run();
                    compute[r] = computeNanos(t);
                    bytes100 = ex.linkBytes[0] + ex.linkBytes[1];
                }
            }
            long computeNs = median(compute);
            long bw = fixedBandwidth > 0 ? fixedBandwidth : Math.max(1, (long) (bytes100 / (computeNs / 1e9)));
            out.printf(Locale.ROOT, "%s (throttled): no-offload need %d B, minimum %d B = %.2f%% of it (largest indivisible piece); compute %.2f ms at 100%%; bandwidth %s = %s%n",
                z.name(), full, min, 100.0 * min / full, computeNs / 1e6, human(bw),
                fixedBandwidth > 0 ? "as --bandwidth asks" : bytes100 + " B carried over the link at 100% / compute time");
            for (int pct : new int[] {100, 50, 25, 10}) {
                long budget = full * pct / 100;
                String note = "";
                if (budget < min) {
                    note = " (" + pct + "% = " + budget + " B refused: needs at least " + min + " B; ran at that minimum)";
                    budget = min;
                }
                MemGraph plan = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(budget), tiling);
                // The three orders alternate run by run (after one warm-up run each), so that all see the same host.
                Dispatcher.Order[] orders = Dispatcher.Order.values();
                long[] wall = new long[orders.length];
                long[][] w = new long[orders.length][runs];
                long[] comp = new long[runs], h2d = new long[runs], d2h = new long[runs], linkUp = new long[runs], linkDown = new long[runs];
                Trace[] dynamic = new Trace[runs];
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
                                dynamic[r] = t;
                                comp[r] = computeNanos(t);
                                h2d[r] = laneBytes(t, ".h2d");
                                d2h[r] = laneBytes(t, ".d2h");
                                linkUp[r] = execs.get(o.ordinal()).linkBytes[0];
                                linkDown[r] = execs.get(o.ordinal()).linkBytes[1];
                            }
                        }
                    }
                } finally {
                    for (Exec ex : execs) ex.close();
                }
                for (Dispatcher.Order o : orders) wall[o.ordinal()] = median(w[o.ordinal()]);
                // The link's share of the bound: the bytes each copy lane carried (each copy's data, what the link is paced
                // by), not the planned blocks' bytes, which count a header slot and alignment per copy on top.
                double c = median(comp) / 1e6, up = median(linkUp) * 1e3 / bw, down = median(linkDown) * 1e3 / bw;
                double bound = Math.max(c, Math.max(up, down));
                double dyn = wall[Dispatcher.Order.DYNAMIC.ordinal()] / 1e6, fix = wall[Dispatcher.Order.FIXED.ordinal()] / 1e6;
                double pri = wall[Dispatcher.Order.PRIORITY.ordinal()] / 1e6;
                out.printf(Locale.ROOT, "%s throttled %3d%% (%d B)%s: dynamic %.2f ms, priority %.2f ms, fixed %.2f ms (fixed/dynamic %.2fx, fixed/priority %.2fx); bound %.2f ms = max(compute %.2f, h2d %.2f, d2h %.2f); dynamic/bound %.2fx (link carried h2d %d B, d2h %d B); %s%n",
                    z.name(), pct, budget, note, dyn, pri, fix, fix / dyn, fix / pri, bound, c, up, down, dyn / bound, median(linkUp), median(linkDown),
                    plan.summary());
                if (breakdown) {
                    long med = wall[Dispatcher.Order.DYNAMIC.ordinal()];
                    for (Trace t : dynamic) {
                        if (t.wallNanos() != med) continue;
                        out.printf(Locale.ROOT, "%s throttled %3d%%: dynamic run of median wall: %s%n", z.name(), pct, TaskBreakdown.of(t, plan, bw).describe());
                        break;
                    }
                }
                long moved = median(h2d) + median(d2h), least = BytesBound.of(m.graph(), budget);
                out.printf(Locale.ROOT, "%s throttled %3d%% (%d B): bytes moved %d B (h2d %d, d2h %d), lower bound %d B (%s), moved/bound %.2fx%n",
                    z.name(), pct, budget, moved, median(h2d), median(d2h), least, BytesBound.explain(m.graph(), budget), (double) moved / least);
            }
        }
    }

    /**
     * Runs until the compute time has settled (JIT): the best of the last {@link #SETTLE} runs within 3% of the best
     * seen before them, at least 3 runs, at most {@link #MAX_WARM_UP} or 20 s. Three fixed runs were not enough for a
     * model run first in the JVM: its kernels were still interpreted, the measured compute 4-40x too long, and the
     * bandwidth derived from it as much too slow, so every budget of that model was link-bound.
     */
    private static void warmUp(Exec ex) {
        long deadline = System.nanoTime() + 20_000_000_000L;
        List<Long> seen = new java.util.ArrayList<>();
        for (int w = 0; w < MAX_WARM_UP && System.nanoTime() < deadline; w++) {
            seen.add(computeNanos(ex.run()));
            int k = seen.size();
            if (k < SETTLE + 3) continue;
            long before = seen.subList(0, k - SETTLE).stream().mapToLong(Long::longValue).min().orElseThrow();
            long recent = seen.subList(k - SETTLE, k).stream().mapToLong(Long::longValue).min().orElseThrow();
            if (recent >= before * 0.97) return;
        }
    }

    static final int SETTLE = 5, MAX_WARM_UP = 200;

    /** One plan on a fresh throttled device and its executor, with its lane workers closed at the end. */
    private static final class Exec implements AutoCloseable {
        final MemGraphExecutor ex;
        final Map<String, Tensor> in;
        /** The throttled device's H2D and D2H lanes. */
        final CopyLane up, down;
        /** Bytes the last run's H2D and D2H lanes carried (see {@link CopyLane#carriedBytes}). */
        final long[] linkBytes = new long[2];

        Exec(Model m, Session s, Map<String, Tensor> in, MemGraph plan, long budget, long bw, Dispatcher.Order o) {
            ThrottledDevice dev = ThrottledDevice.of(budget, bw, s.parallelism());
            List<Device> devices = List.of(CpuDevice.withWorkers(1), dev);
            ex = new MemGraphExecutor(m, s.registry(), plan, devices, o);
            this.in = in;
            up = (CopyLane) dev.lanes(LaneKind.H2D).getFirst();
            down = (CopyLane) dev.lanes(LaneKind.D2H).getFirst();
        }

        Trace run() {
            long u = up.carriedBytes(), d = down.carriedBytes();
            Trace t = ex.run(in).trace();
            linkBytes[0] = up.carriedBytes() - u;
            linkBytes[1] = down.carriedBytes() - d;
            return t;
        }

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
