package dev.sluice.memgraph.placement;

import java.util.Arrays;
import java.util.List;

/**
 * The figures {@link ChainBound} prices a region with (the tasks between two consecutive cut tasks u and v): per
 * assignment of its tasks to the two devices, its span (the longest path from u's end to v's start with the crossings
 * along it, and per device the sets of tasks that start late or end early, which run one at a time; ChainBound's class
 * doc says why each is a lower bound on the gap), and, for a relaxed region, one longest path by each task's least time
 * with the crossings that join it. Of one placement problem: arcs indexed as in {@link PlacementProblem#arcs}, times
 * and crossings in the model's integer units; {@code u < 0} is the virtual start, {@code v < 0} the virtual end.
 * Not thread-safe: {@link #spans} reuses a scratch array.
 */
final class RegionFigures {
    private final PlacementProblem p;
    private final long[][] time;
    private final long[] cross, in, out;
    private final int[][] predArc, succArc;
    /** Scratch for {@link #sweep}. */
    private int[] byHead;

    RegionFigures(PlacementProblem p, long[][] time, long[] cross, long[] in, long[] out, int[][] predArc, int[][] succArc) {
        this.p = p;
        this.time = time;
        this.cross = cross;
        this.in = in;
        this.out = out;
        this.predArc = predArc;
        this.succArc = succArc;
    }

    /**
     * A relaxed region's longest path, by each task's least time on a device it may use (the cpu for the tasks that
     * must stay there): per task of the region in order, -1 if off the path, else the units of the crossing from
     * the path's previous task (u's for the first; 0 without an arc from u).
     */
    long[] path(int u, int[] r, boolean[] allowed) {
        java.util.Map<Integer, Integer> at = new java.util.HashMap<>();
        for (int i = 0; i < r.length; i++) at.put(r[i], i);
        long[] len = new long[r.length];
        int[] prev = new int[r.length];
        int last = 0;
        for (int i = 0; i < r.length; i++) {
            int t = r[i];
            prev[i] = -1;
            long best = 0;
            for (int k : predArc[t]) {
                Integer j = at.get(p.arcs().get(k).from());
                if (j != null && len[j] > best) { best = len[j]; prev[i] = j; }
            }
            len[i] = best + (allowed[t] ? Math.min(time[t][0], time[t][1]) : time[t][0]);
            if (len[i] > len[last]) last = i;
        }
        long[] on = new long[r.length];
        Arrays.fill(on, -1);
        for (int i = last; i >= 0; i = prev[i]) {
            int from = prev[i] >= 0 ? r[prev[i]] : u;
            on[i] = from < 0 ? 0 : arcCross(from, r[i]);
        }
        return on;
    }

    /** The crossing from the last task of {@link #path} to v (0 without an arc or without v). */
    long pathExit(int u, int v, int[] r, boolean[] allowed) {
        if (v < 0) return 0;
        long[] on = path(u, r, allowed);
        for (int i = on.length - 1; i >= 0; i--) if (on[i] >= 0) return arcCross(r[i], v);
        return 0;
    }

    /** The units of the arc from -> to, 0 if there is none. */
    private long arcCross(int from, int to) {
        for (int k : succArc[from]) if (p.arcs().get(k).to() == to) return cross[k];
        return 0;
    }

    /** The crossing of the arc u -> v between devices du and dv (0 if there is none or they are equal). */
    long joinCross(int u, int v, int du, int dv) {
        if (u < 0 || v < 0 || du == dv) return 0;
        for (int k : succArc[u]) if (p.arcs().get(k).to() == v) return cross[k];
        return 0;
    }

    /** Per (device of u) * 2 + (device of v) and per assignment of the region's tasks, the region's span. */
    long[][] spans(int u, int v, int[] r) {
        int k = r.length;
        int[] local = new int[p.size()];
        Arrays.fill(local, -1);
        for (int i = 0; i < k; i++) local[r[i]] = i;
        long[][] spans = new long[4][1 << k];
        long[] est = new long[k], tail = new long[k];
        int[] dev = new int[k];
        byHead = new int[k];
        for (int mask = 0; mask < 1 << k; mask++) {
            for (int i = 0; i < k; i++) dev[i] = (mask >>> i) & 1;
            for (int du = 0; du < 2; du++) for (int dv = 0; dv < 2; dv++) spans[du * 2 + dv][mask] = span(u, v, r, local, dev, du, dv, est, tail);
        }
        return spans;
    }

    /** The span of a region (see the class comment) with its tasks on {@code dev}, u on du and v on dv. */
    private long span(int u, int v, int[] r, int[] local, int[] dev, int du, int dv, long[] est, long[] tail) {
        int k = r.length;
        List<PlacementProblem.Arc> arcs = p.arcs();
        long path = 0;
        // the first cut task waits for its graph inputs; the last one's outputs cross back
        if (u < 0 && v >= 0 && dv == 1) path = in[v];
        if (v < 0 && u >= 0 && du == 1) path = out[u];
        if (k == 0) return Math.max(path, joinCross(u, v, du, dv));
        for (int i = 0; i < k; i++) {
            int t = r[i], d = dev[i];
            long e = u < 0 && d == 1 ? in[t] : 0;
            for (int a : predArc[t]) {
                int f = arcs.get(a).from();
                if (f == u) e = Math.max(e, du != d ? cross[a] : 0);
                else if (local[f] >= 0) e = Math.max(e, est[local[f]] + time[f][dev[local[f]]] + (dev[local[f]] != d ? cross[a] : 0));
            }
            est[i] = e;
        }
        for (int i = k - 1; i >= 0; i--) {
            int t = r[i], d = dev[i];
            long e = v < 0 && d == 1 ? out[t] : 0;
            for (int a : succArc[t]) {
                int q = arcs.get(a).to();
                if (q == v) e = Math.max(e, dv != d ? cross[a] : 0);
                else if (local[q] >= 0) e = Math.max(e, (dev[local[q]] != d ? cross[a] : 0) + time[q][dev[local[q]]] + tail[local[q]]);
            }
            tail[i] = e;
            path = Math.max(path, est[i] + time[t][d] + e);
        }
        path = Math.max(path, joinCross(u, v, du, dv));
        // per device, every set of its tasks that start no sooner than some head (or end no sooner than some tail
        // before v): they run one after another from the least head of the set, and the last one's tail follows
        for (int d = 0; d < 2; d++) {
            int m = 0;
            for (int i = 0; i < k; i++) if (dev[i] == d) byHead[m++] = i;
            if (m == 0) continue;
            path = Math.max(path, sweep(byHead, m, est, tail, r, d));
            path = Math.max(path, sweep(byHead, m, tail, est, r, d));
        }
        return path;
    }

    /**
     * The largest, over thresholds, of the least {@code first} of the tasks whose {@code first} is at least the
     * threshold, plus their total time on d, plus the least {@code second} among them: each such set runs one task
     * at a time on d, so this bounds the span (with heads as {@code first} and tails as {@code second}, or the other
     * way round, as the time reversed). Sorts {@code ids[0..m)} by {@code first}, decreasing.
     */
    private long sweep(int[] ids, int m, long[] first, long[] second, int[] r, int d) {
        for (int a = 1; a < m; a++) {
            int x = ids[a], b = a - 1;
            while (b >= 0 && first[ids[b]] < first[x]) { ids[b + 1] = ids[b]; b--; }
            ids[b + 1] = x;
        }
        long load = 0, least = Long.MAX_VALUE, best = 0;
        for (int a = 0; a < m; a++) {
            int i = ids[a];
            load += time[r[i]][d];
            least = Math.min(least, second[i]);
            best = Math.max(best, first[i] + load + least);
        }
        return best;
    }
}
