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
    private final ShardPipeline pipeline;

    /**
     * @param overlap start computing as soon as the room is reserved, each node waiting only for the weights it
     *                reads (else: the whole swap, then the compute)
     */
    public SwapResidency(WeightStore store, ModelSwapper swapper, boolean overlap) {
        this.store = store;
        this.swapper = swapper;
        this.overlap = overlap;
        this.pipeline = swapper.devices() > 1 ? new ShardPipeline(swapper.links()) : null;
    }

    /** Nodes run per device and activation bytes moved into each; null on one device. */
    public ShardPipeline.Stats pipelineStats() { return pipeline == null ? null : pipeline.stats(); }

    /** The pipeline over the devices (null on one device), for checks. */
    ShardPipeline pipeline() { return pipeline; }

    public ModelSwapper swapper() { return swapper; }

    /** The bytes of a session's weights (its initializers). */
    public static long weightBytes(Session s) {
        long n = 0;
        for (Tensor t : s.graph().initializers().values()) n += t.byteSize();
        return n;
    }

    /**
     * Where a model's weights lie in arrival order and how many top-level nodes read each: {@code starts[i]} and
     * {@code ends[i]} bound weight i; {@code readers[i]} counts its readers (0 for weights read only inside
     * subgraphs, whose nodes wait for everything).
     */
    private record Layout(Map<String, Integer> index, long[] starts, long[] ends, int[] readers, long total) {}

    private final Map<String, Layout> layouts = new java.util.concurrent.ConcurrentHashMap<>();

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
        Map<String, Integer> index = new java.util.HashMap<>();
        long[] starts = new long[order.size()], ends = w.ends();
        for (int i = 0; i < order.size(); i++) {
            index.put(order.get(i), i);
            starts[i] = i == 0 ? 0 : (ends[i - 1] + 63) / 64 * 64;
        }
        int[] readers = new int[order.size()];
        for (Node n : session.graph().nodes()) {
            for (String in : new java.util.HashSet<>(n.inputs())) {
                Integer i = index.get(in);
                if (i != null) readers[i]++;
            }
        }
        layouts.put(key, new Layout(index, starts, ends, readers, w.bytes()));
        if (pipeline != null) {
            Map<String, Long> weightEnds = new java.util.HashMap<>();
            for (int i = 0; i < order.size(); i++) weightEnds.put(order.get(i), ends[i]);
            pipeline.plan(key, weightEnds, ModelSwapper.shardBounds(w.bytes(), swapper.devices()));
        }
    }

    @Override public void remove(String key) {
        layouts.remove(key);
        if (pipeline != null) pipeline.forget(key);
        swapper.forget(key);
    }

    @Override public Lease acquire(String key) throws InterruptedException {
        ShardPipeline.Flow flow = pipeline == null ? null : pipeline.flow(key);
        if (!overlap) {
            ModelSwapper.Lease l;
            try {
                l = swapper.acquire(key);
            } catch (InterruptedException | RuntimeException e) {
                if (flow != null) flow.close();
                throw e;
            }
            if (flow == null) return l::close;
            return new Lease() {
                @Override public ExecutionListener listener() { return flow; }

                @Override public void close() {
                    flow.close();
                    l.close();
                }
            };
        }
        ModelSwapper.Lease l = swapper.acquireStreaming(key);
        Layout layout = layouts.get(key);
        ExecutionListener arrivals = layout == null ? ExecutionListener.NONE : new Arrivals(key, l, layout);
        // On several devices the run first moves to the node's device, then waits there for the weights it reads.
        ExecutionListener waits = flow == null ? arrivals : new Both(flow, arrivals);
        return new Lease() {
            @Override public ExecutionListener listener() { return waits; }

            @Override public boolean streamsThrough() { return l.streamsThrough(); }

            @Override public void awaitAll() throws InterruptedException { l.awaitArrived(Long.MAX_VALUE); }

            @Override public void close() {
                if (flow != null) flow.close();
                l.close();
            }
        };
    }

    /** Two listeners, {@code first} before {@code second} at every call. */
    private record Both(ExecutionListener first, ExecutionListener second) implements ExecutionListener {
        @Override public void beforeNode(int step, Node node) {
            first.beforeNode(step, node);
            second.beforeNode(step, node);
        }

        @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
            first.afterNode(step, node, outputs, nanos);
            second.afterNode(step, node, outputs, nanos);
        }

        @Override public void released(int step, String value, Tensor tensor) {
            first.released(step, value, tensor);
            second.released(step, value, tensor);
        }

        @Override public void afterInnerNode(Node node, long nanos) {
            first.afterInnerNode(node, nanos);
            second.afterInnerNode(node, nanos);
        }
    }

    /**
     * Holds each node until the weights it reads have arrived; for streamed weights, also reports after each node
     * the prefix of weights no later node reads, so the ring may reuse it.
     */
    private static final class Arrivals implements ExecutionListener {
        private final String key;
        private final ModelSwapper.Lease lease;
        private final Layout layout;
        private final int[] left;
        private int cursor;

        Arrivals(String key, ModelSwapper.Lease lease, Layout layout) {
            this.key = key;
            this.lease = lease;
            this.layout = layout;
            this.left = layout.readers().clone();
        }

        @Override public void beforeNode(int step, Node node) {
            long need = 0;
            if (!node.subgraphs().isEmpty()) {
                need = Long.MAX_VALUE; // its branches may read any weight
            } else {
                for (String in : node.inputs()) {
                    Integer i = layout.index().get(in);
                    if (i != null) need = Math.max(need, layout.ends()[i]);
                }
            }
            if (need == 0) return;
            try {
                lease.awaitArrived(need);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ServeException(ServeException.Kind.UNAVAILABLE, "interrupted while the weights of '" + key + "' arrived");
            }
        }

        @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
            if (!lease.streamsThrough()) return;
            for (String in : new java.util.HashSet<>(node.inputs())) {
                Integer i = layout.index().get(in);
                if (i != null) left[i]--;
            }
            while (cursor < left.length && left[cursor] <= 0) cursor++;
            lease.consumed(cursor < left.length ? layout.starts()[cursor] : layout.total());
        }
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
