package dev.sluice.memgraph;

import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * The arena of one device with its own memory, as the builder fills it: its capacity (the budget, rounded down to
 * the alignment), the free holes, the live byte count and its peak, and for every freed region the tasks that
 * touched its last occupant. Invariants: the holes are disjoint and together with the live regions cover
 * {@code [0, capacity)}, so {@code used <= capacity} at every instant of the simulated order; a new occupant of a
 * region collects (as waits) every task of every earlier occupant it overlaps, so no order the edges allow ever
 * lets two occupants of one byte be live at once.
 */
final class Arena {
    final DeviceSpec spec;
    final long capacity;
    private final TreeMap<Long, Long> holes = new TreeMap<>();
    private final List<Tenancy> freed = new ArrayList<>();
    long used, peak;

    /** A freed region and every task that touched its last occupant. */
    private record Tenancy(long start, long end, int[] tasks) {}

    Arena(DeviceSpec spec) {
        this.spec = spec;
        this.capacity = spec.budgetBytes() / Tensor.ALIGNMENT * Tensor.ALIGNMENT;
        holes.put(0L, capacity);
    }

    String name() { return spec.name(); }

    /** The lowest offset of a hole of at least {@code bytes}, or -1. */
    long firstFit(long bytes) {
        for (var h : holes.entrySet()) if (h.getValue() >= bytes) return h.getKey();
        return -1;
    }

    /** Takes {@code bytes} at {@code off}, the start of a hole at least that large. */
    void take(long off, long bytes) {
        long size = holes.remove(off);
        if (size > bytes) holes.put(off + bytes, size - bytes);
        used += bytes;
        peak = Math.max(peak, used);
    }

    private void give(long off, long bytes) {
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

    /** Frees b's region, remembering who touched it so that its next occupant waits for them. */
    void release(DraftBuffer b) {
        give(b.offset, b.bytes);
        Set<Integer> t = new LinkedHashSet<>(b.readers);
        if (b.writer >= 0) t.add(b.writer); else t.addAll(b.waits);
        freed.add(new Tenancy(b.offset, b.offset + b.bytes, t.stream().mapToInt(Integer::intValue).toArray()));
    }

    /** The new occupant's writer waits for every task that touched an overlapping freed region. */
    void collectWaits(DraftBuffer b) {
        long s = b.offset, e = b.offset + b.bytes;
        List<Tenancy> keep = new ArrayList<>();
        for (Iterator<Tenancy> it = freed.iterator(); it.hasNext(); ) {
            Tenancy t = it.next();
            if (t.end() <= s || t.start() >= e) continue;
            for (int x : t.tasks()) b.waits.add(x);
            it.remove();
            if (t.start() < s) keep.add(new Tenancy(t.start(), s, t.tasks()));
            if (t.end() > e) keep.add(new Tenancy(e, t.end(), t.tasks()));
        }
        freed.addAll(keep);
    }
}
