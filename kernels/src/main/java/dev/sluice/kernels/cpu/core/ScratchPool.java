package dev.sluice.kernels.cpu.core;

import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * Float scratch arrays that outlive one kernel call and may be shared by that call's parallel tasks: a
 * caller takes one, fills it, hands it to its workers, and gives it back once they are done. A thread-local
 * buffer cannot be used that way (a pool thread waiting on one parallel call may run another kernel's task
 * that reuses its buffer), and a fresh array per call is garbage that inflates the heap and the process RSS
 * by the size of every convolution's input. The pool keeps a few arrays; contents are undefined on take.
 */
public final class ScratchPool {
    private ScratchPool() {}

    /**
     * Arrays kept for reuse, at most {@link #KEEP} of them (larger ones win), each at most {@link #MAX_KEPT}
     * floats and together at most {@link #MAX_KEPT_TOTAL}: what the pool pins between runs is bounded (64 MiB
     * of floats), where eight arrays of up to 256 MiB each could stay before. A convolution's im2col buffer
     * in the zoo is a few MiB; one larger than the cap is simply allocated per call.
     */
    private static final ConcurrentLinkedDeque<float[]> FREE = new ConcurrentLinkedDeque<>();
    private static final int KEEP = 8;
    private static final int MAX_KEPT = 1 << 23;
    private static final long MAX_KEPT_TOTAL = 1L << 24;

    /** An array of at least n floats, reused when one that large is free. */
    public static float[] take(int n) {
        while (true) {
            // the smallest free array that fits, so a small request does not hold a large array
            float[] best = null;
            for (float[] a : FREE) if (a.length >= n && (best == null || a.length < best.length)) best = a;
            if (best == null) return new float[Math.max(n, 1024)];
            if (FREE.removeFirstOccurrence(best)) return best;
        }
    }

    /** Returns an array taken with {@link #take}; the caller must not touch it afterwards. */
    public static void give(float[] a) {
        if (a == null || a.length > MAX_KEPT) return;
        FREE.addFirst(a);
        while (FREE.size() > KEEP || keptFloats() > MAX_KEPT_TOTAL) {
            // drop the smallest: the large ones are the expensive ones to reallocate
            float[] smallest = null;
            for (float[] b : FREE) if (smallest == null || b.length < smallest.length) smallest = b;
            if (smallest == null || !FREE.removeFirstOccurrence(smallest)) break;
        }
    }

    private static long keptFloats() {
        long n = 0;
        for (float[] b : FREE) n += b.length;
        return n;
    }
}
