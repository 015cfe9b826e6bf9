package dev.sluice.memgraph.placement;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link ChainBound} must never exceed the optimum (the brute force of {@link PlacementStrategiesTest}) on small
 * graphs, with and without a binding capacity; on a plain chain without capacity it is the optimum itself (every
 * task is a cut task, so nothing is relaxed but the rounding to whole microseconds).
 */
class ChainBoundTest {
    static final double ROUNDING_MS = 1e-3; // one unit per task and per arc at most

    static long bound(PlacementProblem p) {
        int n = p.size();
        long[][] time = new long[n][2];
        for (int t = 0; t < n; t++) { time[t][0] = MilpPlacer.units(p.millis()[t][0]); time[t][1] = MilpPlacer.units(p.millis()[t][1]); }
        long[] cross = new long[p.arcs().size()];
        for (int k = 0; k < cross.length; k++) cross[k] = MilpPlacer.units(p.transferMillis(p.arcs().get(k).bytes(), 0, 1));
        return ChainBound.lowerBound(p, new IntervalLoads(p), time, cross);
    }

    @Test
    void neverAboveTheOptimum() {
        int tight = 0;
        for (long seed = 500; seed < 530; seed++) {
            int n = 5 + (int) (seed % 3);
            long cap = seed % 3 == 0 ? 0 : seed % 3 == 1 ? 12_000 : 20_000;
            PlacementProblem p = seed % 2 == 0 ? IntervalLoadsTest.chainy(seed, n, cap) : PlacementStrategiesTest.random(seed, n, cap);
            double brute = PlacementStrategiesTest.bruteForce(p);
            double b = bound(p) / (double) MilpPlacer.UNITS_PER_MS;
            assertTrue(b <= brute + ROUNDING_MS * 2 * n, "seed " + seed + ": bound " + b + " above the optimum " + brute);
            if (b >= 0.9 * brute) tight++;
        }
        assertTrue(tight >= 5, "the bound should be close on some graphs, was within 10% on " + tight);
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
            double brute = PlacementStrategiesTest.bruteForce(p);
            assertEquals(brute, bound(p) / (double) MilpPlacer.UNITS_PER_MS, ROUNDING_MS * 2 * n, "seed " + seed);
        }
    }
}
