package dev.sluice.memgraph;

import dev.sluice.kernels.Tensor;
import java.util.TreeMap;

/**
 * The arena of one device with its own memory as the builder's walk fills it: its capacity (the budget, rounded down
 * to the alignment), the live byte count and its peak. The offsets the memory graph keeps come from the memory
 * planner afterwards ({@link ArenaPlan}); the walk only needs to know whether a node's pieces fit beside what is
 * resident, and whom to evict. It asks first by bytes alone ({@code firstFit} false: any piece fits while the live
 * bytes stay within the capacity), trusting the planner to pack the lifetimes; where the planner cannot pack them
 * within the capacity, the walk runs again placing first-fit into holes ({@code firstFit} true), fragmentation
 * included, and that placement is offered to the planner as one candidate, which always fits. Invariant: the live
 * bytes never pass the capacity at any instant of the walk; in first-fit mode the holes are disjoint and together
 * with the live regions cover {@code [0, capacity)}.
 */
final class Arena {
    final DeviceSpec spec;
    final long capacity;
    private final TreeMap<Long, Long> holes = new TreeMap<>();
    /** Whether the walk places into holes (a placement the planner may keep) or counts bytes only. */
    final boolean firstFit;
    long used, peak;

    Arena(DeviceSpec spec, boolean firstFit) {
        this.spec = spec;
        this.capacity = spec.budgetBytes() / Tensor.ALIGNMENT * Tensor.ALIGNMENT;
        this.firstFit = firstFit;
        holes.put(0L, capacity);
    }

    String name() { return spec.name(); }

    /** Where {@code bytes} would go now (nothing is taken), or -1 if they do not fit: the lowest hole that fits, or 0 while the count allows. */
    long fit(long bytes) {
        if (!firstFit) return used + bytes <= capacity ? 0 : -1;
        for (var h : holes.entrySet()) if (h.getValue() >= bytes) return h.getKey();
        return -1;
    }

    /** Takes {@code bytes} at {@code off}, the start of a hole at least that large. */
    void take(long off, long bytes) {
        if (!firstFit) { used += bytes; peak = Math.max(peak, used); return; }
        long size = holes.remove(off);
        if (size > bytes) holes.put(off + bytes, size - bytes);
        used += bytes;
        peak = Math.max(peak, used);
    }

    private void give(long off, long bytes) {
        if (!firstFit) { used -= bytes; return; }
        long start = off, size = bytes;
        var before = holes.floorEntry(off);
        if (before != null && before.getKey() + before.getValue() == off) {
            start = before.getKey(); size += before.getValue(); holes.remove(before.getKey());
        }
        Long after = holes.get(off + bytes);
        if (after != null) { size += after; holes.remove(off + bytes); }
        holes.put(start, size);
        used -= bytes;
    }

    /** Frees b's region. */
    void release(DraftBuffer b) { give(b.offset, b.bytes); }
}
