package dev.sluice.offload.swap;

import dev.sluice.kernels.SluiceException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Keeps model weights on a device with a memory budget smaller than all of them together (Computron): a
 * request for a model that is not resident swaps its weights in from the {@link WeightStore}, split across the
 * copy lanes, which share one {@link CopyLink}; when room is needed the {@link EvictionPolicy} picks a resident
 * model no request is using, whose weights are dropped (they are clean: never copied back).
 *
 * <p>Invariants: the bytes of resident and arriving weights never exceed the budget; weights in use (a lease
 * is open) are never evicted; a model's weights are copied at most once while concurrent requests for it
 * wait for that copy. A model whose weights alone exceed the budget is refused with the numbers.
 */
public final class ModelSwapper implements AutoCloseable {
    private enum Phase { ARRIVING, RESIDENT }

    private static final class Resident {
        final long bytes;
        final int priority;
        Phase phase = Phase.ARRIVING;
        int pins;
        boolean forgotten;
        Arena arena;
        MemorySegment segment;

        Resident(long bytes, int priority) {
            this.bytes = bytes;
            this.priority = priority;
        }
    }

    /** Swaps so far, evictions, bytes copied per lane, bytes resident now, the budget. */
    public record Stats(long swaps, long evictions, long[] bytesPerLane, long residentBytes, long budget) {
        public long bytesMoved() {
            long s = 0;
            for (long b : bytesPerLane) s += b;
            return s;
        }
    }

    private final WeightStore store;
    private final long budget;
    private final EvictionPolicy policy;
    private final CopyLink link;
    private final int lanes;
    private final ExecutorService laneThreads;
    private final Map<String, Resident> resident = new LinkedHashMap<>();
    private final AtomicLongArray laneBytes;
    private long used;
    private long swaps;
    private long evictions;

    public ModelSwapper(WeightStore store, long budgetBytes, EvictionPolicy policy, CopyLink link, int lanes) {
        if (budgetBytes <= 0) throw new SluiceException("the device budget must be positive, got " + budgetBytes);
        if (lanes < 1) throw new SluiceException("copy lanes must be at least 1, got " + lanes);
        this.store = store;
        this.budget = budgetBytes;
        this.policy = policy;
        this.link = link;
        this.lanes = lanes;
        this.laneBytes = new AtomicLongArray(lanes);
        this.laneThreads = Executors.newFixedThreadPool(lanes, Thread.ofPlatform().name("sluice-copy-lane-", 0).daemon(true).factory());
    }

    public long budget() { return budget; }

    public int lanes() { return lanes; }

    /** Keeps a model's weights resident while open. */
    public interface Lease extends AutoCloseable {
        /** True when this acquisition copied the weights in (a cold request). */
        boolean swapped();

        @Override void close();
    }

    /**
     * Makes {@code key}'s weights resident (copying them in, evicting others if needed) and pins them until the
     * lease closes. Blocks while the weights arrive or while every resident model is in use and there is no room.
     */
    public Lease acquire(String key) throws InterruptedException {
        Resident r;
        WeightStore.Weights w;
        synchronized (this) {
            while (true) {
                Resident cur = resident.get(key);
                if (cur != null) {
                    if (cur.phase == Phase.RESIDENT) {
                        cur.pins++;
                        policy.touched(key, System.nanoTime());
                        return lease(key, cur, false);
                    }
                    wait();
                    continue;
                }
                w = store.get(key);
                if (w == null) throw new SluiceException("no weights stored for model '" + key + "'");
                if (w.bytes() > budget) {
                    throw new SluiceException("model '" + key + "' has " + w.bytes() + " bytes of weights, more than the device budget of "
                        + budget + " bytes (streaming weights through a smaller budget is not implemented in the server)");
                }
                if (makeRoom(w.bytes())) break;
                wait();
            }
            r = new Resident(w.bytes(), w.priority());
            r.pins = 1;
            resident.put(key, r);
            used += w.bytes();
            policy.touched(key, System.nanoTime());
        }
        try {
            copyIn(w, r);
        } catch (RuntimeException | InterruptedException | Error e) {
            synchronized (this) {
                resident.remove(key);
                used -= r.bytes;
                if (r.arena != null) r.arena.close();
                notifyAll();
            }
            throw e;
        }
        synchronized (this) {
            r.phase = Phase.RESIDENT;
            swaps++;
            notifyAll();
        }
        return lease(key, r, true);
    }

    /** Evicts unpinned resident models (policy order) until {@code need} more bytes fit; false if they cannot yet. */
    private boolean makeRoom(long need) {
        while (used + need > budget) {
            List<EvictionPolicy.Candidate> free = new ArrayList<>();
            for (var e : resident.entrySet()) {
                Resident x = e.getValue();
                if (x.phase == Phase.RESIDENT && x.pins == 0) free.add(new EvictionPolicy.Candidate(e.getKey(), x.bytes, x.priority));
            }
            if (free.isEmpty()) return false;
            evict(policy.victim(free, System.nanoTime()));
        }
        return true;
    }

    private void evict(String key) {
        Resident x = resident.remove(key);
        used -= x.bytes;
        evictions++;
        // Clean weights: the host copy is the master, so the device copy is simply freed.
        if (x.arena != null) x.arena.close();
    }

    /** Copies the weights host to device, one slice per copy lane, the lanes sharing the link. */
    private void copyIn(WeightStore.Weights w, Resident r) throws InterruptedException {
        Arena arena = Arena.ofShared();
        r.arena = arena;
        MemorySegment dst = arena.allocate(Math.max(1, w.bytes()), 64);
        r.segment = dst;
        MemorySegment src = w.buffer().segment();
        long slice = (w.bytes() + lanes - 1) / lanes;
        List<Future<?>> parts = new ArrayList<>();
        for (int lane = 0; lane < lanes; lane++) {
            long from = lane * slice, n = Math.min(slice, w.bytes() - from);
            if (n <= 0) break;
            int l = lane;
            parts.add(laneThreads.submit(() -> {
                link.copy(src, from, dst, from, n);
                laneBytes.addAndGet(l, n);
            }));
        }
        try {
            for (Future<?> f : parts) f.get();
        } catch (ExecutionException e) {
            throw new SluiceException("copying the weights of '" + w.key() + "' to the device failed: " + e.getCause(), e.getCause());
        }
    }

    private Lease lease(String key, Resident r, boolean swapped) {
        return new Lease() {
            private boolean closed;

            @Override public boolean swapped() { return swapped; }

            @Override public void close() {
                synchronized (ModelSwapper.this) {
                    if (closed) return;
                    closed = true;
                    r.pins--;
                    if (r.forgotten && r.pins == 0 && resident.get(key) == r) drop(key);
                    ModelSwapper.this.notifyAll();
                }
            }
        };
    }

    /** Forgets a model: its device copy goes now (or when its last lease closes), then its host copy. */
    public synchronized void forget(String key) {
        Resident r = resident.get(key);
        if (r != null && r.pins > 0) {
            r.forgotten = true;
            return;
        }
        drop(key);
    }

    private void drop(String key) {
        Resident r = resident.remove(key);
        if (r != null) {
            used -= r.bytes;
            if (r.arena != null) r.arena.close();
        }
        policy.forget(key);
        store.remove(key);
        notifyAll();
    }

    /** The device copy of {@code key}'s weights, read-only, while resident (for checks); null otherwise. */
    public synchronized MemorySegment deviceCopy(String key) {
        Resident r = resident.get(key);
        return r == null || r.phase != Phase.RESIDENT ? null : r.segment.asReadOnly();
    }

    /** True when {@code key}'s weights are on the device now. */
    public synchronized boolean isResident(String key) {
        Resident r = resident.get(key);
        return r != null && r.phase == Phase.RESIDENT;
    }

    public synchronized Stats stats() {
        long[] perLane = new long[lanes];
        for (int i = 0; i < lanes; i++) perLane[i] = laneBytes.get(i);
        return new Stats(swaps, evictions, perLane, used, budget);
    }

    /** Resident keys and their bytes (for reports). */
    public synchronized Map<String, Long> residentBytes() {
        Map<String, Long> m = new HashMap<>();
        resident.forEach((k, v) -> m.put(k, v.bytes));
        return m;
    }

    @Override public synchronized void close() {
        for (String k : new ArrayList<>(resident.keySet())) {
            Resident r = resident.remove(k);
            if (r.arena != null && r.pins == 0) r.arena.close();
        }
        used = 0;
        laneThreads.shutdownNow();
    }
}
