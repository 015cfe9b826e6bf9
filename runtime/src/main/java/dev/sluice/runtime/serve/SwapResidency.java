package dev.sluice.runtime.serve;

import dev.sluice.kernels.Tensor;
import dev.sluice.offload.swap.ModelSwapper;
import dev.sluice.offload.swap.WeightStore;
import dev.sluice.runtime.Session;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Residency under a device budget: each loaded model's weights (its graph's initializers) go into the
 * {@link WeightStore}, and a {@link ModelSwapper} moves them onto the throttled device before the model runs.
 * The session computes with the CPU kernels, as the throttled device does; the swapper's device copy and its
 * link are what the budget and bandwidth act on.
 */
public final class SwapResidency implements Residency, AutoCloseable {
    private final WeightStore store;
    private final ModelSwapper swapper;

    public SwapResidency(WeightStore store, ModelSwapper swapper) {
        this.store = store;
        this.swapper = swapper;
    }

    public ModelSwapper swapper() { return swapper; }

    /** The bytes of a session's weights (its initializers). */
    public static long weightBytes(Session s) {
        long n = 0;
        for (Tensor t : s.graph().initializers().values()) n += t.byteSize();
        return n;
    }

    @Override public void add(String key, Session session, int priority) {
        List<MemorySegment> parts = new ArrayList<>();
        for (Tensor t : session.graph().initializers().values()) parts.add(t.data());
        store.put(key, parts, priority);
    }

    @Override public void remove(String key) { swapper.forget(key); }

    @Override public Lease acquire(String key) throws InterruptedException {
        ModelSwapper.Lease l = swapper.acquire(key);
        return l::close;
    }

    @Override public Metrics.DeviceFigures figures() {
        ModelSwapper.Stats s = swapper.stats();
        Map<String, Long> lanes = new LinkedHashMap<>();
        for (int i = 0; i < s.bytesPerLane().length; i++) lanes.put("h2d-" + i, s.bytesPerLane()[i]);
        return new Metrics.DeviceFigures(s.swaps(), s.evictions(), lanes, s.residentBytes(), s.budget());
    }

    @Override public void close() {
        swapper.close();
        store.close();
    }
}
