package dev.sluice.runtime.device;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.locks.LockSupport;

/**
 * A lane that copies between host memory and a device (one direction). With a bandwidth it takes at least
 * bytes / bandwidth seconds per copy, as a PCIe link would; 0 means as fast as memcpy.
 */
public record CopyLane(String name, LaneKind kind, long bytesPerSecond) implements Lane {
    public CopyLane {
        if (!kind.isCopy()) throw new IllegalArgumentException("a copy lane is H2D or D2H, not " + kind);
        if (bytesPerSecond < 0) throw new IllegalArgumentException("bandwidth must be >= 0");
    }

    /** Copies src's bytes into dst, then waits out the rest of the time the link would have needed. */
    public void copy(Tensor src, Tensor dst) {
        if (src.byteSize() != dst.byteSize()) {
            throw new SluiceException(name + ": cannot copy " + src + " into " + dst);
        }
        long t0 = System.nanoTime();
        MemorySegment.copy(src.data(), 0, dst.data(), 0, src.byteSize());
        throttle(t0, src.byteSize());
    }

    /** Copies dst's size of bytes from src, starting {@code srcOffset} bytes into src's elements (a range copy). */
    public void copy(Tensor src, long srcOffset, Tensor dst) {
        if (srcOffset < 0 || srcOffset + dst.byteSize() > src.byteSize()) {
            throw new SluiceException(name + ": cannot copy " + dst.byteSize() + " bytes at " + srcOffset + " of " + src);
        }
        long t0 = System.nanoTime();
        MemorySegment.copy(src.data(), srcOffset, dst.data(), 0, dst.byteSize());
        throttle(t0, dst.byteSize());
    }

    /**
     * A strided copy: {@code runs} runs of {@code runBytes} bytes, the i-th from {@code srcOffset + i * srcStride}
     * of src to {@code dstOffset + i * dstStride} of dst (a band of rows of every plane, gathered or scattered).
     */
    public void copyRuns(MemorySegment src, long srcOffset, long srcStride, MemorySegment dst, long dstOffset, long dstStride,
                         long runBytes, long runs) {
        if (runs > 0 && (srcOffset < 0 || dstOffset < 0 || srcOffset + (runs - 1) * srcStride + runBytes > src.byteSize()
                || dstOffset + (runs - 1) * dstStride + runBytes > dst.byteSize())) {
            throw new SluiceException(name + ": " + runs + " runs of " + runBytes + " bytes do not fit their segments");
        }
        long t0 = System.nanoTime();
        for (long i = 0; i < runs; i++) MemorySegment.copy(src, srcOffset + i * srcStride, dst, dstOffset + i * dstStride, runBytes);
        throttle(t0, runs * runBytes);
    }

    /**
     * Runs of {@code runBytes} bytes at the given offsets, the i-th from {@code srcOffsets[i]} of src to
     * {@code dstOffsets[i]} of dst (a box gathered or scattered), paced as one copy of all their bytes.
     */
    public void copyRuns(MemorySegment src, long[] srcOffsets, MemorySegment dst, long[] dstOffsets, long runBytes) {
        if (srcOffsets.length != dstOffsets.length) throw new IllegalArgumentException("offsets differ in count");
        for (int i = 0; i < srcOffsets.length; i++) {
            if (srcOffsets[i] < 0 || dstOffsets[i] < 0 || srcOffsets[i] + runBytes > src.byteSize() || dstOffsets[i] + runBytes > dst.byteSize()) {
                throw new SluiceException(name + ": run " + i + " of " + runBytes + " bytes does not fit its segments");
            }
        }
        long t0 = System.nanoTime();
        for (int i = 0; i < srcOffsets.length; i++) MemorySegment.copy(src, srcOffsets[i], dst, dstOffsets[i], runBytes);
        throttle(t0, srcOffsets.length * runBytes);
    }

    /** Nanoseconds a copy of this many bytes takes at this lane's bandwidth (0 when unlimited). */
    public long nanosFor(long bytes) {
        return bytesPerSecond == 0 ? 0 : (long) (bytes * 1e9 / bytesPerSecond);
    }

    private void throttle(long t0, long bytes) {
        long until = t0 + nanosFor(bytes);
        // Park for the whole wait, never spin: the link's time is not CPU time, and a spinning copy lane would take
        // a core from the kernels (the host's scheduler may wake it some tens of microseconds late: a slower link).
        for (long left; (left = until - System.nanoTime()) > 0; ) LockSupport.parkNanos(left);
    }
}
