package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ReadyBitmapTest {
    @Test void pollsTheLowestRankFirstWhenAlone() {
        ReadyBitmap b = new ReadyBitmap(1000);
        assertTrue(b.isEmpty());
        assertEquals(-1, b.pollLowest());
        int[] ranks = {999, 3, 64, 63, 500, 0, 128, 127};
        for (int r : ranks) b.add(r);
        assertFalse(b.isEmpty());
        int[] sorted = ranks.clone();
        java.util.Arrays.sort(sorted);
        for (int r : sorted) assertEquals(r, b.pollLowest());
        assertEquals(-1, b.pollLowest());
        assertTrue(b.isEmpty());
        // After the hint moved to the end, a low rank added again is still found.
        b.add(5);
        assertEquals(5, b.pollLowest());
    }

    @Test void addingAReadyRankTwiceIsRejected() {
        ReadyBitmap b = new ReadyBitmap(10);
        b.add(7);
        assertThrows(IllegalStateException.class, () -> b.add(7));
    }

    /**
     * Producers add disjoint shares of the ranks while consumers poll: every rank is returned exactly once, and
     * nothing is left behind (a lost hint would leave a set bit no poll reaches). Most rounds add in ascending order,
     * so that no later add lowers the hint again and hides a lost bit (without the re-check after advancing the hint,
     * this lost a rank in about one round of 130 here, so 400 rounds).
     */
    @Test void everyAddedRankIsPolledExactlyOnceUnderManyThreads() throws Exception {
        int threads = 8, n = 20_000;
        for (int round = 0; round < 400; round++) {
            ReadyBitmap b = new ReadyBitmap(n);
            AtomicIntegerArray got = new AtomicIntegerArray(n);
            java.util.concurrent.atomic.AtomicInteger polled = new java.util.concurrent.atomic.AtomicInteger();
            CyclicBarrier go = new CyclicBarrier(threads);
            List<Thread> ts = new ArrayList<>();
            long seed = round;
            for (int k = 0; k < threads; k++) {
                int me = k;
                ts.add(Thread.ofPlatform().start(() -> {
                    try { go.await(); } catch (Exception e) { throw new RuntimeException(e); }
                    SplittableRandom r = new SplittableRandom(seed * 100 + me);
                    int[] mine = java.util.stream.IntStream.range(0, n).filter(i -> i % threads == me).toArray();
                    if (seed % 4 == 0) {
                        for (int i = mine.length - 1; i > 0; i--) { int j = r.nextInt(i + 1); int x = mine[i]; mine[i] = mine[j]; mine[j] = x; }
                    }
                    for (int rank : mine) {
                        b.add(rank);
                        if (r.nextBoolean()) take(b, got, polled);
                    }
                    for (int k2 = 0; k2 < mine.length / 2; k2++) take(b, got, polled);
                }));
            }
            for (Thread t : ts) t.join();
            // alone now: whatever is left must come out in ascending order, and a bit left below the hint never would
            int last = -1;
            for (int x; (x = take(b, got, polled)) >= 0; last = x) assertTrue(x > last, "ascending when alone");
            assertEquals(n, polled.get(), "round " + round + ": ranks were added but never polled (lost below the hint)");
            for (int i = 0; i < n; i++) assertEquals(1, got.get(i), "rank " + i + " polled once");
            assertTrue(b.isEmpty());
        }
    }

    private static int take(ReadyBitmap b, AtomicIntegerArray got, java.util.concurrent.atomic.AtomicInteger polled) {
        int r = b.pollLowest();
        if (r >= 0) { got.incrementAndGet(r); polled.incrementAndGet(); }
        return r;
    }
}
