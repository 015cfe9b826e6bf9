package dev.sluice.runtime.serve;

import dev.sluice.kernels.Tensor;
import dev.sluice.offload.swap.ModelSwapper;
import dev.sluice.offload.swap.WeightStore;
import dev.sluice.graph.Node;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.exec.ExecutionListener;
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
    private final boolean overlap;
    /** Per model key: where each weight (initializer) ends in the arrival order. */
    private final Map<String, Map<String, Long>> weightEnds = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * @param overlap start computing as soon as the room is reserved, each node waiting only for the weights it
     *                reads (else: the whole swap, then the compute)
     */
    public SwapResidency(WeightStore store, ModelSwapper swapper, boolean overlap) {
        this.store = store;
        this.swapper = swapper;
        this.overlap = overlap;
    }

    public ModelSwapper swapper() { return swapper; }

    /** The bytes of a session's weights (its initializers). */
    public static long weightBytes(Session s) {
        long n = 0;
        for (Tensor t : s.graph().initializers().values()) n += t.byteSize();
        return n;
    }

    /** Stores the weights in the order the graph first reads them, so they arrive in the order compute needs them. */
    @Override public void add(String key, Session session, int priority) {
        Map<String, Tensor> inits = session.graph().initializers();
        List<String> order = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (Node n : session.graph().nodes()) {
            for (String in : n.inputs()) if (inits.containsKey(in) && seen.add(in)) order.add(in);
        }
        for (String name : inits.keySet()) if (seen.add(name)) order.add(name); // read only inside subgraphs
        List<MemorySegment> parts = new ArrayList<>();
        for (String name : order) parts.add(inits.get(name).data());
        WeightStore.Weights w = store.put(key, parts, priority);
        Map<String, Long> ends = new java.util.HashMap<>();
        for (int i = 0; i < order.size(); i++) ends.put(order.get(i), w.ends()[i]);
        weightEnds.put(key, ends);
    }

    @Override public void remove(String key) {
        weightEnds.remove(key);
        swapper.forget(key);
    }

    @Override public Lease acquire(String key) throws InterruptedException {
        if (!overlap) {
            ModelSwapper.Lease l = swapper.acquire(key);
            return l::close;
        }
        ModelSwapper.Lease l = swapper.acquireStreaming(key);
        Map<String, Long> ends = weightEnds.getOrDefault(key, Map.of());
        ExecutionListener waits = new ExecutionListener() {
            @Override public void beforeNode(int step, Node node) {
                long need = 0;
                if (!node.subgraphs().isEmpty()) need = Long.MAX_VALUE; // its branches may read any weight
                else for (String in : node.inputs()) need = Math.max(need, ends.getOrDefault(in, 0L));
                if (need == 0) return;
                try {
                    l.awaitArrived(need);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ServeException(ServeException.Kind.UNAVAILABLE, "interrupted while the weights of '" + key + "' arrived");
                }
            }
        };
        return new Lease() {
            @Override public ExecutionListener listener() { return waits; }

            @Override public void awaitAll() throws InterruptedException { l.awaitArrived(Long.MAX_VALUE); }

            @Override public void close() { l.close(); }
        };
    }

    @Override public Metrics.DeviceFigures figures() {
        ModelSwapper.Stats s = swapper.stats();
        Map<String, Long> lanes = new LinkedHashMap<>();
        int per = swapper.lanes();
        for (int i = 0; i < s.bytesPerLane().length; i++) {
            lanes.put(swapper.devices() == 1 ? "h2d-" + i : "dev" + (i / per) + "-h2d-" + (i % per), s.bytesPerLane()[i]);
        }
        return new Metrics.DeviceFigures(s.swaps(), s.evictions(), lanes, s.residentBytes(), s.budget());
    }

    @Override public void close() {
        swapper.close();
        store.close();
    }
}
