package dev.sluice.runtime.compile;

import dev.sluice.graph.cost.CostModel;
import dev.sluice.memgraph.Edge;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.placement.Simulator;
import dev.sluice.runtime.dispatch.Trace;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The simulator's inputs as this machine shows them right now, read off measured traces of two calibration
 * placements (all-cpu and all-accel, run interleaved with the placements being validated, so the host's state is the
 * same for all): each node's time (the slices of all-cpu's kernel tasks, for the devices that run the CPU's kernels),
 * the accelerator's kernel tasks (a line through all-accel's kernel slices against their shares of the node times: a
 * scale, and a fixed cost per task that a tile pays whatever its share), optionally the share of the host's time a lane
 * gets ({@link Part#STRETCH}), the link (a line fitted through all-accel's
 * copy slices that cross it: latency plus bytes over bandwidth), and the dispatcher's overheads (a lane's gap between tasks it had
 * ready; the delay from a release by another lane to the start on an idle lane; the run's start and end hand-offs
 * between the caller and the lanes). Each figure is measured where it
 * happens, so one cannot absorb another's error. The placements calibrated on are not counted in the error.
 *
 * @param costs    the cost model with measured device columns (never described ones) re-measured
 * @param overheads the dispatcher's per-task and hand-off costs
 */
public record SimulatorCalibration(CostModel costs, Simulator.Overheads overheads) {

    /** Calibrates from all-cpu's plan and trace and all-accel's (task i of a plan is slice i of its trace). */
    public static SimulatorCalibration of(CostModel costs, MemGraph allCpu, Trace cpuTrace, MemGraph allAccel, Trace accelTrace) {
        return of(costs, allCpu, List.of(cpuTrace), allAccel, List.of(accelTrace));
    }

    /**
     * Calibrates from several measured runs of each: a node's time is its median over the runs, the link is fitted
     * through every copy's median over the runs, and each overhead is the median over the runs of its per-run mean, so that one
     * run the host disturbed (a time slice lost, a collection) does not set a figure.
     */
    public static SimulatorCalibration of(CostModel costs, MemGraph allCpu, List<Trace> cpuTraces, MemGraph allAccel, List<Trace> accelTraces) {
        return of(costs, allCpu, cpuTraces, allAccel, accelTraces, java.util.EnumSet.of(Part.KERNEL_TASKS, Part.PARKED));
    }

    /**
     * The parts of a calibration beyond node times, link and dispatcher overheads, each of which can be left out, so
     * that a bench shows on the same runs what each changes: {@code KERNEL_TASKS}, the accelerator's kernel-task line
     * (without it a kernel task takes its share as it is); {@code STRETCH}, compute stretched to all-cpu's median wall
     * time (without it, the sum of the nodes' medians). The stretch is not in the default calibration: on a host whose
     * load comes in bursts, all-cpu's median run is sometimes a disturbed one, and the stretch then carried that burst
     * into every prediction (place-bench, e5-small-v2-q at 25% under a load of 15 on 2 cores: all-cpu's median 133 ms
     * while its quiet runs took 25 ms, every placement predicted 5 to 7 times its measured time); the nodes' own
     * medians, each over runs disturbed at different places, stay near the quiet runs. {@code PARKED} (in the default):
     * hand-offs to a lane idle {@link #PARKED_AFTER_MILLIS} or more priced apart from those to a lane idle for less
     * (see {@code Simulator.Overheads}); without it, one figure per lane kind, the mean of all.
     */
    public enum Part { KERNEL_TASKS, STRETCH, PARKED }

    /** As {@link #of(CostModel, MemGraph, List, MemGraph, List)} with only the given {@code parts}. */
    public static SimulatorCalibration of(CostModel costs, MemGraph allCpu, List<Trace> cpuTraces, MemGraph allAccel, List<Trace> accelTraces,
                                          java.util.Set<Part> parts) {
        if (cpuTraces.isEmpty() || accelTraces.isEmpty()) throw new IllegalArgumentException("calibration needs a measured run of each");
        for (Trace t : cpuTraces) check(allCpu, t);
        for (Trace t : accelTraces) check(allAccel, t);
        CostModel c = withNodeTimes(costs, allCpu, cpuTraces);
        c = withLink(c, allAccel, accelTraces);
        KernelTasks k = parts.contains(Part.KERNEL_TASKS) ? kernelTasks(c, allAccel, accelTraces) : KernelTasks.NONE;
        c = scaled(c, k.scale());
        int runs = Math.min(cpuTraces.size(), accelTraces.size());
        double[][] o = new double[9][runs];
        for (int r = 0; r < runs; r++) {
            Simulator.Overheads x = overheads(List.of(allCpu, allAccel), List.of(cpuTraces.get(r), accelTraces.get(r)));
            o[0][r] = x.taskMillis(); o[1][r] = x.wakeMillis(); o[2][r] = x.copyWakeMillis(); o[3][r] = x.runMillis(); o[4][r] = x.hostTaskMillis();
            double[] split = handOffsByIdle(List.of(allCpu, allAccel), List.of(cpuTraces.get(r), accelTraces.get(r)));
            for (int j = 0; j < 4; j++) o[5 + j][r] = split[j];
        }
        Simulator.Overheads over = new Simulator.Overheads(median(o[0]), median(o[1]), median(o[2]), median(o[3]), median(o[4]), k.fixedMillis());
        // hand-offs to a lane that had time to park priced apart from those to a lane still spinning (see Simulator.Overheads);
        // a kind with none of one class in any run takes the other class's figure, then the kind's figure over all
        double shortWake = medianOf(o[5]), parkedWake = medianOf(o[6]), shortCopy = medianOf(o[7]), parkedCopy = medianOf(o[8]);
        if (parts.contains(Part.PARKED)
                && (!Double.isNaN(shortWake) || !Double.isNaN(parkedWake) || !Double.isNaN(shortCopy) || !Double.isNaN(parkedCopy))) {
            double w = Double.isNaN(shortWake) ? (Double.isNaN(parkedWake) ? over.wakeMillis() : parkedWake) : shortWake;
            double pw = Double.isNaN(parkedWake) ? w : parkedWake;
            double cw = Double.isNaN(shortCopy) ? (Double.isNaN(parkedCopy) ? over.copyWakeMillis() : parkedCopy) : shortCopy;
            double pc = Double.isNaN(parkedCopy) ? cw : parkedCopy;
            over = new Simulator.Overheads(over.taskMillis(), w, cw, over.runMillis(), over.hostTaskMillis(), over.kernelMillis(), over.concurrency(),
                PARKED_AFTER_MILLIS, pw, pc);
        }
        if (!parts.contains(Part.STRETCH)) return new SimulatorCalibration(c, over);
        // A node's median over the runs leaves out the time slices the host took from the lane in one run or another,
        // but every run loses some: stretch the compute (node times, the per-task gaps, the accelerator's fixed cost) by
        // all-cpu's median wall time over its simulated time, the share of the host's time a lane gets now
        // all-cpu is one lane, so its simulated time is a line in the stretch (compute times s, the run's hand-offs as they
        // are): read it off at s = 1 and 2, and solve it for all-cpu's median wall time
        double[] walls = cpuTraces.stream().mapToDouble(t -> t.wallNanos() / 1e6).toArray();
        double at1 = Simulator.run(allCpu, c, over).makespanMillis(), at2 = Simulator.run(allCpu, stretched(c, 2), stretched(over, 2)).makespanMillis();
        double slope = at2 - at1, stretch = slope > 0 ? (median(walls) - (at1 - slope)) / slope : 1;
        if (!(stretch > 0) || Double.isInfinite(stretch)) stretch = 1;
        return new SimulatorCalibration(stretched(c, stretch), stretched(over, stretch));
    }

    /** The overheads with the compute lanes' own parts (per-task gaps, the accelerator's fixed cost) times {@code factor}. */
    static Simulator.Overheads stretched(Simulator.Overheads o, double factor) {
        return new Simulator.Overheads(o.taskMillis() * factor, o.wakeMillis(), o.copyWakeMillis(), o.runMillis(), o.hostTaskMillis() * factor,
            o.kernelMillis() * factor, o.concurrency(), o.parkedAfterMillis(), o.parkedWakeMillis(), o.parkedCopyWakeMillis());
    }

    /** The cost model with every measured device's node times times {@code factor}. */
    static CostModel stretched(CostModel costs, double factor) {
        if (factor == 1) return costs;
        List<CostModel.NodeCost> nodes = new ArrayList<>();
        for (CostModel.NodeCost nc : costs.nodes()) {
            List<CostModel.Timing> ts = new ArrayList<>(nc.times());
            for (int d = 0; d < ts.size(); d++) {
                if (costs.devices().get(d).timeSource() == CostModel.Source.MEASURED) ts.set(d, new CostModel.Timing(ts.get(d).millis() * factor, ts.get(d).source()));
            }
            nodes.add(new CostModel.NodeCost(nc.node(), nc.opType(), nc.flops(), nc.weightBytes(), nc.activationBytes(), nc.outputBytes(), ts));
        }
        return new CostModel(costs.model(), costs.fingerprint(), costs.devices(), nodes);
    }

    /** The same calibration with the compute lanes sharing {@code lanes} cores' worth of speed (see {@link #concurrency}). */
    public SimulatorCalibration withConcurrency(double lanes) { return new SimulatorCalibration(costs, overheads.withConcurrency(lanes)); }

    /**
     * How many threads' worth of speed two busy threads get on this machine now, between 1 and 2: the spin work one
     * thread gets done in a fixed window, and the work two threads get done together in the same window, alternately
     * ({@code rounds} times), the ratio of the medians. Two compute lanes (the host's and the accelerator's, one thread
     * each) run at full speed at once only where two cores are free; on a host whose other processes keep the cores busy
     * they share less, which all-cpu and all-accel, each one lane at a time, do not show. Work in a window, not the time
     * to a fixed work: timing two threads to the later one's end adds the worse of two waits for a core, so on a loaded
     * host it read two lanes as one (1.00) while placements with both lanes busy ran faster than all-cpu. Take it beside
     * the measured runs, as the load it reads changes by the minute.
     */
    public static double concurrency(int rounds) {
        long chunk = 1 << 10;
        while (spinNanos(chunk) < 20_000 && chunk < (1L << 30)) chunk *= 2; // chunks of about 20 us: a window ends within one
        long window = 10_000_000; // several of the scheduler's time slices, so that a window sees the host's shares
        long[] one = new long[rounds], two = new long[rounds];
        for (int r = 0; r < rounds; r++) {
            one[r] = chunksIn(1, chunk, window);
            two[r] = chunksIn(2, chunk, window);
        }
        Arrays.sort(one);
        Arrays.sort(two);
        double s = (double) two[rounds / 2] / Math.max(1, one[rounds / 2]);
        return Math.max(1, Math.min(2, s));
    }

    private static volatile long sink;

    private static long spinNanos(long iters) {
        long t0 = System.nanoTime(), x = 88172645463325252L;
        for (long i = 0; i < iters; i++) { x ^= x << 13; x ^= x >>> 7; x ^= x << 17; }
        sink = x;
        return System.nanoTime() - t0;
    }

    /** The chunks of spin {@code threads} threads, started together, complete in all before {@code windowNanos} ends. */
    private static long chunksIn(int threads, long chunk, long windowNanos) {
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        long[] done = new long[threads];
        long[] deadline = new long[1];
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            int k = i;
            ts[i] = Thread.ofPlatform().daemon().start(() -> {
                try { go.await(); } catch (InterruptedException e) { Thread.currentThread().interrupt(); return; }
                while (System.nanoTime() < deadline[0]) {
                    spinNanos(chunk);
                    if (System.nanoTime() <= deadline[0]) done[k]++;
                }
            });
        }
        deadline[0] = System.nanoTime() + windowNanos; // published to the threads by the latch
        go.countDown();
        for (Thread t : ts) {
            try { t.join(); } catch (InterruptedException e) { Thread.currentThread().interrupt(); throw new IllegalStateException("interrupted", e); }
        }
        long sum = 0;
        for (long d : done) sum += d;
        return sum;
    }

    /**
     * How all-accel's kernel tasks took their shares of the accelerator's node times: a task's time is {@code scale}
     * times its share (the node's time over its tile count) plus {@code fixedMillis} (what a task costs beyond its
     * share: a launch, packing a tile's weights, a cold cache), the least-squares line through every kernel task's
     * median time over the runs.
     */
    record KernelTasks(double scale, double fixedMillis) {
        static final KernelTasks NONE = new KernelTasks(1, 0);
    }

    /** The kernel-task line of all-accel's runs (needs 3+ kernel tasks of different shares; else none). */
    static KernelTasks kernelTasks(CostModel costs, MemGraph allAccel, List<Trace> traces) {
        List<Task> tasks = allAccel.tasks();
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int n = 0;
        double[] body = new double[traces.size()];
        for (int i = 0; i < tasks.size(); i++) {
            if (!(tasks.get(i) instanceof Task.Kernel k) || k.device() == 0) continue;
            for (int r = 0; r < traces.size(); r++) body[r] = traces.get(r).slices().get(i).nanos() / 1e6;
            double x = costs.nodes().get(k.node()).millis(k.device()) / (k.tile() == null ? 1 : k.tile().count()), y = median(body);
            sx += x; sy += y; sxx += x * x; sxy += x * y; n++;
        }
        double var = n * sxx - sx * sx;
        if (n < 3 || var <= 0) return KernelTasks.NONE;
        double scale = (n * sxy - sx * sy) / var;
        if (scale <= 0) return new KernelTasks(1, Math.max(0, (sy - sx) / n));
        return new KernelTasks(scale, Math.max(0, (sy - scale * sx) / n));
    }

    /** The cost model with every accelerator's measured node times times {@code scale}. */
    static CostModel scaled(CostModel costs, double scale) {
        if (scale == 1) return costs;
        List<CostModel.NodeCost> nodes = new ArrayList<>();
        for (CostModel.NodeCost nc : costs.nodes()) {
            List<CostModel.Timing> ts = new ArrayList<>(nc.times());
            for (int d = 1; d < ts.size(); d++) {
                if (costs.devices().get(d).timeSource() == CostModel.Source.MEASURED) ts.set(d, new CostModel.Timing(ts.get(d).millis() * scale, ts.get(d).source()));
            }
            nodes.add(new CostModel.NodeCost(nc.node(), nc.opType(), nc.flops(), nc.weightBytes(), nc.activationBytes(), nc.outputBytes(), ts));
        }
        return new CostModel(costs.model(), costs.fingerprint(), costs.devices(), nodes);
    }

    /** The median of the numbers that are not NaN (runs that had no sample of a figure), or NaN if none is. */
    private static double medianOf(double[] v) {
        double[] c = Arrays.stream(v).filter(x -> !Double.isNaN(x)).toArray();
        return c.length == 0 ? Double.NaN : median(c);
    }

    /**
     * How long a lane sits idle before a task handed to it counts as handed to a parked lane: past both of the
     * dispatcher's spins (a compute lane's polls, a copy lane's {@code COPY_SPIN_NANOS}, 20 us).
     */
    public static final double PARKED_AFTER_MILLIS = 0.05;

    /**
     * The traces' hand-offs to idle lanes (a task released by another lane, its own lane idle when it became ready) by
     * how long the lane had been idle then, under {@link #PARKED_AFTER_MILLIS} or not: {compute short, compute parked, copy
     * short, copy parked}, each the mean ready-to-start time in ms, NaN where there was none.
     */
    static double[] handOffsByIdle(List<MemGraph> plans, List<Trace> traces) {
        double[] sum = new double[4];
        int[] n = new int[4];
        for (int p = 0; p < plans.size(); p++) {
            MemGraph g = plans.get(p);
            List<Trace.Slice> sl = traces.get(p).slices();
            int count = sl.size();
            long[] ready = new long[count];
            int[] releasedBy = new int[count];
            Arrays.fill(releasedBy, -1);
            for (Edge e : g.edges()) {
                long end = sl.get(e.from()).endNanos();
                if (releasedBy[e.to()] < 0 || end > ready[e.to()]) { ready[e.to()] = end; releasedBy[e.to()] = e.from(); }
            }
            Integer[] byStart = new Integer[count];
            for (int i = 0; i < count; i++) byStart[i] = i;
            Arrays.sort(byStart, Comparator.comparingLong(i -> sl.get(i).startNanos()));
            Map<Integer, Long> laneFree = new HashMap<>();
            for (int i : byStart) {
                Trace.Slice x = sl.get(i);
                Long free = laneFree.put(x.track(), x.endNanos());
                if (releasedBy[i] < 0 || free == null || ready[i] <= free || sl.get(releasedBy[i]).track() == x.track()) continue;
                int k = (traces.get(p).tracks().get(x.track()).copy() ? 2 : 0) + ((ready[i] - free) / 1e6 >= PARKED_AFTER_MILLIS ? 1 : 0);
                sum[k] += Math.max(0, x.startNanos() - ready[i]) / 1e6;
                n[k]++;
            }
        }
        double[] mean = new double[4];
        for (int k = 0; k < 4; k++) mean[k] = n[k] == 0 ? Double.NaN : sum[k] / n[k];
        return mean;
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }

    private static void check(MemGraph g, Trace t) {
        if (t.slices().size() != g.tasks().size()) {
            throw new IllegalArgumentException("trace has " + t.slices().size() + " slices for " + g.tasks().size() + " tasks");
        }
    }

    /**
     * Node times of the columns that run the CPU's kernels from the kernel slices of all-host runs (a node's tiles summed;
     * median of runs).
     */
    static CostModel withNodeTimes(CostModel costs, MemGraph allCpu, List<Trace> traces) {
        double[][] perRun = new double[costs.nodes().size()][traces.size()];
        boolean[] seen = new boolean[perRun.length];
        List<Task> tasks = allCpu.tasks();
        for (int r = 0; r < traces.size(); r++) {
            for (int i = 0; i < tasks.size(); i++) {
                if (tasks.get(i) instanceof Task.Kernel k) { perRun[k.node()][r] += traces.get(r).slices().get(i).nanos() / 1e6; seen[k.node()] = true; }
            }
        }
        double[] ms = new double[perRun.length];
        for (int n = 0; n < ms.length; n++) ms[n] = median(perRun[n]);
        List<CostModel.NodeCost> nodes = new ArrayList<>();
        for (int n = 0; n < ms.length; n++) {
            CostModel.NodeCost nc = costs.nodes().get(n);
            List<CostModel.Timing> ts = new ArrayList<>(nc.times());
            for (int d = 0; d < ts.size(); d++) {
                if (seen[n] && runsCpuKernels(costs.devices().get(d))) ts.set(d, new CostModel.Timing(ms[n], CostModel.Source.MEASURED));
            }
            nodes.add(new CostModel.NodeCost(nc.node(), nc.opType(), nc.flops(), nc.weightBytes(), nc.activationBytes(), nc.outputBytes(), ts));
        }
        return new CostModel(costs.model(), costs.fingerprint(), costs.devices(), nodes);
    }

    /**
     * A measured device that runs the CPU's kernels (the cpu, the throttled device): all-cpu's times are its times.
     * TornadoVM's kernels are others, its profiled times stay (all-accel's kernel tasks scale them, see {@link #kernelTasks}).
     */
    static boolean runsCpuKernels(CostModel.DeviceCost d) {
        return d.timeSource() == CostModel.Source.MEASURED && (d.kind().equals("cpu") || d.kind().equals("throttled"));
    }

    /**
     * The accelerator's link as all-accel's copies took it: least squares of each copy's median time over the runs on its
     * bytes (needs 3+ copies). Medians, as for the nodes: a run the host disturbed does not pull the line up.
     */
    static CostModel withLink(CostModel costs, MemGraph allAccel, List<Trace> traces) {
        List<Task> tasks = allAccel.tasks();
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int n = 0;
        double[] took = new double[traces.size()];
        for (int i = 0; i < tasks.size(); i++) {
            // a local copy (inside the device, on its compute lane) does not cross the link
            if (tasks.get(i) instanceof Task.Kernel || tasks.get(i) instanceof Task.Transfer x && x.local()) continue;
            for (int r = 0; r < traces.size(); r++) took[r] = traces.get(r).slices().get(i).nanos() / 1e6;
            double x = tasks.get(i).bytes(), y = median(took);
            sx += x; sy += y; sxx += x * x; sxy += x * y; n++;
        }
        if (n < 3) return costs;
        double var = n * sxx - sx * sx;
        double slope = var > 0 ? Math.max(0, (n * sxy - sx * sy) / var) : 0;
        double latency = Math.max(0, (sy - slope * sx) / n);
        List<CostModel.DeviceCost> ds = new ArrayList<>(costs.devices());
        for (int d = 1; d < ds.size(); d++) {
            CostModel.DeviceCost dc = ds.get(d);
            if (dc.linkSource() != CostModel.Source.MEASURED) continue;
            ds.set(d, new CostModel.DeviceCost(dc.name(), dc.kind(), dc.timeSource(), slope == 0 ? 0 : 1e3 / slope, latency, dc.linkSource(),
                dc.memoryBytes()));
        }
        return new CostModel(costs.model(), costs.fingerprint(), ds, costs.nodes());
    }

    /**
     * The dispatcher's overheads in traces: {@code taskMillis} and {@code hostTaskMillis}, the mean gap between a lane's
     * task and the next one that was already ready when it ended, on the accelerator's lanes and on the host's; {@code wakeMillis} and {@code copyWakeMillis}, the mean time from a task's release
     * by another lane to its start, where its own lane (a compute lane, a copy lane) sat idle; {@code runMillis}, the mean time before the first task starts plus after the
     * last one ends.
     */
    static Simulator.Overheads overheads(List<MemGraph> plans, List<Trace> traces) {
        double runSum = 0;
        double[] wakeSum = new double[2], taskSum = new double[2];
        int[] wakeN = new int[2], taskN = new int[2];
        for (int p = 0; p < plans.size(); p++) {
            MemGraph g = plans.get(p);
            List<Trace.Slice> sl = traces.get(p).slices();
            int n = sl.size();
            long first = Long.MAX_VALUE, last = 0;
            for (Trace.Slice x : sl) { first = Math.min(first, x.startNanos()); last = Math.max(last, x.endNanos()); }
            if (n > 0) runSum += first + (traces.get(p).wallNanos() - last);
            long[] ready = new long[n];
            int[] releasedBy = new int[n];
            Arrays.fill(releasedBy, -1);
            for (Edge e : g.edges()) {
                long end = sl.get(e.from()).endNanos();
                if (releasedBy[e.to()] < 0 || end > ready[e.to()]) { ready[e.to()] = end; releasedBy[e.to()] = e.from(); }
            }
            Integer[] byStart = new Integer[n];
            for (int i = 0; i < n; i++) byStart[i] = i;
            Arrays.sort(byStart, Comparator.comparingLong(i -> sl.get(i).startNanos()));
            Map<Integer, Long> laneFree = new HashMap<>();
            for (int i : byStart) {
                Trace.Slice x = sl.get(i);
                Long free = laneFree.put(x.track(), x.endNanos());
                if (releasedBy[i] < 0 || free == null) continue;
                if (ready[i] <= free) {
                    int h = g.tasks().get(i).device() == 0 ? 1 : 0;
                    taskSum[h] += x.startNanos() - free;
                    taskN[h]++;
                }
                else if (sl.get(releasedBy[i]).track() != x.track()) {
                    int k = traces.get(p).tracks().get(x.track()).copy() ? 1 : 0;
                    wakeSum[k] += x.startNanos() - ready[i];
                    wakeN[k]++;
                }
            }
        }
        double compute = wakeN[0] == 0 ? 0 : Math.max(0, wakeSum[0] / wakeN[0] / 1e6);
        double copy = wakeN[1] == 0 ? compute : Math.max(0, wakeSum[1] / wakeN[1] / 1e6);
        double accelTask = taskN[0] == 0 ? 0 : Math.max(0, taskSum[0] / taskN[0] / 1e6);
        double hostTask = taskN[1] == 0 ? accelTask : Math.max(0, taskSum[1] / taskN[1] / 1e6);
        return new Simulator.Overheads(taskN[0] == 0 ? hostTask : accelTask, wakeN[0] == 0 ? copy : compute, copy,
            Math.max(0, runSum / plans.size() / 1e6), hostTask);
    }
}
