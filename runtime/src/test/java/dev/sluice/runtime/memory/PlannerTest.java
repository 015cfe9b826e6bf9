package dev.sluice.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.memgraph.plan.Bounds;
import dev.sluice.memgraph.plan.GreedyBestFit;
import dev.sluice.memgraph.plan.InPlace;
import dev.sluice.memgraph.plan.Lifetime;
import dev.sluice.memgraph.plan.MemoryProfile;
import dev.sluice.memgraph.plan.OffsetPlan;
import dev.sluice.memgraph.plan.PlacementHeuristic;
import dev.sluice.memgraph.plan.PlanChecker;
import dev.sluice.memgraph.plan.Planner;
import dev.sluice.memgraph.plan.SkylineBestFit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The planner, the lower bound and the checker on hand-made and random lifetimes. */
class PlannerTest {
    private static Lifetime l(String v, long bytes, int first, int last) { return new Lifetime(v, bytes, first, last); }

    private static OffsetPlan handPlan(long arena, List<Lifetime> ls, Map<String, Long> offsets, Map<String, String> inPlace) {
        // the bound of a hand plan with in-place pairs is not the raw peak; the checker's bound test is not the point here
        long bound = inPlace.isEmpty() ? Bounds.lowerBound(ls) : 0;
        return new OffsetPlan(arena, offsets, bound, Bounds.naive(ls), "hand", ls, inPlace, Map.of(), 0);
    }

    @Test void boundIsTheMostBytesLiveAtOneStep() {
        List<Lifetime> ls = List.of(l("a", 128, 0, 1), l("b", 256, 1, 2), l("c", 64, 2, 3), l("d", 512, 4, 4));
        assertEquals(512, Bounds.lowerBound(ls));
        assertEquals(128 + 256 + 64 + 512, Bounds.naive(ls));
        List<Lifetime> ls2 = List.of(l("a", 128, 0, 1), l("b", 256, 1, 2), l("c", 64, 2, 3));
        assertEquals(384, Bounds.lowerBound(ls2));
        assertEquals(1, Bounds.peak(ls2)[1]);
        assertEquals(0, Bounds.lowerBound(List.of()));
    }

    @Test void planAlignsSizesAndTheBoundCountsAlignment() {
        // 100 and 200 bytes round up to 128 and 256: the bound is in arena bytes, alignment included
        OffsetPlan p = Planner.standard().plan(new MemoryProfile(List.of(l("a", 100, 0, 1), l("b", 200, 1, 2), l("c", 10, 2, 3))));
        assertEquals(384, p.bound());
        assertEquals(128 + 256 + 64, p.naive());
        assertEquals(384, p.arenaBytes());
        assertTrue(PlanChecker.violations(p).isEmpty(), PlanChecker.violations(p).toString());
    }

    @Test void checkerCatchesOverlapMisalignmentAndOverflow() {
        List<Lifetime> ls = List.of(l("a", 128, 0, 2), l("b", 128, 2, 3), l("c", 128, 3, 4));
        // a and b are both live at step 2: same offset is a clash; a and c never meet, so sharing is fine
        OffsetPlan overlap = handPlan(256, ls, Map.of("a", 0L, "b", 32L, "c", 0L), Map.of());
        List<String> v = PlanChecker.violations(overlap);
        System.out.println("overlap violations: " + v);
        assertEquals(3, v.size(), v.toString()); // b misaligned, a/b overlap at step 2, b/c overlap at step 3
        OffsetPlan ok = handPlan(256, ls, Map.of("a", 0L, "b", 128L, "c", 0L), Map.of());
        assertTrue(PlanChecker.violations(ok).isEmpty(), PlanChecker.violations(ok).toString());
        OffsetPlan outside = handPlan(200, ls, Map.of("a", 0L, "b", 128L, "c", 0L), Map.of());
        assertFalse(PlanChecker.violations(outside).isEmpty());
        OffsetPlan missing = handPlan(256, ls, Map.of("a", 0L, "b", 128L), Map.of());
        assertFalse(PlanChecker.violations(missing).isEmpty());
        assertThrows(IllegalStateException.class, () -> PlanChecker.requireValid(handPlan(256, ls, Map.of("a", 0L, "b", 0L, "c", 128L), Map.of())));
    }

    @Test void checkerAllowsOnlyTrueInPlacePairs() {
        List<Lifetime> ls = List.of(l("x", 128, 0, 1), l("y", 128, 1, 2));
        assertTrue(PlanChecker.violations(handPlan(128, ls, Map.of("x", 0L, "y", 0L), Map.of("y", "x"))).isEmpty());
        assertFalse(PlanChecker.violations(handPlan(128, ls, Map.of("x", 0L, "y", 0L), Map.of())).isEmpty());
        // x still read at step 2: writing y over it is not in place
        List<Lifetime> late = List.of(l("x", 128, 0, 2), l("y", 128, 1, 2));
        assertFalse(PlanChecker.violations(handPlan(128, late, Map.of("x", 0L, "y", 0L), Map.of("y", "x"))).isEmpty());
    }

    @Test void inPlaceReuseIsTakenOnlyWhereTheInputDiesAndTheBoundCountsIt() {
        List<Lifetime> ls = List.of(l("x", 256, 0, 1), l("y", 256, 1, 2), l("z", 256, 2, 3), l("w", 64, 0, 3));
        List<InPlace> cands = List.of(new InPlace("y", "x", 1), new InPlace("z", "y", 2));
        OffsetPlan p = Planner.standard().plan(new MemoryProfile("t", 4, ls, cands, 0));
        assertEquals(Map.of("y", "x", "z", "y"), p.inPlace());
        assertEquals(256 + 64, p.bound());
        assertEquals(256 + 64, p.arenaBytes());
        PlanChecker.requireValid(p);
        // without the candidates, two 256-byte blocks are live at steps 1 and 2
        OffsetPlan q = Planner.standard().plan(new MemoryProfile("t", 4, ls, List.of(), 0));
        assertEquals(2 * 256 + 64, q.bound());
        // a candidate whose input lives on is refused
        List<Lifetime> ls2 = List.of(l("x", 256, 0, 3), l("y", 256, 1, 2));
        OffsetPlan r = Planner.standard().plan(new MemoryProfile("t", 4, ls2, List.of(new InPlace("y", "x", 1)), 0));
        assertTrue(r.inPlace().isEmpty());
        PlanChecker.requireValid(r);
    }

    /** A planner that ignores lifetimes: the checker must reject what it produces. */
    @Test void checkerRejectsABrokenPlanner() {
        PlacementHeuristic broken = new PlacementHeuristic() {
            @Override public String name() { return "everything-at-zero"; }
            @Override public long[] place(List<Lifetime> blocks) { return new long[blocks.size()]; }
        };
        OffsetPlan p = new Planner(List.of(broken)).plan(new MemoryProfile(randomLifetimes(new SplittableRandom(1), 40, 30)));
        assertFalse(PlanChecker.violations(p).isEmpty());
        assertThrows(IllegalStateException.class, () -> PlanChecker.requireValid(p));
    }

    static List<Lifetime> randomLifetimes(SplittableRandom rnd, int n, int steps) {
        List<Lifetime> ls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int a = rnd.nextInt(steps);
            int b = Math.min(steps - 1, a + (rnd.nextInt(4) == 0 ? rnd.nextInt(steps) : rnd.nextInt(4)));
            long bytes = rnd.nextInt(3) == 0 ? 64 + rnd.nextInt(1 << 20) : 64 + rnd.nextInt(4096);
            ls.add(l("t" + i, bytes, a, b));
        }
        return ls;
    }

    @Test void everyHeuristicIsSoundOnRandomLifetimes() {
        List<PlacementHeuristic> hs = List.of(new SkylineBestFit(SkylineBestFit.Preference.LONGEST),
            new SkylineBestFit(SkylineBestFit.Preference.LARGEST), new GreedyBestFit(GreedyBestFit.Order.SIZE),
            new GreedyBestFit(GreedyBestFit.Order.BREADTH));
        SplittableRandom rnd = new SplittableRandom(42);
        Map<String, Double> worst = new HashMap<>();
        double worstBest = 0;
        for (int trial = 0; trial < 300; trial++) {
            List<Lifetime> ls = randomLifetimes(rnd, 1 + rnd.nextInt(120), 1 + rnd.nextInt(60));
            for (PlacementHeuristic h : hs) {
                OffsetPlan p = new Planner(List.of(h)).plan(new MemoryProfile(ls));
                List<String> v = PlanChecker.violations(p);
                assertTrue(v.isEmpty(), h.name() + " trial " + trial + ": " + v);
                assertTrue(p.arenaBytes() >= p.bound());
                worst.merge(h.name(), p.ratio(), Math::max);
            }
            OffsetPlan best = Planner.standard().plan(new MemoryProfile(ls));
            PlanChecker.requireValid(best);
            worstBest = Math.max(worstBest, best.ratio());
        }
        System.out.println("random lifetimes, worst planned/bound per heuristic: " + worst + ", best-of: " + worstBest);
    }

    @Test void chainOfLayersPacksToTheBound() {
        // a typical network: each tensor read by the next node only, sizes varying
        List<Lifetime> ls = new ArrayList<>();
        long[] sizes = {4096, 8192, 8192, 2048, 16384, 4096, 1024, 1024, 512};
        for (int i = 0; i < sizes.length; i++) ls.add(l("h" + i, sizes[i], i, i + 1));
        OffsetPlan p = Planner.standard().plan(new MemoryProfile(ls));
        PlanChecker.requireValid(p);
        assertEquals(p.bound(), p.arenaBytes(), p.tried().toString());
    }
}
