package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The MILP's load cuts ({@link IntervalLoads}) must hold in every schedule, so that they never cut off the optimum:
 * checked on every semi-active schedule of small graphs (every assignment, every topological order, each task as
 * early as its device and inputs allow), with reachability recomputed here by a plain search; and the MILP, which
 * states them, must still equal the brute force of {@link PlacementStrategiesTest} on graphs that have cut tasks
 * and stages between them, with and without a binding accelerator capacity.
 */
class IntervalLoadsTest {
    /** Chains of cut tasks, some joined by a fork of two parallel tasks; weights and working sets for a capacity. */
    static PlacementProblem chainy(long seed, int n, long accelMemory) {
        Random r = new Random(seed);
        double[][] ms = new double[n][2];
        long[] w = new long[n], work = new long[n];
        List<PlacementProblem.Arc> arcs = new ArrayList<>();
        int last = 0;
        for (int t = 0; t < n; t++) {
            ms[t][0] = 0.1 + r.nextInt(40) / 10.0;
            ms[t][1] = 0.1 + r.nextInt(40) / 10.0;
            w[t] = 1000L * r.nextInt(10);
            work[t] = 1000L * (1 + r.nextInt(5));
        }
        // a chain of cut tasks; between some of them a fork of two branches that join again
        for (int t = 1; t < n; ) {
            if (t + 2 < n && r.nextBoolean()) {
                arcs.add(new PlacementProblem.Arc(last, t, 100_000L * (1 + r.nextInt(10))));
                arcs.add(new PlacementProblem.Arc(last, t + 1, 100_000L * (1 + r.nextInt(10))));
                arcs.add(new PlacementProblem.Arc(t, t + 2, 100_000L * (1 + r.nextInt(10))));
                arcs.add(new PlacementProblem.Arc(t + 1, t + 2, 100_000L * (1 + r.nextInt(10))));
                last = t + 2;
                t += 3;
            } else {
                arcs.add(new PlacementProblem.Arc(last, t, 100_000L * (1 + r.nextInt(10))));
                last = t++;
            }
        }
        arcs.sort(java.util.Comparator.comparingInt(PlacementProblem.Arc::to).thenComparingInt(PlacementProblem.Arc::from));
        return PlacementProblem.raw(ms, w, work, arcs, PlacementStrategiesTest.twoDevices(1e9, 0.05, accelMemory));
    }

    /** Does a path of arcs lead from u to v? A depth-first search, independent of IntervalLoads' bit sets. */
    static boolean reaches(PlacementProblem p, int u, int v) {
        if (u == v) return false;
        java.util.ArrayDeque<Integer> todo = new java.util.ArrayDeque<>(List.of(u));
        boolean[] seen = new boolean[p.size()];
        while (!todo.isEmpty()) {
            int t = todo.pop();
            for (PlacementProblem.Arc a : p.arcs()) {
                if (a.from() != t || seen[a.to()]) continue;
                if (a.to() == v) return true;
                seen[a.to()] = true;
                todo.push(a.to());
            }
        }
        return false;
    }

    @Test
    void reachabilityAndCutTasksMatchAPlainSearch() {
        int cuts = 0, stages = 0;
        for (long seed = 1; seed <= 20; seed++) {
            PlacementProblem p = chainy(seed, 12, 0);
            IntervalLoads il = new IntervalLoads(p);
            int n = p.size();
            List<Integer> expectCuts = new ArrayList<>();
            for (int u = 0; u < n; u++) {
                int related = 0;
                for (int v = 0; v < n; v++) {
                    assertEquals(reaches(p, u, v), il.descendants[u].get(v), "seed " + seed + ": " + u + " reaches " + v);
                    assertEquals(reaches(p, v, u), il.ancestors[u].get(v), "seed " + seed + ": " + v + " reaches " + u);
                    if (reaches(p, u, v) || reaches(p, v, u)) related++;
                }
                if (related == n - 1) expectCuts.add(u);
            }
            assertArrayEquals(expectCuts.stream().mapToInt(Integer::intValue).toArray(), il.cuts, "seed " + seed);
            cuts += il.cuts.length;
            for (int k = 0; k + 1 < il.cuts.length; k++) if (!il.between(il.cuts[k], il.cuts[k + 1]).isEmpty()) stages++;
        }
        assertTrue(cuts > 40 && stages > 20, "the test graphs must have cut tasks with tasks between them: " + cuts + " cuts, " + stages + " stages");
    }

    /** Every semi-active schedule of every assignment meets each load cut. */
    @Test
    void everyScheduleMeetsTheLoadCuts() {
        for (long seed = 30; seed < 40; seed++) {
            PlacementProblem p = chainy(seed, 7, 0);
            IntervalLoads il = new IntervalLoads(p);
            int n = p.size();
            int[] checked = {0};
            for (int mask = 0; mask < (1 << n); mask++) {
                int[] a = new int[n];
                for (int t = 0; t < n; t++) a[t] = (mask >> t) & 1;
                everyOrder(p, a, new int[n], 0, new boolean[n], (start, end, makespan) -> {
                    checked[0]++;
                    for (int v = 0; v < n; v++) {
                        for (int d = 0; d < 2; d++) {
                            assertTrue(start[v] >= load(p, a, il.ancestors[v], d) - 1e-9, "start of " + v + " before its ancestors' load on " + d);
                            assertTrue(makespan >= end[v] + load(p, a, il.descendants[v], d) - 1e-9, "descendants of " + v + " on " + d);
                        }
                    }
                    for (int k = 0; k + 1 < il.cuts.length; k++) {
                        int u = il.cuts[k], v = il.cuts[k + 1];
                        for (int d = 0; d < 2; d++) {
                            assertTrue(start[v] >= end[u] + load(p, a, il.between(u, v), d) - 1e-9, "stage " + u + ".." + v + " on " + d);
                        }
                    }
                });
            }
            assertTrue(checked[0] >= 1 << n, "seed " + seed + ": schedules checked " + checked[0]);
        }
    }

    /** The MILP with its load cuts still finds the brute force's optimum, the capacity binding or not. */
    @Test
    void milpWithLoadCutsEqualsBruteForce() {
        for (long seed = 300; seed < 316; seed++) {
            int n = 5 + (int) (seed % 3); // 5..7 tasks
            PlacementProblem p = chainy(seed, n, seed % 2 == 0 ? 0 : 12_000);
            assertTrue(new IntervalLoads(p).cuts.length > 0, "seed " + seed + " has cut tasks");
            double brute = PlacementStrategiesTest.bruteForce(p);
            Strategies.Result milp = MilpPlacer.latency(p, Strategies.allOn(p, 0, "all-cpu"), 10);
            assertEquals(brute, milp.makespan(), 1e-3 * n, "seed " + seed + " (" + n + " tasks): " + milp.note());
            assertTrue(milp.note().contains("optimal"), milp.note());
        }
    }

    static double load(PlacementProblem p, int[] a, BitSet set, int d) {
        double s = 0;
        for (int t = set.nextSetBit(0); t >= 0; t = set.nextSetBit(t + 1)) if (a[t] == d) s += p.millis()[t][d];
        return s;
    }

    interface Check { void accept(double[] start, double[] end, double makespan); }

    static void everyOrder(PlacementProblem p, int[] a, int[] order, int k, boolean[] used, Check check) {
        int n = a.length;
        if (k == n) {
            double[] start = new double[n], end = new double[n], free = new double[2];
            double mk = 0;
            for (int t : order) {
                double s = free[a[t]];
                for (PlacementProblem.Arc arc : p.arcs()) {
                    if (arc.to() == t) s = Math.max(s, end[arc.from()] + PlacementStrategiesTest.cross(p, arc.bytes(), a[arc.from()], a[t]));
                }
                start[t] = s;
                end[t] = s + p.millis()[t][a[t]];
                free[a[t]] = end[t];
                mk = Math.max(mk, end[t]);
            }
            check.accept(start, end, mk);
            return;
        }
        for (int t = 0; t < n; t++) {
            if (used[t]) continue;
            boolean ok = true;
            for (PlacementProblem.Arc arc : p.arcs()) if (arc.to() == t && !used[arc.from()]) ok = false;
            if (!ok) continue;
            used[t] = true;
            order[k] = t;
            everyOrder(p, a, order, k + 1, used, check);
            used[t] = false;
        }
    }
}
