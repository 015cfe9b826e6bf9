package dev.sluice.offload.swap;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * One direction of one host-device link, as on a real PCIe link: every copy over it shares its bandwidth.
 * Copies go in chunks; each chunk books the next free slot of the link ({@code chunk / bandwidth} long), waits
 * for the slot to end, then moves its bytes, so N lanes copying at once each get about 1/N of the bandwidth and
 * together never more than all of it. A bandwidth of 0 means unlimited (plain memory copies).
 *
 * <p>This is the throttled device's link: the bytes really move (host buffer to device segment), the
 * bandwidth is imposed. Thread-safe.
 */
public final class CopyLink {
    /** Bytes one booking covers: small enough that concurrent lanes interleave finely. */
    static final long CHUNK = 256 * 1024;

    private final long bytesPerSecond;
    private long freeAtNanos;

    public CopyLink(long bytesPerSecond) {
        if (bytesPerSecond < 0) throw new IllegalArgumentException("bandwidth must be >= 0 bytes/s, got " + bytesPerSecond);
        this.bytesPerSecond = bytesPerSecond;
    }

    public long bytesPerSecond() { return bytesPerSecond; }

    /** Copies {@code bytes} from {@code src} at {@code srcOff} to {@code dst} at {@code dstOff} at the link's pace. */
    public void copy(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long bytes) {
        for (long done = 0; done < bytes; ) {
            long n = Math.min(CHUNK, bytes - done);
            if (bytesPerSecond > 0) {
                long end = book(n);
                for (long left; (left = end - System.nanoTime()) > 0; ) LockSupport.parkNanos(left);
            }
            MemorySegment.copy(src, srcOff + done, dst, dstOff + done, n);
            done += n;
        }
    }

    /** Books the link for {@code n} bytes after whatever is booked already; returns when that slot ends. */
    private synchronized long book(long n) {
        long now = System.nanoTime();
        long start = Math.max(now, freeAtNanos);
        freeAtNanos = start + (long) (n * 1e9 / bytesPerSecond);
        return freeAtNanos;
    }
}
