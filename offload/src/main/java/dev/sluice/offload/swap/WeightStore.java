package dev.sluice.offload.swap;

import dev.sluice.offload.HostMemory;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Every served model's weights in host memory (pinned where the CUDA driver loads; otherwise aligned off-heap
 * memory, which {@link HostMemory} reports once): one buffer per model, its tensors packed at 64-byte
 * alignment. The store is the master copy: the device holds only clean copies of it, which may be dropped at
 * any time and never need copying back.
 */
public final class WeightStore implements AutoCloseable {
    /**
     * One model's weights: its key, host buffer, byte count, serving priority, and where each tensor ends in
     * the buffer ({@code ends[i]}: the offset just past tensor i, in the order given to {@link #put}).
     */
    public record Weights(String key, HostMemory.Buffer buffer, long bytes, int priority, long[] ends) {}

    private final HostMemory host;
    private final Map<String, Weights> weights = new ConcurrentHashMap<>();

    public WeightStore(HostMemory host) { this.host = host; }

    public HostMemory host() { return host; }

    /**
     * Copies {@code tensors} into one new host buffer under {@code key}, in the order given (the order they should
     * arrive on the device: first use first), each at 64-byte alignment. Keys are unique.
     */
    public Weights put(String key, List<MemorySegment> tensors, int priority) {
        long total = 0;
        for (MemorySegment t : tensors) total += align(t.byteSize());
        HostMemory.Buffer b = host.allocate(Math.max(total, 64));
        long at = 0;
        long[] ends = new long[tensors.size()];
        for (int i = 0; i < ends.length; i++) {
            MemorySegment t = tensors.get(i);
            MemorySegment.copy(t, 0, b.segment(), at, t.byteSize());
            ends[i] = at + t.byteSize();
            at += align(t.byteSize());
        }
        Weights w = new Weights(key, b, total, priority, ends);
        if (weights.putIfAbsent(key, w) != null) {
            b.close();
            throw new IllegalArgumentException("weights of '" + key + "' are already stored");
        }
        return w;
    }

    /** The weights under {@code key}, or null. */
    public Weights get(String key) { return weights.get(key); }

    /** Frees the host copy of {@code key}'s weights (the swapper must have dropped its device copy first). */
    public void remove(String key) {
        Weights w = weights.remove(key);
        if (w != null) w.buffer().close();
    }

    /** All stored weights together. */
    public long totalBytes() { return weights.values().stream().mapToLong(Weights::bytes).sum(); }

    private static long align(long n) { return (n + 63) / 64 * 64; }

    @Override public void close() { weights.keySet().forEach(this::remove); }
}
