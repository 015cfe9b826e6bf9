package dev.sluice.memgraph.placement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A schedule of a {@link PlacementProblem}: each task's device, start and end (ms), and the makespan (when the
 * last result is back on the host). Built by {@link #list}, the one evaluator every strategy is judged by.
 */
public record Schedule(int[] assign, double[] start, double[] end, double makespan) {
    /**
     * List scheduling: tasks are taken in {@code order} (which must be topological) and each starts as early as
     * its device is free (after the tasks before it in the order on that device) and its inputs have arrived.
     * Any schedule of the model with the same per-device sequences can be reproduced this way by taking tasks in
     * the order of their start times, so searching over orders loses nothing.
     */
    public static Schedule list(PlacementProblem p, int[] assign, int[] order) {
        return list(p, assign, order, p.predecessors());
    }

    /** As {@link #list(PlacementProblem, int[], int[])} with {@code p.predecessors()} given (searches call it often). */
    static Schedule list(PlacementProblem p, int[] assign, int[] order, List<List<PlacementProblem.Arc>> preds) {
        int n = p.size();
        double[] start = new double[n], end = new double[n];
        double[] free = new double[p.devices()];
        double makespan = 0;
        boolean[] done = new boolean[n];
        for (int t : order) {
            int d = assign[t];
            double ready = free[d];
            if (d != 0) ready = Math.max(ready, p.transferMillis(p.hostInBytes()[t], 0, d) * (p.hostInBytes()[t] > 0 ? 1 : 0));
            for (PlacementProblem.Arc a : preds.get(t)) {
                if (!done[a.from()]) throw new IllegalArgumentException("order is not topological: task " + t + " before " + a.from());
                ready = Math.max(ready, end[a.from()] + p.transferMillis(a.bytes(), assign[a.from()], d));
            }
            start[t] = ready;
            end[t] = ready + p.millis()[t][d];
            free[d] = end[t];
            done[t] = true;
            double back = p.hostOutBytes()[t] > 0 ? p.transferMillis(p.hostOutBytes()[t], d, 0) : 0;
            makespan = Math.max(makespan, end[t] + back);
        }
        return new Schedule(assign.clone(), start, end, makespan);
    }

    /**
     * Tasks by decreasing upward rank (a task's mean time over devices plus the longest mean path after it, HEFT's
     * priority), ties by index: a topological order, since a task outranks or ties its successors and precedes them.
     */
    public static int[] rankOrder(PlacementProblem p) {
        int n = p.size(), nd = p.devices();
        double[] rank = new double[n];
        List<List<PlacementProblem.Arc>> succ = p.successors();
        for (int t = n - 1; t >= 0; t--) {
            double mean = 0;
            for (int d = 0; d < nd; d++) mean += p.millis()[t][d];
            mean /= nd;
            double after = 0;
            for (PlacementProblem.Arc a : succ.get(t)) after = Math.max(after, p.transferMillis(a.bytes(), 0, 1) / 2 + rank[a.to()]);
            rank[t] = mean + after;
        }
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, Comparator.<Integer>comparingDouble(i -> -rank[i]).thenComparingInt(i -> i));
        // Equal ranks with an arc between them (zero-time tasks) must keep their index order: re-sort stably by a
        // topological repair, taking the first ready task of the ranked list each time.
        return repair(p, idx);
    }

    /** Tasks ordered by a key (start times, say), repaired into a topological order. */
    public static int[] byKey(PlacementProblem p, double[] key) {
        Integer[] idx = new Integer[p.size()];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        Arrays.sort(idx, Comparator.<Integer>comparingDouble(i -> key[i]).thenComparingInt(i -> i));
        return repair(p, idx);
    }

    private static int[] repair(PlacementProblem p, Integer[] wanted) {
        int n = p.size();
        int[] missing = new int[n];
        for (PlacementProblem.Arc a : p.arcs()) missing[a.to()]++;
        List<List<PlacementProblem.Arc>> succ = p.successors();
        boolean[] taken = new boolean[n];
        int[] order = new int[n];
        List<Integer> rest = new ArrayList<>(Arrays.asList(wanted));
        for (int k = 0; k < n; k++) {
            int pick = -1;
            for (int j = 0; j < rest.size(); j++) {
                int t = rest.get(j);
                if (missing[t] == 0) { pick = j; break; }
            }
            int t = rest.remove(pick);
            order[k] = t;
            taken[t] = true;
            for (PlacementProblem.Arc a : succ.get(t)) missing[a.to()]--;
        }
        return order;
    }

    @Override public String toString() {
        return String.format("makespan %.3f ms, %d tasks on the accelerator(s) of %d", makespan,
            Arrays.stream(assign).filter(d -> d != 0).count(), assign.length);
    }
}
