package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ChainBound} must never exceed the optimum (the brute force of {@link PlacementStrategiesTest}) on small
 * graphs, with and without a binding capacity, with regions enumerated and relaxed, and with graph inputs and outputs
 * crossing the link; on a plain chain without capacity it is the optimum itself (every task is a cut task, so nothing
 * is relaxed but the rounding to whole microseconds), and the assignment it reports reaches it.
 */
class ChainBoundTest {
    static final double ROUNDING_MS = 1e-3; // one unit per task and per arc at most

    static long bound(PlacementProblem p) { return answer(p, ChainBound.EXACT_REGION).bound(); }

    static ChainBound.Answer answer(PlacementProblem p, int exactRegion) {
        int n = p.size();
        long[][] time = new long[n][2];
        for (int t = 0; t < n; t++) { time[t][0] = MilpPlacer.units(p.millis()[t][0]); time[t][1] = MilpPlacer.units(p.millis()[t][1]); }
        long[] cross = new long[p.arcs().size()];
        for (int k = 0; k < cross.length; k++) cross[k] = MilpPlacer.units(p.transferMillis(p.arcs().get(k).bytes(), 0, 1));
        long[] in = new long[n], out = new long[n];
        for (int t = 0; t < n; t++) {
            in[t] = p.hostInBytes()[t] > 0 ? MilpPlacer.units(p.transferMillis(p.hostInBytes()[t], 0, 1)) : 0;
            out[t] = p.hostOutBytes()[t] > 0 ? MilpPlacer.units(p.transferMillis(p.hostOutBytes()[t], 1, 0)) : 0;
        }
        return ChainBound.lowerBound(p, new IntervalLoads(p), time, cross, in, out, exactRegion);
    }

    /**
     * {@code p} with graph inputs read by the first task and graph outputs written by the last, and, unless {@code
     * endsOnly}, by a few others, drawn from {@code seed}.
     */
    static PlacementProblem withGraphInputsAndOutputs(PlacementProblem p, long seed, boolean endsOnly) {
        Random r = new Random(seed);
        int n = p.size();
        long[] hin = new long[n], hout = new long[n];
        for (int t = 0; t < n; t++) {
            if (t == 0 || (!endsOnly && r.nextInt(4) == 0)) hin[t] = 100_000L * (1 + r.nextInt(20));
            if (t == n - 1 || (!endsOnly && r.nextInt(4) == 0)) hout[t] = 100_000L * (1 + r.nextInt(20));
        }
        return new PlacementProblem(p.names(), p.members(), p.millis(), p.weightBytes(), p.workBytes(), hin, hout, p.arcs(), p.costs());
    }

    @Test
    void neverAboveTheOptimum() {
        // regions enumerated (the default), relaxed (0: every region with a task is relaxed) and mixed (2)
        for (int exact : new int[] {ChainBound.EXACT_REGION, 0, 2}) {
            int tight = 0;
            for (long seed = 500; seed < 530; seed++) {
                int n = 5 + (int) (seed % 3);
                long cap = seed % 3 == 0 ? 0 : seed % 3 == 1 ? 12_000 : 20_000;
                PlacementProblem p = seed % 2 == 0 ? IntervalLoadsTest.chainy(seed, n, cap) : PlacementStrategiesTest.random(seed, n, cap);
                double brute = PlacementStrategiesTest.bruteForce(p);
                double b = answer(p, exact).bound() / (double) MilpPlacer.UNITS_PER_MS;
                assertTrue(b <= brute + ROUNDING_MS * 2 * n, "exact " + exact + ", seed " + seed + ": bound " + b + " above the optimum " + brute);
                if (b >= 0.9 * brute) tight++;
            }
            assertTrue(tight >= 5, "the bound should be close on some graphs, was within 10% on " + tight);
        }
    }

    /** Graph inputs crossing before, outputs after: counted in the first and last regions, never above the optimum. */
    @Test
    void neverAboveTheOptimumWithGraphInputsAndOutputs() {
        for (int exact : new int[] {ChainBound.EXACT_REGION, 0}) {
            for (long seed = 700; seed < 730; seed++) {
                int n = 5 + (int) (seed % 3);
                long cap = seed % 3 == 0 ? 0 : 20_000;
                PlacementProblem p = withGraphInputsAndOutputs(
                    seed % 2 == 0 ? IntervalLoadsTest.chainy(seed, n, cap) : PlacementStrategiesTest.random(seed, n, cap), seed, false);
                double brute = PlacementStrategiesTest.bruteForce(p);
                double b = answer(p, exact).bound() / (double) MilpPlacer.UNITS_PER_MS;
                assertTrue(b <= brute + ROUNDING_MS * 2 * n, "exact " + exact + ", seed " + seed + ": bound " + b + " above the optimum " + brute);
            }
        }
    }

    /** Enumerating regions must find what the relaxation cannot: on fork-and-join graphs it is strictly tighter somewhere. */
    @Test
    void enumeratedRegionsAreAtLeastAsTightAsRelaxedOnes() {
        int tighter = 0;
        for (long seed = 800; seed < 830; seed++) {
            PlacementProblem p = IntervalLoadsTest.chainy(seed, 7, seed % 2 == 0 ? 0 : 20_000);
            long exact = answer(p, ChainBound.EXACT_REGION).bound(), relaxed = answer(p, 0).bound();
            assertTrue(exact >= relaxed, "seed " + seed + ": enumerated " + exact + " below relaxed " + relaxed);
            if (exact > relaxed) tighter++;
        }
        assertTrue(tighter >= 5, "enumeration should tighten the bound on fork-and-join graphs, did on " + tighter);
    }

    @Test
    void exactOnAPlainChainWithoutCapacity() {
        for (long seed = 600; seed < 610; seed++) {
            Random r = new Random(seed);
            int n = 7;
            double[][] ms = new double[n][2];
            List<PlacementProblem.Arc> arcs = new ArrayList<>();
            for (int t = 0; t < n; t++) {
                ms[t][0] = 0.1 + r.nextInt(40) / 10.0;
                ms[t][1] = 0.1 + r.nextInt(40) / 10.0;
                if (t > 0) arcs.add(new PlacementProblem.Arc(t - 1, t, 100_000L * (1 + r.nextInt(10))));
            }
            PlacementProblem p = PlacementProblem.raw(ms, new long[n], new long[n], arcs, PlacementStrategiesTest.twoDevices(1e9, 0.05, 0));
            p = seed % 2 == 0 ? p : withGraphInputsAndOutputs(p, seed, true); // a chain's first task reads, its last writes
            double brute = PlacementStrategiesTest.bruteForce(p);
            ChainBound.Answer a = answer(p, ChainBound.EXACT_REGION);
            assertEquals(brute, a.bound() / (double) MilpPlacer.UNITS_PER_MS, ROUNDING_MS * 2 * n, "seed " + seed);
            // the knapsack's own assignment is an optimal placement here
            for (int[] assign : a.assignments()) {
                assertEquals(brute, Schedule.list(p, assign, Schedule.rankOrder(p)).makespan(), ROUNDING_MS * 2 * n, "seed " + seed);
            }
            assertFalse(a.assignments().isEmpty());
        }
    }

    /**
     * A plain chain that all fits on the faster accelerator but for a few bytes: weights counted at a resolution
     * that does not divide them let it through (their floors lose more than it is over), counted exactly (in units of
     * their common divisor) they do not. Nothing else is relaxed on a chain, so the bound is the optimum (but for the
     * rounding), and one assignment it reports fits and reaches it.
     */
    @Test
    void exactOnAPlainChainWithABindingCapacity() {
        for (long seed = 900; seed < 920; seed++) {
            Random r = new Random(seed);
            int n = 8;
            double[][] ms = new double[n][2];
            long[] weight = new long[n];
            List<PlacementProblem.Arc> arcs = new ArrayList<>();
            for (int t = 0; t < n; t++) {
                ms[t][0] = 1 + r.nextInt(40) / 10.0;
                ms[t][1] = 0.1 + r.nextInt(10) / 10.0;
                weight[t] = 192_192L * (1 + r.nextInt(40)); // a common divisor the capacity's 1/16384 does not divide
                if (t > 0) arcs.add(new PlacementProblem.Arc(t - 1, t, 10_000L * (1 + r.nextInt(10))));
            }
            long cap = java.util.Arrays.stream(weight).sum() - 64L * (1 + r.nextInt(30));
            PlacementProblem p = PlacementProblem.raw(ms, weight, new long[n], arcs, PlacementStrategiesTest.twoDevices(1e9, 0.05, cap));
            double brute = PlacementStrategiesTest.bruteForce(p);
            ChainBound.Answer a = answer(p, ChainBound.EXACT_REGION);
            assertEquals(brute, a.bound() / (double) MilpPlacer.UNITS_PER_MS, ROUNDING_MS * 2 * n, "seed " + seed);
            double reached = Double.MAX_VALUE;
            for (int[] assign : a.assignments()) {
                if (p.fits(assign)) reached = Math.min(reached, Schedule.list(p, assign, Schedule.rankOrder(p)).makespan());
            }
            assertEquals(brute, reached, ROUNDING_MS * 2 * n, "seed " + seed + ": no assignment that fits reaches the bound");
        }
    }
}
