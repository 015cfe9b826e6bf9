package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.cost.CostModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The MILP's time windows and the devices they fix, judged by a brute force written here (independent of
 * {@link PlacementStrategiesTest}'s: this one also sends graph inputs to the accelerator before a task there starts
 * and graph outputs back before the run ends, which the windows use). The graphs are skewed like a GPU beside a slow
 * CPU: most tasks are 10-60x faster on the accelerator, a few (shape-like ones) faster on the CPU, so that the
 * fixing rule fires.
 */
class TimeWindowsTest {
    static final double LINK_BPS = 2e9, LINK_MS = 0.02;

    static CostModel devices(long accelMemory) {
        return new CostModel("skewed", "0", List.of(
            new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0),
            new CostModel.DeviceCost("accel", "described", CostModel.Source.ESTIMATED, LINK_BPS, LINK_MS, CostModel.Source.ESTIMATED,
                accelMemory)), List.of());
    }

    /** n tasks, each reading one or two earlier ones; the first reads a graph input, sinks write graph outputs. */
    static PlacementProblem skewed(long seed, int n, long accelMemory) {
        Random r = new Random(seed);
        double[][] ms = new double[n][2];
        long[] w = new long[n], work = new long[n], hin = new long[n], hout = new long[n];
        List<PlacementProblem.Arc> arcs = new ArrayList<>();
        boolean[] hasSucc = new boolean[n];
        for (int t = 0; t < n; t++) {
            double acc = 0.005 + r.nextInt(20) / 1000.0;
            ms[t][1] = acc;
            ms[t][0] = r.nextInt(4) == 0 ? acc / (1 + r.nextInt(5)) : acc * (10 + r.nextInt(50));
            w[t] = 1000L * r.nextInt(10);
            work[t] = 1000L * (1 + r.nextInt(10));
            if (t == 0 || r.nextInt(5) == 0) hin[t] = 10_000L * (1 + r.nextInt(5));
            if (t > 0) {
                java.util.Set<Integer> from = new java.util.TreeSet<>();
                from.add(Math.max(0, t - 1 - r.nextInt(3)));
                if (t > 1 && r.nextBoolean()) from.add(r.nextInt(t));
                for (int f : from) { arcs.add(new PlacementProblem.Arc(f, t, 10_000L * (1 + r.nextInt(20)))); hasSucc[f] = true; }
            }
        }
        for (int t = 0; t < n; t++) if (!hasSucc[t]) hout[t] = 4_000L * (1 + r.nextInt(5));
        List<String> names = new ArrayList<>();
        int[][] members = new int[n][];
        for (int t = 0; t < n; t++) { names.add("t" + t); members[t] = new int[] {t}; }
        return new PlacementProblem(names, members, ms, w, work, hin, hout, arcs, devices(accelMemory));
    }

    // ---- the brute force: every assignment, every topological order, each task as early as possible ----

    static double cross(long bytes) { return bytes / LINK_BPS * 1e3 + LINK_MS; }

    /** The least makespan over assignments allowed by {@code forced} (-1: free), or +inf if none fits. */
    static double bruteForce(PlacementProblem p, int[] forced) {
        int n = p.size();
        double[] best = {Double.POSITIVE_INFINITY};
        for (int mask = 0; mask < (1 << n); mask++) {
            int[] a = new int[n];
            boolean ok = true;
            long sum = 0, most = 0;
            for (int t = 0; t < n; t++) {
                a[t] = (mask >> t) & 1;
                if (forced[t] >= 0 && forced[t] != a[t]) ok = false;
                if (a[t] == 1) { sum += p.weightBytes()[t]; most = Math.max(most, p.workBytes()[t]); }
            }
            long cap = p.costs().devices().get(1).memoryBytes();
            if (!ok || (cap > 0 && sum + most > cap)) continue;
            orders(p, a, new int[n], 0, new boolean[n], best);
        }
        return best[0];
    }

    static void orders(PlacementProblem p, int[] a, int[] order, int k, boolean[] used, double[] best) {
        int n = a.length;
        if (k == n) {
            double[] end = new double[n], free = new double[2];
            double mk = 0;
            for (int t : order) {
                double s = free[a[t]];
                if (a[t] == 1 && p.hostInBytes()[t] > 0) s = Math.max(s, cross(p.hostInBytes()[t]));
                for (PlacementProblem.Arc arc : p.arcs()) {
                    if (arc.to() == t) s = Math.max(s, end[arc.from()] + (a[arc.from()] != a[t] ? cross(arc.bytes()) : 0));
                }
                end[t] = s + p.millis()[t][a[t]];
                free[a[t]] = end[t];
                mk = Math.max(mk, end[t] + (a[t] == 1 && p.hostOutBytes()[t] > 0 ? cross(p.hostOutBytes()[t]) : 0));
            }
            best[0] = Math.min(best[0], mk);
            return;
        }
        for (int t = 0; t < n; t++) {
            if (used[t]) continue;
            boolean ready = true;
            for (PlacementProblem.Arc arc : p.arcs()) if (arc.to() == t && !used[arc.from()]) ready = false;
            if (!ready) continue;
            used[t] = true;
            order[k] = t;
            orders(p, a, order, k + 1, used, best);
            used[t] = false;
        }
    }

    static TimeWindows windows(PlacementProblem p, double upperMillis) {
        int n = p.size();
        long[][] time = new long[n][2];
        long[] in = new long[n], out = new long[n], cross = new long[p.arcs().size()];
        for (int t = 0; t < n; t++) {
            time[t][0] = MilpPlacer.units(p.millis()[t][0]);
            time[t][1] = MilpPlacer.units(p.millis()[t][1]);
            in[t] = p.hostInBytes()[t] > 0 ? MilpPlacer.units(cross(p.hostInBytes()[t])) : 0;
            out[t] = p.hostOutBytes()[t] > 0 ? MilpPlacer.units(cross(p.hostOutBytes()[t])) : 0;
        }
        for (int k = 0; k < cross.length; k++) cross[k] = MilpPlacer.units(cross(p.arcs().get(k).bytes()));
        return new TimeWindows(p, time, cross, in, out, upperMillis == Double.POSITIVE_INFINITY ? Long.MAX_VALUE : MilpPlacer.units(upperMillis));
    }

    /** One unit of rounding per task and arc, in ms. */
    static double slack(PlacementProblem p) { return (p.size() + p.arcs().size() + 2.0) / MilpPlacer.UNITS_PER_MS; }

    /**
     * Every (task, device) the rule removes against an upper bound U is used by no schedule of makespan at most U: the
     * brute force with the task forced onto that device is above U. U is the optimum itself (the tightest the MILP
     * could ever be given), so a rule that removed one device too many would fail here.
     */
    @Test
    void everyRemovedDeviceIsUsedByNoScheduleWithinTheBound() {
        int removed = 0, checked = 0;
        for (long seed = 1; seed <= 40; seed++) {
            PlacementProblem p = skewed(seed, 5 + (int) (seed % 3), 0);
            double opt = bruteForce(p, free(p.size()));
            TimeWindows w = windows(p, opt);
            removed += w.removed;
            for (int t = 0; t < p.size(); t++) {
                assertTrue(w.allowed[t][0] || w.allowed[t][1], "seed " + seed + ": task " + t + " kept a device");
                for (int d = 0; d < 2; d++) {
                    if (w.allowed[t][d]) continue;
                    int[] forced = free(p.size());
                    forced[t] = d;
                    double forcedBest = bruteForce(p, forced);
                    checked++;
                    assertTrue(forcedBest > opt - slack(p), "seed " + seed + ": task " + t + " on device " + d + " reaches " + forcedBest
                        + " <= the bound " + opt + ", yet the rule removed it");
                }
            }
            // the lower bound is one: no schedule beats it
            assertTrue(w.lowerBound / (double) MilpPlacer.UNITS_PER_MS <= opt + slack(p), "seed " + seed + ": lower bound above the optimum");
        }
        assertTrue(removed >= 40, "the rule must actually fire on these graphs, removed " + removed);
        assertEquals(removed, checked);
    }

    /** Heads and tails without an upper bound remove nothing and bound each task's span on each device from below. */
    @Test
    void withoutAnUpperBoundNothingIsRemovedAndSpansBoundEveryForcedOptimum() {
        for (long seed = 50; seed < 70; seed++) {
            PlacementProblem p = skewed(seed, 6, 0);
            TimeWindows w = windows(p, Double.POSITIVE_INFINITY);
            assertEquals(0, w.removed);
            for (int t = 0; t < p.size(); t++) {
                for (int d = 0; d < 2; d++) {
                    int[] forced = free(p.size());
                    forced[t] = d;
                    double best = bruteForce(p, forced);
                    assertTrue(w.span(t, d) / (double) MilpPlacer.UNITS_PER_MS <= best + slack(p),
                        "seed " + seed + ": task " + t + " on " + d + ": span " + w.span(t, d) + " above the best schedule " + best);
                }
            }
        }
    }

    /** The MILP, with windows, fixing, load cuts and its own warm start, finds the brute-force optimum on skewed graphs. */
    @Test
    void milpEqualsBruteForceWhereFixingFires() {
        int fixedSomewhere = 0;
        for (long seed = 300; seed < 316; seed++) {
            int n = 5 + (int) (seed % 3);
            PlacementProblem p = skewed(seed, n, seed % 3 == 0 ? 15_000 : 0);
            double brute = bruteForce(p, free(n));
            Strategies.Result milp = MilpPlacer.latency(p, Strategies.heft(p), 10);
            assertEquals(brute, milp.makespan(), slack(p), "seed " + seed + " (" + n + " tasks): " + milp.note());
            assertTrue(milp.note().startsWith("optimal"), milp.note());
            if (!milp.note().contains("; 0 of")) fixedSomewhere++;
            PlacementStrategiesTest.checkInvariants(p, milp);
        }
        assertTrue(fixedSomewhere >= 8, "fixing must fire on most of these graphs, fired on " + fixedSomewhere);
    }

    /** The overlap bound solves the problem with the capacity lifted: its optimum is the brute force's without one. */
    @Test
    void overlapBoundIsTheOptimumWithoutTheCapacity() {
        int binding = 0;
        for (long seed = 500; seed < 510; seed++) {
            PlacementProblem capped = skewed(seed, 6, 12_000), open = skewed(seed, 6, 0);
            double withCap = bruteForce(capped, free(6)), without = bruteForce(open, free(6));
            if (withCap > without + 1e-9) binding++;
            MilpPlacer.Proof b = MilpPlacer.latencyIgnoringCapacity(capped, Strategies.heft(capped), 10);
            assertTrue(b.optimal(), "seed " + seed + ": " + b);
            assertEquals(without, b.objective(), slack(open), "seed " + seed);
            assertEquals(b.objective(), b.bound(), 1e-9, "seed " + seed);
        }
        assertTrue(binding >= 3, "the capacity must bind on some of these graphs, bound on " + binding);
    }

    static int[] free(int n) {
        int[] f = new int[n];
        java.util.Arrays.fill(f, -1);
        return f;
    }

    /** The warm start made to fit: it fits, and it is no slower than the hint it was made from when that fitted. */
    @Test
    void fittedWarmStartFitsAndNeverLosesToItsStart() {
        for (long seed = 400; seed < 430; seed++) {
            PlacementProblem p = skewed(seed, 12, 20_000);
            int[] all = new int[p.size()];
            java.util.Arrays.fill(all, 1);
            int[] f = Strategies.fitted(p, all);
            assertNotNull(f);
            assertTrue(PlacementStrategiesTest.fitsBrute(p, f), "seed " + seed);
            Strategies.Result heft = Strategies.heft(p);
            Strategies.Result start = MilpPlacer.warmStart(p, heft, java.util.List.of());
            assertTrue(PlacementStrategiesTest.fitsBrute(p, start.assign()), "seed " + seed);
            assertTrue(start.makespan() <= heft.makespan() + 1e-9, "seed " + seed + ": warm start " + start.makespan() + " > heft " + heft.makespan());
        }
        // no single move frees a byte: two independent tasks share the largest working set, over the capacity
        PlacementProblem tie = PlacementProblem.raw(new double[][] {{1, 0.1}, {1, 0.1}}, new long[2], new long[] {5000, 5000}, List.of(),
            devices(4000));
        assertArrayEquals(new int[] {0, 0}, Strategies.fitted(tie, new int[] {1, 1}));
    }
}
