package dev.sluice.memgraph.placement;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The least gap a region of {@link ChainBound} can take, found by searching its schedules, for {@link ChainBound}'s
 * enumerated regions and for the MILP's warm start. Two devices, the model's integer time units.
 *
 * <p><b>What is searched.</b> A region's tasks lie between cut tasks u and v (u ends at time 0; u absent in the first
 * region, v in the last). With the region's devices, u's and v's fixed, its sub-problem keeps only the arcs among
 * its tasks, from u and into v (and, in the first region, graph inputs crossing to tasks on the accelerator; in the
 * last, graph outputs crossing back): the gap is the time from u's end until v may start (until the makespan in the
 * last region). Every schedule of the whole problem, shifted by u's end, is a schedule of this sub-problem: its
 * region tasks are descendants of u, so they start after u ends on either device (u's device is busy until then, and
 * the tasks before u on the other device are u's ancestors, so they ended before u started), and the arcs the
 * sub-problem leaves out only delay them further. So the least gap of the sub-problem is at most every schedule's
 * gap, a valid span for the chain bound. It is found as the brute force of the tests does: for a fixed assignment
 * the least is reached by a semi-active schedule, which list scheduling reproduces from the order of its start
 * times, so the least over topological orders is the least over schedules. The orders are searched depth first, cut
 * off where a lower bound (each device's free time plus its remaining work and least remaining tail; each scheduled
 * task's end plus its tail) reaches the best found, and where the same set of tasks was already scheduled with no
 * later free times and ends (that state can do everything this one can). Where the search takes more than its
 * budget of nodes, the caller's own lower bound is returned instead (still valid, only weaker).
 *
 * <p>On the transformers with the T4 the region between two cut tasks is an attention head's few tasks on two
 * devices; the load and longest-path spans ChainBound had used left 3-10 us per region open (all-MiniLM-L6-v2 with
 * the T4 at 50%: 54 of the 60 us between the chain bound and the best placement).
 */
final class RegionSpans {
    /** Cut tasks before and after (-1: none), and the region's tasks in index order (topological). */
    final int u, v;
    final int[] tasks;
    private final int k;
    /** Per local task: local indices of its predecessors in the region, the units of those arcs. */
    private final int[][] predLocal;
    private final long[][] predCross;
    /** Per local task: bit set of its local predecessors. */
    private final int[] predMask;
    /** Per local task: the units of the arc from u (-1: none), of the arc into v (-1: none). */
    private final long[] fromU, toV;
    /** The units of the arc u -> v (-1: none). */
    private final long uv;
    /** Per local task and device, its time; its graph inputs' and outputs' crossing (first and last region only). */
    private final long[][] time;
    private final long[] in, out;
    /** v's graph inputs' crossing (first region), u's outputs' crossing back (last region). */
    private final long inV, outU;
    /** Per local task: the local successors, and the units of those arcs (for tails). */
    private final int[][] succLocal;
    private final long[][] succCross;

    RegionSpans(PlacementProblem p, int u, int v, int[] tasks, long[][] time, long[] cross, long[] in, long[] out) {
        this.u = u;
        this.v = v;
        this.tasks = tasks.clone();
        this.k = tasks.length;
        if (k > 30) throw new IllegalArgumentException("a region of " + k + " tasks is too large to search");
        Map<Integer, Integer> local = new HashMap<>();
        for (int i = 0; i < k; i++) local.put(tasks[i], i);
        List<List<int[]>> preds = new ArrayList<>(), succs = new ArrayList<>();
        for (int i = 0; i < k; i++) { preds.add(new ArrayList<>()); succs.add(new ArrayList<>()); }
        fromU = new long[k];
        toV = new long[k];
        Arrays.fill(fromU, -1);
        Arrays.fill(toV, -1);
        long joined = -1;
        List<PlacementProblem.Arc> arcs = p.arcs();
        for (int a = 0; a < arcs.size(); a++) {
            PlacementProblem.Arc arc = arcs.get(a);
            Integer f = local.get(arc.from()), t = local.get(arc.to());
            if (f != null && t != null) { preds.get(t).add(new int[] {f, a}); succs.get(f).add(new int[] {t, a}); }
            else if (t != null && arc.from() == u && u >= 0) fromU[t] = Math.max(fromU[t], cross[a]);
            else if (f != null && arc.to() == v && v >= 0) toV[f] = Math.max(toV[f], cross[a]);
            else if (u >= 0 && v >= 0 && arc.from() == u && arc.to() == v) joined = Math.max(joined, cross[a]);
        }
        uv = joined;
        predLocal = new int[k][];
        predCross = new long[k][];
        predMask = new int[k];
        succLocal = new int[k][];
        succCross = new long[k][];
        this.time = new long[k][2];
        this.in = new long[k];
        this.out = new long[k];
        for (int i = 0; i < k; i++) {
            List<int[]> ps = preds.get(i), ss = succs.get(i);
            predLocal[i] = new int[ps.size()];
            predCross[i] = new long[ps.size()];
            for (int j = 0; j < ps.size(); j++) {
                predLocal[i][j] = ps.get(j)[0];
                predCross[i][j] = cross[ps.get(j)[1]];
                predMask[i] |= 1 << ps.get(j)[0];
            }
            succLocal[i] = new int[ss.size()];
            succCross[i] = new long[ss.size()];
            for (int j = 0; j < ss.size(); j++) { succLocal[i][j] = ss.get(j)[0]; succCross[i][j] = cross[ss.get(j)[1]]; }
            this.time[i][0] = time[tasks[i]][0];
            this.time[i][1] = time[tasks[i]][1];
            this.in[i] = u < 0 ? in[tasks[i]] : 0;
            this.out[i] = v < 0 ? out[tasks[i]] : 0;
        }
        inV = u < 0 && v >= 0 ? in[v] : 0;
        outU = v < 0 && u >= 0 ? out[u] : 0;
    }

    /**
     * The outcome of one search: the least gap and an order of the region's tasks (local indices) reaching it; where
     * the budget ran out, the caller's bound and the best order found, if any ({@code exact} false).
     */
    record Found(long gap, boolean exact, int[] order) {}

    /**
     * The least gap with the region's task i on device {@code (mask >>> i) & 1}, u on du and v on dv (either ignored
     * where absent). {@code lower} is a known lower bound on it (the search stops when it reaches it; returned where the
     * budget of {@code maxNodes} runs out).
     */
    Found search(int mask, int du, int dv, long lower, int maxNodes) {
        Search s = new Search(mask, du, dv, lower, maxNodes);
        if (k == 0) return new Found(Math.max(lower, s.finish()), true, new int[0]);
        s.dfs(0, 0, 0, 0);
        // out of nodes: the caller's bound stands for the gap; the best order found so far (if any) still serves
        if (s.aborted || s.bestOrder == null) return new Found(lower, false, s.bestOrder);
        return new Found(s.best, true, s.bestOrder);
    }

    private final class Search {
        final int[] dev = new int[k];
        final int du, dv, maxNodes;
        final long lower;
        final long[] end = new long[k], tail = new long[k];
        final int[] order = new int[k];
        /** Per depth and task, the earliest start of a ready task (a row per depth: the recursion reuses them). */
        final long[] es = new long[k * k];
        final Map<Integer, List<long[]>> seen = new HashMap<>();
        long best = Long.MAX_VALUE;
        int[] bestOrder;
        int nodes;
        boolean aborted, done;

        Search(int mask, int du, int dv, long lower, int maxNodes) {
            for (int i = 0; i < k; i++) dev[i] = (mask >>> i) & 1;
            this.du = du;
            this.dv = dv;
            this.lower = lower;
            this.maxNodes = maxNodes;
            // tails: a lower bound on the time from a task's end to v's start (the makespan in the last region)
            for (int i = k - 1; i >= 0; i--) {
                long t = out[i] > 0 && dev[i] == 1 ? out[i] : 0;
                if (toV[i] >= 0 && dev[i] != dv) t = Math.max(t, toV[i]);
                for (int j = 0; j < succLocal[i].length; j++) {
                    int q = succLocal[i][j];
                    t = Math.max(t, (dev[q] != dev[i] ? succCross[i][j] : 0) + time[q][dev[q]] + tail[q]);
                }
                tail[i] = t;
            }
        }

        /** The gap once every task has its end: v's start (or the makespan in the last region). */
        long finish() {
            long s = 0;
            if (v >= 0) {
                if (dv == 1) s = inV;
                if (uv >= 0 && du != dv) s = Math.max(s, uv);
            } else if (u >= 0 && du == 1) s = outU;
            for (int i = 0; i < k; i++) {
                long e = end[i];
                if (v >= 0 && toV[i] >= 0 && dev[i] != dv) e += toV[i];
                if (v < 0 && dev[i] == 1) e += out[i];
                s = Math.max(s, e);
            }
            return s;
        }

        void dfs(int scheduled, long free0, long free1, int depth) {
            if (done || aborted) return;
            if (++nodes > maxNodes) { aborted = true; return; }
            if (depth == k) {
                long g = finish();
                if (g < best) { best = g; bestOrder = order.clone(); if (best <= lower) done = true; }
                return;
            }
            // a lower bound on every completion of this partial schedule
            long lb = 0, load0 = 0, load1 = 0, tail0 = Long.MAX_VALUE, tail1 = Long.MAX_VALUE;
            for (int i = 0; i < k; i++) {
                if ((scheduled >>> i & 1) == 1) { lb = Math.max(lb, end[i] + tail[i]); continue; }
                if (dev[i] == 0) { load0 += time[i][0]; tail0 = Math.min(tail0, tail[i]); }
                else { load1 += time[i][1]; tail1 = Math.min(tail1, tail[i]); }
            }
            if (load0 > 0 || tail0 != Long.MAX_VALUE) lb = Math.max(lb, free0 + load0 + tail0);
            if (load1 > 0 || tail1 != Long.MAX_VALUE) lb = Math.max(lb, free1 + load1 + tail1);
            if (lb >= best) return;
            // dominance: the same tasks scheduled with no later free times and ends can do all this state can
            long[] key = new long[2 + Integer.bitCount(scheduled)];
            key[0] = free0;
            key[1] = free1;
            for (int i = 0, j = 2; i < k; i++) if ((scheduled >>> i & 1) == 1) key[j++] = end[i];
            List<long[]> before = seen.computeIfAbsent(scheduled, x -> new ArrayList<>());
            for (long[] b : before) if (noLater(b, key)) return;
            before.removeIf(b -> noLater(key, b));
            before.add(key);
            // Giffler and Thompson's branching: the ready task that can end first (a) fixes a device; only the ready
            // tasks on it that can start before a ends are tried next (every other choice leaves room to run a first)
            long[] es = this.es;
            long soonest = Long.MAX_VALUE;
            int first = -1;
            for (int i = 0; i < k; i++) {
                if ((scheduled >>> i & 1) == 1 || (predMask[i] & ~scheduled) != 0) continue;
                int d = dev[i];
                long st = d == 0 ? free0 : free1;
                if (d == 1) st = Math.max(st, in[i]);
                if (fromU[i] >= 0 && du != d) st = Math.max(st, fromU[i]);
                for (int j = 0; j < predLocal[i].length; j++) {
                    int q = predLocal[i][j];
                    st = Math.max(st, end[q] + (dev[q] != d ? predCross[i][j] : 0));
                }
                es[depth * k + i] = st;
                if (st + time[i][d] < soonest) { soonest = st + time[i][d]; first = i; }
            }
            int onto = dev[first];
            for (int i = 0; i < k; i++) {
                if ((scheduled >>> i & 1) == 1 || (predMask[i] & ~scheduled) != 0 || dev[i] != onto) continue;
                long st = es[depth * k + i];
                if (i != first && st >= soonest) continue;
                end[i] = st + time[i][onto];
                order[depth] = i;
                if (onto == 0) dfs(scheduled | 1 << i, end[i], free1, depth + 1);
                else dfs(scheduled | 1 << i, free0, end[i], depth + 1);
                if (done || aborted) return;
            }
        }
    }

    /** True where every figure of a is at most b's. */
    private static boolean noLater(long[] a, long[] b) {
        for (int i = 0; i < a.length; i++) if (a[i] > b[i]) return false;
        return true;
    }
}
