package dev.sluice.runtime.device;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A device's memory: one segment of exactly its budget, handed out at offsets the memory graph chose.
 * The memory graph's edges are what keep two live blocks from overlapping; this class checks the outcome
 * independently by counting bytes claimed and not yet released, and fails the run the moment that count
 * would pass the budget, so a planning bug can never silently use more memory than the device has.
 */
public final class DeviceArena implements AutoCloseable {
    private final String device;
    private final long budget;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment memory;
    private final AtomicLong live = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

    public DeviceArena(String device, long budgetBytes) {
        this.device = device;
        this.budget = budgetBytes;
        this.memory = arena.allocate(Math.max(budgetBytes, Tensor.ALIGNMENT), Tensor.ALIGNMENT);
    }

    public long budget() { return budget; }

    /** Most bytes live at once since creation (or the last {@link #resetPeak}). */
    public long peak() { return peak.get(); }

    public long live() { return live.get(); }

    public void resetPeak() { peak.set(live.get()); }

    /** Claims the block [offset, offset + bytes) for a value about to be written there. */
    public MemorySegment claim(long offset, long bytes) {
        if (offset < 0 || offset + bytes > budget || offset % Tensor.ALIGNMENT != 0) {
            throw new SluiceException(device + ": block [" + offset + ", " + (offset + bytes) + ") is outside its "
                + budget + "-byte arena or misaligned");
        }
        long now = live.addAndGet(bytes);
        if (now > budget) {
            live.addAndGet(-bytes);
            throw new SluiceException(device + ": " + now + " bytes would be live, over its budget of " + budget);
        }
        peak.accumulateAndGet(now, Math::max);
        return memory.asSlice(offset, bytes);
    }

    /**
     * The bytes [offset, offset + bytes) of the arena without claiming them: a view into a block that is
     * already claimed (an elementwise tile's range of a resident value), never new memory.
     */
    public MemorySegment view(long offset, long bytes) {
        if (offset < 0 || offset + bytes > budget || offset % Tensor.ALIGNMENT != 0) {
            throw new SluiceException(device + ": view [" + offset + ", " + (offset + bytes) + ") is outside its "
                + budget + "-byte arena or misaligned");
        }
        return memory.asSlice(offset, bytes);
    }

    /** Releases a block once its last reader finished. */
    public void release(long bytes) { live.addAndGet(-bytes); }

    @Override public void close() { arena.close(); }
}
