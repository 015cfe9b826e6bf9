package dev.sluice.kernels;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Constant weights whose packed copy replaces the original: the importer's bytes of such a weight are handed back to
 * the OS once a kernel has packed them, so the session holds the weight once (as ONNX Runtime frees an initializer
 * that every consumer pre-packed), not twice.
 *
 * <p>Who decides: the session marks a weight with {@link #allow} before its first run, and only when every reader of
 * that weight is a kernel that reads it solely through its packed copy ({@link OpKernel#readsOnlyPacked}), the model
 * was imported for that session alone, and the run is the plain CPU one (no tiling, offload or device upload, which
 * read weights directly). The packing kernel then calls {@link #packed}, which drops the resident pages of the
 * weight's data ({@code madvise(MADV_DONTNEED)} on the whole pages inside it; the memory stays mapped and reads as
 * zeros) and keeps the kernel's unpacker. A weight that was not allowed is left alone.
 *
 * <p>A packer calls {@link #packed} holding the weight's monitor ({@code synchronized (weight)}), as {@link #keep}
 * does, so that a weight is never released after it was kept, nor read by a second packer while it is released.
 *
 * <p>Invariant: a released weight's bytes are never read as weights again unless {@link #restore} has written them
 * back first (from the packed copy: the same bits); code that needs a session's original weights (serving's weight
 * store) calls {@link #restore}. Where {@code madvise} is missing (not Linux) nothing is released.
 */
public final class WeightRelease {
    private WeightRelease() {}

    private static final int MADV_DONTNEED = 4;
    private static final long PAGE = 4096;
    private static final boolean LINUX = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux");
    private static final MethodHandle MADVISE = LINUX ? downcall("madvise",
        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT)) : null;

    /** mincore, linked on first use only: sessions never ask, tests and probes do (each downcall spins classes). */
    private static final class Residency {
        static final MethodHandle MINCORE = LINUX ? downcall("mincore",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS)) : null;
    }

    private static MethodHandle downcall(String name, FunctionDescriptor fd) {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find(name).map(f -> linker.downcallHandle(f, fd)).orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null; // native access denied to an embedding application: nothing is released, as off Linux
        }
    }

    /** Weights a session allowed to be released (identity keys: Tensor equality is identity), dropped with them. */
    private static final Map<Tensor, Boolean> ALLOWED = Collections.synchronizedMap(new WeakHashMap<>());
    /** Released weights and how to write their bytes back. */
    private static final Map<Tensor, Consumer<MemorySegment>> RELEASED = Collections.synchronizedMap(new WeakHashMap<>());
    private static final AtomicLong RELEASED_BYTES = new AtomicLong();

    /**
     * Lets {@code weight}'s data be released once a kernel has packed it. The caller guarantees that every reader of
     * it reads only the packed copy (see the class comment).
     *
     * @param weight a constant weight of a session's own model
     */
    public static void allow(Tensor weight) { ALLOWED.put(weight, Boolean.TRUE); }

    /**
     * Called by a kernel that has just copied all of {@code weight}'s bytes into a packed form it keeps as long as the
     * weight lives: releases the weight's data if it was {@linkplain #allow allowed}, and keeps {@code unpack} (which
     * writes the original bytes into the segment it is given, from the packed copy) for {@link #restore}.
     *
     * @param weight the weight just packed
     * @param unpack writes the weight's original bytes into a segment of its data's size
     * @return whether the data was released
     */
    public static boolean packed(Tensor weight, Consumer<MemorySegment> unpack) {
        if (MADVISE == null || ALLOWED.remove(weight) == null) return false;
        MemorySegment d = weight.data();
        if (!d.isNative()) return false;
        long start = (d.address() + PAGE - 1) & -PAGE, end = (d.address() + d.byteSize()) & -PAGE;
        if (end <= start) return false;
        RELEASED.put(weight, unpack);
        try {
            int rc = (int) MADVISE.invokeExact(start, end - start, MADV_DONTNEED);
            if (rc != 0) {
                RELEASED.remove(weight);
                return false;
            }
        } catch (Throwable e) {
            throw new IllegalStateException("madvise failed", e);
        }
        RELEASED_BYTES.addAndGet(end - start);
        return true;
    }

    /**
     * Writes a released weight's original bytes back (the same bits as before the release); nothing if it was not
     * released. After it the weight is an ordinary tensor again.
     *
     * @param weight a weight
     */
    public static void restore(Tensor weight) {
        Consumer<MemorySegment> unpack = RELEASED.remove(weight);
        if (unpack == null) return;
        unpack.accept(weight.data());
        MemorySegment d = weight.data();
        long start = (d.address() + PAGE - 1) & -PAGE, end = (d.address() + d.byteSize()) & -PAGE;
        RELEASED_BYTES.addAndGet(-Math.max(0, end - start));
    }

    /**
     * Takes back {@link #allow}: {@code weight} is never released from now on, and its bytes are written back if
     * they were. Excludes a concurrent {@link #packed} call that a packer makes holding the weight's lock.
     *
     * @param weight a weight
     */
    public static void keep(Tensor weight) {
        synchronized (weight) {
            ALLOWED.remove(weight);
            restore(weight);
        }
    }

    /** Whether {@code weight}'s data is released (its bytes live only in a kernel's packed copy). */
    public static boolean isReleased(Tensor weight) { return RELEASED.containsKey(weight); }

    /** Bytes of weight data released and not restored, over all sessions of this JVM. */
    public static long releasedBytes() { return RELEASED_BYTES.get(); }

    /**
     * Bytes of the whole pages inside {@code s} that are resident ({@code mincore}); -1 where that cannot be asked.
     * For tests and probes: how much of a weight the process really holds.
     *
     * @param s a native segment
     * @return resident bytes of its inner pages
     */
    public static long residentBytes(MemorySegment s) {
        MethodHandle mincore = Residency.MINCORE;
        if (mincore == null || !s.isNative()) return -1;
        long start = (s.address() + PAGE - 1) & -PAGE, end = (s.address() + s.byteSize()) & -PAGE;
        if (end <= start) return 0;
        int pages = (int) ((end - start) / PAGE);
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment vec = a.allocate(pages);
            int rc = (int) mincore.invokeExact(start, end - start, vec);
            if (rc != 0) return -1;
            long n = 0;
            for (int i = 0; i < pages; i++) if ((vec.get(ValueLayout.JAVA_BYTE, i) & 1) != 0) n++;
            return n * PAGE;
        } catch (Throwable e) {
            throw new IllegalStateException("mincore failed", e);
        }
    }
}
