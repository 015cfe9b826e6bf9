package dev.sluice.memgraph.placement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * The heuristic strategies, all on one {@link PlacementProblem} and judged by one evaluator ({@link Schedule#list}
 * in HEFT's rank order unless a strategy says otherwise). Accelerator = device 1 (the problem's first device
 * after the host). HEFT, chrion-memory's moves and the MILP hold to each device's capacity in the static memory
 * model; all-accel and chrion-latency do not (the runtime offloads to keep a budget).
 */
public final class Strategies {
    private Strategies() {}

    /** The strategies' names, in the order reports list them. */
    public static final List<String> NAMES = List.of("all-cpu", "all-accel", "heft", "chrion-latency", "chrion-memory", "milp");

    /** A strategy's answer: its assignment, the schedule that judges it, and how long it took to find. */
    public record Result(String strategy, int[] assign, Schedule schedule, double solverMillis, String note) {
        public double makespan() { return schedule.makespan(); }
    }

    /** Every task on device d. */
    public static Result allOn(PlacementProblem p, int d, String name) {
        long t0 = System.nanoTime();
        int[] a = new int[p.size()];
        Arrays.fill(a, d);
        Schedule s = Schedule.list(p, a, Schedule.rankOrder(p));
        return new Result(name, a, s, ms(t0), "");
    }

    /**
     * HEFT (Topcuoglu et al.) without insertion: tasks by decreasing upward rank, each on the device where it would
     * finish first given the devices' free times and its inputs' arrival, among devices it fits on.
     */
    public static Result heft(PlacementProblem p) {
        long t0 = System.nanoTime();
        int n = p.size(), nd = p.devices();
        int[] order = Schedule.rankOrder(p);
        int[] a = new int[n];
        double[] end = new double[n], free = new double[nd];
        long[] weights = new long[nd], work = new long[nd];
        List<List<PlacementProblem.Arc>> preds = p.predecessors();
        for (int t : order) {
            int best = 0;
            double bestEnd = Double.MAX_VALUE, bestReady = 0;
            for (int d = 0; d < nd; d++) {
                if (d != 0 && weights[d] + p.weightBytes()[t] + Math.max(work[d], p.workBytes()[t]) > p.capacity(d)) continue;
                double ready = free[d];
                if (d != 0 && p.hostInBytes()[t] > 0) ready = Math.max(ready, p.transferMillis(p.hostInBytes()[t], 0, d));
                for (PlacementProblem.Arc arc : preds.get(t)) ready = Math.max(ready, end[arc.from()] + p.transferMillis(arc.bytes(), a[arc.from()], d));
                double e = ready + p.millis()[t][d] + (p.hostOutBytes()[t] > 0 ? p.transferMillis(p.hostOutBytes()[t], d, 0) : 0);
                if (e < bestEnd) { bestEnd = e; best = d; bestReady = ready; }
            }
            a[t] = best;
            weights[best] += p.weightBytes()[t];
            work[best] = Math.max(work[best], p.workBytes()[t]);
            end[t] = bestReady + p.millis()[t][best];
            free[best] = end[t];
        }
        return new Result("heft", a, Schedule.list(p, a, order), ms(t0), "");
    }

    /**
     * Chrion's latency objective: the least makespan, using inter-operator parallelism (independent branches on the
     * CPU and the accelerator at once). From each of all-cpu, all-accel and HEFT, moves single tasks to another device
     * while that shortens the makespan (first improvement, passes over the tasks in rank order until a pass changes
     * nothing, at most 50 passes); keeps the best. Never worse than any of its starts, so never worse than all-accel.
     * Like all-accel it does not hold to the static memory model's capacity: the runtime keeps a device within its
     * budget by offloading (the MemGraph), and the simulator charges those copies.
     */
    public static Result chrionLatency(PlacementProblem p) {
        long t0 = System.nanoTime();
        int[] order = Schedule.rankOrder(p);
        int[] best = null;
        double bestMs = Double.MAX_VALUE;
        for (Result start : List.of(allOn(p, 0, "all-cpu"), allOn(p, 1, "all-accel"), heft(p))) {
            int[] a = improve(p, start.assign().clone(), order);
            double m = Schedule.list(p, a, order).makespan();
            if (m < bestMs - 1e-9) { bestMs = m; best = a; }
        }
        return new Result("chrion-latency", best, Schedule.list(p, best, order), ms(t0), "");
    }

    /**
     * Pair exchanges within the capacity, for the MILP's warm start where the capacity binds: a single move to the
     * accelerator does not fit and a single move off it only loses, but trading a task there for one on the host can
     * win (the chain bound's knapsack picks nearly the right tasks; its assignment is a little over the capacity, and
     * fitting it moves tasks off one at a time). First improvement over (accelerator task, host task) pairs in rank
     * order; after each exchange that shortens the makespan, single moves ({@link #improve}) and the pairs again,
     * until no pair shortens it or {@code maxEvaluations} schedules have been evaluated. The start must fit; the
     * answer fits and is never slower than the start.
     */
    static int[] exchanged(PlacementProblem p, int[] start, int[] order, int maxEvaluations) {
        int[] a = start.clone();
        List<List<PlacementProblem.Arc>> preds = p.predecessors();
        double best = Schedule.list(p, a, order, preds).makespan();
        int evaluations = 0;
        boolean improved = true;
        while (improved && evaluations < maxEvaluations) {
            improved = false;
            search:
            for (int i : order) {
                if (a[i] == 0) continue;
                for (int j : order) {
                    if (a[j] != 0) continue;
                    if (evaluations++ >= maxEvaluations) break search;
                    a[i] = 0;
                    a[j] = 1;
                    if (p.fits(a)) {
                        double m = Schedule.list(p, a, order, preds).makespan();
                        if (m < best - 1e-9) { best = m; improved = true; break search; }
                    }
                    a[i] = 1;
                    a[j] = 0;
                }
            }
            if (improved) {
                a = improve(p, a, order, p::fits);
                best = Schedule.list(p, a, order, preds).makespan();
            }
        }
        return a;
    }

    /** First-improvement local search over single-task moves, at most 50 passes. */
    private static int[] improve(PlacementProblem p, int[] a, int[] order) { return improve(p, a, order, x -> true); }

    /** The same, taking only moves to assignments {@code allowed} accepts (the start must be one). */
    private static int[] improve(PlacementProblem p, int[] a, int[] order, java.util.function.Predicate<int[]> allowed) {
        double best = Schedule.list(p, a, order).makespan();
        for (int pass = 0; pass < 50; pass++) {
            boolean changed = false;
            for (int t : order) {
                int was = a[t];
                for (int d = 0; d < p.devices(); d++) {
                    if (d == was) continue;
                    a[t] = d;
                    if (allowed.test(a)) {
                        double m = Schedule.list(p, a, order).makespan();
                        if (m < best - 1e-9) { best = m; was = d; changed = true; continue; }
                    }
                    a[t] = was;
                }
                a[t] = was;
            }
            if (!changed) break;
        }
        return a;
    }

    /**
     * A placement that fits every device's capacity (static model) made from {@code start}, for the MILP's warm start:
     * while it does not fit, the accelerator task whose move to the host lengthens the makespan least among those
     * whose move frees bytes is moved (ties: the one freeing most; where no single move frees any, as with two tasks
     * sharing the largest working set, the first with the largest working set), so it ends at the latest with every
     * task on the host, which always fits; then single moves that keep it fitting, while they shorten the makespan
     * (first improvement, rank order, at most 50 passes).
     */
    static int[] fitted(PlacementProblem p, int[] start) {
        int[] order = Schedule.rankOrder(p);
        int[] a = start.clone();
        while (!p.fits(a)) {
            int pick = -1;
            double bestMs = Double.MAX_VALUE;
            long bestFreed = -1;
            for (int t = 0; t < a.length; t++) {
                if (a[t] == 0) continue;
                long before = p.acceleratorBytes(a, a[t]);
                int was = a[t];
                a[t] = 0;
                long freed = before - p.acceleratorBytes(a, was);
                double ms = freed > 0 ? Schedule.list(p, a, order).makespan() : Double.MAX_VALUE;
                a[t] = was;
                if (freed > 0 && (ms < bestMs - 1e-12 || (Math.abs(ms - bestMs) <= 1e-12 && freed > bestFreed))) {
                    pick = t;
                    bestMs = ms;
                    bestFreed = freed;
                }
            }
            if (pick < 0) {
                for (int t = 0; t < a.length; t++) if (a[t] != 0 && (pick < 0 || p.workBytes()[t] > p.workBytes()[pick])) pick = t;
            }
            a[pick] = 0;
        }
        return improve(p, a, order, p::fits);
    }

    /**
     * Chrion's memory objective: the least accelerator memory such that the makespan stays within {@code sloMillis}.
     * Starts from {@link #chrionLatency} (or all-accel, whichever is faster), then moves accelerator tasks to the
     * CPU, the most memory first (weights, then working set), whenever the makespan stays within the SLO; passes
     * repeat until none moves. If even the start misses the SLO, the start is returned and the note says so.
     */
    public static Result chrionMemory(PlacementProblem p, double sloMillis) {
        return chrionMemory(p, sloMillis, chrionLatency(p));
    }

    /** As {@link #chrionMemory(PlacementProblem, double)} from a given chrion-latency answer (it is the slow part). */
    public static Result chrionMemory(PlacementProblem p, double sloMillis, Result lat) {
        long t0 = System.nanoTime();
        int[] order = Schedule.rankOrder(p);
        Result accel = allOn(p, 1, "all-accel");
        int[] a = (accel.makespan() <= lat.makespan() ? accel : lat).assign().clone();
        double m0 = Schedule.list(p, a, order).makespan();
        if (m0 > sloMillis) {
            return new Result("chrion-memory", a, Schedule.list(p, a, order), ms(t0),
                String.format("no placement tried meets the SLO of %.3f ms", sloMillis));
        }
        Integer[] byMemory = new Integer[p.size()];
        for (int i = 0; i < byMemory.length; i++) byMemory[i] = i;
        Arrays.sort(byMemory, Comparator.<Integer>comparingLong(t -> -p.weightBytes()[t]).thenComparingLong(t -> -p.workBytes()[t]));
        for (boolean changed = true; changed; ) {
            changed = false;
            for (int t : byMemory) {
                if (a[t] == 0) continue;
                long before = p.acceleratorBytes(a, a[t]);
                int was = a[t];
                a[t] = 0;
                if (p.acceleratorBytes(a, was) < before && Schedule.list(p, a, order).makespan() <= sloMillis) changed = true;
                else a[t] = was;
            }
        }
        return new Result("chrion-memory", a, Schedule.list(p, a, order), ms(t0), "");
    }

    static double ms(long t0) { return (System.nanoTime() - t0) / 1e6; }
}
