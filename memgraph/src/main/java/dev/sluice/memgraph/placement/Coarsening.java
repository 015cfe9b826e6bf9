package dev.sluice.memgraph.placement;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * MOIRAI's coarsening: nodes the backend fuses are already one node; then chains are merged. A chain is a pair
 * of tasks U -> W where W is U's only successor and U is W's only predecessor; merging it makes one task that
 * runs U then W on one device.
 *
 * <p><b>Bound.</b> Let X be the side of the pair with the smaller cost
 * {@code delta(X) = max over devices of X's time + the link time of every byte X receives (arcs and graph
 * inputs) and sends (arcs and graph outputs)}, X being absorbed into the other side's device. From any schedule
 * of the finer problem with makespan M, delaying every task that starts at or after the partner's start (or end)
 * by {@code delta(X)} opens a gap on every device in which X runs next to its partner, its inputs arriving and
 * its outputs leaving inside the gap; so the coarser problem has a schedule of makespan at most
 * {@code M + delta(X)}. Summed over the merges: {@code OPT(coarse) <= OPT(fine) + sum of delta}, while
 * {@code OPT(fine) <= OPT(coarse)} always (a merged task is a valid fine schedule). This holds for the
 * makespan with memory capacities not binding; capacities are checked on the coarse problem as it is.
 *
 * <p><b>Rule.</b> Pairs are merged cheapest delta first while the sum of deltas stays within
 * {@code fraction} of a lower bound on the optimum (the larger of the critical path at each task's best time,
 * and the total best time spread over the devices); so the coarse optimum is within {@code (1 + fraction)} of
 * the fine one.
 */
public final class Coarsening {
    private Coarsening() {}

    /** The coarse problem, how many tasks it had before and after, and the proven additive bound (ms). */
    public record Result(PlacementProblem problem, int before, int after, double boundMillis, double lowerBoundMillis) {
        @Override public String toString() {
            return String.format("coarsening: %d -> %d nodes; the optimum can worsen by at most %.4f ms (%.2f%% of the %.3f ms lower bound)",
                before, after, boundMillis, lowerBoundMillis == 0 ? 0 : 100 * boundMillis / lowerBoundMillis, lowerBoundMillis);
        }
    }

    /** A lower bound on any schedule's makespan. */
    public static double lowerBound(PlacementProblem p) {
        int n = p.size();
        double[] best = new double[n], path = new double[n];
        double total = 0, longest = 0;
        for (int t = 0; t < n; t++) {
            best[t] = Double.MAX_VALUE;
            for (int d = 0; d < p.devices(); d++) best[t] = Math.min(best[t], p.millis()[t][d]);
            total += best[t];
        }
        List<List<PlacementProblem.Arc>> preds = p.predecessors();
        for (int t = 0; t < n; t++) {
            double r = 0;
            for (PlacementProblem.Arc a : preds.get(t)) r = Math.max(r, path[a.from()]);
            path[t] = r + best[t];
            longest = Math.max(longest, path[t]);
        }
        return Math.max(longest, total / p.devices());
    }

    /** Merges chains while the bound stays within {@code fraction} of the lower bound (0: no merging). */
    public static Result coarsen(PlacementProblem p, double fraction) {
        int n = p.size(), nd = p.devices();
        double lb = lowerBound(p);
        if (nd < 2) return new Result(p, n, n, 0, lb);
        double budget = fraction * lb;
        // group state, keyed by the group's first task
        Map<Integer, List<Integer>> members = new TreeMap<>();
        Map<Integer, double[]> millis = new HashMap<>();
        Map<Integer, long[]> mem = new HashMap<>(); // weights, work, hostIn, hostOut
        List<Map<Integer, Long>> succ = new ArrayList<>(), pred = new ArrayList<>();
        for (int t = 0; t < n; t++) {
            members.put(t, new ArrayList<>(List.of(t)));
            millis.put(t, p.millis()[t].clone());
            mem.put(t, new long[] {p.weightBytes()[t], p.workBytes()[t], p.hostInBytes()[t], p.hostOutBytes()[t]});
            succ.add(new LinkedHashMap<>());
            pred.add(new LinkedHashMap<>());
        }
        for (PlacementProblem.Arc a : p.arcs()) {
            succ.get(a.from()).merge(a.to(), a.bytes(), Long::sum);
            pred.get(a.to()).merge(a.from(), a.bytes(), Long::sum);
        }
        double spent = 0;
        while (true) {
            int bu = -1, bw = -1;
            double bd = Double.MAX_VALUE;
            for (int u : members.keySet()) {
                if (succ.get(u).size() != 1) continue;
                int w = succ.get(u).keySet().iterator().next();
                if (pred.get(w).size() != 1) continue;
                double d = Math.min(delta(p, u, millis, mem, succ, pred), delta(p, w, millis, mem, succ, pred));
                if (d < bd) { bd = d; bu = u; bw = w; }
            }
            if (bu < 0 || spent + bd > budget) break;
            spent += bd;
            // merge w into u: u keeps its key (its first task), takes w's members, times, memory and successors
            members.get(bu).addAll(members.remove(bw));
            double[] mu = millis.get(bu), mw = millis.remove(bw);
            for (int d = 0; d < nd; d++) mu[d] += mw[d];
            long[] a = mem.get(bu), b = mem.remove(bw);
            a[0] += b[0]; a[1] = Math.max(a[1], b[1]); a[2] += b[2]; a[3] += b[3];
            succ.get(bu).clear();
            for (var e : succ.get(bw).entrySet()) {
                succ.get(bu).merge(e.getKey(), e.getValue(), Long::sum);
                pred.get(e.getKey()).remove(bw);
                pred.get(e.getKey()).merge(bu, e.getValue(), Long::sum);
            }
            succ.get(bw).clear();
            pred.get(bw).clear();
        }
        // renumber groups by their first task (a topological order: arcs only go to later first tasks)
        List<Integer> keys = new ArrayList<>(members.keySet());
        Map<Integer, Integer> index = new HashMap<>();
        for (int i = 0; i < keys.size(); i++) index.put(keys.get(i), i);
        int m = keys.size();
        List<String> names = new ArrayList<>();
        int[][] mm = new int[m][];
        double[][] ms = new double[m][];
        long[] w = new long[m], work = new long[m], hin = new long[m], hout = new long[m];
        List<PlacementProblem.Arc> arcs = new ArrayList<>();
        for (int i = 0; i < m; i++) {
            int k = keys.get(i);
            List<Integer> mem0 = members.get(k);
            mm[i] = mem0.stream().mapToInt(Integer::intValue).flatMap(t -> java.util.Arrays.stream(p.members()[t])).sorted().toArray();
            names.add(mem0.size() == 1 ? p.names().get(k) : p.names().get(k) + "+" + (mem0.size() - 1));
            ms[i] = millis.get(k);
            long[] x = mem.get(k);
            w[i] = x[0]; work[i] = x[1]; hin[i] = x[2]; hout[i] = x[3];
            for (var e : succ.get(k).entrySet()) arcs.add(new PlacementProblem.Arc(i, index.get(e.getKey()), e.getValue()));
        }
        arcs.sort(java.util.Comparator.comparingInt(PlacementProblem.Arc::to).thenComparingInt(PlacementProblem.Arc::from));
        PlacementProblem c = new PlacementProblem(names, mm, ms, w, work, hin, hout, arcs, p.costs());
        return new Result(c, n, m, spent, lb);
    }

    /** delta of absorbing group g: its slowest time plus the link time of all it receives and sends. */
    private static double delta(PlacementProblem p, int g, Map<Integer, double[]> millis, Map<Integer, long[]> mem,
                                List<Map<Integer, Long>> succ, List<Map<Integer, Long>> pred) {
        double slowest = 0;
        for (double t : millis.get(g)) slowest = Math.max(slowest, t);
        double link = 0;
        for (long b : pred.get(g).values()) link += p.transferMillis(b, 0, 1);
        for (long b : succ.get(g).values()) link += p.transferMillis(b, 0, 1);
        long[] x = mem.get(g);
        if (x[2] > 0) link += p.transferMillis(x[2], 0, 1);
        if (x[3] > 0) link += p.transferMillis(x[3], 0, 1);
        return slowest + link;
    }
}
