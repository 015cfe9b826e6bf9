package dev.sluice.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * Native memory for tensors that the garbage collector frees, recycled instead of handed back to the
 * operating system.
 *
 * <p>Why: memory fresh from the OS costs a page fault on the first touch of every page, and a segment of an
 * automatic arena goes back to the OS only after a collection, so every fresh tensor touched new pages. On
 * the project's CI host that cost 3.5 us per KiB: allocating ppocr-det's 400 KB output took 1.4 ms, longer
 * than the Sigmoid that fills it. Here a block, once faulted in, serves allocation after allocation.
 *
 * <p>How: blocks come in size classes four to a doubling (at most 25% slack). {@link #allocate} hands out a
 * block's first {@code bytes} zeroed, as a segment of a fresh automatic arena whose cleanup action puts the
 * block back on its class's free list once that segment and every slice of it are unreachable (or of a
 * closeable arena, when closed: the garbage collector reclaims nothing while the heap is quiet, and a run
 * allocates little heap, so callers that can close their tensors recycle without waiting for it). The block
 * itself is C heap memory ({@code calloc}) that the pool (while free) or that cleanup action (while in use) keeps
 * reachable. A block the pool does not keep is freed at once ({@code free}), not left to the collector: a block
 * object that has lived through a few young collections waits in the old generation for a full collection, which
 * a process that allocates little heap may not see for its whole life, and its native memory with it (the profiling
 * run's intermediates, tens of MiB on PP-OCR). An unreachable block is still freed by its automatic arena's cleanup
 * (a pool that is itself garbage), exactly once either way.
 *
 * <p>Invariants: a block is either on one free list or reachable from exactly one handed-out segment's
 * cleanup, never both, until it is freed (then neither); a block's memory is freed once; the free lists hold at most {@link #maxFreeBytes()} bytes, of them at most
 * {@link #MAX_FREE_LARGE} in large blocks, and {@link #keep(int)} blocks per class; handed-out memory is zeroed and {@link Tensor#ALIGNMENT}-aligned.
 */
public final class NativeBlockPool {
    /**
     * The pool {@link Tensor#allocate(DType, Shape)} uses; the JVM property {@code sluice.pool.maxFreeMiB} caps it
     * (default 256). This cap stays JVM-wide on purpose, not a session option: there is one pool per process, since
     * a tensor outlives the session that made it (an output handed to a caller) and a block one session frees serves
     * the next allocation of any other; per-session caps would mean per-session pools, which recycle nothing across
     * sessions.
     */
    public static final NativeBlockPool SHARED = new NativeBlockPool(maxFreeMiB() << 20);

    /** {@code -Dsluice.pool.maxFreeMiB}, read strictly: a whole number of MiB from 0 to 2^30, else refused naming it. */
    private static long maxFreeMiB() {
        String v = System.getProperty("sluice.pool.maxFreeMiB");
        if (v == null) return 256;
        try {
            long n = Long.parseLong(v.trim());
            if (n >= 0 && n <= 1L << 30) return n;
        } catch (NumberFormatException e) {
            // refused below, naming the property
        }
        throw new SluiceException("-Dsluice.pool.maxFreeMiB must be a whole number of MiB from 0 to " + (1L << 30) + ", got '" + v + "'");
    }

    private static final int MIN_CLASS_BYTES = 64;
    private static final int CLASSES = 4 * 40; // up to 2^46 bytes

    /**
     * One block: {@code memory} is {@code classBytes(sizeClass)} bytes of {@code raw}'s allocation, aligned, in an
     * automatic arena whose cleanup frees {@code raw} if nothing freed it before.
     */
    private record Block(MemorySegment memory, int sizeClass, Raw raw) {}

    /** A C heap allocation freed exactly once, by whichever of {@link #free()} and the collector's cleanup comes first. */
    private static final class Raw {
        private final AtomicLong address;
        private final long bytes;
        private final AtomicLong live;

        Raw(long address, long bytes, AtomicLong live) {
            this.address = new AtomicLong(address);
            this.bytes = bytes;
            this.live = live;
            live.addAndGet(bytes);
        }

        void free() {
            long a = address.getAndSet(0);
            if (a == 0) return;
            live.addAndGet(-bytes);
            try {
                FREE.invokeExact(MemorySegment.ofAddress(a));
            } catch (Throwable e) {
                throw new IllegalStateException("free() failed", e);
            }
        }
    }

    private static final MethodHandle CALLOC, FREE;
    /** glibc's {@code malloc_trim}, or null where the C library has none. */
    private static final MethodHandle MALLOC_TRIM;
    static {
        Linker linker = Linker.nativeLinker();
        CALLOC = linker.downcallHandle(linker.defaultLookup().find("calloc").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        FREE = linker.downcallHandle(linker.defaultLookup().find("free").orElseThrow(),
            FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        MALLOC_TRIM = linker.defaultLookup().find("malloc_trim")
            .map(f -> linker.downcallHandle(f, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG)))
            .orElse(null);
    }

    /**
     * A new zeroed block of class {@code c}: {@code calloc} (fresh pages are zero without being touched), padded so
     * that the block starts on a {@link Tensor#ALIGNMENT} boundary.
     */
    private Block newBlock(int c) {
        long size = classBytes(c), padded = size + Tensor.ALIGNMENT;
        MemorySegment p;
        try {
            p = (MemorySegment) CALLOC.invokeExact(1L, padded);
        } catch (Throwable e) {
            throw new IllegalStateException("calloc failed", e);
        }
        if (p.address() == 0) throw new OutOfMemoryError("calloc of " + padded + " bytes failed");
        Raw raw = new Raw(p.address(), padded, nativeBytes);
        long start = (p.address() + Tensor.ALIGNMENT - 1) & -(long) Tensor.ALIGNMENT;
        // the cleanup captures raw, not the block: the arena stays collectable with it
        MemorySegment memory = MemorySegment.ofAddress(start).reinterpret(size, Arena.ofAuto(), unused -> raw.free());
        return new Block(memory, c, raw);
    }

    @SuppressWarnings("unchecked")
    private final ConcurrentLinkedDeque<Block>[] free = new ConcurrentLinkedDeque[CLASSES];
    private final long maxFreeBytes;
    private final AtomicLong freeBytes = new AtomicLong();
    /** Bytes of large blocks ({@link #LARGE_BLOCK} and up) on the free lists, at most {@link #MAX_FREE_LARGE}. */
    private final AtomicLong freeLarge = new AtomicLong();
    /**
     * Cap on free large blocks: enough for a few outputs per run; a model's import makes transient copies of
     * its weights (folding, packing), a burst of large blocks that must go back to malloc, not stay here.
     */
    static final long MAX_FREE_LARGE = 16L << 20;
    /** Blocks on each class's free list, at most {@link #keep(int)}. */
    private final java.util.concurrent.atomic.AtomicIntegerArray freeCount = new java.util.concurrent.atomic.AtomicIntegerArray(CLASSES);
    /**
     * Free blocks kept per size class: {@link #KEEP_PER_CLASS} of a large class, small ones up to the total
     * cap. A steady stream of runs needs a few large blocks of a class at a time (a closed output or two)
     * and many small ones (the collector hands back thousands of a fast model's small tensors at once;
     * keeping only a few made every later small allocation fresh, two automatic arenas each, and Silero's
     * runs 3x slower). A burst of large blocks (a model's first, unplanned run allocates every intermediate
     * fresh) would otherwise stay pinned here after the collector finds it, memory that malloc used to hand
     * to the next allocation (MiniLM's peak RSS rose by 50 MiB).
     */
    static final int KEEP_PER_CLASS = 2;
    /** Blocks from this size up are large: {@link #KEEP_PER_CLASS} of a class are kept; smaller ones without a count limit. */
    static final long LARGE_BLOCK = 64 * 1024;

    static int keep(int c) { return classBytes(c) >= LARGE_BLOCK ? KEEP_PER_CLASS : Integer.MAX_VALUE; }
    private final LongAdder fresh = new LongAdder(), reused = new LongAdder(), dropped = new LongAdder();
    /** Bytes of large blocks ({@link #LARGE_BLOCK} and up) now on the free lists. */
    public long freeLargeBytes() { return freeLarge.get(); }

    /** C heap bytes of this pool's blocks not yet freed (in use, free, or garbage not yet cleaned). */
    private final AtomicLong nativeBytes = new AtomicLong();

    /** A pool that keeps at most {@code maxFreeBytes} of free blocks (0 keeps none). */
    public NativeBlockPool(long maxFreeBytes) {
        if (maxFreeBytes < 0) throw new IllegalArgumentException("maxFreeBytes must be >= 0, got " + maxFreeBytes);
        this.maxFreeBytes = maxFreeBytes;
        for (int c = 0; c < CLASSES; c++) free[c] = new ConcurrentLinkedDeque<>();
    }

    /**
     * {@code bytes} of zeroed native memory, {@link Tensor#ALIGNMENT}-aligned, that lives while the returned
     * segment (or any slice of it) is reachable and is then recycled.
     */
    public MemorySegment allocate(long bytes) { return allocate(bytes, Arena.ofAuto()); }

    /**
     * {@code bytes} of zeroed native memory, {@link Tensor#ALIGNMENT}-aligned, in {@code arena}'s scope:
     * recycled when that arena is closed (or collected, for an automatic one). A closeable arena that is
     * never closed and becomes unreachable takes the block with it to the collector.
     */
    public MemorySegment allocate(long bytes, Arena arena) {
        if (bytes < 0) throw new IllegalArgumentException("negative allocation: " + bytes + " bytes");
        int c = classOf(bytes);
        Block b = free[c].pollFirst(); // last in, first out: the most recently used block is the warmest
        boolean recycled = b != null;
        if (recycled) {
            freeCount.decrementAndGet(c);
            freeBytes.addAndGet(-classBytes(c));
            if (classBytes(c) >= LARGE_BLOCK) freeLarge.addAndGet(-classBytes(c));
            reused.increment();
        } else {
            b = newBlock(c);
            fresh.increment();
        }
        Block block = b;
        MemorySegment view = block.memory().reinterpret(bytes, arena, unused -> release(block));
        if (recycled) view.fill((byte) 0); // a fresh block comes zeroed from calloc
        return view;
    }

    private void release(Block b) {
        int c = b.sizeClass();
        long size = classBytes(c);
        if (freeCount.incrementAndGet(c) > keep(c)) {
            freeCount.decrementAndGet(c);
            drop(b);
            return;
        }
        boolean large = size >= LARGE_BLOCK;
        if (large && freeLarge.addAndGet(size) > Math.min(MAX_FREE_LARGE, maxFreeBytes)) {
            freeLarge.addAndGet(-size);
            freeCount.decrementAndGet(c);
            drop(b);
            return;
        }
        if (freeBytes.addAndGet(size) > maxFreeBytes) {
            freeBytes.addAndGet(-size);
            if (large) freeLarge.addAndGet(-size);
            freeCount.decrementAndGet(c);
            drop(b);
            return;
        }
        free[c].addFirst(b);
    }

    /** A block the free lists do not keep: its memory goes back to the C heap now. */
    private void drop(Block b) {
        dropped.increment();
        b.raw().free();
    }

    /**
     * Frees every free block of {@link #LARGE_BLOCK} bytes and up, at once, trims the C heap, and returns the bytes
     * freed. For the end
     * of a burst that will not come again: a session's first run of new shapes (its profiling run) takes every
     * intermediate from here and hands the large ones back as they die, while its later runs take intermediates
     * from a planned arena and only outputs from here; kept, those blocks would sit beside the arena for the
     * process's life (up to {@link #MAX_FREE_LARGE}). Small blocks stay: steady runs take many of them.
     */
    public long releaseLarge() {
        long freed = 0;
        for (int c = classOf(LARGE_BLOCK); c < CLASSES; c++) {
            for (Block b; (b = free[c].pollFirst()) != null; ) {
                long size = classBytes(c);
                freeCount.decrementAndGet(c);
                freeBytes.addAndGet(-size);
                freeLarge.addAndGet(-size);
                drop(b);
                freed += size;
            }
        }
        trimCHeap();
        return freed;
    }

    /**
     * Hands the C heap's free pages back to the OS ({@code malloc_trim}; nothing where the C library lacks it).
     * Blocks under glibc's mmap threshold, and the JIT compilers' freed arenas, go back to malloc's free lists,
     * not to the OS: resident memory that the next burst (a planned arena, fresh outputs) would add to.
     */
    private static void trimCHeap() {
        if (MALLOC_TRIM == null) return;
        try {
            int unused = (int) MALLOC_TRIM.invokeExact(0L);
        } catch (Throwable e) {
            throw new IllegalStateException("malloc_trim failed", e);
        }
    }

    /** C heap bytes of this pool's blocks not yet freed: in use, on the free lists, or garbage not yet cleaned. */
    public long nativeBytes() { return nativeBytes.get(); }

    /** The smallest class whose blocks hold {@code bytes}. */
    static int classOf(long bytes) {
        if (bytes <= MIN_CLASS_BYTES) return 0;
        int e = 63 - Long.numberOfLeadingZeros(bytes); // 2^e <= bytes < 2^(e+1)
        long base = 1L << e, quarter = base >> 2;
        long steps = (bytes - base + quarter - 1) / quarter; // 0..4
        int c = (e - 6) * 4 + (int) steps;
        if (c >= CLASSES) throw new IllegalArgumentException("allocation of " + bytes + " bytes is too large");
        return c;
    }

    /** Bytes of a block of class {@code c}: 64 * 2^(c/4) * (1 + (c%4)/4). */
    static long classBytes(int c) {
        long base = (long) MIN_CLASS_BYTES << (c / 4);
        return base + (base >> 2) * (c % 4);
    }

    public long maxFreeBytes() { return maxFreeBytes; }

    /** Bytes now on the free lists. */
    public long freeBytes() { return freeBytes.get(); }

    /** Allocations served by a new block from the OS. */
    public long freshAllocations() { return fresh.sum(); }

    /** Allocations served by a recycled block. */
    public long reusedAllocations() { return reused.sum(); }

    /** Released blocks not kept because the free lists were full. */
    public long droppedBlocks() { return dropped.sum(); }
}
