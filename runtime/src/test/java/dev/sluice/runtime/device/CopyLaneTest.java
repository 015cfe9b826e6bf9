package dev.sluice.runtime.device;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The copy lane's link clock: each copy occupies {@code bytes / bandwidth} of the link from the later of its ready time
 * and the previous copy's end, intervals never overlap, and a copy returns only after its interval ended. Checked on the
 * link's own clock values, which are exact, never on how long a call took.
 */
class CopyLaneTest {
    static final long MS = 1_000_000;

    private static Tensor floats(int n, float base) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(n));
        for (int i = 0; i < n; i++) t.setDouble(i, base + i);
        return t;
    }

    @Test void copiesTakeTheLinkInTurnFromWhenTheyWereReady() {
        CopyLane lane = new CopyLane("throttled.h2d", LaneKind.H2D, 1_000_000); // 1 MB/s: 1000 bytes take 1 ms
        Tensor src = floats(250, 1), dst = Tensor.allocate(DType.FLOAT32, Shape.of(250)); // 1000 bytes
        long r0 = System.nanoTime() - 100 * MS;
        lane.copy(r0, src, dst);
        assertEquals(r0 + MS, lane.linkFreeNanos(), "first copy: from its ready time");
        assertTrue(src.sameBits(dst));
        lane.copy(r0, src, dst);
        assertEquals(r0 + 2 * MS, lane.linkFreeNanos(), "ready as early, but the link was busy: right after the first");
        lane.copy(r0 + 50 * MS, src, dst);
        assertEquals(r0 + 51 * MS, lane.linkFreeNanos(), "ready after the link was free: from its ready time");

        long before = System.nanoTime();
        lane.copy(src, dst); // ready now
        long after = System.nanoTime();
        long free = lane.linkFreeNanos();
        assertTrue(free - (before + MS) >= 0 && (after + MS) - free >= 0, "ready now: the interval starts during the call");
        assertTrue(after - free >= 0, "the copy returned only after its interval ended");

        long later = System.nanoTime() + 20 * MS;
        lane.copy(later, src, dst); // a ready time still to come is kept: the link carries it from then
        after = System.nanoTime();
        assertEquals(later + MS, lane.linkFreeNanos());
        assertTrue(after - lane.linkFreeNanos() >= 0, "and the copy returned only after that interval ended");
    }

    @Test void everyShapeOfCopyIsPacedAndCopiesItsBytes() {
        CopyLane lane = new CopyLane("throttled.d2h", LaneKind.D2H, 1_000_000);
        long r0 = System.nanoTime() - 100 * MS;
        Tensor src = floats(500, 7);
        Tensor range = Tensor.allocate(DType.FLOAT32, Shape.of(100));
        lane.copy(r0, src, 40 * 4, range); // 400 bytes from element 40
        for (int i = 0; i < 100; i++) assertEquals(47 + i, range.getDouble(i));
        assertEquals(r0 + 400_000, lane.linkFreeNanos());

        Tensor strided = Tensor.allocate(DType.FLOAT32, Shape.of(40));
        lane.copyRuns(r0, src.data(), 0, 100 * 4, strided.data(), 0, 10 * 4, 10 * 4, 4); // 4 runs of 10 floats
        for (int k = 0; k < 4; k++) for (int i = 0; i < 10; i++) assertEquals(7 + k * 100 + i, strided.getDouble(k * 10 + i));
        assertEquals(r0 + 400_000 + 160_000, lane.linkFreeNanos());

        Tensor boxed = Tensor.allocate(DType.FLOAT32, Shape.of(20));
        lane.copyRuns(r0, src.data(), new long[] {400, 800}, boxed.data(), new long[] {0, 40}, 40); // 2 runs of 10 floats
        for (int i = 0; i < 10; i++) {
            assertEquals(107 + i, boxed.getDouble(i));
            assertEquals(207 + i, boxed.getDouble(10 + i));
        }
        assertEquals(r0 + 400_000 + 160_000 + 80_000, lane.linkFreeNanos());
    }

    @Test void anUnlimitedLaneKeepsNoClock() {
        CopyLane lane = new CopyLane("throttled.h2d", LaneKind.H2D, 0);
        Tensor src = floats(8, 1), dst = Tensor.allocate(DType.FLOAT32, Shape.of(8));
        lane.copy(System.nanoTime() - 100 * MS, src, dst);
        assertTrue(src.sameBits(dst));
        assertEquals(Long.MIN_VALUE, lane.linkFreeNanos());
    }

    /**
     * On a thread that takes a copy's end from its link interval ({@link LinkCompletion}, a dispatcher's lane) the copy
     * returns after its memcpy and hands the interval over; on one that declines, it waits the interval out. The link is
     * 1 B/s: a copy that waited would hang the test, not slow it.
     */
    @Test void aThreadThatTakesTheLinkEndGetsTheIntervalInsteadOfTheWait() throws Exception {
        CopyLane lane = new CopyLane("throttled.h2d", LaneKind.H2D, 1); // 1000 bytes: 1000 s
        Tensor src = floats(250, 1), dst = Tensor.allocate(DType.FLOAT32, Shape.of(250));
        long[] interval = new long[2];
        long ready = System.nanoTime();
        class Taker extends Thread implements LinkCompletion {
            Taker() { super(() -> lane.copy(ready, src, dst)); }
            @Override public boolean endsAt(long start, long end) { interval[0] = start; interval[1] = end; return true; }
        }
        Taker t = new Taker();
        t.start();
        t.join();
        assertTrue(src.sameBits(dst), "the bytes are copied before it returns");
        assertEquals(ready, interval[0]);
        assertEquals(ready + 1000 * 1_000_000_000L, interval[1]);
        assertEquals(interval[1], lane.linkFreeNanos(), "the link is reserved as if the copy had waited");
    }

    /** On Linux a thread that paces a link has its timer slack at 1 ns (read back with prctl) instead of the default 50 µs. */
    @Test void aPacingThreadAsksForPreciseTimers() throws Exception {
        Assumptions.assumeTrue(System.getProperty("os.name").toLowerCase(java.util.Locale.ROOT).contains("linux"), "Linux only");
        long[] slack = new long[2];
        Thread t = new Thread(() -> {
            slack[0] = PreciseTimers.slackNanos();
            new CopyLane("throttled.h2d", LaneKind.H2D, 1_000_000).copy(floats(250, 1), Tensor.allocate(DType.FLOAT32, Shape.of(250)));
            slack[1] = PreciseTimers.slackNanos();
        });
        t.start();
        t.join();
        assertTrue(slack[0] > 1, "a new thread starts with the host's slack, " + slack[0] + " ns");
        assertEquals(1, slack[1], "after pacing a copy");
    }

    /**
     * The lane counts the bytes it carried as the data of each copy (what the link time is paced by), not the blocks
     * they land in: 10 floats are 40 bytes, though their device block (header slot, alignment) is 128.
     */
    @Test void carriedBytesAreTheDataOfEachCopy() {
        CopyLane lane = new CopyLane("throttled.h2d", LaneKind.H2D, 0);
        Tensor src = floats(10, 1), dst = Tensor.allocate(DType.FLOAT32, Shape.of(10));
        assertEquals(128, Tensor.blockBytes(src.byteSize()), "the block a 10-float value takes on the device");
        lane.copy(src, dst);
        assertEquals(40, lane.carriedBytes());
        Tensor range = Tensor.allocate(DType.FLOAT32, Shape.of(3));
        lane.copy(System.nanoTime(), src, 2 * 4, range);
        assertEquals(52, lane.carriedBytes());
        lane.copyRuns(System.nanoTime(), src.data(), 0, 8, dst.data(), 0, 8, 4, 5); // 5 runs of one float
        assertEquals(72, lane.carriedBytes());
        lane.copyRuns(System.nanoTime(), src.data(), new long[] {0, 16}, dst.data(), new long[] {0, 16}, 8);
        assertEquals(88, lane.carriedBytes());
    }
}
