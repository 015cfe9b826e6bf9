package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;

/**
 * What is where while the builder walks the nodes: per device with its own memory, the values resident in its
 * {@link Arena} and those ever loaded (a second load is a reload); per value, its valid host copy. Chooses
 * victims when a device is full and emits the copies that residency needs (loads, reloads, offloads, D2H).
 * Invariants: a value resident on a device has exactly one live buffer there; a value is evicted without an
 * offload only when a host copy exists or nobody reads it again; pinned values (what the current node reads or
 * writes) are never evicted.
 */
final class Residency {
    static final int NEVER = Integer.MAX_VALUE;

    /** One device's arena and what it holds. */
    static final class Held {
        final Arena arena;
        final Map<String, DraftBuffer> resident = new LinkedHashMap<>();
        final Set<String> everResident = new HashSet<>();

        Held(Arena arena) { this.arena = arena; }

        String name() { return arena.name(); }
        long capacity() { return arena.capacity; }
        long used() { return arena.used; }
        boolean holds(String v) { return resident.containsKey(v); }
        DraftBuffer get(String v) { return resident.get(v); }
    }

    private final Graph g;
    private final TaskEmitter out;
    private final Held[] dev;
    private final Map<String, int[]> uses;
    private final Set<String> graphOutputs;
    final Map<String, Integer> hostCopy = new java.util.HashMap<>();
    /** The node being emitted: next uses count from it. */
    int now;

    Residency(Graph g, TaskEmitter out, List<DeviceSpec> devices, Map<String, int[]> uses, Set<String> graphOutputs, boolean firstFit) {
        this.g = g;
        this.out = out;
        this.uses = uses;
        this.graphOutputs = graphOutputs;
        dev = new Held[devices.size()];
        for (int d = 0; d < devices.size(); d++) {
            if (!devices.get(d).kind().sharesHostMemory()) dev[d] = new Held(new Arena(devices.get(d), firstFit));
        }
    }

    /** Device d's state; null for a device that shares host memory. */
    Held on(int d) { return dev[d]; }

    int deviceCount() { return dev.length; }

    int nextUse(String v, int after) {
        int[] u = uses.get(v);
        if (u == null) return NEVER;
        int k = Arrays.binarySearch(u, after + 1);
        if (k < 0) k = -k - 1;
        return k < u.length ? u[k] : NEVER;
    }

    /** Copies v onto device d (a transfer the first time, a reload after an eviction); false if it cannot fit. */
    boolean load(int d, String v, Set<String> pinned, boolean mayEvict) {
        if (!hostCopy.containsKey(v)) copyToHost(v, LaneKind.D2H, false);
        Integer src = hostCopy.get(v);
        DraftBuffer b = allocate(d, v, BuildState.blockBytes(g, v), pinned, mayEvict);
        if (b == null) return false;
        int id = out.next();
        Held D = dev[d];
        String name = D.name();
        out.add(D.everResident.contains(v)
            ? new Task.Reload(id, d, src, b.id, b.bytes, "reload " + v + " to " + name)
            : new Task.Transfer(id, d, LaneKind.H2D, src, b.id, b.bytes, "h2d " + v + " to " + name));
        out.read(src, id);
        out.written(b, id);
        D.resident.put(v, b);
        D.everResident.add(v);
        return true;
    }

    /** Gives v a valid host copy, copied from the device that holds it. */
    void copyToHost(String v, LaneKind lane, boolean offload) {
        int d = -1;
        for (int k = 0; k < dev.length; k++) if (dev[k] != null && dev[k].holds(v)) { d = k; break; }
        if (d < 0) throw new MemGraphException("value '" + v + "' is read before any node produces it", -1);
        DraftBuffer src = dev[d].get(v);
        int h = out.hostBuffer(v);
        int id = out.next();
        out.add(offload
            ? new Task.Offload(id, d, src.id, h, src.bytes, "offload " + v + " from " + dev[d].name())
            : new Task.Transfer(id, d, lane, src.id, h, src.bytes, "d2h " + v + " from " + dev[d].name()));
        out.read(src.id, id);
        out.buffer(h).writer = id;
        hostCopy.put(v, h);
    }

    /** The host copy of v, copied out of its device first if it has none. */
    int hostCopyOf(String v) {
        if (!hostCopy.containsKey(v)) copyToHost(v, LaneKind.D2H, false);
        return hostCopy.get(v);
    }

    /**
     * A region for v on device d. When the device is full, evicts the resident value with the largest
     * (distance to next use) x (size): the one whose absence costs the least soon and frees the most.
     */
    DraftBuffer allocate(int d, String v, long bytes, Set<String> pinned, boolean mayEvict) {
        Held D = dev[d];
        while (true) {
            long off = D.arena.fit(bytes);
            if (off >= 0) {
                D.arena.take(off, bytes);
                return out.deviceBuffer(v, d, off, bytes);
            }
            if (!mayEvict) return null;
            String victim = null;
            double best = -1;
            for (DraftBuffer r : D.resident.values()) {
                if (pinned.contains(r.value)) continue;
                int next = nextUse(r.value, now);
                double score = (next == NEVER ? 1e12 : next - now) * (double) r.bytes;
                if (score > best) { best = score; victim = r.value; }
            }
            if (victim == null) return null;
            evict(d, victim);
        }
    }

    /** Removes v from device d, offloading it first if the device holds its only copy. */
    void evict(int d, String v) {
        Held D = dev[d];
        if (!hostCopy.containsKey(v) && nextUse(v, now - 1) != NEVER) copyToHost(v, LaneKind.D2H, true);
        free(d, D.resident.remove(v));
    }

    /** Evicts every resident value of device d that {@code keep} does not hold on to. */
    void evictUnless(int d, Predicate<String> keep) {
        for (String r : new ArrayList<>(dev[d].resident.keySet())) if (!keep.test(r)) evict(d, r);
    }

    /** Ends b's tenancy of its region (a buffer that was written and read, or one abandoned before its writer). */
    void free(int d, DraftBuffer b) { dev[d].arena.release(b); }

    /** Drops v's buffer on device d now that nobody reads it there again, without offloading. */
    void drop(int d, String v) { free(d, dev[d].resident.remove(v)); }

    /** v, just written on device d, is resident there; a graph output is copied to the host at once. */
    void publish(int d, String v, DraftBuffer b) {
        dev[d].resident.put(v, b);
        dev[d].everResident.add(v);
        if (graphOutputs.contains(v)) copyToHost(v, LaneKind.D2H, false);
    }

    /** Frees device copies of the values a node read or wrote that nobody reads after it. */
    void releaseDead(int i, List<String> touched) {
        for (String v : touched) {
            if (nextUse(v, i) != NEVER) continue;
            for (int d = 0; d < dev.length; d++) if (dev[d] != null && dev[d].holds(v)) drop(d, v);
        }
    }

    /**
     * Loads a node's whole inputs onto device d and pins them, emptying the device of everything else if it must.
     * {@code label} and {@code need} name the node in an error.
     */
    void loadWhole(int d, Set<String> whole, Set<String> pinned, String label, long need) {
        Held D = dev[d];
        for (String v : whole) if (D.holds(v)) pinned.add(v);
        for (String v : whole) {
            if (D.holds(v)) continue;
            if (!load(d, v, pinned, true)) {
                evictUnless(d, pinned::contains);
                if (!load(d, v, pinned, true)) throw new MemGraphException("node " + label + ": no room for " + v, need);
            }
            pinned.add(v);
        }
    }

    /** Loads v, evicting what the node does not hold and trying once more if fragmentation stands in the way. */
    void loadPinned(int d, String v, Set<String> pinned, java.util.function.Supplier<MemGraphException> failure) {
        if (!load(d, v, pinned, true)) {
            evictUnless(d, pinned::contains);
            if (!load(d, v, pinned, true)) throw failure.get();
        }
    }

    /** Regions for one band's buffers in memory free now (evicting nothing); null, having placed none, if they do not fit. */
    Map<String, DraftBuffer> placeFree(int d, Map<String, Long> want) {
        Map<String, DraftBuffer> placed = new LinkedHashMap<>();
        for (var e : want.entrySet()) {
            DraftBuffer b = allocate(d, e.getKey(), e.getValue(), Set.of(), false);
            if (b == null) {
                for (DraftBuffer x : placed.values()) free(d, x);
                return null;
            }
            placed.put(e.getKey(), b);
        }
        return placed;
    }

    /**
     * Regions for one band's buffers next to the node's pinned whole inputs, evicting other values as needed.
     * When the free bytes suffice but not in pieces that fit, the device is emptied (the whole inputs too) and
     * the bands placed first into the empty arena, the whole inputs loaded again behind them: the node's need
     * was checked against the budget, so that always fits.
     */
    Map<String, DraftBuffer> placeBands(int d, Map<String, Long> want, Set<String> whole, Set<String> pinned, String label, long need) {
        Map<String, DraftBuffer> placed = new LinkedHashMap<>();
        for (var e : want.entrySet()) {
            DraftBuffer b = allocate(d, e.getKey(), e.getValue(), pinned, true);
            if (b == null) break;
            placed.put(e.getKey(), b);
        }
        if (placed.size() == want.size()) return placed;
        for (DraftBuffer b : placed.values()) free(d, b);
        placed.clear();
        evictUnless(d, r -> false);
        pinned.clear();
        for (var e : want.entrySet()) {
            DraftBuffer b = allocate(d, e.getKey(), e.getValue(), pinned, false);
            if (b == null) throw new MemGraphException("a band of node " + label + " does not fit the arena of '" + dev[d].name() + "'", need);
            placed.put(e.getKey(), b);
        }
        loadWhole(d, whole, pinned, label, need);
        return placed;
    }

    /**
     * A region for a split node's output or scratch next to what the tile reads, when fragmentation stands in
     * the way: after evicting everything the node does not hold, the tile's own inputs (its blocks, and its
     * activation, offloaded if the device held its only copy) make room and are copied in again behind it.
     * Null, holding no region for v, if even that does not fit (the blocks it evicted then stay evicted).
     */
    DraftBuffer allocateBeside(int d, String v, long bytes, Set<String> pinned, List<String> blocks) {
        Held D = dev[d];
        DraftBuffer b = allocate(d, v, bytes, pinned, true);
        if (b != null) return b;
        evictUnless(d, pinned::contains);
        b = allocate(d, v, bytes, pinned, true);
        if (b != null) return b;
        for (String k : blocks) if (D.holds(k)) { pinned.remove(k); evict(d, k); }
        b = allocate(d, v, bytes, pinned, true);
        if (b == null) return null;
        pinned.add(v);
        for (String k : blocks) {
            if (!load(d, k, pinned, true)) {
                // v's region must not outlive the failure: a caller that tries another layout counts on it
                pinned.remove(v);
                free(d, b);
                return null;
            }
            pinned.add(k);
        }
        pinned.remove(v);
        return b;
    }

    /** A region for a tile's range or state buffer, evicting what the node does not hold if it must. */
    DraftBuffer allocateOrFree(int d, String v, long bytes, Set<String> pinned, String label, int t, long need) {
        DraftBuffer b = allocate(d, v, bytes, pinned, true);
        if (b != null) return b;
        evictUnless(d, pinned::contains);
        b = allocate(d, v, bytes, pinned, true);
        if (b == null) throw new MemGraphException("tile " + t + " of node " + label + " does not fit the arena of '"
            + dev[d].name() + "' next to its output", need);
        return b;
    }
}
