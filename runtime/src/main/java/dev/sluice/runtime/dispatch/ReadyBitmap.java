package dev.sluice.runtime.dispatch;

import java.util.concurrent.atomic.AtomicInteger;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The ready tasks of one queue under {@link Dispatcher.Order#PRIORITY}: a set of ranks {@code 0 .. capacity-1}
 * from which an idle lane takes the lowest (the most urgent task). One bit per rank, so adding and taking
 * allocate nothing and take no lock.
 *
 * <p>Invariants (the dispatcher's use, which this class relies on):
 * <ul>
 *   <li>Multi-producer, multi-consumer: any lane may {@link #add}, any lane of the queue may {@link #pollLowest}.</li>
 *   <li>A rank is added at most once while it is in the set (a task becomes ready exactly once per run); adding a
 *       rank already present is a caller bug and is rejected.</li>
 *   <li>Every added rank is returned by exactly one {@code pollLowest}: a rank leaves the set only through the CAS
 *       that clears its bit, and only the thread whose CAS succeeded returns it.</li>
 *   <li>{@code hint} is a word index at or below every word holding a set bit, except between an {@code add}'s
 *       bit-set and its lowering of {@code hint}, and between a poller's advance of {@code hint} and its re-check of
 *       the words it skipped. Both sides write first and read the other's location second (sequentially consistent
 *       atomics), so at least one of them sees the other and the hint is lowered again: no set bit stays above
 *       the hint once both have returned.</li>
 *   <li>Lowest is exact when nothing is added concurrently; a rank added while a poll scans past its word may
 *       be missed by that poll (it is then taken by the next one), never lost.</li>
 * </ul>
 */
final class ReadyBitmap {
    /** Volatile access to {@code bits}' elements: every read and write of a word goes through it. */
    private static final VarHandle WORD = MethodHandles.arrayElementVarHandle(long[].class);
    private final long[] bits;
    private final int words;
    /** First word that may hold a set bit (see the class invariants). */
    private final AtomicInteger hint = new AtomicInteger();

    ReadyBitmap(int capacity) {
        this.words = Math.max(1, (capacity + 63) >>> 6);
        this.bits = new long[words];
        hint.set(words);
    }

    void add(int rank) {
        int w = rank >>> 6;
        long bit = 1L << (rank & 63);
        long before = (long) WORD.getAndBitwiseOr(bits, w, bit);
        if ((before & bit) != 0) throw new IllegalStateException("rank " + rank + " is already ready");
        lowerHint(w);
    }

    /** Removes and returns the lowest rank in the set, or -1 if it looked empty. */
    int pollLowest() {
        int h = hint.get();
        for (int w = h; w < words; w++) {
            long x;
            while ((x = (long) WORD.getVolatile(bits, w)) != 0) {
                long low = x & -x;
                if (WORD.compareAndSet(bits, w, x, x & ~low)) {
                    if (w > h) advance(h, w);
                    return (w << 6) | Long.numberOfTrailingZeros(low);
                }
            }
        }
        if (words > h) advance(h, words);
        return -1;
    }

    /** Whether no rank looks ready (exact when nothing is added or polled concurrently). */
    boolean isEmpty() {
        for (int w = hint.get(); w < words; w++) if ((long) WORD.getVolatile(bits, w) != 0) return false;
        return true;
    }

    /** Moves the hint from {@code from} up to {@code to} (words between found empty), then re-checks them. */
    private void advance(int from, int to) {
        if (!hint.compareAndSet(from, to)) return; // someone else moved it: their view is as good as ours
        for (int w = from; w < to; w++) {
            if ((long) WORD.getVolatile(bits, w) != 0) { lowerHint(w); return; }
        }
    }

    private void lowerHint(int w) {
        int cur;
        while ((cur = hint.get()) > w && !hint.compareAndSet(cur, w)) Thread.onSpinWait();
    }
}
