package dev.sluice.memgraph.placement;

import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.memgraph.Buffer;
import dev.sluice.memgraph.Edge;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeSet;

/**
 * A discrete-event run of a placement's {@link MemGraph} over the devices' lanes: one compute lane per device
 * (the host's too: the placed run gives the host one lane using its worker pool), one H2D and one D2H copy
 * lane per accelerator. A task starts when its edges allow and its lane is idle; among a lane's ready tasks the
 * one the dispatcher's {@link Order} would take (first come, first served by default, as the dynamic dispatcher
 * does); a kernel takes its node's time from the {@link CostModel} (a tile its share; on an accelerator plus the
 * calibrated fixed cost of a kernel task), a copy its
 * bytes over the device's link. With {@link Overheads} a task taken back to back on a lane waits the dispatcher's
 * per-task gap, a task handed to an idle lane waits a hand-off (a lane idle long enough to have parked, a wake-up), and the run pays its start and end hand-offs. A device buffer is live from its writer's start until its last reader ends,
 * as in the executor's arena. Predicts the makespan and every device's peak bytes.
 *
 * <p>On a described device the weights are taken to be resident already (copied once at load, not per run):
 * a copy of a graph initializer to it takes no time, though its bytes count.
 */
public final class Simulator {
    private Simulator() {}

    /**
     * The prediction: makespan, per-device peak bytes, busy time per lane, every task's slice of a lane, and per
     * device the live bytes over time (steps {time ms, bytes}, one each time they change).
     */
    public record Prediction(double makespanMillis, List<Long> peakBytes, Map<String, Double> busyMillis, List<Slice> slices,
                             List<List<double[]>> memory) {}

    /** Task {@code task} (its MemGraph id) on its lane ({@code device.LANEKIND}) from {@code start} to {@code end} ms. */
    public record Slice(String lane, String label, double start, double end, int task) {}

    /**
     * What a dispatcher adds to the work itself: {@code taskMillis} between tasks an accelerator's lane takes back to
     * back (taking one, publishing the last one's outputs) and {@code hostTaskMillis} the same on the host's lane (they
     * differ on a shared machine: the host lane runs alone in an all-host run, the accelerator's lanes with others),
     * {@code wakeMillis} when a task is handed to a compute lane that sits idle, {@code copyWakeMillis} the same for a
     * copy lane (which parks at once where a compute lane spins first, so its hand-offs cost a wake-up), and
     * {@code runMillis} once per run (handing the run to the lanes, the end back); {@code kernelMillis} inside every
     * kernel task on an accelerator, over its share of the node's time (a tile's own costs: a launch, packing its
     * weights, its cold cache; calibrated as the intercept of tile times against their shares); {@code concurrency}, how
     * many compute lanes the machine runs at full speed at once (0: every lane its own core). Compute lanes share the
     * cores: with k of them busy each runs at {@code min(1, concurrency / k)} of its speed alone, as two threads do on a
     * host whose other processes leave them less than two cores (copy lanes wait on their link, not on a core).
     *
     * <p>{@code parkedAfterMillis}, {@code parkedWakeMillis} and {@code parkedCopyWakeMillis}: a hand-off to a lane that
     * sat idle at least {@code parkedAfterMillis} before its task became ready costs the parked figure of its kind instead
     * of {@code wakeMillis} / {@code copyWakeMillis}. The dispatcher's idle lanes spin a little before they park (a
     * compute lane a few polls, a copy lane up to 20 us and only while copies come in a burst), so a task that comes
     * while its lane is still spinning or has just parked starts at once, and one that comes to a lane parked long ago
     * waits for a wake-up and a core. All-accel, which the figures were calibrated on, hands its copy lanes copies in
     * bursts; a mixed placement hands them a copy now and then and its host lane a kernel after a long stretch of
     * accelerator work, and one mean figure for both (all-accel's mix) made those hand-offs 2 to 4 times too cheap.
     * Infinite {@code parkedAfterMillis}: one figure per kind, whatever the idle time.
     */
    public record Overheads(double taskMillis, double wakeMillis, double copyWakeMillis, double runMillis, double hostTaskMillis,
                            double kernelMillis, double concurrency, double parkedAfterMillis, double parkedWakeMillis,
                            double parkedCopyWakeMillis) {
        public static final Overheads NONE = new Overheads(0, 0, 0, 0, 0, 0, 0);

        public Overheads {
            if (concurrency != 0 && concurrency < 1) throw new IllegalArgumentException("concurrency " + concurrency + " is under one lane");
            if (!(parkedAfterMillis >= 0)) throw new IllegalArgumentException("parkedAfterMillis " + parkedAfterMillis + " is not a duration");
        }

        /** One hand-off figure per lane kind, whatever the lane's idle time. */
        public Overheads(double taskMillis, double wakeMillis, double copyWakeMillis, double runMillis, double hostTaskMillis,
                         double kernelMillis, double concurrency) {
            this(taskMillis, wakeMillis, copyWakeMillis, runMillis, hostTaskMillis, kernelMillis, concurrency, Double.POSITIVE_INFINITY,
                wakeMillis, copyWakeMillis);
        }

        /** The same overheads with hand-offs to lanes idle at least {@code afterMillis} priced at the parked figures. */
        public Overheads withParked(double afterMillis, double wake, double copyWake) {
            return new Overheads(taskMillis, wakeMillis, copyWakeMillis, runMillis, hostTaskMillis, kernelMillis, concurrency, afterMillis, wake,
                copyWake);
        }

        /** A hand-off to a lane of this kind ({@code copy}) that sat idle {@code idleMillis} before its task was ready. */
        double handOff(boolean copy, double idleMillis) {
            boolean parked = idleMillis >= parkedAfterMillis;
            return copy ? (parked ? parkedCopyWakeMillis : copyWakeMillis) : (parked ? parkedWakeMillis : wakeMillis);
        }

        /** Every compute lane on a core of its own. */
        public Overheads(double taskMillis, double wakeMillis, double copyWakeMillis, double runMillis, double hostTaskMillis, double kernelMillis) {
            this(taskMillis, wakeMillis, copyWakeMillis, runMillis, hostTaskMillis, kernelMillis, 0);
        }

        /** The same overheads with compute lanes sharing {@code lanes} cores' worth of speed. */
        public Overheads withConcurrency(double lanes) {
            return new Overheads(taskMillis, wakeMillis, copyWakeMillis, runMillis, hostTaskMillis, kernelMillis, lanes, parkedAfterMillis,
                parkedWakeMillis, parkedCopyWakeMillis);
        }

        /** Each busy compute lane's speed, relative to alone, with {@code busy} of them busy. */
        double rate(int busy) { return concurrency == 0 || busy <= concurrency ? 1 : concurrency / busy; }

        /** No fixed cost inside an accelerator's kernel tasks. */
        public Overheads(double taskMillis, double wakeMillis, double copyWakeMillis, double runMillis, double hostTaskMillis) {
            this(taskMillis, wakeMillis, copyWakeMillis, runMillis, hostTaskMillis, 0, 0);
        }

        /** One per-task gap on every lane. */
        public Overheads(double taskMillis, double wakeMillis, double copyWakeMillis, double runMillis) {
            this(taskMillis, wakeMillis, copyWakeMillis, runMillis, taskMillis);
        }

        /** One hand-off cost for every lane, no per-run cost. */
        public Overheads(double taskMillis, double wakeMillis) { this(taskMillis, wakeMillis, wakeMillis, 0); }
    }

    /**
     * Which ready task an idle lane takes, as the runtime's dispatcher orders them (its {@code Dispatcher.Order}):
     * {@code DYNAMIC} first come, first served per lane, except that a task a lane's own finished task made ready
     * runs next on that lane ahead of the queue (the dispatcher's hand-over without queueing); {@code PRIORITY} the
     * most urgent (a kernel by its id, a copy by the least key among its successors, ties by id); {@code FIXED}
     * strictly in id order per lane, the head waiting to be ready even when a later task is.
     */
    public enum Order { DYNAMIC, PRIORITY, FIXED }

    public static Prediction run(MemGraph g, CostModel costs) { return run(g, costs, Overheads.NONE); }

    /** As {@link #run(MemGraph, CostModel)}, with the dispatcher's overheads, in dynamic order. */
    public static Prediction run(MemGraph g, CostModel costs, Overheads over) { return run(g, costs, over, Order.DYNAMIC); }

    /** As {@link #run(MemGraph, CostModel, Overheads)}, with lanes taking ready tasks in {@code order}. */
    public static Prediction run(MemGraph g, CostModel costs, Overheads over, Order order) {
        List<Task> tasks = g.tasks();
        int n = tasks.size();
        int[] indeg = new int[n];
        List<List<Integer>> succ = new ArrayList<>();
        for (int i = 0; i < n; i++) succ.add(new ArrayList<>());
        Set<Long> seenEdges = new HashSet<>();
        for (Edge e : g.edges()) {
            if (!seenEdges.add(((long) e.from() << 32) | e.to())) continue;
            succ.get(e.from()).add(e.to());
            indeg[e.to()]++;
        }
        int[] readersLeft = g.readerCounts();
        Map<Integer, Set<Integer>> readsOf = new HashMap<>();
        Map<Integer, Set<Integer>> writesOf = new HashMap<>();
        for (Task t : tasks) {
            Set<Integer> r = new HashSet<>(), w = new HashSet<>();
            switch (t) {
                case Task.Kernel k -> {
                    for (int b : k.inputs()) if (b >= 0) r.add(b);
                    for (int b : k.captured()) if (b >= 0) r.add(b);
                    for (int b : k.outputs()) if (b >= 0) w.add(b);
                }
                case Task.Transfer x -> { r.add(x.src()); w.add(x.dst()); }
                case Task.Offload x -> { r.add(x.src()); w.add(x.dst()); }
                case Task.Reload x -> { r.add(x.src()); w.add(x.dst()); }
            }
            readsOf.put(t.id(), r);
            writesOf.put(t.id(), w);
        }
        Set<Integer> initializerBufs = new HashSet<>();
        for (var e : g.sources().entrySet()) if (g.graph().initializers().containsKey(e.getKey())) initializerBufs.add(e.getValue());

        int nd = g.devices().size();
        long[] live = new long[nd], peak = new long[nd];
        boolean[] allocated = new boolean[g.buffers().size()];
        Map<String, ReadyTasks> ready = new java.util.TreeMap<>();
        int[] rank = order == Order.PRIORITY ? urgencyRank(tasks, succ) : null;
        java.util.function.Function<String, ReadyTasks> newLane = k -> switch (order) {
            case DYNAMIC -> new Fifo();
            case PRIORITY -> new ByRank(rank);
            case FIXED -> new InIdOrder(tasks, k);
        };
        Map<String, Boolean> busy = new HashMap<>();
        Map<String, Double> busyMs = new java.util.LinkedHashMap<>();
        PriorityQueue<double[]> running = new PriorityQueue<>(BY_END);
        double[] workStart = new double[n];
        int[] sliceOf = new int[n];
        int computing = 0;
        for (int i = 0; i < n; i++) ready.computeIfAbsent(lane(tasks.get(i)), newLane);
        for (int i = 0; i < n; i++) if (indeg[i] == 0) ready.get(lane(tasks.get(i))).add(i, false);
        Map<String, Double> idleSince = new HashMap<>();
        double runStart = over.runMillis() / 2, now = runStart, makespan = 0;
        List<Slice> slices = new ArrayList<>();
        List<List<double[]>> memory = new ArrayList<>();
        for (int d = 0; d < nd; d++) memory.add(new ArrayList<>(List.<double[]>of(new double[] {0, 0})));
        int done = 0;
        while (done < n) {
            for (var e : ready.entrySet()) {
                if (busy.getOrDefault(e.getKey(), false)) continue;
                int id = e.getValue().poll();
                if (id < 0) continue;
                Task t = tasks.get(id);
                busy.put(e.getKey(), true);
                for (int b : writesOf.get(id)) {
                    Buffer buf = g.buffers().get(b);
                    if (!buf.onHost() && !allocated[b]) {
                        allocated[b] = true;
                        live[buf.device()] += buf.bytes();
                        peak[buf.device()] = Math.max(peak[buf.device()], live[buf.device()]);
                    }
                }
                if (t instanceof Task.Kernel k && k.scratch() >= 0) {
                    Buffer s = g.buffers().get(k.scratch());
                    live[s.device()] += s.bytes();
                    peak[s.device()] = Math.max(peak[s.device()], live[s.device()]);
                }
                double d = duration(t, g, costs, initializerBufs, over);
                // A lane whose last task ended just now takes this one after the dispatcher's per-task gap; a lane that
                // sat idle since before (or since the start, for a lane whose first task comes later) was parked and
                // must be handed the task; a lane's first task at the start comes with the run's own hand-off.
                double free = idleSince.getOrDefault(e.getKey(), runStart);
                double handOff = over.handOff(t.lane().isCopy(), now - free);
                double gap = t.device() == 0 ? over.hostTaskMillis() : over.taskMillis();
                double wake = free == now ? (idleSince.containsKey(e.getKey()) ? gap : 0) : handOff;
                busyMs.merge(e.getKey(), d, Double::sum);
                boolean cpu = !t.lane().isCopy();
                double rate = 1;
                if (cpu) {
                    rate = over.rate(++computing);
                    running = rescaled(running, tasks, now, workStart, over.rate(computing - 1), rate);
                }
                workStart[id] = now + wake;
                running.add(new double[] {now + wake + d / rate, id});
                sliceOf[id] = slices.size();
                slices.add(new Slice(e.getKey(), t.label(), now + wake, now + wake + d / rate, id));
                for (int dv = 1; dv < nd; dv++) memory.get(dv).add(new double[] {now, live[dv]});
            }
            double[] next = running.poll();
            if (next == null) throw new IllegalStateException("the memory graph has a cycle or a task without a lane");
            now = next[0];
            int id = (int) next[1];
            Task t = tasks.get(id);
            Slice started = slices.get(sliceOf[id]);
            if (started.end() != now) slices.set(sliceOf[id], new Slice(started.lane(), started.label(), started.start(), now, id));
            if (!t.lane().isCopy()) {
                computing--;
                running = rescaled(running, tasks, now, workStart, over.rate(computing + 1), over.rate(computing));
            }
            busy.put(lane(t), false);
            idleSince.put(lane(t), now);
            done++;
            makespan = Math.max(makespan, now);
            if (t instanceof Task.Kernel k && k.scratch() >= 0) live[g.buffers().get(k.scratch()).device()] -= g.buffers().get(k.scratch()).bytes();
            for (int b : readsOf.get(id)) {
                if (--readersLeft[b] == 0) free(g, b, allocated, live);
            }
            for (int b : writesOf.get(id)) if (readersLeft[b] == 0) free(g, b, allocated, live);
            for (int dv = 1; dv < nd; dv++) memory.get(dv).add(new double[] {now, live[dv]});
            boolean handedOver = false;
            for (int s : succ.get(id)) {
                if (--indeg[s] != 0) continue;
                // the dispatcher's lane runs the first successor it made ready on its own lane next, unqueued
                boolean handOver = order == Order.DYNAMIC && !handedOver && lane(tasks.get(s)).equals(lane(t));
                handedOver |= handOver;
                ready.get(lane(tasks.get(s))).add(s, handOver);
            }
        }
        makespan += over.runMillis() / 2;
        List<Long> peaks = new ArrayList<>();
        for (long p : peak) peaks.add(p);
        return new Prediction(makespan, peaks, busyMs, slices, memory);
    }

    private static final java.util.Comparator<double[]> BY_END = (a, b) -> a[0] != b[0] ? Double.compare(a[0], b[0]) : Double.compare(a[1], b[1]);

    /**
     * The running tasks with the compute lanes' speed changed from {@code from} to {@code to} at {@code now}: each
     * compute task's work left (from its start, or now if it started) takes {@code from / to} times as long; copies keep
     * their ends. Unchanged (the same queue) when the speed is.
     */
    private static PriorityQueue<double[]> rescaled(PriorityQueue<double[]> running, List<Task> tasks, double now, double[] workStart,
                                                    double from, double to) {
        if (from == to) return running;
        PriorityQueue<double[]> r = new PriorityQueue<>(BY_END);
        for (double[] x : running) {
            int id = (int) x[1];
            if (tasks.get(id).lane().isCopy()) { r.add(x); continue; }
            double s = Math.max(now, workStart[id]);
            r.add(new double[] {s + (x[0] - s) * from / to, id});
        }
        return r;
    }

    /** A lane's ready tasks in the order its dispatcher takes them. */
    private interface ReadyTasks {
        /** Task {@code id} became ready; {@code next}: the lane's own finished task handed it over (runs next). */
        void add(int id, boolean next);

        /** The task the idle lane takes now, or -1. */
        int poll();
    }

    /** Dynamic order: first come, first served; a hand-over goes to the front. */
    private static final class Fifo implements ReadyTasks {
        private final java.util.ArrayDeque<Integer> q = new java.util.ArrayDeque<>();
        @Override public void add(int id, boolean next) { if (next) q.addFirst(id); else q.addLast(id); }
        @Override public int poll() { Integer t = q.pollFirst(); return t == null ? -1 : t; }
    }

    /** Priority order: the least rank first. */
    private static final class ByRank implements ReadyTasks {
        private final int[] rank;
        private final TreeSet<Integer> ranks = new TreeSet<>();
        private final Map<Integer, Integer> taskOfRank = new HashMap<>();
        ByRank(int[] rank) { this.rank = rank; }
        @Override public void add(int id, boolean next) { ranks.add(rank[id]); taskOfRank.put(rank[id], id); }
        @Override public int poll() { Integer r = ranks.pollFirst(); return r == null ? -1 : taskOfRank.remove(r); }
    }

    /** Fixed order: the lane's tasks strictly by id; only a ready head may start. */
    private static final class InIdOrder implements ReadyTasks {
        private final int[] sequence;
        private final Set<Integer> isReady = new HashSet<>();
        private int cursor;
        InIdOrder(List<Task> tasks, String lane) {
            sequence = tasks.stream().filter(t -> lane(t).equals(lane)).mapToInt(Task::id).sorted().toArray();
        }
        @Override public void add(int id, boolean next) { isReady.add(id); }
        @Override public int poll() {
            if (cursor >= sequence.length || !isReady.contains(sequence[cursor])) return -1;
            return sequence[cursor++];
        }
    }

    /**
     * Every task's rank in priority order: a kernel's key is its id, a copy's the least key among its successors
     * (its own id where it feeds nothing); ranks sort by key, then id.
     */
    static int[] urgencyRank(List<Task> tasks, List<List<Integer>> succ) {
        int n = tasks.size();
        int[] key = new int[n];
        for (int t = n - 1; t >= 0; t--) {
            int k = t;
            if (tasks.get(t).lane().isCopy() && !succ.get(t).isEmpty()) {
                k = Integer.MAX_VALUE;
                for (int s : succ.get(t)) k = Math.min(k, key[s]);
            }
            key[t] = k;
        }
        Integer[] byKey = new Integer[n];
        for (int i = 0; i < n; i++) byKey[i] = i;
        java.util.Arrays.sort(byKey, java.util.Comparator.<Integer>comparingInt(i -> key[i]).thenComparingInt(i -> i));
        int[] rank = new int[n];
        for (int r = 0; r < n; r++) rank[byKey[r]] = r;
        return rank;
    }

    private static void free(MemGraph g, int b, boolean[] allocated, long[] live) {
        Buffer buf = g.buffers().get(b);
        if (buf.onHost() || !allocated[b]) return;
        allocated[b] = false;
        live[buf.device()] -= buf.bytes();
    }

    /**
     * A local copy's speed: a memory-to-memory copy within one device, which the cost model has no figure for; 10 GB/s,
     * a conservative host memcpy (the throttled device's memory is host memory; a GPU's own copies are faster).
     */
    static final double LOCAL_COPY_BYTES_PER_MS = 10e9 / 1e3;

    private static String lane(Task t) { return t.device() + "." + t.lane(); }

    private static double duration(Task t, MemGraph g, CostModel costs, Set<Integer> initializerBufs, Overheads over) {
        CostModel.DeviceCost dev = costs.devices().get(t.device());
        return switch (t) {
            case Task.Kernel k -> costs.nodes().get(k.node()).millis(k.device()) / (k.tile() == null ? 1 : k.tile().count())
                + (k.device() == 0 ? 0 : over.kernelMillis());
            // a copy inside the device (a band gathered from a resident whole, on the compute lane) uses no link
            case Task.Transfer x when x.local() -> x.bytes() / LOCAL_COPY_BYTES_PER_MS;
            case Task.Transfer x -> x.lane() == LaneKind.H2D && dev.kind().equals("described") && initializerBufs.contains(x.src())
                ? 0 : dev.transferMillis(x.bytes());
            case Task.Offload x -> dev.transferMillis(x.bytes());
            case Task.Reload x -> dev.transferMillis(x.bytes());
        };
    }
}
