package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link RegionSpans}' search (Giffler and Thompson's branching, dominance between states, a node budget) against the
 * brute force of {@link PlacementStrategiesTest} on whole problems made of one region: a cut task u, the region's
 * tasks, a cut task v. With the devices fixed, every schedule runs u from 0, the region, then v, so the least makespan
 * over every order is u's time + the region's least gap + v's time; in the first region (no u) tasks on the accelerator
 * wait for their graph inputs, in the last (no v) their graph outputs cross back. And {@link ChainBound}, which counts
 * those gaps, is the optimum on chains of such regions (fork-and-join graphs of up to four branches of one or two
 * tasks): the load and path figures it had counted alone fall short there.
 */
class RegionSpansTest {
    /** Which ends a region has: both cut tasks, none before it (the first region), none after it (the last). */
    enum Ends { BOTH, FIRST, LAST }

    /**
     * One region of {@code k} tasks with random arcs among them (each to an earlier task or to u, so every task is a
     * descendant of u where u exists), every sink joined to v, and u -> v sometimes; times in whole microseconds and
     * crossings of whole microseconds, so that the brute force's doubles and the search's units agree.
     */
    static PlacementProblem region(long seed, int k, Ends ends) {
        Random r = new Random(seed);
        boolean hasU = ends != Ends.FIRST, hasV = ends != Ends.LAST;
        int n = k + (hasU ? 1 : 0) + (hasV ? 1 : 0), first = hasU ? 1 : 0, v = hasV ? n - 1 : -1;
        double[][] ms = new double[n][2];
        for (int t = 0; t < n; t++) {
            ms[t][0] = (1 + r.nextInt(40)) / 10.0;
            ms[t][1] = (1 + r.nextInt(40)) / 10.0;
        }
        List<PlacementProblem.Arc> arcs = new ArrayList<>();
        boolean[] hasSucc = new boolean[n];
        for (int i = first; i < first + k; i++) {
            // one or two predecessors among u and the region's earlier tasks: so each task descends from u
            List<Integer> candidates = new ArrayList<>();
            if (hasU) candidates.add(0);
            for (int j = first; j < i; j++) candidates.add(j);
            java.util.Set<Integer> from = new java.util.TreeSet<>();
            if (!candidates.isEmpty()) {
                from.add(candidates.get(r.nextInt(candidates.size())));
                if (r.nextInt(3) == 0) from.add(candidates.get(r.nextInt(candidates.size())));
            }
            for (int f : from) { arcs.add(new PlacementProblem.Arc(f, i, 100_000L * (1 + r.nextInt(10)))); hasSucc[f] = true; }
        }
        if (hasV) {
            for (int i = first; i < first + k; i++) if (!hasSucc[i] || r.nextInt(4) == 0) arcs.add(new PlacementProblem.Arc(i, v, 100_000L * (1 + r.nextInt(10))));
            if (hasU && r.nextBoolean()) arcs.add(new PlacementProblem.Arc(0, v, 100_000L * (1 + r.nextInt(10))));
        }
        List<PlacementProblem.Arc> sorted = new ArrayList<>(arcs);
        sorted.sort(java.util.Comparator.comparingInt(PlacementProblem.Arc::to).thenComparingInt(PlacementProblem.Arc::from));
        long[] hin = new long[n], hout = new long[n];
        for (int i = first; i < first + k; i++) {
            if (ends == Ends.FIRST && r.nextBoolean()) hin[i] = 100_000L * (1 + r.nextInt(10));
            if (ends == Ends.LAST && r.nextBoolean()) hout[i] = 100_000L * (1 + r.nextInt(10));
        }
        if (ends == Ends.FIRST && r.nextBoolean()) hin[v] = 100_000L * (1 + r.nextInt(10));
        if (ends == Ends.LAST && r.nextBoolean()) hout[0] = 100_000L * (1 + r.nextInt(10));
        PlacementProblem p = PlacementProblem.raw(ms, new long[n], new long[n], sorted, PlacementStrategiesTest.twoDevices(1e9, 0.05, 0));
        return new PlacementProblem(p.names(), p.members(), p.millis(), p.weightBytes(), p.workBytes(), hin, hout, p.arcs(), p.costs());
    }

    /** The least makespan over every order with the devices fixed: the brute force of PlacementStrategiesTest. */
    static double bruteForceFixed(PlacementProblem p, int[] assign) {
        PlacementStrategiesTest.best = Double.MAX_VALUE;
        PlacementStrategiesTest.orders(p, assign, new int[p.size()], 0, new boolean[p.size()]);
        return PlacementStrategiesTest.best;
    }

    static long[][] times(PlacementProblem p) {
        long[][] time = new long[p.size()][2];
        for (int t = 0; t < p.size(); t++) { time[t][0] = MilpPlacer.units(p.millis()[t][0]); time[t][1] = MilpPlacer.units(p.millis()[t][1]); }
        return time;
    }

    static long[] crossings(PlacementProblem p) {
        long[] cross = new long[p.arcs().size()];
        for (int a = 0; a < cross.length; a++) cross[a] = MilpPlacer.units(p.transferMillis(p.arcs().get(a).bytes(), 0, 1));
        return cross;
    }

    static long[] link(PlacementProblem p, long[] bytes) {
        long[] u = new long[p.size()];
        for (int t = 0; t < u.length; t++) u[t] = bytes[t] > 0 ? MilpPlacer.units(p.transferMillis(bytes[t], 0, 1)) : 0;
        return u;
    }

    @Test
    void theSearchFindsTheLeastGapOfEveryOrder() {
        int checked = 0;
        for (long seed = 1; seed <= 60; seed++) {
            Ends ends = Ends.values()[(int) (seed % 3)];
            int k = 2 + (int) (seed % 5); // 2..6 tasks in the region
            PlacementProblem p = region(seed, k, ends);
            int n = p.size(), first = ends == Ends.FIRST ? 0 : 1;
            int u = ends == Ends.FIRST ? -1 : 0, v = ends == Ends.LAST ? -1 : n - 1;
            int[] tasks = new int[k];
            for (int i = 0; i < k; i++) tasks[i] = first + i;
            long[][] time = times(p);
            RegionSpans rs = new RegionSpans(p, u, v, tasks, time, crossings(p), link(p, p.hostInBytes()), link(p, p.hostOutBytes()));
            Random r = new Random(seed);
            for (int trial = 0; trial < 6; trial++) {
                int mask = r.nextInt(1 << k), du = u < 0 ? 0 : r.nextInt(2), dv = v < 0 ? 0 : r.nextInt(2);
                int[] assign = new int[n];
                for (int i = 0; i < k; i++) assign[tasks[i]] = (mask >>> i) & 1;
                if (u >= 0) assign[u] = du;
                if (v >= 0) assign[v] = dv;
                double brute = bruteForceFixed(p, assign);
                double ends0 = (u >= 0 ? p.millis()[u][du] : 0) + (v >= 0 ? p.millis()[v][dv] : 0);
                RegionSpans.Found f = rs.search(mask, du, dv, 0, Integer.MAX_VALUE);
                assertTrue(f.exact(), "seed " + seed);
                assertEquals(brute - ends0, f.gap() / (double) MilpPlacer.UNITS_PER_MS, 1e-6,
                    "seed " + seed + " (" + ends + ", " + k + " tasks, mask " + mask + ", u on " + du + ", v on " + dv + ")");
                // the order it reports reaches that gap when list scheduled in the whole problem
                int[] order = new int[n];
                int at = 0;
                if (u >= 0) order[at++] = u;
                for (int i : f.order()) order[at++] = tasks[i];
                if (v >= 0) order[at++] = v;
                assertEquals(brute, Schedule.list(p, assign, order).makespan(), 1e-6, "seed " + seed + ": its order");
                checked++;
            }
        }
        assertEquals(360, checked);
    }

    /** With a lower bound given that the search reaches, it stops there; out of nodes, the bound given stands. */
    @Test
    void outOfNodesTheCallersBoundStands() {
        PlacementProblem p = region(7, 6, Ends.BOTH);
        int[] tasks = {1, 2, 3, 4, 5, 6};
        RegionSpans rs = new RegionSpans(p, 0, 7, tasks, times(p), crossings(p), new long[p.size()], new long[p.size()]);
        RegionSpans.Found full = rs.search(0b010101, 1, 0, 0, Integer.MAX_VALUE);
        RegionSpans.Found starved = rs.search(0b010101, 1, 0, 17, 1);
        assertFalse(starved.exact());
        assertEquals(17, starved.gap());
        assertTrue(full.gap() >= 17);
    }

    /** Chains of fork-and-join stages: a cut task, two to four branches of one or two tasks, a joining cut task. */
    static PlacementProblem forked(long seed, int stages, long accelMemory) {
        Random r = new Random(seed);
        List<double[]> ms = new ArrayList<>();
        List<PlacementProblem.Arc> arcs = new ArrayList<>();
        ms.add(new double[] {(1 + r.nextInt(40)) / 10.0, (1 + r.nextInt(40)) / 10.0});
        int last = 0;
        for (int s = 0; s < stages; s++) {
            int branches = 2 + r.nextInt(3);
            List<Integer> ends = new ArrayList<>();
            for (int b = 0; b < branches; b++) {
                int prev = last;
                int len = 1 + r.nextInt(2);
                for (int i = 0; i < len; i++) {
                    int t = ms.size();
                    ms.add(new double[] {(1 + r.nextInt(40)) / 10.0, (1 + r.nextInt(8)) / 10.0});
                    arcs.add(new PlacementProblem.Arc(prev, t, 100_000L * (1 + r.nextInt(10))));
                    prev = t;
                }
                ends.add(prev);
            }
            int join = ms.size();
            ms.add(new double[] {(1 + r.nextInt(40)) / 10.0, (1 + r.nextInt(40)) / 10.0});
            for (int e : ends) arcs.add(new PlacementProblem.Arc(e, join, 100_000L * (1 + r.nextInt(10))));
            last = join;
        }
        int n = ms.size();
        long[] w = new long[n], work = new long[n];
        for (int t = 0; t < n; t++) { w[t] = 1000L * (1 + r.nextInt(10)); work[t] = 1000L * (1 + r.nextInt(5)); }
        arcs.sort(java.util.Comparator.comparingInt(PlacementProblem.Arc::to).thenComparingInt(PlacementProblem.Arc::from));
        return PlacementProblem.raw(ms.toArray(new double[0][]), w, work, arcs, PlacementStrategiesTest.twoDevices(1e9, 0.05, accelMemory));
    }

    /**
     * On fork-and-join chains every task is a cut task or in a region between two, and no arc skips a cut task: the
     * chain bound counts every region's least gap, so it is the optimum (capacity or not), and an assignment it
     * reports, scheduled in its order, reaches it. The MILP then proves it without a search.
     */
    @Test
    void theChainBoundIsTheOptimumOnForkAndJoinChains() {
        int proved = 0;
        int tried = 0;
        for (long seed = 40; tried < 45; seed++) {
            PlacementProblem p = forked(seed, 2, seed % 2 == 0 ? 0 : 25_000);
            if (p.size() > 9) continue; // the brute force takes every order
            tried++;
            double brute = PlacementStrategiesTest.bruteForce(p);
            ChainBound.Answer a = ChainBoundTest.answer(p, ChainBound.EXACT_REGION);
            double n = p.size();
            assertEquals(brute, a.bound() / (double) MilpPlacer.UNITS_PER_MS, ChainBoundTest.ROUNDING_MS * 2 * n, "seed " + seed);
            IntervalLoads il = new IntervalLoads(p);
            double reached = Double.MAX_VALUE;
            for (int[] assign : a.assignments()) {
                if (!p.fits(assign)) continue;
                int[] order = ChainBound.order(p, il, times(p), crossings(p), new long[p.size()], new long[p.size()], assign, Schedule.rankOrder(p));
                reached = Math.min(reached, Schedule.list(p, assign, order).makespan());
            }
            assertEquals(brute, reached, ChainBoundTest.ROUNDING_MS * 2 * n, "seed " + seed + ": no assignment it reports reaches the bound");
            if (tried > 12) continue; // the MILP on the first dozen
            Strategies.Result milp = MilpPlacer.latency(p, Strategies.allOn(p, 0, "all-cpu"), 10);
            assertEquals(brute, milp.makespan(), ChainBoundTest.ROUNDING_MS * 2 * n, "seed " + seed + ": " + milp.note());
            assertTrue(milp.note().startsWith("optimal"), milp.note());
            if (milp.note().contains("was not run")) proved++;
        }
        assertTrue(proved >= 6, "the bound alone should prove most of them, proved " + proved);
    }
}
