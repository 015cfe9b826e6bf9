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
 * scale, and a fixed cost per task that a tile pays whatever its share), the link (a line fitted through all-accel's
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
     * through every copy of every run, and each overhead is the median over the runs of its per-run mean, so that one
     * run the host disturbed (a time slice lost, a collection) does not set a figure.
     */
    public static SimulatorCalibration of(CostModel costs, MemGraph allCpu, List<Trace> cpuTraces, MemGraph allAccel, List<Trace> accelTraces) {
        if (cpuTraces.isEmpty() || accelTraces.isEmpty()) throw new IllegalArgumentException("calibration needs a measured run of each");
        for (Trace t : cpuTraces) check(allCpu, t);
        for (Trace t : accelTraces) check(allAccel, t);
        CostModel c = withNodeTimes(costs, allCpu, cpuTraces);
        c = withLink(c, allAccel, accelTraces);
        KernelTasks k = kernelTasks(c, allAccel, accelTraces);
        c = scaled(c, k.scale());
        int runs = Math.min(cpuTraces.size(), accelTraces.size());
        double[][] o = new double[5][runs];
        for (int r = 0; r < runs; r++) {
            Simulator.Overheads x = overheads(List.of(allCpu, allAccel), List.of(cpuTraces.get(r), accelTraces.get(r)));
            o[0][r] = x.taskMillis(); o[1][r] = x.wakeMillis(); o[2][r] = x.copyWakeMillis(); o[3][r] = x.runMillis(); o[4][r] = x.hostTaskMillis();
        }
        return new SimulatorCalibration(c, new Simulator.Overheads(median(o[0]), median(o[1]), median(o[2]), median(o[3]), median(o[4]),
            k.fixedMillis()));
    }

    /** The same calibration with the compute lanes sharing {@code lanes} cores' worth of speed (see {@link #concurrency}). */
    public SimulatorCalibration withConcurrency(double lanes) { return new SimulatorCalibration(costs, overheads.withConcurrency(lanes)); }

    /**
     * How many threads' worth of speed two busy threads get on this machine now, between 1 and 2: a fixed spin timed
     * on one thread alone and on two at once, alternately ({@code rounds} times), {@code 2 t1 / t2} of the medians. Two
     * compute lanes (the host's and the accelerator's, one thread each) run at full speed at once only where two cores
     * are free; on a host whose other processes keep the cores busy they share less, which all-cpu and all-accel,
     * each one lane at a time, do not show. Take it beside the measured runs, as the load it reads changes by the minute.
     */
    public static double concurrency(int rounds) {
        long iters = 1 << 16;
        while (spinNanos(iters) < 1_000_000 && iters < (1L << 40)) iters *= 2; // about a millisecond or more alone
        long[] one = new long[rounds], two = new long[rounds];
        for (int r = 0; r < rounds; r++) {
            one[r] = spinNanos(iters);
            two[r] = pairNanos(iters);
        }
        Arrays.sort(one);
        Arrays.sort(two);
        double s = 2.0 * one[rounds / 2] / Math.max(1, two[rounds / 2]);
        return Math.max(1, Math.min(2, s));
    }

    private static volatile long sink;

    private static long spinNanos(long iters) {
        long t0 = System.nanoTime(), x = 88172645463325252L;
        for (long i = 0; i < iters; i++) { x ^= x << 13; x ^= x >>> 7; x ^= x << 17; }
        sink = x;
        return System.nanoTime() - t0;
    }

    /** The time until two threads that start the same spin together have both finished it. */
    private static long pairNanos(long iters) {
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        long[] end = new long[2];
        Thread[] ts = new Thread[2];
        for (int i = 0; i < 2; i++) {
            int k = i;
            ts[i] = Thread.ofPlatform().daemon().start(() -> {
                try { go.await(); } catch (InterruptedException e) { Thread.currentThread().interrupt(); return; }
                spinNanos(iters);
                end[k] = System.nanoTime();
            });
        }
        long t0 = System.nanoTime();
        go.countDown();
        for (Thread t : ts) {
            try { t.join(); } catch (InterruptedException e) { Thread.currentThread().interrupt(); throw new IllegalStateException("interrupted", e); }
        }
        return Math.max(end[0], end[1]) - t0;
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

    /** The accelerator's link as all-accel's copies took it: least squares of slice time on bytes (needs 3+ copies). */
    static CostModel withLink(CostModel costs, MemGraph allAccel, List<Trace> traces) {
        List<Task> tasks = allAccel.tasks();
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int n = 0;
        for (Trace trace : traces) {
            for (int i = 0; i < tasks.size(); i++) {
                // a local copy (inside the device, on its compute lane) does not cross the link
                if (tasks.get(i) instanceof Task.Kernel || tasks.get(i) instanceof Task.Transfer x && x.local()) continue;
                double x = tasks.get(i).bytes(), y = trace.slices().get(i).nanos() / 1e6;
                sx += x; sy += y; sxx += x * x; sxy += x * y; n++;
            }
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
