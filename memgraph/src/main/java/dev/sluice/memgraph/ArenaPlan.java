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
        OffsetPlan plan = null;
        if (arena.capacity < UNBOUNDED) {
            for (int ahead : AHEAD) {
                List<Lifetime> early = prefetching(live, lifetimes, out, ahead);
                if (peak(early) > arena.capacity) continue; // no packing can fit: spare the planner's run
                OffsetPlan p = planner(null, live.size()).plan(new MemoryProfile(early));
                if (p.arenaBytes() <= arena.capacity) { plan = p; break; }
            }
        }
        if (plan == null) plan = planner(arena.firstFit ? walk : null, live.size()).plan(new MemoryProfile(lifetimes));
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
     * How many tasks ahead of its planned place a copy over the link may run, tried in turn where the budget leaves room:
     * see {@link #prefetching}. Two tasks already let a tile's copy overlap the kernel before it; more absorb jitter.
     */
    static final int[] AHEAD = {8, 2};

    /** A capacity at least this large is no budget (the no-offload need is planned so): its plan keeps exact lifetimes. */
    static final long UNBOUNDED = Long.MAX_VALUE / 8;

    /**
     * The lifetimes with room for the link to run ahead: a buffer a copy fills over the link starts {@code ahead} tasks
     * early, and one a copy drains over the link ends {@code ahead} tasks late. Packed so, a region that a copy fills is
     * never the region a task up to {@code ahead} tasks before it still used, so that copy no longer waits (a MEMORY
     * edge) for the kernel just before it: the next tile's weights come in while this tile's kernel runs (double
     * buffering), instead of copies and kernels taking turns. Each lifetime only grows, so a plan for these is a valid
     * plan for the exact ones; the MEMORY edges still follow the exact lifetimes and the offsets chosen.
     */
    private static List<Lifetime> prefetching(List<DraftBuffer> live, List<Lifetime> exact, TaskEmitter out, int ahead) {
        List<Lifetime> early = new ArrayList<>(exact.size());
        for (int i = 0; i < live.size(); i++) {
            DraftBuffer b = live.get(i);
            Lifetime l = exact.get(i);
            boolean filled = b.writer >= 0 && out.tasks.get(b.writer).lane().isCopy();
            boolean drained = false;
            for (int r : b.readers) drained |= r == b.last && out.tasks.get(r).lane().isCopy();
            early.add(new Lifetime(l.value(), l.bytes(), filled ? Math.max(0, l.firstStep() - ahead) : l.firstStep(),
                drained ? l.lastStep() + ahead : l.lastStep()));
        }
        return early;
    }

    /** The most bytes live at one step: no packing of these lifetimes takes less. */
    private static long peak(List<Lifetime> lifetimes) {
        int steps = 0;
        for (Lifetime l : lifetimes) steps = Math.max(steps, l.lastStep() + 2);
        long[] delta = new long[steps];
        for (Lifetime l : lifetimes) {
            delta[l.firstStep()] += l.bytes();
            delta[l.lastStep() + 1] -= l.bytes();
        }
        long live = 0, peak = 0;
        for (long d : delta) peak = Math.max(peak, live += d);
        return peak;
    }

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
