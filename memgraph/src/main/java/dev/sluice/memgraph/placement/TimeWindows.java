package dev.sluice.memgraph.placement;

import java.util.List;

/**
 * Earliest starts, least tails and the device choices an incumbent rules out, for the MILP's formulation, in the
 * model's integer time units ({@link MilpPlacer#UNITS_PER_MS}). Two devices: 0 the host, 1 the accelerator.
 *
 * <p><b>Heads and tails.</b> {@code head[t][d]} is a lower bound on when task t can start on device d in any schedule
 * of the model: on the accelerator not before its graph inputs have crossed; after every predecessor p has ended and
 * its result reached d, which takes at least {@code min over p's allowed devices e of head[p][e] + time[p][e] +
 * cross(e, d)}. {@code tail[t][d]} is a lower bound on the time from t's end on d to the makespan: its graph outputs
 * crossing back if d is the accelerator, and for each successor s at least {@code min over s's allowed e of cross(d, e)
 * + time[s][e] + tail[s][e]}. Both follow by induction over the topological order (the minimum over e covers every
 * device the predecessor or successor can be on); they ignore that a device runs one task at a time, which only
 * delays tasks further.
 *
 * <p><b>Fixing.</b> So {@code head[t][d] + time[t][d] + tail[t][d]} bounds from below the makespan of every schedule
 * that runs t on d. Given a feasible schedule of makespan U (the warm start), an optimal schedule has makespan at most
 * U, so where that sum exceeds U the pair (t, d) is used by no optimal schedule and d is removed from t's devices.
 * Removing devices only raises other heads and tails (the minima run over fewer devices), so the rule is applied again
 * until nothing changes; every step removes only pairs that no schedule of makespan at most U uses, so the optimum
 * stays feasible and the MILP stays exact. A task keeps at least one device (the warm start's own device is never
 * removed: its sum is at most U since the warm start is a schedule).
 */
final class TimeWindows {
    /** Per task and device: earliest start, least tail (units); allowed[t][d] false where fixing removed d. */
    final long[][] head, tail;
    final boolean[][] allowed;
    /** How many (task, device) pairs fixing removed. */
    final int removed;
    /** A lower bound on the makespan (units): the largest, over tasks, of their least head + time + tail. */
    final long lowerBound;

    private final long[][] time;
    /** Per task, the indices (into {@code p.arcs()}) of the arcs into it and out of it. */
    private final int[][] intoTask, fromTask;

    /**
     * @param time  per task and device, its duration in units
     * @param cross per arc (in {@code p.arcs()} order), the units to move its bytes between the two devices
     * @param in    per task, the units its graph inputs take to reach the accelerator (0 if none)
     * @param out   per task, the units its graph outputs take back from the accelerator (0 if none)
     * @param upper a feasible makespan (units) to fix variables against, or Long.MAX_VALUE for none
     */
    TimeWindows(PlacementProblem p, long[][] time, long[] cross, long[] in, long[] out, long upper) {
        int n = p.size();
        this.time = time;
        head = new long[n][2];
        tail = new long[n][2];
        allowed = new boolean[n][2];
        for (boolean[] a : allowed) { a[0] = true; a[1] = true; }
        intoTask = new int[n][];
        fromTask = new int[n][];
        int[] ni = new int[n], nf = new int[n];
        for (PlacementProblem.Arc a : p.arcs()) { ni[a.to()]++; nf[a.from()]++; }
        for (int t = 0; t < n; t++) { intoTask[t] = new int[ni[t]]; fromTask[t] = new int[nf[t]]; ni[t] = 0; nf[t] = 0; }
        for (int k = 0; k < p.arcs().size(); k++) {
            PlacementProblem.Arc a = p.arcs().get(k);
            intoTask[a.to()][ni[a.to()]++] = k;
            fromTask[a.from()][nf[a.from()]++] = k;
        }
        int removed = 0;
        while (true) {
            heads(p, cross, in);
            tails(p, cross, out);
            int now = 0;
            for (int t = 0; t < n; t++) {
                for (int d = 0; d < 2; d++) {
                    if (!allowed[t][d] || !allowed[t][1 - d]) continue; // never remove a task's last device
                    if (head[t][d] + time[t][d] + tail[t][d] > upper) { allowed[t][d] = false; now++; }
                }
            }
            removed += now;
            if (now == 0) break;
        }
        this.removed = removed;
        long lb = 0;
        for (int t = 0; t < n; t++) lb = Math.max(lb, Math.min(span(t, 0), span(t, 1)));
        lowerBound = lb;
    }

    /** head + time + tail of t on d, or Long.MAX_VALUE where d is not allowed. */
    long span(int t, int d) {
        return allowed[t][d] ? head[t][d] + time[t][d] + tail[t][d] : Long.MAX_VALUE;
    }

    /** The only device left to t, or -1 where both are. */
    int fixed(int t) {
        return allowed[t][0] && allowed[t][1] ? -1 : allowed[t][0] ? 0 : 1;
    }

    private void heads(PlacementProblem p, long[] cross, long[] in) {
        List<PlacementProblem.Arc> arcs = p.arcs();
        for (int t = 0; t < p.size(); t++) {
            head[t][0] = 0;
            head[t][1] = in[t];
            // every arc goes forward, so in index order a task's predecessors are final
            for (int k : intoTask[t]) {
                int f = arcs.get(k).from();
                for (int d = 0; d < 2; d++) {
                    long best = Long.MAX_VALUE;
                    for (int e = 0; e < 2; e++) {
                        if (allowed[f][e]) best = Math.min(best, head[f][e] + time[f][e] + (e == d ? 0 : cross[k]));
                    }
                    head[t][d] = Math.max(head[t][d], best);
                }
            }
        }
    }

    private void tails(PlacementProblem p, long[] cross, long[] out) {
        List<PlacementProblem.Arc> arcs = p.arcs();
        for (int t = p.size() - 1; t >= 0; t--) {
            tail[t][0] = 0;
            tail[t][1] = out[t];
            for (int k : fromTask[t]) {
                int s = arcs.get(k).to();
                for (int d = 0; d < 2; d++) {
                    long best = Long.MAX_VALUE;
                    for (int e = 0; e < 2; e++) {
                        if (allowed[s][e]) best = Math.min(best, (e == d ? 0 : cross[k]) + time[s][e] + tail[s][e]);
                    }
                    tail[t][d] = Math.max(tail[t][d], best);
                }
            }
        }
    }
}
