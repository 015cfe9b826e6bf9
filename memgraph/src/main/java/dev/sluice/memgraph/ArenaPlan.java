package dev.sluice.memgraph;

import dev.sluice.memgraph.plan.GreedyBestFit;
import dev.sluice.memgraph.plan.Lifetime;
import dev.sluice.memgraph.plan.MemoryProfile;
import dev.sluice.memgraph.plan.OffsetPlan;
import dev.sluice.memgraph.plan.PlacementHeuristic;
import dev.sluice.memgraph.plan.PlanChecker;
import dev.sluice.memgraph.plan.Planner;
import dev.sluice.memgraph.plan.SkylineBestFit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One device's offsets, from the memory planner: every device buffer the walk emitted states its size and its
 * lifetime in task ids (first to last task touching it); the {@link Planner} packs them (its heuristics, and, when
 * the walk placed first-fit, that placement as one more candidate, which always fits), keeping the smallest arena;
 * a walk by bytes alone whose lifetimes do not pack within the capacity is refused ({@link Overflow}) so that the
 * builder walks again first-fit. Then every buffer's writer waits (MEMORY edges) for every task of each earlier buffer that shared
 * one of its bytes. Invariants: the plan is checked ({@link PlanChecker}) and its arena is within the device's
 * capacity, so at every instant of any order the edges allow, the live buffers are disjoint and inside the budget.
 */
final class ArenaPlan {
    private ArenaPlan() {}

    /** The walk's first-fit offsets, offered to the planner as one candidate among its heuristics. */
    private record WalkPlacement(Map<String, Long> offsets) implements PlacementHeuristic {
        @Override public String name() { return "walk-first-fit"; }

        @Override public long[] place(List<Lifetime> blocks) {
            long[] off = new long[blocks.size()];
            for (int i = 0; i < off.length; i++) off[i] = offsets.get(blocks.get(i).value());
            return off;
        }
    }

    /** The planner could not pack a by-bytes walk's lifetimes within the capacity: walk again placing first-fit. */
    static final class Overflow extends RuntimeException {
        Overflow(String message) { super(message, null, false, false); }
    }

    /** A buffer's region and every task that touched it, for the next occupant to wait on. */
    private record Tenancy(long start, long end, int[] tasks) {}

    /**
     * Plans device d's buffers (those of {@code out} on it that some task touched), sets their offsets, and adds the
     * MEMORY edges the shared regions need. Buffers no task touched (placed, then abandoned) get offset 0.
     */
    static OffsetPlan plan(int d, Arena arena, TaskEmitter out) {
        List<DraftBuffer> live = new ArrayList<>();
        for (DraftBuffer b : out.buffers) {
            if (b.device != d || b.offset < 0) continue;
            if (b.last < 0) { b.offset = 0; continue; }
            live.add(b);
        }
        List<Lifetime> lifetimes = new ArrayList<>();
        Map<String, DraftBuffer> byName = new HashMap<>();
        Map<String, Long> walk = new HashMap<>();
        for (DraftBuffer b : live) {
            String name = b.id + ":" + b.value;
            lifetimes.add(new Lifetime(name, b.bytes, b.first, b.last));
            byName.put(name, b);
            walk.put(name, b.offset);
        }
        OffsetPlan plan = planner(arena.firstFit ? walk : null, live.size()).plan(new MemoryProfile(lifetimes));
        if (plan.arenaBytes() > arena.capacity) {
            if (!arena.firstFit) throw new Overflow(arena.name() + ": planned " + plan.arenaBytes() + " bytes over " + arena.capacity);
            throw new IllegalStateException("the memory plan of '" + arena.name() + "' takes " + plan.arenaBytes() + " bytes, over its "
                + arena.capacity + "-byte arena, though the walk's own placement fits");
        }
        PlanChecker.requireValid(plan);
        for (var e : byName.entrySet()) e.getValue().offset = plan.offset(e.getKey());
        memoryEdges(live, out);
        return plan;
    }

    /**
     * The standard heuristics, and the walk's placement when it placed first-fit ({@code walk} null otherwise). The packing heuristics take time quadratic in the buffers; past
     * {@link #QUADRATIC_LIMIT} buffers only the greedy size order runs beside the walk's placement.
     */
    private static Planner planner(Map<String, Long> walk, int buffers) {
        List<PlacementHeuristic> hs = new ArrayList<>();
        if (buffers <= QUADRATIC_LIMIT) {
            hs.add(new SkylineBestFit(SkylineBestFit.Preference.LONGEST));
            hs.add(new SkylineBestFit(SkylineBestFit.Preference.LARGEST));
            hs.add(new GreedyBestFit(GreedyBestFit.Order.BREADTH));
        }
        hs.add(new GreedyBestFit(GreedyBestFit.Order.SIZE));
        if (walk != null) hs.add(new WalkPlacement(walk));
        return new Planner(hs);
    }

    static final int QUADRATIC_LIMIT = 4096;

    /**
     * Sweeps the buffers in order of their first task: before a buffer starts, every buffer whose last task came
     * earlier hands its region to the freed list; the new buffer's first task waits for every task of the freed
     * regions it overlaps, which it then replaces (its own tasks come after them, so later occupants wait on it).
     */
    private static void memoryEdges(List<DraftBuffer> live, TaskEmitter out) {
        List<DraftBuffer> starts = new ArrayList<>(live), ends = new ArrayList<>(live);
        starts.sort(Comparator.comparingInt((DraftBuffer b) -> b.first).thenComparingInt(b -> b.id));
        ends.sort(Comparator.comparingInt((DraftBuffer b) -> b.last).thenComparingInt(b -> b.id));
        List<Tenancy> freed = new ArrayList<>();
        int e = 0;
        for (DraftBuffer b : starts) {
            while (e < ends.size() && ends.get(e).last < b.first) {
                DraftBuffer x = ends.get(e++);
                Set<Integer> t = new LinkedHashSet<>(x.readers);
                if (x.writer >= 0) t.add(x.writer);
                freed.add(new Tenancy(x.offset, x.offset + x.bytes, t.stream().mapToInt(Integer::intValue).toArray()));
            }
            long s = b.offset, end = b.offset + b.bytes;
            List<Tenancy> keep = new ArrayList<>();
            for (Iterator<Tenancy> it = freed.iterator(); it.hasNext(); ) {
                Tenancy t = it.next();
                if (t.end() <= s || t.start() >= end) continue;
                for (int x : t.tasks()) out.edge(x, b.first, Edge.Kind.MEMORY);
                it.remove();
                if (t.start() < s) keep.add(new Tenancy(t.start(), s, t.tasks()));
                if (t.end() > end) keep.add(new Tenancy(end, t.end(), t.tasks()));
            }
            freed.addAll(keep);
        }
    }
}
