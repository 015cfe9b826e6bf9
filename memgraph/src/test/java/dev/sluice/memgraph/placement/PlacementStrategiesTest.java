package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.cost.CostModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Strategies on random DAGs, judged by an independent brute force written here: every assignment of tasks to
 * the two devices and every topological order, each task started as soon as its device is free and its inputs
 * have crossed the link (graph inputs too, where it is on the accelerator; its graph outputs cross back before the
 * end). That enumerates every semi-active schedule, so its minimum is the model's optimum.
 */
class PlacementStrategiesTest {
    static CostModel twoDevices(double bytesPerSecond, double latencyMs, long accelMemory) {
        return new CostModel("random", "0", List.of(
            new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0),
            new CostModel.DeviceCost("accel", "described", CostModel.Source.ESTIMATED, bytesPerSecond, latencyMs, CostModel.Source.ESTIMATED,
                accelMemory)), List.of());
    }

    /** A random DAG of n tasks: each task reads from up to two earlier ones; some chains. */
    static PlacementProblem random(long seed, int n, long accelMemory) {
        Random r = new Random(seed);
        double[][] ms = new double[n][2];
        long[] w = new long[n], work = new long[n];
        List<PlacementProblem.Arc> arcs = new ArrayList<>();
        for (int t = 0; t < n; t++) {
            ms[t][0] = 0.1 + r.nextInt(40) / 10.0;
            ms[t][1] = 0.1 + r.nextInt(40) / 10.0;
            w[t] = 1000L * r.nextInt(10);
            work[t] = 1000L * (1 + r.nextInt(10));
            if (t > 0) {
                java.util.Set<Integer> from = new java.util.TreeSet<>();
                from.add(r.nextInt(t));
                if (t > 1 && r.nextBoolean()) from.add(r.nextInt(t));
                for (int f : from) arcs.add(new PlacementProblem.Arc(f, t, 100_000L * (1 + r.nextInt(10))));
            }
        }
        arcs.sort(java.util.Comparator.comparingInt(PlacementProblem.Arc::to).thenComparingInt(PlacementProblem.Arc::from));
        return PlacementProblem.raw(ms, w, work, arcs, twoDevices(1e9, 0.05, accelMemory));
    }

    // ---- the independent brute force ----

    static double cross(PlacementProblem p, long bytes, int a, int b) {
        if (a == b) return 0;
        CostModel.DeviceCost acc = p.costs().devices().get(1);
        return bytes / acc.linkBytesPerSecond() * 1e3 + acc.linkLatencyMs();
    }

    static boolean fitsBrute(PlacementProblem p, int[] a) {
        long sum = 0, most = 0;
        for (int t = 0; t < a.length; t++) if (a[t] == 1) { sum += p.weightBytes()[t]; most = Math.max(most, p.workBytes()[t]); }
        long cap = p.costs().devices().get(1).memoryBytes();
        return cap <= 0 || sum + most <= cap;
    }

    static double best;

    static double bruteForce(PlacementProblem p) {
        int n = p.size();
        best = Double.MAX_VALUE;
        for (int mask = 0; mask < (1 << n); mask++) {
            int[] a = new int[n];
            for (int t = 0; t < n; t++) a[t] = (mask >> t) & 1;
            if (!fitsBrute(p, a)) continue;
            orders(p, a, new int[n], 0, new boolean[n]);
        }
        return best;
    }

    static void orders(PlacementProblem p, int[] a, int[] order, int k, boolean[] used) {
        int n = a.length;
        if (k == n) {
            double[] end = new double[n];
            double[] free = new double[2];
            double mk = 0;
            for (int t : order) {
                double s = free[a[t]];
                // on the accelerator a task's graph inputs cross first, and its graph outputs cross back before the end
                if (p.hostInBytes()[t] > 0) s = Math.max(s, cross(p, p.hostInBytes()[t], 0, a[t]));
                for (PlacementProblem.Arc arc : p.arcs()) if (arc.to() == t) s = Math.max(s, end[arc.from()] + cross(p, arc.bytes(), a[arc.from()], a[t]));
                end[t] = s + p.millis()[t][a[t]];
                free[a[t]] = end[t];
                mk = Math.max(mk, end[t] + (p.hostOutBytes()[t] > 0 ? cross(p, p.hostOutBytes()[t], a[t], 0) : 0));
            }
            best = Math.min(best, mk);
            return;
        }
        for (int t = 0; t < n; t++) {
            if (used[t]) continue;
            boolean ok = true;
            for (PlacementProblem.Arc arc : p.arcs()) if (arc.to() == t && !used[arc.from()]) ok = false;
            if (!ok) continue;
            used[t] = true;
            order[k] = t;
            orders(p, a, order, k + 1, used);
            used[t] = false;
        }
    }

    /** Checks a schedule against the model by hand: precedence with transfers, one task at a time per device. */
    static void checkInvariants(PlacementProblem p, Strategies.Result r) {
        Schedule s = r.schedule();
        assertEquals(p.size(), r.assign().length, r.strategy() + ": every task placed once");
        for (int t = 0; t < p.size(); t++) {
            assertTrue(r.assign()[t] == 0 || r.assign()[t] == 1, r.strategy() + ": task " + t + " on a known device");
            assertEquals(p.millis()[t][r.assign()[t]], s.end()[t] - s.start()[t], 1e-9, r.strategy() + ": task " + t + " takes its device's time");
            assertTrue(s.start()[t] >= 0);
            assertTrue(s.end()[t] <= s.makespan() + 1e-9);
        }
        for (PlacementProblem.Arc a : p.arcs()) {
            double need = s.end()[a.from()] + cross(p, a.bytes(), r.assign()[a.from()], r.assign()[a.to()]);
            assertTrue(s.start()[a.to()] >= need - 1e-9, r.strategy() + ": " + a + " starts before its input arrives");
        }
        for (int i = 0; i < p.size(); i++) {
            for (int j = i + 1; j < p.size(); j++) {
                if (r.assign()[i] != r.assign()[j]) continue;
                boolean apart = s.end()[i] <= s.start()[j] + 1e-9 || s.end()[j] <= s.start()[i] + 1e-9;
                assertTrue(apart, r.strategy() + ": tasks " + i + " and " + j + " overlap on device " + r.assign()[i]);
            }
        }
    }

    @Test
    void everyStrategyKeepsPrecedenceCapacityAndPlacesEachTaskOnce() {
        for (long seed = 1; seed <= 25; seed++) {
            PlacementProblem p = random(seed, 12 + (int) (seed % 20), 30_000);
            Strategies.Result heft = Strategies.heft(p);
            List<Strategies.Result> all = new ArrayList<>(List.of(Strategies.allOn(p, 0, "all-cpu"), Strategies.allOn(p, 1, "all-accel"), heft,
                Strategies.chrionLatency(p)));
            Strategies.Result fast = all.get(3);
            all.add(Strategies.chrionMemory(p, 1.2 * all.get(1).makespan()));
            all.add(MilpPlacer.latency(p, heft, 1)); // the invariants hold whether or not it proves optimality
            for (Strategies.Result r : all) {
                checkInvariants(p, r);
                if (r.strategy().equals("heft") || r.strategy().equals("milp")) {
                    assertTrue(fitsBrute(p, r.assign()), r.strategy() + " (seed " + seed + ") is over capacity");
                }
            }
            Strategies.Result milp = all.get(5);
            assertTrue(milp.makespan() <= heft.makespan() + 1e-9, "seed " + seed + ": milp " + milp.makespan() + " worse than heft " + heft.makespan());
            assertTrue(fast.makespan() <= heft.makespan() + 1e-9, "chrion-latency is never worse than heft");
            assertTrue(fast.makespan() <= all.get(1).makespan() + 1e-9, "chrion-latency is never worse than all-accel");
        }
    }

    @Test
    void milpEqualsBruteForceOnSmallGraphs() {
        for (long seed = 100; seed < 112; seed++) {
            int n = 4 + (int) (seed % 4); // 4..7 tasks
            PlacementProblem p = random(seed, n, seed % 2 == 0 ? 0 : 20_000);
            double brute = bruteForce(p);
            Strategies.Result milp = MilpPlacer.latency(p, Strategies.allOn(p, 0, "all-cpu"), 10);
            // the solver works in whole microseconds: allow one per task of rounding
            assertEquals(brute, milp.makespan(), 1e-3 * n, "seed " + seed + " (" + n + " tasks): " + milp.note());
            assertTrue(milp.note().contains("optimal"), milp.note());
        }
    }

    /**
     * With almost no time (the bound and the warm start take all of it, the solver may return nothing) the answer is
     * still a valid placement no worse than heft's, and the note states a gap whichever way it ended.
     */
    @Test
    void milpWithAlmostNoTimeKeepsAPlacementAndStatesAGap() {
        for (long seed = 40; seed < 46; seed++) {
            PlacementProblem p = random(seed, 40, 30_000);
            Strategies.Result heft = Strategies.heft(p);
            Strategies.Result milp = MilpPlacer.latency(p, heft, 1e-6);
            checkInvariants(p, milp);
            assertTrue(fitsBrute(p, milp.assign()), "seed " + seed + " is over capacity");
            assertTrue(milp.makespan() <= heft.makespan() + 1e-9, "seed " + seed + ": milp " + milp.makespan() + " worse than heft " + heft.makespan());
            assertTrue(milp.note().contains("gap"), "seed " + seed + ": " + milp.note());
        }
    }

    /** The same with graph inputs and outputs crossing the link (the first and last regions of the chain bound). */
    @Test
    void milpEqualsBruteForceWithGraphInputsAndOutputs() {
        for (long seed = 900; seed < 908; seed++) {
            int n = 4 + (int) (seed % 4);
            PlacementProblem base = seed % 2 == 0 ? IntervalLoadsTest.chainy(seed, n, 20_000) : random(seed, n, 0);
            PlacementProblem p = ChainBoundTest.withGraphInputsAndOutputs(base, seed, false);
            double brute = bruteForce(p);
            Strategies.Result milp = MilpPlacer.latency(p, Strategies.allOn(p, 0, "all-cpu"), 10);
            assertEquals(brute, milp.makespan(), 1e-3 * n, "seed " + seed + " (" + n + " tasks): " + milp.note());
            assertTrue(milp.note().contains("optimal"), milp.note());
        }
    }

    /** Room for one of two tasks: single moves cannot trade the wrong one for the right one, an exchange does. */
    @Test
    void exchangeTradesATaskOnTheAcceleratorForABetterOne() {
        double[][] ms = {{1, 0.1}, {5, 0.1}};
        PlacementProblem p = PlacementProblem.raw(ms, new long[] {10_000, 10_000}, new long[] {1_000, 1_000},
            List.of(new PlacementProblem.Arc(0, 1, 100_000)), twoDevices(1e9, 0.05, 11_000));
        int[] order = Schedule.rankOrder(p);
        int[] start = {1, 0};
        assertArrayEquals(new int[] {0, 1}, Strategies.exchanged(p, start, order, 1000));
        assertArrayEquals(new int[] {1, 0}, start, "the start is left alone");
    }

    @Test
    void exchangesKeepTheCapacityAndNeverLose() {
        for (long seed = 60; seed < 75; seed++) {
            PlacementProblem p = random(seed, 15, 25_000);
            int[] order = Schedule.rankOrder(p);
            int[] all = new int[p.size()];
            java.util.Arrays.fill(all, 1);
            int[] start = Strategies.fitted(p, all);
            int[] a = Strategies.exchanged(p, start, order, 20_000);
            assertTrue(fitsBrute(p, a), "seed " + seed + ": over capacity");
            assertTrue(Schedule.list(p, a, order).makespan() <= Schedule.list(p, start, order).makespan() + 1e-9, "seed " + seed);
        }
    }

    @Test
    void chrionMemoryStaysWithinItsSloAndUsesNoMoreAcceleratorMemory() {
        for (long seed = 40; seed < 55; seed++) {
            PlacementProblem p = random(seed, 20, 0);
            Strategies.Result accel = Strategies.allOn(p, 1, "all-accel");
            double slo = 1.2 * accel.makespan();
            Strategies.Result mem = Strategies.chrionMemory(p, slo);
            assertTrue(mem.makespan() <= slo + 1e-9, "seed " + seed);
            assertTrue(p.acceleratorBytes(mem.assign(), 1) <= p.acceleratorBytes(accel.assign(), 1), "seed " + seed);
        }
    }

    /** Chain-heavy graphs: coarsening keeps fine <= coarse <= fine + bound, both optima by brute force. */
    @Test
    void coarseningStaysWithinItsStatedBound() {
        int merged = 0;
        for (long seed = 200; seed < 215; seed++) {
            Random r = new Random(seed);
            int n = 7;
            double[][] ms = new double[n][2];
            List<PlacementProblem.Arc> arcs = new ArrayList<>();
            for (int t = 0; t < n; t++) {
                ms[t][0] = r.nextInt(5) == 0 ? 0.01 : 0.5 + r.nextInt(30) / 10.0;
                ms[t][1] = r.nextInt(5) == 0 ? 0.01 : 0.5 + r.nextInt(30) / 10.0;
                if (t > 0) arcs.add(new PlacementProblem.Arc(r.nextInt(3) == 0 ? r.nextInt(t) : t - 1, t, 10_000L * r.nextInt(20)));
            }
            PlacementProblem fine = PlacementProblem.raw(ms, new long[n], new long[n], arcs, twoDevices(1e9, 0.01, 0));
            Coarsening.Result c = Coarsening.coarsen(fine, 0.5);
            merged += c.before() - c.after();
            double f = bruteForce(fine), co = bruteForce(c.problem());
            assertTrue(co >= f - 1e-9, "seed " + seed + ": coarse " + co + " beat fine " + f);
            assertTrue(co <= f + c.boundMillis() + 1e-9, "seed " + seed + ": coarse " + co + " > fine " + f + " + bound " + c.boundMillis());
            int covered = 0;
            for (int[] m : c.problem().members()) covered += m.length;
            assertEquals(n, covered, "every node in exactly one group");
        }
        assertTrue(merged > 10, "the test graphs must actually be coarsened, merged " + merged);
    }
}
