package dev.sluice.memgraph.placement;

import java.util.Arrays;
import java.util.BitSet;
import java.util.TreeSet;

/**
 * A lower bound on the makespan of every schedule within the accelerator's capacity, by dynamic programming along the
 * cut tasks ({@link IntervalLoads}), for the MILP (its linear relaxation leaves the capacity-bound instances 10-20%
 * open; a serial graph's knapsack is what it cannot see through). Two devices, the model's integer time units.
 *
 * <p><b>Why it is a bound.</b> A cut task runs alone, and the tasks between two consecutive cut tasks (a
 * <em>region</em>, also the tasks before the first and after the last) run after the first ends and before the next
 * starts. So a schedule's makespan is at least the sum of: each cut task's time on its device; for consecutive cut
 * tasks with nothing between them (then an arc joins them) the arc's crossing if their devices differ; for each
 * region the larger of its two devices' loads, which is at least {@code lambda * cpu load + (1 - lambda) * accelerator
 * load} for any {@code lambda} in [0, 1]. That sum is separable over tasks except for the crossings, which link only
 * consecutive cut tasks, so its least value under the capacity is a knapsack over a chain: the states are the
 * capacity used and the last cut task's device. The capacity holds the weights placed on the accelerator plus the
 * largest working set there; the bound is the least over each possible largest working set L (tasks with a larger
 * one must stay on the cpu, the weights get {@code capacity - L}; levels are taken in groups, each with the group's
 * largest level for the tasks allowed and its least for the room, a relaxation of every level in it). Weights are counted in units of
 * {@code capacity / }{@link #CAPACITY_STEPS}, rounded down, and the capacity rounded down too, which only admits
 * more assignments (a sum of floors is at most the floor of the sum), so the bound stays below every schedule's
 * makespan. Graph inputs and outputs crossing the link and crossings around regions are left out (they only add).
 */
final class ChainBound {
    private ChainBound() {}

    /** Resolution of the capacity: weights are counted in steps of capacity / CAPACITY_STEPS. */
    static final int CAPACITY_STEPS = 2048;
    /** Largest working sets are taken in this many groups (a knapsack each; more is tighter and slower). */
    static final int LEVEL_GROUPS = 8;

    /**
     * The bound (units), the better of {@code lambda} 1 (the cpu's load in regions) and 1/2.
     *
     * @param time  per task and device, its duration in units
     * @param cross per arc (in {@code p.arcs()} order), the units to move its bytes between the two devices
     */
    static long lowerBound(PlacementProblem p, IntervalLoads il, long[][] time, long[] cross) {
        long best = 0;
        for (double lambda : new double[] {1, 0.5}) best = Math.max(best, lowerBound(p, il, time, cross, lambda));
        return best;
    }

    static long lowerBound(PlacementProblem p, IntervalLoads il, long[][] time, long[] cross, double lambda) {
        int n = p.size();
        BitSet isCut = new BitSet(n);
        for (int c : il.cuts) isCut.set(c);
        // the crossing between consecutive cut tasks that an arc joins directly (none where a region lies between)
        long[] joinCross = new long[il.cuts.length];
        for (int k = 1; k < il.cuts.length; k++) {
            int u = il.cuts[k - 1], v = il.cuts[k];
            joinCross[k] = -1;
            for (int a = 0; a < p.arcs().size(); a++) {
                if (p.arcs().get(a).from() == u && p.arcs().get(a).to() == v && il.between(u, v).isEmpty()) joinCross[k] = cross[a];
            }
        }
        long capacity = p.capacity(1);
        long unit = capacity == Long.MAX_VALUE ? 1 : Math.max(1, capacity / CAPACITY_STEPS);
        // the largest working set on the accelerator: 0 stands for nothing there
        TreeSet<Long> levels = new TreeSet<>();
        levels.add(0L);
        for (long w : p.workBytes()) levels.add(w);
        // levels in at most LEVEL_GROUPS contiguous groups [low, high]: tasks up to high may go to the accelerator,
        // the weights get capacity - low, which admits every assignment of each level in the group
        Long[] ls = levels.toArray(new Long[0]);
        int groups = Math.min(LEVEL_GROUPS, ls.length);
        long best = Long.MAX_VALUE;
        for (int g = 0; g < groups; g++) {
            long low = ls[g * ls.length / groups], level = ls[(g + 1) * ls.length / groups - 1];
            long room = capacity == Long.MAX_VALUE ? Long.MAX_VALUE : capacity - low;
            if (room < 0) continue;
            int slots = capacity == Long.MAX_VALUE ? 0 : (int) Math.min(Integer.MAX_VALUE - 1L, room / unit);
            long[] weight = new long[n];
            boolean[] accelAllowed = new boolean[n];
            for (int t = 0; t < n; t++) {
                accelAllowed[t] = p.workBytes()[t] <= level;
                weight[t] = capacity == Long.MAX_VALUE ? 0 : p.weightBytes()[t] / unit;
                if (weight[t] > slots) accelAllowed[t] = false;
            }
            best = Math.min(best, chain(n, il.cuts, isCut, joinCross, time, weight, accelAllowed, slots, lambda));
        }
        return best == Long.MAX_VALUE ? 0 : best;
    }

    /** The knapsack over the chain: cost[used][device of the last cut task], regions' tasks first (as items). */
    private static long chain(int n, int[] cuts, BitSet isCut, long[] joinCross, long[][] time, long[] weight, boolean[] accelAllowed,
                              int slots, double lambda) {
        final long inf = Long.MAX_VALUE / 4;
        // doubles for the lambda mix, floored at the end (each term is a lower bound, so their sum is)
        double[] cost = new double[slots + 1];
        Arrays.fill(cost, Double.MAX_VALUE);
        cost[0] = 0;
        for (int t = 0; t < n; t++) {
            if (isCut.get(t)) continue;
            double onCpu = lambda * time[t][0], onAcc = (1 - lambda) * time[t][1];
            int w = (int) weight[t];
            for (int u = slots; u >= 0; u--) {
                double c = cost[u] == Double.MAX_VALUE ? Double.MAX_VALUE : cost[u] + onCpu;
                if (accelAllowed[t] && u >= w && cost[u - w] != Double.MAX_VALUE) c = Math.min(c, cost[u - w] + onAcc);
                cost[u] = c;
            }
        }
        // cut tasks in order; state adds the last cut task's device
        double[][] state = new double[slots + 1][2];
        for (int u = 0; u <= slots; u++) { state[u][0] = cost[u]; state[u][1] = cuts.length == 0 ? Double.MAX_VALUE : cost[u]; }
        for (int k = 0; k < cuts.length; k++) {
            int t = cuts[k], w = (int) weight[t];
            double[][] next = new double[slots + 1][2];
            for (double[] r : next) Arrays.fill(r, Double.MAX_VALUE);
            for (int u = 0; u <= slots; u++) {
                for (int prev = 0; prev < 2; prev++) {
                    double c = state[u][prev];
                    if (c == Double.MAX_VALUE) continue;
                    for (int d = 0; d < 2; d++) {
                        if (d == 1 && !accelAllowed[t]) continue;
                        int used = d == 1 ? u + w : u;
                        if (used > slots) continue;
                        double add = time[t][d] + (k > 0 && joinCross[k] > 0 && prev != d ? joinCross[k] : 0);
                        next[used][d] = Math.min(next[used][d], c + add);
                    }
                }
            }
            state = next;
        }
        double best = Double.MAX_VALUE;
        for (double[] r : state) best = Math.min(best, Math.min(r[0], r[1]));
        return best == Double.MAX_VALUE ? inf : (long) Math.floor(best + 1e-9);
    }
}
