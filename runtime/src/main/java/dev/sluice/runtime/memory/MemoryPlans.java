package dev.sluice.runtime.memory;

import dev.sluice.kernels.NativeBlockPool;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.plan.MemoryProfile;
import dev.sluice.memgraph.plan.OffsetPlan;
import dev.sluice.memgraph.plan.PlanChecker;
import dev.sluice.memgraph.plan.Planner;
import dev.sluice.graph.Value;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Profile-guided memory planning for one session (one CPU arena). The first run with a set of input
 * shapes is the profiling run (fresh memory, lifetimes recorded); it yields an {@link OffsetPlan}, checked
 * and cached under those shapes. Later runs with the same shapes slice every intermediate from an arena
 * taken from a pool. A run holds its arena alone from start to end, so runs of one session on several threads
 * at once never share one (a shared arena would let one run overwrite another's intermediates): a run that
 * finds the pool empty allocates another arena, and returns it afterwards, so the pool holds as many arenas
 * as runs were ever in flight at once. An arena too small for a plan is dropped for a larger one. Outputs
 * returned to callers never live in an arena. {@link #clear()} drops the plans and the arenas.
 */
public final class MemoryPlans {
    /** A cached plan: the plan itself, the profile it came from, and its lookup table. */
    public record Entry(MemoryProfile profile, OffsetPlan plan, PlannedAllocator.Table table) {}

    private final Planner planner;
    private final boolean zero;
    private final Map<List<Object>, Entry> plans = new ConcurrentHashMap<>();
    /** Idle arenas; a run polls one and offers it back when done. */
    private final ConcurrentLinkedDeque<MemorySegment> idle = new ConcurrentLinkedDeque<>();
    private final AtomicInteger plannedRuns = new AtomicInteger(), freshRuns = new AtomicInteger(), arenasMade = new AtomicInteger();

    public MemoryPlans(Planner planner, boolean zero) {
        this.planner = planner;
        this.zero = zero;
    }

    public MemoryPlans() { this(Planner.standard(), true); }

    /** Runs once: profiles and plans on the first run of these shapes, runs from the arena afterwards. */
    public Map<String, Tensor> run(GraphExecutor exec, OpRegistry registry, Map<String, Tensor> inputs) {
        return run(exec, registry, inputs, ExecutionListener.NONE);
    }

    /** As {@link #run(GraphExecutor, OpRegistry, Map)}; {@code listener} sees the runs made from the arena. */
    public Map<String, Tensor> run(GraphExecutor exec, OpRegistry registry, Map<String, Tensor> inputs, ExecutionListener listener) {
        List<Object> key = key(exec, inputs);
        Entry e = plans.get(key);
        if (e == null) {
            ProfilingListener prof = new ProfilingListener(exec.model().graph(), registry);
            // intermediates are recycled as they die, as in a planned run: not all held until a collection
            ReleasingAllocator alloc = new ReleasingAllocator(prof);
            Map<String, Tensor> out = exec.run(inputs, alloc, alloc);
            plans.putIfAbsent(key, plan(exec, prof.profile()));
            // the intermediates this run handed back to the pool as they died: later runs of these shapes take
            // theirs from a planned arena, so the large ones would only sit beside it
            NativeBlockPool.SHARED.releaseLarge();
            freshRuns.incrementAndGet();
            return out;
        }
        MemorySegment arena = takeArena(e.plan().arenaBytes());
        try {
            plannedRuns.incrementAndGet();
            return exec.run(inputs, new PlannedAllocator(e.table(), arena, zero), listener);
        } finally {
            idle.offerFirst(arena);
        }
    }

    /** Plans a profile of this executor's graph and checks the plan before anything uses it. */
    public Entry plan(GraphExecutor exec, MemoryProfile profile) {
        OffsetPlan plan = planner.plan(profile);
        PlanChecker.requireValid(plan);
        return new Entry(profile, plan, PlannedAllocator.Table.of(exec.model().graph(), plan));
    }

    /**
     * An idle arena of at least {@code bytes}, or a new one; the caller holds it alone until it offers it back.
     * The most recently returned arena comes first (its pages are the warmest).
     */
    private MemorySegment takeArena(long bytes) {
        for (MemorySegment a; (a = idle.pollFirst()) != null; ) {
            if (a.byteSize() >= bytes) return a;
            // too small for this plan: let the collector have it, a larger one replaces it
        }
        arenasMade.incrementAndGet();
        return Arena.ofAuto().allocate(Math.max(bytes, Tensor.ALIGNMENT), Tensor.ALIGNMENT);
    }

    /** Input dtypes and shapes in the graph's input order: what a plan is valid for. */
    static List<Object> key(GraphExecutor exec, Map<String, Tensor> inputs) {
        List<Object> k = new ArrayList<>();
        for (Value v : exec.model().graph().inputs()) {
            Tensor t = inputs.get(v.name());
            k.add(t == null ? null : t.dtype());
            k.add(t == null ? null : t.shape());
        }
        return k;
    }

    /** The plans made so far, one per set of input shapes. */
    public List<Entry> plans() { return List.copyOf(plans.values()); }

    /** Bytes of the largest idle arena (runs in flight hold theirs). */
    public long arenaBytes() { return idle.stream().mapToLong(MemorySegment::byteSize).max().orElse(0); }

    /** Arenas allocated so far: more than one means runs overlapped (or a plan outgrew an arena). */
    public int arenasMade() { return arenasMade.get(); }

    public int plannedRuns() { return plannedRuns.get(); }

    public int freshRuns() { return freshRuns.get(); }

    /** Drops every plan and idle arena (the collector frees them). */
    public void clear() {
        plans.clear();
        idle.clear();
    }
}
