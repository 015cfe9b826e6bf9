package dev.sluice.runtime.memory;

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
import java.util.concurrent.locks.ReentrantLock;

/**
 * Profile-guided memory planning for one session (one CPU arena). The first run with a set of input
 * shapes is the profiling run (fresh memory, lifetimes recorded); it yields an {@link OffsetPlan}, checked
 * and cached under those shapes. Later runs with the same shapes slice every intermediate from the one
 * arena, which grows when a plan needs more. Runs that find the arena in use by another thread fall back to
 * fresh memory rather than wait. Outputs returned to callers never live in the arena.
 */
public final class MemoryPlans {
    /** A cached plan: the plan itself, the profile it came from, and its lookup table. */
    public record Entry(MemoryProfile profile, OffsetPlan plan, PlannedAllocator.Table table) {}

    private final Planner planner;
    private final boolean zero;
    private final Map<List<Object>, Entry> plans = new ConcurrentHashMap<>();
    private final ReentrantLock arenaLock = new ReentrantLock();
    private MemorySegment arena = MemorySegment.NULL;
    private volatile int plannedRuns, freshRuns;

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
            Map<String, Tensor> out = exec.run(inputs, OutputAllocator.FRESH, prof);
            plans.putIfAbsent(key, plan(exec, prof.profile()));
            freshRuns++;
            return out;
        }
        if (!arenaLock.tryLock()) {
            freshRuns++;
            return exec.run(inputs, OutputAllocator.FRESH, ExecutionListener.NONE);
        }
        try {
            plannedRuns++;
            return exec.run(inputs, new PlannedAllocator(e.table(), arenaOf(e.plan().arenaBytes()), zero), listener);
        } finally {
            arenaLock.unlock();
        }
    }

    /** Plans a profile of this executor's graph and checks the plan before anything uses it. */
    public Entry plan(GraphExecutor exec, MemoryProfile profile) {
        OffsetPlan plan = planner.plan(profile);
        PlanChecker.requireValid(plan);
        return new Entry(profile, plan, PlannedAllocator.Table.of(exec.model().graph(), plan));
    }

    /** The arena, grown to at least {@code bytes}; call with the lock held. */
    private MemorySegment arenaOf(long bytes) {
        if (arena.byteSize() < bytes) arena = Arena.ofAuto().allocate(Math.max(bytes, Tensor.ALIGNMENT), Tensor.ALIGNMENT);
        return arena;
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

    /** Bytes of the arena now held. */
    public long arenaBytes() { return arena.byteSize(); }

    public int plannedRuns() { return plannedRuns; }

    public int freshRuns() { return freshRuns; }

    public void clear() { plans.clear(); }
}
