package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.runtime.device.CopyLane;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A copy on a dispatcher's lane ends at its link interval's end, not when its call returns ({@link Dispatcher#DEFER_ENDS}):
 * its lane's thread is free right after the memcpy, yet nothing ordered after the copy starts (a kernel) or occupies a
 * link (another copy) before that end, and a run does not return before its last copy is off the link. Checked on the
 * links' own clock values against the {@link System#nanoTime()} a task body reads when it starts, which orders them:
 * no threshold on how long anything took.
 */
class DeferredCopyEndTest {
    static final List<Dispatcher.LaneSlot> LANES = List.of(
        new Dispatcher.LaneSlot("compute", 0, false), new Dispatcher.LaneSlot("h2d", 1, true), new Dispatcher.LaneSlot("d2h", 2, true));
    static final long MS = 1_000_000;

    private static Tensor floats(int n) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(n));
        for (int i = 0; i < n; i++) t.setDouble(i, i);
        return t;
    }

    @Test void aCopysSuccessorsWaitForItsLinkAndTheRunForItsLastCopy() {
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            // 1 MB at 10 MB/s: 100 ms of link, so the H2D's thread is back long before, even on a loaded host
            CopyLane up = new CopyLane("h2d", LaneKind.H2D, 10_000_000), down = new CopyLane("d2h", LaneKind.D2H, 100_000_000);
            Tensor src = floats(250_000), dev = Tensor.allocate(DType.FLOAT32, Shape.of(250_000)), back = Tensor.allocate(DType.FLOAT32, Shape.of(250_000));
            long[] kernelStart = new long[1], upReturned = new long[1], upEnd = new long[1];
            TaskGraph g = new TaskGraph();
            int h2d = g.add(new TaskGraph.Job("h2d", 1, src.byteSize(), () -> {
                up.copy(Dispatcher.taskReadyNanos(), src, dev);
                upReturned[0] = System.nanoTime();
                upEnd[0] = up.linkFreeNanos();
            }));
            int kernel = g.add(new TaskGraph.Job("kernel", 0, 0, () -> {
                kernelStart[0] = System.nanoTime();
                assertTrue(dev.sameBits(src), "the copy's bytes are in before the kernel runs");
            }));
            int d2h = g.add(new TaskGraph.Job("d2h", 2, dev.byteSize(), () -> down.copy(Dispatcher.taskReadyNanos(), dev, back)));
            g.edge(h2d, kernel);
            g.edge(kernel, d2h);
            try (Dispatcher d = new Dispatcher(LANES, order)) {
                assertTrue(Dispatcher.DEFER_ENDS, "deferred copy ends are the default");
                d.run(g);
                long returned = System.nanoTime();
                assertTrue(upReturned[0] - upEnd[0] < 0, order + ": the H2D lane's thread was free before its link was done");
                assertTrue(kernelStart[0] - upEnd[0] >= 0, order + ": the kernel started no sooner than its copy's link end");
                long downStart = down.linkFreeNanos() - down.nanosFor(dev.byteSize());
                assertTrue(downStart - kernelStart[0] >= 0, order + ": the D2H occupied its link after the kernel started");
                assertTrue(returned - down.linkFreeNanos() >= 0, order + ": the run returned only after its last copy's link end");
                assertTrue(back.sameBits(src));
            }
        }
    }

    /** A copy after a copy on another link (an offload, then a reload into the same region) takes its link no sooner. */
    @Test void aCopyAfterACopyOnAnotherLinkStartsOnItsLinkAfterTheFirstEnds() {
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            CopyLane up = new CopyLane("h2d", LaneKind.H2D, 100_000_000), down = new CopyLane("d2h", LaneKind.D2H, 100_000_000);
            Tensor a = floats(100_000), host = Tensor.allocate(DType.FLOAT32, Shape.of(100_000)), b = Tensor.allocate(DType.FLOAT32, Shape.of(100_000));
            TaskGraph g = new TaskGraph();
            int off = g.add(new TaskGraph.Job("d2h", 2, a.byteSize(), () -> down.copy(Dispatcher.taskReadyNanos(), a, host)));
            int on = g.add(new TaskGraph.Job("h2d", 1, a.byteSize(), () -> up.copy(Dispatcher.taskReadyNanos(), host, b)));
            g.edge(off, on);
            try (Dispatcher d = new Dispatcher(LANES, order)) {
                d.run(g);
            }
            long upStart = up.linkFreeNanos() - up.nanosFor(a.byteSize());
            assertTrue(upStart - down.linkFreeNanos() >= 0, order + ": the H2D's interval starts at or after the D2H's end");
            assertTrue(b.sameBits(a));
        }
    }

    /**
     * A small copy released by a kernel while the copy's lane sleeps runs on the kernel's lane ({@link
     * Dispatcher#INLINE_COPY_BYTES}), traced on its own lane, and its successor still waits for its link end; a larger one,
     * one not marked quick (its body might wait), or any with inlining off, runs on the copy lane. The kernel sleeps first, so that the idle copy lane has parked.
     */
    @Test void aSmallCopyReleasedWhileItsLaneSleepsRunsOnTheReleasingLane() {
        for (long size : new long[] {1024, 1 << 20}) {
            for (boolean on : new boolean[] {true, false}) for (boolean quick : new boolean[] {true, false}) {
                CopyLane up = new CopyLane("h2d", LaneKind.H2D, 100_000_000);
                Tensor src = floats((int) (size / 4)), dev = Tensor.allocate(DType.FLOAT32, Shape.of(size / 4));
                Thread[] ran = new Thread[2];
                long[] next = new long[1];
                TaskGraph g = new TaskGraph();
                int kernel = g.add(new TaskGraph.Job("kernel", 0, 0, () -> {
                    ran[0] = Thread.currentThread();
                    try { Thread.sleep(200); } catch (InterruptedException e) { throw new IllegalStateException(e); }
                }));
                int copy = g.add(new TaskGraph.Job("h2d", 1, size, () -> { ran[1] = Thread.currentThread(); up.copy(Dispatcher.taskReadyNanos(), src, dev); }, quick));
                int after = g.add(new TaskGraph.Job("after", 0, 0, () -> next[0] = System.nanoTime()));
                g.edge(kernel, copy);
                g.edge(copy, after);
                Trace t;
                try (Dispatcher d = new Dispatcher(LANES, Dispatcher.Order.DYNAMIC).withInlineCopyBytes(on ? Dispatcher.INLINE_COPY_BYTES : 0)) {
                    t = d.run(g);
                }
                boolean inlined = size <= Dispatcher.INLINE_COPY_BYTES && on && quick;
                assertEquals(inlined, ran[1] == ran[0], size + " bytes, inlining " + on + ", quick " + quick + ": the copy ran on the kernel's lane");
                assertEquals("h2d", t.tracks().get(t.slices().get(copy).track()).name(), "traced on its own lane");
                assertTrue(next[0] - up.linkFreeNanos() >= 0, "its successor started after its link end");
                assertTrue(dev.sameBits(src));
            }
        }
    }

    /** Turned off, a copy's lane waits its link time out itself: its call returns only after the interval's end. */
    @Test void withoutDeferredEndsTheCopyWaitsOnItsLane() {
        CopyLane up = new CopyLane("h2d", LaneKind.H2D, 100_000_000);
        Tensor src = floats(250_000), dev = Tensor.allocate(DType.FLOAT32, Shape.of(250_000));
        long[] returned = new long[1];
        TaskGraph g = new TaskGraph();
        g.add(new TaskGraph.Job("h2d", 1, src.byteSize(), () -> {
            up.copy(Dispatcher.taskReadyNanos(), src, dev);
            returned[0] = System.nanoTime();
        }));
        try (Dispatcher d = new Dispatcher(LANES, Dispatcher.Order.DYNAMIC).withDeferredEnds(false)) {
            d.run(g);
        }
        assertTrue(returned[0] - up.linkFreeNanos() >= 0);
    }
}
