package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link WindowSearch}: its placements fit, are real schedules of the model (checked by hand and against the brute force
 * of {@link PlacementStrategiesTest}, which they can never beat), are never longer than where it started, and on a side
 * branch that pays only when it moves whole it finds the optimum the single moves and exchanges of the old warm start
 * miss.
 */
class WindowSearchTest {
    static final long FAR = Long.MAX_VALUE;

    @Test
    void neverWorseThanItsStartNeverBetterThanTheOptimum() {
        int improved = 0;
        for (long seed = 1100; seed < 1130; seed++) {
            long cap = seed % 3 == 0 ? 0 : seed % 3 == 1 ? 12_000 : 20_000;
            PlacementProblem p = seed % 2 == 0 ? IntervalLoadsTest.chainy(seed, 7, cap) : PlacementStrategiesTest.random(seed, 7, cap);
            Strategies.Result start = Strategies.heft(p);
            if (!p.fits(start.assign())) start = Strategies.allOn(p, 0, "all-cpu");
            Strategies.Result r = WindowSearch.improve(p, start, FAR);
            PlacementStrategiesTest.checkInvariants(p, r);
            assertTrue(p.fits(r.assign()), "seed " + seed + ": does not fit");
            assertTrue(r.makespan() <= start.makespan() + 1e-9, "seed " + seed + ": " + r.makespan() + " longer than the start " + start.makespan());
            double brute = PlacementStrategiesTest.bruteForce(p);
            assertTrue(r.makespan() >= brute - 1e-9, "seed " + seed + ": " + r.makespan() + " below the optimum " + brute);
            // the schedule is the evaluator's: list scheduling in the order of its start times reproduces it
            Schedule again = Schedule.list(p, r.assign(), Schedule.byKey(p, r.schedule().start()));
            assertEquals(r.makespan(), again.makespan(), 1e-9, "seed " + seed);
            if (r.makespan() < start.makespan() - 1e-9) improved++;
        }
        assertTrue(improved >= 3, "the search should improve heft somewhere, did on " + improved);
    }

    /**
     * A fork into a backbone of five tasks and a side branch of three, joined at the end. Each crossing takes 3 ms, so
     * moving one side task to the cpu adds two crossings and never pays; the whole branch on the cpu overlaps it with
     * the backbone (optimum 9.5 ms against 10 on the accelerator alone).
     */
    @Test
    void movesASideBranchWhole() {
        int n = 10;
        double[][] ms = new double[n][2];
        List<PlacementProblem.Arc> arcs = new ArrayList<>();
        long bytes = 2_950_000; // 2.95 ms at 1 GB/s, plus the link's 0.05 ms latency
        for (int t = 0; t < n; t++) { ms[t][0] = 5; ms[t][1] = 1; }
        for (int t = 1; t <= 3; t++) ms[t][0] = 0.5;
        arcs.add(new PlacementProblem.Arc(0, 1, bytes));
        arcs.add(new PlacementProblem.Arc(1, 2, bytes));
        arcs.add(new PlacementProblem.Arc(2, 3, bytes));
        arcs.add(new PlacementProblem.Arc(0, 4, bytes));
        for (int t = 5; t <= 8; t++) arcs.add(new PlacementProblem.Arc(t - 1, t, bytes));
        arcs.add(new PlacementProblem.Arc(3, 9, bytes));
        arcs.add(new PlacementProblem.Arc(8, 9, bytes));
        PlacementProblem p = PlacementProblem.raw(ms, new long[n], new long[n], arcs, PlacementStrategiesTest.twoDevices(1e9, 0.05, 0));
        double brute = PlacementStrategiesTest.bruteForce(p);
        assertEquals(9.5, brute, 1e-9);
        Strategies.Result accel = Strategies.allOn(p, 1, "all-accel");
        assertEquals(10, accel.makespan(), 1e-9);
        // the old warm start (fitting, exchanges, its own local search) stays on the accelerator
        Strategies.Result old = MilpPlacer.warmStart(p, accel, List.of());
        assertTrue(old.makespan() > brute + 0.1, "the old warm start reached " + old.makespan());
        Strategies.Result r = WindowSearch.improve(p, accel, FAR);
        assertEquals(brute, r.makespan(), 1e-9, Arrays.toString(r.assign()));
        assertArrayEquals(new int[] {1, 0, 0, 0, 1, 1, 1, 1, 1, 1}, r.assign());
    }

    /** Insertion schedules are schedules of the model: no device runs two tasks at once, inputs arrive first. */
    @Test
    void insertionStartsAreFeasible() {
        for (long seed = 1200; seed < 1240; seed++) {
            PlacementProblem p = PlacementStrategiesTest.random(seed, 12, 0);
            int[] a = new int[p.size()];
            java.util.Random r = new java.util.Random(seed);
            for (int t = 0; t < a.length; t++) a[t] = r.nextInt(2);
            var preds = p.predecessors();
            int[] order = WindowSearch.bottomLevelOrder(p, a, p.successors());
            double[] s = WindowSearch.insertionStarts(p, a, order, preds);
            for (int t = 0; t < a.length; t++) {
                for (PlacementProblem.Arc arc : preds.get(t)) {
                    double ready = s[arc.from()] + p.millis()[arc.from()][a[arc.from()]] + p.transferMillis(arc.bytes(), a[arc.from()], a[t]);
                    assertTrue(s[t] >= ready - 1e-9, "seed " + seed + ": task " + t + " starts before its input arrives");
                }
                for (int u = 0; u < t; u++) {
                    if (a[u] != a[t]) continue;
                    double eu = s[u] + p.millis()[u][a[u]], et = s[t] + p.millis()[t][a[t]];
                    assertTrue(eu <= s[t] + 1e-9 || et <= s[u] + 1e-9, "seed " + seed + ": tasks " + u + " and " + t + " overlap");
                }
            }
            // list scheduling in the order of those starts starts no task later
            Schedule l = Schedule.list(p, a, Schedule.byKey(p, s));
            for (int t = 0; t < a.length; t++) assertTrue(l.start()[t] <= s[t] + 1e-9, "seed " + seed + ": task " + t);
        }
    }
}
