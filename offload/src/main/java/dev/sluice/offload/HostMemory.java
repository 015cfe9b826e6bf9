package dev.sluice.offload;

import dev.sluice.offload.cuda.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Host buffers that feed an accelerator. Where the CUDA driver loads they are page-locked (pinned) through
 * cuMemHostAlloc, so host-device copies run at full bandwidth and can overlap compute; elsewhere they are
 * ordinary 64-byte aligned off-heap memory, and the fallback is reported once.
 */
public final class HostMemory {
    /** A host buffer and how it was obtained. Close it to free it. */
    public record Buffer(MemorySegment segment, boolean pinned, AutoCloseable release) implements AutoCloseable {
        @Override public void close() {
            try {
                release.close();
            } catch (Exception e) {
                throw new IllegalStateException("freeing host buffer failed: " + e.getMessage(), e);
            }
        }
    }

    private static final AtomicBoolean FALLBACK_REPORTED = new AtomicBoolean();

    private final Optional<CudaDriver> driver;
    private final Consumer<String> notice;

    private HostMemory(Optional<CudaDriver> driver, Consumer<String> notice) {
        this.driver = driver;
        this.notice = notice;
    }

    /** Pinned where the CUDA driver is usable; notices (the fallback, once per process) go to {@code notice}. */
    public static HostMemory system(Consumer<String> notice) { return new HostMemory(CudaDriver.load(), notice); }

    /** Always plain off-heap memory (for tests and the throttled device). */
    public static HostMemory pageable() { return new HostMemory(Optional.empty(), s -> { }); }

    public boolean pinsMemory() { return driver.isPresent(); }

    /** Where the memory comes from, for reports. */
    public String describe() {
        return driver.map(d -> "pinned via CUDA driver (cuMemHostAlloc) on " + d.deviceName())
            .orElse("pageable off-heap memory (" + CudaDriver.unavailableReason() + ")");
    }

    public Buffer allocate(long bytes) {
        if (driver.isPresent()) {
            CudaDriver d = driver.get();
            MemorySegment seg = d.allocHost(Math.max(bytes, 1)).asSlice(0, bytes);
            return new Buffer(seg, true, () -> d.freeHost(seg));
        }
        if (FALLBACK_REPORTED.compareAndSet(false, true)) {
            notice.accept("host memory is not pinned: " + CudaDriver.unavailableReason() + "; using aligned off-heap memory");
        }
        Arena arena = Arena.ofShared();
        return new Buffer(arena.allocate(bytes, 64), false, arena::close);
    }
}
