package dev.sluice.offload.swap;

import dev.sluice.kernels.SluiceException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Keeps model weights on a device with a memory budget smaller than all of them together (Computron): a
 * request for a model that is not resident swaps its weights in from the {@link WeightStore} over the copy
 * lanes, which share one {@link CopyLink}; when room is needed the {@link EvictionPolicy} picks a resident model
 * no request is using, whose weights are dropped (they are clean: never copied back).
 *
 * <p>Weights arrive in order: the lanes take fixed-size chunks in buffer order from one counter, and the
 * arrived <em>prefix</em> (every byte below it has landed) grows as chunks complete. A {@linkplain
 * #acquireStreaming streaming} lease returns as soon as the room is reserved, so the model may start computing
 * and wait, layer by layer, only for weights that have not yet arrived ({@link Lease#awaitArrived}); a plain
 * {@link #acquire} waits for all of them first (swap, then compute).
 *
 * <p>Invariants: the bytes of resident and arriving weights never exceed the budget; weights in use (a lease
 * is open) are never evicted; a model's weights are copied at most once while concurrent requests for it wait
 * for that copy. A model whose weights alone exceed the budget is refused with the numbers.
 */
public final class ModelSwapper implements AutoCloseable {
    private enum Phase { ARRIVING, RESIDENT, FAILED }

    /** Chunk size of in-order arrival: what one lane copies at a time. */
    static final long CHUNK = 1 << 20;

    /**
     * A block of device memory. Evicted weights leave their block to the spare list, and a later swap of no more
     * bytes reuses it, as a device's caching allocator does: fresh memory costs its first touch on every page,
     * which is not part of a transfer. Spare blocks count against the budget too.
     */
    private record Block(Arena arena, MemorySegment segment) {
        long size() { return segment.byteSize(); }

        void free() { if (arena.scope().isAlive()) arena.close(); }
    }

    private static final class Resident {
        final long bytes;
        final int priority;
        Phase phase = Phase.ARRIVING;
        int pins;
        boolean forgotten;
        Block block;
        MemorySegment segment;
        // Arrival, guarded by the swapper's lock.
        final BitSet chunksDone = new BitSet();
        long prefix;
        Throwable failure;
        // The JFR event of this swap-in: begun when the copy starts, committed when the last lane is done.
        dev.sluice.offload.events.SwapEvent event;

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
    private final List<CopyLink> links;
    private final int lanes;
    private final ExecutorService laneThreads;
    private final Map<String, Resident> resident = new LinkedHashMap<>();
    private final AtomicLongArray laneBytes;
    private final List<Block> spare = new ArrayList<>();
    private long spareBytes;
    private long used;
    private long swaps;
    private long evictions;

    /** One device and its link: all lanes copy over {@code link}. */
    public ModelSwapper(WeightStore store, long budgetBytes, EvictionPolicy policy, CopyLink link, int lanes) {
        this(store, budgetBytes, policy, List.of(link), lanes);
    }

    /**
     * Model-parallel swapping over {@code links.size()} devices, each behind its own link with {@code lanesPerLink}
     * lanes: every model's weights are split into as many contiguous shards (by layers, in first-use order, as a
     * pipeline splits a model), one per device, and the shards travel over their links at once, so a swap moves
     * 1/N of the bytes over each link. {@code budgetBytes} is all devices' budgets together (shards are equal).
     */
    public ModelSwapper(WeightStore store, long budgetBytes, EvictionPolicy policy, List<CopyLink> links, int lanesPerLink) {
        if (budgetBytes <= 0) throw new SluiceException("the device budget must be positive, got " + budgetBytes);
        if (lanesPerLink < 1) throw new SluiceException("copy lanes must be at least 1, got " + lanesPerLink);
        if (links.isEmpty()) throw new SluiceException("at least one device link is needed");
        this.store = store;
        this.budget = budgetBytes;
        this.policy = policy;
        this.links = List.copyOf(links);
        this.lanes = lanesPerLink;
        this.laneBytes = new AtomicLongArray(lanesPerLink * links.size());
        this.laneThreads = Executors.newCachedThreadPool(Thread.ofPlatform().name("sluice-copy-lane-", 0).daemon(true).factory());
    }

    public long budget() { return budget; }

    /** Copy lanes per link. */
    public int lanes() { return lanes; }

    /** Devices (links) the weights are sharded over. */
    public int devices() { return links.size(); }

    /** The devices' links, device 0 first (weights and anything else bound for a device share its link). */
    public List<CopyLink> links() { return links; }

    /**
     * Where each device's shard of {@code bytes} of weights begins, device 0 first, and where the last ends: the
     * chunks are split into contiguous runs, as {@link #startCopy} sends them, so bytes in [{@code b[d]}, {@code b[d+1]})
     * travel over device d's link. Fewer than {@code devices} shards when there are fewer chunks than devices.
     */
    public static long[] shardBounds(long bytes, int devices) {
        int chunks = (int) Math.max(1, (bytes + CHUNK - 1) / CHUNK);
        int n = Math.min(devices, chunks);
        long[] b = new long[n + 1];
        for (int d = 0; d <= n; d++) b[d] = Math.min(bytes, ((long) chunks * d / n) * CHUNK);
        b[n] = bytes;
        return b;
    }

    /** Keeps a model's weights resident while open. */
    public interface Lease extends AutoCloseable {
        /** True when this acquisition started the copy of the weights (a cold request). */
        boolean swapped();

        /** Waits until the first {@code bytes} of the weights are on the device; throws if the copy failed. */
        void awaitArrived(long bytes) throws InterruptedException;

        /** True when the weights stream through a ring smaller than they are (a model over the budget). */
        default boolean streamsThrough() { return false; }

        /** Reports that the weights below {@code bytes} are no longer needed by this run (streamed weights only). */
        default void consumed(long bytes) {}

        @Override void close();
    }

    /** Makes {@code key}'s weights resident, waiting for all of them, and pins them until the lease closes. */
    public Lease acquire(String key) throws InterruptedException {
        WeightStore.Weights w = store.get(key);
        if (w != null && w.bytes() > budget) {
            throw new SluiceException("model '" + key + "' has " + w.bytes() + " bytes of weights, more than the device budget of " + budget
                + " bytes: it can only stream its weights through, layer by layer (the overlapped mode)");
        }
        Lease l = acquireStreaming(key);
        try {
            l.awaitArrived(Long.MAX_VALUE);
        } catch (InterruptedException | RuntimeException e) {
            l.close();
            throw e;
        }
        return l;
    }

    /**
     * Reserves room for {@code key}'s weights (evicting others if needed), starts their copy if they are not on the
     * device, and pins them; returns without waiting for the copy: wait per layer with {@link Lease#awaitArrived}.
     * Blocks only while every resident model is in use and there is no room.
     */
    public Lease acquireStreaming(String key) throws InterruptedException {
        Resident r;
        WeightStore.Weights w;
        synchronized (this) {
            while (true) {
                Resident cur = resident.get(key);
                if (cur != null && cur.phase != Phase.FAILED) {
                    cur.pins++;
                    policy.touched(key, System.nanoTime());
                    return lease(key, cur, false);
                }
                w = store.get(key);
                if (w == null) throw new SluiceException("no weights stored for model '" + key + "'");
                if (w.bytes() > budget) {
                    // Larger than the whole budget: stream it through a ring of the budget's size once nothing else is there.
                    if (makeRoom(budget)) return streamThrough(key, w);
                    wait();
                    continue;
                }
                if (makeRoom(w.bytes())) break;
                wait();
            }
            r = new Resident(w.bytes(), w.priority());
            r.pins = 1;
            resident.put(key, r);
            used += w.bytes();
            policy.touched(key, System.nanoTime());
            r.block = block(w.bytes());
            r.segment = r.block.segment().asSlice(0, w.bytes());
        }
        startCopy(key, w, r);
        return lease(key, r, true);
    }

    /**
     * A device block of at least {@code bytes}: the smallest spare one that fits (and is not over twice as big),
     * or a new one after freeing spare blocks until reserved plus spare bytes fit the budget.
     */
    private Block block(long bytes) {
        Block best = null;
        for (Block b : spare) if (b.size() >= bytes && b.size() <= 2 * Math.max(bytes, 1) && (best == null || b.size() < best.size())) best = b;
        if (best != null) {
            spare.remove(best);
            spareBytes -= best.size();
            return best;
        }
        // used already counts these bytes; the spares must make room for the new block beside them.
        while (!spare.isEmpty() && used + spareBytes > budget) {
            Block b = spare.removeLast();
            spareBytes -= b.size();
            b.free();
        }
        Arena a = Arena.ofShared();
        return new Block(a, a.allocate(Math.max(1, bytes), 64));
    }

    /** Gives a block back: kept as spare while reserved plus spare bytes stay within the budget, else freed. */
    private void release(Block b) {
        if (b == null || !b.arena().scope().isAlive()) return;
        if (used + spareBytes + b.size() <= budget) {
            spare.add(b);
            spareBytes += b.size();
        } else {
            b.free();
        }
    }

    /** Under the lock, with the whole budget free: streams {@code key}'s weights through a ring of the budget's size. */
    private Lease streamThrough(String key, WeightStore.Weights w) {
        used += budget;
        policy.touched(key, System.nanoTime());
        WeightStream ws = new WeightStream(key, w.bytes(), budget);
        Block ring = block(ws.ringBytes());
        ws.start(w.buffer().segment(), ring.segment(), links, lanes, laneThreads, laneBytes, () -> {
            synchronized (ModelSwapper.this) { swaps++; }
        });
        return new Lease() {
            private boolean closed;

            @Override public boolean swapped() { return true; }

            @Override public boolean streamsThrough() { return true; }

            @Override public void awaitArrived(long bytes) throws InterruptedException { ws.awaitArrived(bytes); }

            @Override public void consumed(long bytes) { ws.consumed(bytes); }

            @Override public void close() {
                ws.stop();
                try {
                    ws.awaitIdle(); // no lane may still write into the ring when it is given back
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                synchronized (ModelSwapper.this) {
                    if (closed) return;
                    closed = true;
                    used -= budget;
                    release(ring);
                    ModelSwapper.this.notifyAll();
                }
            }
        };
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
        // Eviction moves no bytes (the host copy is the master); the event records what was dropped.
        var e = new dev.sluice.offload.events.SwapEvent();
        if (e.isEnabled()) {
            e.model = key;
            e.direction = "out";
            e.device = links.size() == 1 ? "throttled" : links.size() + " throttled devices";
            e.bytes = 0;
            e.commit();
        }
        // Clean weights: the host copy is the master, so the device copy is simply dropped (its block kept spare).
        release(x.block);
    }

    /**
     * Copies the weights host to device. Device d gets the d-th contiguous shard of the chunks; its lanes take that
     * shard's chunks in order from one counter and share its link.
     */
    private void startCopy(String key, WeightStore.Weights w, Resident r) {
        MemorySegment src = w.buffer().segment(), dst = r.segment;
        r.event = new dev.sluice.offload.events.SwapEvent();
        r.event.begin();
        r.event.model = key;
        r.event.direction = "in";
        r.event.device = links.size() == 1 ? "throttled" : links.size() + " throttled devices";
        r.event.bytes = w.bytes();
        int chunks = (int) Math.max(1, (w.bytes() + CHUNK - 1) / CHUNK);
        int devices = Math.min(links.size(), chunks);
        List<Runnable> tasks = new ArrayList<>();
        AtomicInteger running = new AtomicInteger();
        AtomicInteger stop = new AtomicInteger();
        for (int d = 0; d < devices; d++) {
            int first = (int) ((long) chunks * d / devices), end = (int) ((long) chunks * (d + 1) / devices);
            AtomicInteger next = new AtomicInteger(first);
            CopyLink link = links.get(d);
            for (int lane = 0; lane < Math.min(lanes, end - first); lane++) {
                int laneIndex = d * lanes + lane;
                running.incrementAndGet();
                tasks.add(() -> {
                    Throwable failed = null;
                    try {
                        for (int c; stop.get() == 0 && (c = next.getAndIncrement()) < end; ) {
                            long from = c * CHUNK, n = Math.min(CHUNK, w.bytes() - from);
                            if (n > 0) link.copy(src, from, dst, from, n);
                            laneBytes.addAndGet(laneIndex, Math.max(0, n));
                            synchronized (ModelSwapper.this) {
                                r.chunksDone.set(c);
                                int k = r.chunksDone.nextClearBit(0);
                                r.prefix = Math.min(w.bytes(), k * CHUNK);
                                ModelSwapper.this.notifyAll();
                            }
                        }
                    } catch (Throwable t) {
                        failed = t;
                        stop.set(1); // the other lanes stop too
                    }
                    synchronized (ModelSwapper.this) {
                        if (failed != null && r.failure == null) r.failure = failed;
                        if (running.decrementAndGet() == 0) finish(key, r);
                        ModelSwapper.this.notifyAll();
                    }
                });
            }
        }
        tasks.forEach(laneThreads::execute);
    }

    /** The last lane is done: the weights are resident, or the copy failed and its room is given back. */
    private void finish(String key, Resident r) {
        if (r.failure == null) {
            r.phase = Phase.RESIDENT;
            r.prefix = r.bytes;
            swaps++;
            if (r.event != null) {
                r.event.lanes = Math.min(lanes * links.size(), (int) Math.max(1, (r.bytes + CHUNK - 1) / CHUNK));
                r.event.commit();
            }
            return;
        }
        r.phase = Phase.FAILED;
        if (resident.get(key) == r) {
            resident.remove(key);
            used -= r.bytes;
        }
        if (r.pins == 0) release(r.block);
    }

    private Lease lease(String key, Resident r, boolean swapped) {
        return new Lease() {
            private boolean closed;

            @Override public boolean swapped() { return swapped; }

            @Override public void awaitArrived(long bytes) throws InterruptedException {
                long need = Math.min(bytes, r.bytes);
                synchronized (ModelSwapper.this) {
                    // All of it means: wait until the copy is finished (resident), not only until the last byte has landed.
                    while (r.phase == Phase.ARRIVING && (r.prefix < need || need >= r.bytes)) ModelSwapper.this.wait();
                    if (r.phase == Phase.FAILED) {
                        throw new SluiceException("copying the weights of '" + key + "' to the device failed: " + r.failure, r.failure);
                    }
                }
            }

            @Override public void close() {
                synchronized (ModelSwapper.this) {
                    if (closed) return;
                    closed = true;
                    r.pins--;
                    if (r.pins == 0 && r.phase == Phase.FAILED) release(r.block);
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
            release(r.block);
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

    /** True when {@code key}'s weights are all on the device now. */
    public synchronized boolean isResident(String key) {
        Resident r = resident.get(key);
        return r != null && r.phase == Phase.RESIDENT;
    }

    /** Bytes per lane, lanes of device 0 first ({@link #lanes()} per device). */
    public synchronized Stats stats() {
        long[] perLane = new long[laneBytes.length()];
        for (int i = 0; i < perLane.length; i++) perLane[i] = laneBytes.get(i);
        return new Stats(swaps, evictions, perLane, used, budget);
    }

    /** Resident keys and their bytes (for reports). */
    public synchronized Map<String, Long> residentBytes() {
        Map<String, Long> m = new HashMap<>();
        resident.forEach((k, v) -> m.put(k, v.bytes));
        return m;
    }

    @Override public synchronized void close() {
        laneThreads.shutdownNow();
        for (String k : new ArrayList<>(resident.keySet())) {
            Resident r = resident.remove(k);
            if (r.pins == 0 && r.phase != Phase.ARRIVING) r.block.free();
        }
        spare.forEach(Block::free);
        spare.clear();
        spareBytes = 0;
        used = 0;
    }
}
