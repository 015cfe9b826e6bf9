package dev.sluice.runtime.device;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A lane that copies between host memory and a device (one direction) over a link. With a bandwidth a copy of
 * {@code b} bytes occupies the link for {@code b / bandwidth} seconds, as a PCIe link would; 0 means as fast as memcpy.
 *
 * <p>The link is modelled as a clock ({@link #linkFreeNanos}): a copy occupies the interval
 * {@code [start, start + b / bandwidth)} of it, where {@code start} is the later of the moment the copy became ready
 * (its caller says when: {@code readyNanos}, after the ends of the tasks it waited for) and the end of the link's
 * previous interval. The copy returns no earlier than its interval's end (and never before its bytes are copied). So
 * the intervals of one link never overlap, each lies after its copy was ready and before anyone can see its bytes: the
 * link never carries more than its bandwidth, and no copy is seen sooner than the link could have delivered it. What
 * the clock adds over timing each copy from the moment its thread got to it: when the lane's thread wakes late from
 * the previous copy's wait (the host's wake-up latency, tens of microseconds on a loaded host), a copy that was
 * already waiting starts on the link when the previous one ended, as it would on a DMA engine fed by a queue, instead
 * of the link idling for the thread's lateness on every copy.
 *
 * <p>Invariants: {@link #linkFreeNanos} only grows (a compare-and-set loop reserves each interval, so copies sharing
 * the lane from several threads serialize on the link too); a copy's interval starts at or after both its ready time
 * and the previous interval's end, and lasts exactly {@link #nanosFor} its bytes; {@code copy*} returns at or after
 * {@code max(end of its interval, end of its memcpy)}, or, on a thread that takes the interval's end as its task's end
 * ({@link LinkCompletion}, a dispatcher's lane), after its memcpy, its task then counted as ending no sooner than the
 * interval: an asynchronous copy, whose successors wait for the link, not for the lane's thread. The thread is then
 * free for the next copy, and what a late wake-up of it costs is no longer on the link's path.
 *
 * <p>The wait is parked, never spun: the link's time is not CPU time, and a spinning copy lane would take a core from
 * the kernels. The lane's thread asks the host for precise timers ({@link PreciseTimers}) so that a park ends when
 * asked rather than Linux's default 50 µs of timer slack later, the link time of a 150 kB copy at 3 GB/s.
 */
public final class CopyLane implements Lane {
    private final String name;
    private final LaneKind kind;
    private final long bytesPerSecond;
    /** End of the link's last reserved interval, in {@link System#nanoTime()}; only grows. */
    private final AtomicLong linkFree = new AtomicLong(Long.MIN_VALUE);
    /** Bytes this lane has carried, in all: the data of each copy, as paced (not the device blocks they land in). */
    private final AtomicLong carried = new AtomicLong();

    public CopyLane(String name, LaneKind kind, long bytesPerSecond) {
        if (!kind.isCopy()) throw new IllegalArgumentException("a copy lane is H2D or D2H, not " + kind);
        if (bytesPerSecond < 0) throw new IllegalArgumentException("bandwidth must be >= 0");
        this.name = name;
        this.kind = kind;
        this.bytesPerSecond = bytesPerSecond;
    }

    @Override public String name() { return name; }

    @Override public LaneKind kind() { return kind; }

    /** The link's bandwidth in bytes per second (0: unlimited). */
    public long bytesPerSecond() { return bytesPerSecond; }

    /** End of the link's last copy on the {@link System#nanoTime()} clock (the link is free from then on). */
    public long linkFreeNanos() { return linkFree.get(); }

    /**
     * Bytes this lane has carried since it was made: each copy's data, the bytes its link time is paced by. A task's
     * planned bytes are its device block's (header slot and alignment included), so for small copies this is less;
     * a bound on link time is these bytes over the bandwidth.
     */
    public long carriedBytes() { return carried.get(); }

    /** Copies src's bytes into dst, then waits out the rest of the time the link would have needed. Ready now. */
    public void copy(Tensor src, Tensor dst) { copy(System.nanoTime(), src, dst); }

    /** As {@link #copy(Tensor, Tensor)}, for a copy ready since {@code readyNanos} ({@link System#nanoTime()}). */
    public void copy(long readyNanos, Tensor src, Tensor dst) {
        if (src.byteSize() != dst.byteSize()) {
            throw new SluiceException(name + ": cannot copy " + src + " into " + dst);
        }
        MemorySegment.copy(src.data(), 0, dst.data(), 0, src.byteSize());
        pace(readyNanos, src.byteSize());
    }

    /** Copies dst's size of bytes from src, starting {@code srcOffset} bytes into src's elements (a range copy). */
    public void copy(long readyNanos, Tensor src, long srcOffset, Tensor dst) {
        if (srcOffset < 0 || srcOffset + dst.byteSize() > src.byteSize()) {
            throw new SluiceException(name + ": cannot copy " + dst.byteSize() + " bytes at " + srcOffset + " of " + src);
        }
        MemorySegment.copy(src.data(), srcOffset, dst.data(), 0, dst.byteSize());
        pace(readyNanos, dst.byteSize());
    }

    /**
     * A strided copy: {@code runs} runs of {@code runBytes} bytes, the i-th from {@code srcOffset + i * srcStride}
     * of src to {@code dstOffset + i * dstStride} of dst (a band of rows of every plane, gathered or scattered).
     */
    public void copyRuns(long readyNanos, MemorySegment src, long srcOffset, long srcStride, MemorySegment dst, long dstOffset,
                         long dstStride, long runBytes, long runs) {
        if (runs > 0 && (srcOffset < 0 || dstOffset < 0 || srcOffset + (runs - 1) * srcStride + runBytes > src.byteSize()
                || dstOffset + (runs - 1) * dstStride + runBytes > dst.byteSize())) {
            throw new SluiceException(name + ": " + runs + " runs of " + runBytes + " bytes do not fit their segments");
        }
        for (long i = 0; i < runs; i++) MemorySegment.copy(src, srcOffset + i * srcStride, dst, dstOffset + i * dstStride, runBytes);
        pace(readyNanos, runs * runBytes);
    }

    /**
     * Runs of {@code runBytes} bytes at the given offsets, the i-th from {@code srcOffsets[i]} of src to
     * {@code dstOffsets[i]} of dst (a box gathered or scattered), paced as one copy of all their bytes.
     */
    public void copyRuns(long readyNanos, MemorySegment src, long[] srcOffsets, MemorySegment dst, long[] dstOffsets, long runBytes) {
        if (srcOffsets.length != dstOffsets.length) throw new IllegalArgumentException("offsets differ in count");
        for (int i = 0; i < srcOffsets.length; i++) {
            if (srcOffsets[i] < 0 || dstOffsets[i] < 0 || srcOffsets[i] + runBytes > src.byteSize() || dstOffsets[i] + runBytes > dst.byteSize()) {
                throw new SluiceException(name + ": run " + i + " of " + runBytes + " bytes does not fit its segments");
            }
        }
        for (int i = 0; i < srcOffsets.length; i++) MemorySegment.copy(src, srcOffsets[i], dst, dstOffsets[i], runBytes);
        pace(readyNanos, srcOffsets.length * runBytes);
    }

    /** Nanoseconds a copy of this many bytes takes at this lane's bandwidth (0 when unlimited). */
    public long nanosFor(long bytes) {
        return bytesPerSecond == 0 ? 0 : (long) (bytes * 1e9 / bytesPerSecond);
    }

    /**
     * Reserves the link for {@code bytes} from the later of {@code readyNanos} and the link's previous end (a ready time
     * still to come is kept: a scheduler that counts a copy ended at its interval's end hands its successors that end
     * as their ready time), then parks until that interval ends, unless the calling thread takes the interval's end as
     * its task's end ({@link LinkCompletion}). Called after the bytes are copied, so the copy also never returns before
     * its memcpy did.
     */
    private void pace(long readyNanos, long bytes) {
        carried.addAndGet(bytes);
        long n = nanosFor(bytes);
        if (n == 0) return;
        long now = System.nanoTime();
        long start, until;
        while (true) {
            long free = linkFree.get();
            start = free == Long.MIN_VALUE || readyNanos - free > 0 ? readyNanos : free;
            until = start + n;
            if (linkFree.compareAndSet(free, until)) break;
        }
        if (until - now <= 0) return;
        if (Thread.currentThread() instanceof LinkCompletion c && c.endsAt(start, until)) return;
        PreciseTimers.parkUntil(until);
    }

    @Override public String toString() {
        return "CopyLane[name=" + name + ", kind=" + kind + ", bytesPerSecond=" + bytesPerSecond + "]";
    }
}
