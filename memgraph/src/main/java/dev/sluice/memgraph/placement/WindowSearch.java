package dev.sluice.memgraph.placement;

import java.util.ArrayList;
import java.util.List;

/**
 * A local search over assignments for the MILP's warm start ({@link MilpPlacer#warmStart}). A move puts a window of up
 * to {@link #WIDEST} consecutive tasks (in index order, which is topological) onto one device; it is taken where it
 * fits the capacity and shortens the makespan, first improvement, until no move improves or the time is spent.
 *
 * <p><b>Why windows.</b> A side branch of a few tasks (ppocr-det's squeeze-excitation blocks: a pool, two small
 * matmuls and a product, consecutive in index order) pays on the cpu only when it moves there whole: moving one of its
 * tasks adds two crossings and never shortens anything, so the single moves and pair exchanges of {@link
 * Strategies} stop short of it. With the T4 at 100% the optimum (1.712 ms, proven by CP-SAT in 27-60 s) runs four
 * such branches and a few more tasks on the cpu; heft's placement takes 1.861 ms.
 *
 * <p><b>How a move is judged.</b> The list schedule of {@link Schedule#list} is only as good as its order: with the
 * rank order the optimal assignment above takes 2.43 ms. So each assignment is scheduled in four orders and the
 * shortest kept: the rank order; the order of decreasing bottom level under that assignment (its tasks' times on their
 * devices and the crossings its arcs make); and the order of start times of an insertion schedule of each of these
 * (a task takes the earliest idle stretch of its device that is long enough after its inputs have arrived, so a
 * task that waits for a crossing no longer holds its device). Every schedule judged is a {@link Schedule#list} one, so
 * the makespan reported is the evaluator's own, never an estimate: an insertion schedule is a schedule of the model,
 * and list scheduling in the order of its start times starts each task no later (the class doc of {@link Schedule}).
 */
final class WindowSearch {
    private WindowSearch() {}

    /** The widest window a move places. */
    static final int WIDEST = 5;

    /**
     * The best assignment the search reaches from {@code start} (which must fit) before {@code deadlineNanos} (of
     * {@link System#nanoTime}), with its best schedule; {@code start} itself where nothing improves it.
     */
    static Strategies.Result improve(PlacementProblem p, Strategies.Result start, long deadlineNanos) {
        List<List<PlacementProblem.Arc>> preds = p.predecessors(), succs = p.successors();
        int[] rank = Schedule.rankOrder(p);
        int[] a = start.assign().clone();
        Schedule best = bestSchedule(p, a, rank, preds, succs);
        if (start.makespan() < best.makespan()) best = start.schedule();
        int n = p.size();
        boolean improved = true;
        search:
        while (improved) {
            improved = false;
            for (int k = 1; k <= WIDEST; k++) {
                for (int s = 0; s + k <= n; s++) {
                    for (int d = 0; d < p.devices(); d++) {
                        if (System.nanoTime() > deadlineNanos) break search;
                        int[] b = a.clone();
                        boolean change = false;
                        for (int t = s; t < s + k; t++) { change |= b[t] != d; b[t] = d; }
                        if (!change || !p.fits(b)) continue;
                        Schedule sc = bestSchedule(p, b, rank, preds, succs);
                        if (sc.makespan() < best.makespan() - 1e-9) { best = sc; a = b; improved = true; }
                    }
                }
            }
        }
        if (best.makespan() >= start.makespan() - 1e-9) return start;
        return new Strategies.Result(start.strategy() + ", then windows of tasks moved", a, best, 0, "");
    }

    /** The shortest of the four list schedules of the class doc. */
    static Schedule bestSchedule(PlacementProblem p, int[] a, int[] rank, List<List<PlacementProblem.Arc>> preds,
                                 List<List<PlacementProblem.Arc>> succs) {
        int[] bottom = bottomLevelOrder(p, a, succs);
        Schedule best = null;
        for (int[] order : List.of(rank, bottom)) {
            for (int[] o : List.of(order, Schedule.byKey(p, insertionStarts(p, a, order, preds)))) {
                Schedule s = Schedule.list(p, a, o, preds);
                if (best == null || s.makespan() < best.makespan()) best = s;
            }
        }
        return best;
    }

    /** Tasks by decreasing bottom level under {@code a} (ties by index), a topological order. */
    static int[] bottomLevelOrder(PlacementProblem p, int[] a, List<List<PlacementProblem.Arc>> succs) {
        int n = p.size();
        double[] key = new double[n];
        for (int t = n - 1; t >= 0; t--) {
            double after = a[t] != 0 && p.hostOutBytes()[t] > 0 ? p.transferMillis(p.hostOutBytes()[t], a[t], 0) : 0;
            for (PlacementProblem.Arc arc : succs.get(t)) after = Math.max(after, p.transferMillis(arc.bytes(), a[t], a[arc.to()]) - key[arc.to()]);
            key[t] = -(p.millis()[t][a[t]] + after);
        }
        // a task's bottom level exceeds its successors' by its time (zero-time tasks tie): byKey's repair keeps it topological
        return Schedule.byKey(p, key);
    }

    /**
     * Start times of the insertion schedule of {@code a} taking tasks in {@code order} (topological): each at the
     * earliest time after its inputs arrived (graph inputs crossing first on an accelerator) at which its device is
     * idle for its whole duration. Each device's busy stretches are kept sorted by start.
     */
    static double[] insertionStarts(PlacementProblem p, int[] a, int[] order, List<List<PlacementProblem.Arc>> preds) {
        int n = p.size();
        double[] start = new double[n], end = new double[n];
        List<double[]> busyStart = new ArrayList<>(), busyEnd = new ArrayList<>();
        int[] count = new int[p.devices()];
        for (int d = 0; d < p.devices(); d++) { busyStart.add(new double[n]); busyEnd.add(new double[n]); }
        for (int t : order) {
            int d = a[t];
            double ready = d != 0 && p.hostInBytes()[t] > 0 ? p.transferMillis(p.hostInBytes()[t], 0, d) : 0;
            for (PlacementProblem.Arc arc : preds.get(t)) ready = Math.max(ready, end[arc.from()] + p.transferMillis(arc.bytes(), a[arc.from()], d));
            double len = p.millis()[t][d];
            double[] bs = busyStart.get(d), be = busyEnd.get(d);
            int c = count[d], at = 0;
            double s = ready;
            // stretches are disjoint and sorted: walk them, pushing s past each one it would overlap
            for (; at < c; at++) {
                if (be[at] <= s) continue;
                if (bs[at] >= s + len) break;
                s = be[at];
            }
            // insert [s, s + len) before the first stretch that starts at or after s
            int pos = at;
            while (pos > 0 && bs[pos - 1] > s) pos--;
            System.arraycopy(bs, pos, bs, pos + 1, c - pos);
            System.arraycopy(be, pos, be, pos + 1, c - pos);
            bs[pos] = s;
            be[pos] = s + len;
            count[d]++;
            start[t] = s;
            end[t] = s + len;
        }
        return start;
    }
}
