package dev.sluice.bench.place;

import dev.sluice.graph.cost.CostModel;
import dev.sluice.memgraph.Edge;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.placement.Simulator;
import dev.sluice.runtime.dispatch.Trace;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Where a prediction and a measured run part ways, task by task: for kernels and copies, the time their bodies took
 * (measured slice vs the cost model's figure), and the time from "ready" (the last predecessor's end) to start,
 * split by whether the predecessor that made the task ready ran on the same lane (no hand-off) or on another
 * (a hand-off: queueing, a wake-up). The simulator's timeline is read the same way, so each line says which part of
 * the model is off and by how much.
 */
final class SimulatorCheck {
    private SimulatorCheck() {}

    static void explain(String what, MemGraph g, CostModel costs, Simulator.Overheads over, Trace measured, boolean worstTasks, PrintStream out) {
        List<Task> tasks = g.tasks();
        int n = tasks.size();
        if (measured.slices().size() != n) throw new IllegalArgumentException("trace has " + measured.slices().size() + " slices for " + n + " tasks");
        Simulator.Prediction p = Simulator.run(g, costs, over);
        double[] ps = new double[n], pe = new double[n];
        String[] pl = new String[n];
        for (Simulator.Slice s : p.slices()) { ps[s.task()] = s.start(); pe[s.task()] = s.end(); pl[s.task()] = s.lane(); }
        double[] ms = new double[n], me = new double[n];
        int[] ml = new int[n];
        for (int i = 0; i < n; i++) {
            Trace.Slice s = measured.slices().get(i);
            ms[i] = s.startNanos() / 1e6; me[i] = s.endNanos() / 1e6; ml[i] = s.track();
        }
        List<List<Integer>> preds = new ArrayList<>();
        for (int i = 0; i < n; i++) preds.add(new ArrayList<>());
        for (Edge e : g.edges()) preds.get(e.to()).add(e.from());
        // [kind][0 measured,1 predicted]: body sums; latency sums after a same-lane / cross-lane release; counts
        double[][] body = new double[2][2], same = new double[2][2], cross = new double[2][2];
        int[][] cnt = new int[2][3];
        // cross-lane hand-offs split by whether a kernel was running at the release: [kind][idle, busy]
        double[][] wakeBusy = new double[2][2], wakeBusyP = new double[2][2];
        int[][] wakeBusyN = new int[2][2];
        // cross-lane hand-offs split by how long the measured lane had sat idle when the task became ready: under
        // SimulatorCalibration.PARKED_AFTER_MILLIS (still spinning or just parked) or not (parked): [kind][short, parked]
        double[][] wakeIdle = new double[2][2], wakeIdleP = new double[2][2];
        int[][] wakeIdleN = new int[2][2];
        double[] laneFreeBefore = new double[n];
        {
            Integer[] byStart = new Integer[n];
            for (int i = 0; i < n; i++) byStart[i] = i;
            java.util.Arrays.sort(byStart, java.util.Comparator.comparingDouble(i -> ms[i]));
            java.util.Map<Integer, Double> free = new java.util.HashMap<>();
            for (int i : byStart) {
                Double f = free.put(ml[i], me[i]);
                laneFreeBefore[i] = f == null ? Double.NaN : f;
            }
        }
        double firstM = Double.MAX_VALUE, firstP = Double.MAX_VALUE;
        for (int i = 0; i < n; i++) {
            int k = tasks.get(i) instanceof Task.Kernel ? 0 : 1;
            body[k][0] += me[i] - ms[i];
            body[k][1] += pe[i] - ps[i];
            cnt[k][0]++;
            if (preds.get(i).isEmpty()) { firstM = Math.min(firstM, ms[i]); firstP = Math.min(firstP, ps[i]); continue; }
            int lm = argMax(preds.get(i), me), lp = argMax(preds.get(i), pe);
            double latM = ms[i] - me[lm], latP = ps[i] - pe[lp];
            // hand-off by the measured run's lanes (the simulator has the same lane per task kind and device)
            boolean crossM = ml[lm] != ml[i];
            if (crossM) {
                cross[k][0] += latM; cross[k][1] += latP; cnt[k][2]++;
                // was a kernel other than the releaser running when the task became ready (the host's cores taken)?
                boolean busy = false;
                for (int j = 0; j < n && !busy; j++) busy = j != lm && tasks.get(j) instanceof Task.Kernel && ms[j] <= me[lm] && me[j] > me[lm];
                wakeBusy[k][busy ? 1 : 0] += latM;
                wakeBusyP[k][busy ? 1 : 0] += latP;
                wakeBusyN[k][busy ? 1 : 0]++;
                if (!Double.isNaN(laneFreeBefore[i]) && me[lm] > laneFreeBefore[i]) {
                    int parked = me[lm] - laneFreeBefore[i] >= dev.sluice.runtime.compile.SimulatorCalibration.PARKED_AFTER_MILLIS ? 1 : 0;
                    wakeIdle[k][parked] += latM;
                    wakeIdleP[k][parked] += latP;
                    wakeIdleN[k][parked]++;
                }
            }
            else { same[k][0] += latM; same[k][1] += latP; cnt[k][1]++; }
        }
        out.printf(Locale.ROOT, "place-bench: explain %s: wall measured %.3f ms, predicted %.3f ms; first task starts %.3f / %.3f ms%n",
            what, measured.wallNanos() / 1e6, p.makespanMillis(), firstM, firstP);
        if (worstTasks) {
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) order[i] = i;
            java.util.Arrays.sort(order, java.util.Comparator.comparingDouble(i -> -Math.abs((me[i] - ms[i]) - (pe[i] - ps[i]))));
            for (int j = 0; j < Math.min(12, n); j++) {
                int i = order[j];
                out.printf(Locale.ROOT, "place-bench: explain %s:   task %d %s on %s: body %.4f / %.4f ms%n", what, i, tasks.get(i).label(), pl[i],
                    me[i] - ms[i], pe[i] - ps[i]);
            }
        }
        String[] kinds = {"kernels", "copies"};
        for (int k = 0; k < 2; k++) {
            if (cnt[k][0] == 0) continue;
            out.printf(Locale.ROOT, "place-bench: explain %s: %d %s: bodies %.3f / %.3f ms; ready->start after a same-lane release (%d) %.3f / %.3f ms,"
                    + " after a cross-lane release (%d) %.3f / %.3f ms (measured / predicted)%n",
                what, cnt[k][0], kinds[k], body[k][0], body[k][1], cnt[k][1], same[k][0], same[k][1], cnt[k][2], cross[k][0], cross[k][1]);
            for (int b = 0; b < 2; b++) {
                if (wakeBusyN[k][b] == 0) continue;
                out.printf(Locale.ROOT, "place-bench: explain %s:   %s cross-lane hand-offs with %s (%d): %.1f / %.1f us each (measured / predicted)%n",
                    what, kinds[k], b == 1 ? "a kernel running" : "no kernel running", wakeBusyN[k][b], wakeBusy[k][b] * 1e3 / wakeBusyN[k][b],
                    wakeBusyP[k][b] * 1e3 / wakeBusyN[k][b]);
            }
            for (int b = 0; b < 2; b++) {
                if (wakeIdleN[k][b] == 0) continue;
                out.printf(Locale.ROOT, "place-bench: explain %s:   %s cross-lane hand-offs to a lane idle %s %.0f us (%d): %.1f / %.1f us each (measured / predicted)%n",
                    what, kinds[k], b == 1 ? "at least" : "under", dev.sluice.runtime.compile.SimulatorCalibration.PARKED_AFTER_MILLIS * 1e3,
                    wakeIdleN[k][b], wakeIdle[k][b] * 1e3 / wakeIdleN[k][b], wakeIdleP[k][b] * 1e3 / wakeIdleN[k][b]);
            }
        }
    }

    private static int argMax(List<Integer> ids, double[] end) {
        int best = ids.get(0);
        for (int i : ids) if (end[i] > end[best]) best = i;
        return best;
    }
}
