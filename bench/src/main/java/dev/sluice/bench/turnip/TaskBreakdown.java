package dev.sluice.bench.turnip;

import dev.sluice.memgraph.Edge;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.runtime.dispatch.Trace;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where a MemGraph run's wall time went, from its trace alone (every figure measured in that run): the chain of tasks
 * that ended last, walked back through whatever held each one up (the predecessor that finished last, or the task
 * before it on its own lane), split into time in kernels, time on the link (bytes / bandwidth), time a copy lane took
 * beyond its link time (the host waking it late after the paced wait), and hand-off gaps (a task ready and its lane
 * free, but not yet started: the wake-up and the dispatcher's bookkeeping). The chain's parts sum to the wall time up to
 * the end of the last task.
 *
 * <p>Also per lane: tasks, busy time, and the mean gap from a task becoming ready (its last predecessor ended) to its
 * start.
 */
record TaskBreakdown(long wall, long kernels, long link, long copyOverLink, long handOff, int chainTasks, List<String> gapKinds,
                     List<String> lanes) {

    /** {@code trace}'s slices are the plan's tasks in order (as {@code MemGraphExecutor} adds them); bw in bytes/s. */
    static TaskBreakdown of(Trace trace, MemGraph plan, long bw) {
        int n = trace.slices().size();
        List<List<Integer>> preds = new ArrayList<>(n);
        for (int i = 0; i < n; i++) preds.add(new ArrayList<>());
        for (Edge e : plan.edges()) preds.get(e.to()).add(e.from());
        long[] start = new long[n], end = new long[n];
        int[] track = new int[n];
        for (int i = 0; i < n; i++) {
            Trace.Slice s = trace.slices().get(i);
            start[i] = s.startNanos();
            end[i] = s.endNanos();
            track[i] = s.track();
        }
        // The task before each on its lane (by start time).
        Integer[] byStart = new Integer[n];
        for (int i = 0; i < n; i++) byStart[i] = i;
        java.util.Arrays.sort(byStart, java.util.Comparator.comparingLong(i -> start[i]));
        int[] prevOnLane = new int[n];
        int[] last = new int[trace.tracks().size()];
        java.util.Arrays.fill(last, -1);
        for (int i : byStart) { prevOnLane[i] = last[track[i]]; last[track[i]] = i; }

        int tail = 0;
        for (int i = 1; i < n; i++) if (end[i] > end[tail]) tail = i;
        long kernels = 0, link = 0, over = 0, gaps = 0;
        int count = 0;
        java.util.Map<String, long[]> byKind = new java.util.TreeMap<>(); // "from lane -> to lane": {gaps, total ns}
        for (int t = n == 0 ? -1 : tail; t >= 0; ) {
            count++;
            long d = end[t] - start[t];
            if (trace.tracks().get(track[t]).copy()) {
                long l = linkNanos(trace.slices().get(t).bytes(), bw);
                link += Math.min(d, l);
                over += Math.max(0, d - l);
            } else {
                kernels += d;
            }
            int blocker = prevOnLane[t];
            for (int p : preds.get(t)) if (blocker < 0 || end[p] > end[blocker]) blocker = p;
            long readyAt = blocker < 0 ? 0 : end[blocker];
            gaps += Math.max(0, start[t] - readyAt);
            String kind = (blocker < 0 ? "start" : laneKind(trace, track[blocker])) + "->" + laneKind(trace, track[t]);
            long[] k = byKind.computeIfAbsent(kind, x -> new long[2]);
            k[0]++;
            k[1] += Math.max(0, start[t] - readyAt);
            t = blocker;
        }

        List<String> lanes = new ArrayList<>();
        for (int k = 0; k < trace.tracks().size(); k++) {
            int tasks = 0;
            long busy = 0, wait = 0;
            for (int i = 0; i < n; i++) {
                if (track[i] != k) continue;
                tasks++;
                busy += end[i] - start[i];
                long ready = 0;
                for (int p : preds.get(i)) ready = Math.max(ready, end[p]);
                wait += Math.max(0, start[i] - ready);
            }
            if (tasks == 0) continue;
            lanes.add(String.format(Locale.ROOT, "%s %d tasks, busy %.3f ms (%.1f us/task), ready->start %.1f us/task",
                trace.tracks().get(k).name(), tasks, busy / 1e6, busy / 1e3 / tasks, wait / 1e3 / tasks));
        }
        List<String> gapKinds = new ArrayList<>();
        byKind.forEach((k, v) -> gapKinds.add(String.format(Locale.ROOT, "%s %d x %.1f us", k, v[0], v[1] / 1e3 / v[0])));
        return new TaskBreakdown(n == 0 ? 0 : end[tail], kernels, link, over, gaps, count, gapKinds, lanes);
    }

    /** The part of a lane's name after the device's ("compute", "h2d", ...). */
    private static String laneKind(Trace trace, int track) {
        String n = trace.tracks().get(track).name();
        return n.substring(n.lastIndexOf('.') + 1);
    }

    static long linkNanos(long bytes, long bw) { return bw == 0 ? 0 : (long) (bytes * 1e9 / bw); }

    String describe() {
        return String.format(Locale.ROOT, "last-ending chain of %d tasks, %.3f ms = kernels %.3f + link %.3f + copy beyond link %.3f"
                + " + hand-off gaps %.3f (%.1f us/task; by edge: %s); lanes: %s",
            chainTasks, wall / 1e6, kernels / 1e6, link / 1e6, copyOverLink / 1e6, handOff / 1e6,
            chainTasks == 0 ? 0 : (copyOverLink + handOff) / 1e3 / chainTasks, String.join(", ", gapKinds), String.join("; ", lanes));
    }
}
