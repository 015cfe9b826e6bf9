package dev.sluice.runtime.serve;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import dev.sluice.offload.swap.CopyLink;
import dev.sluice.runtime.exec.ExecutionListener;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Requests flowing through a model's shards, pipeline-style, over N throttled devices (model-parallel swapping):
 * device d holds the d-th contiguous shard of every model's weights (as the swapper copies them), and runs the
 * model's layers that read them. A run moves from device to device as its nodes do; while on device d it holds
 * d's compute lane (one run computes on a device at a time), so two requests can be on two devices at once, and
 * an activation that a later device reads crosses the producer's device-to-host link and the consumer's
 * host-to-device link (the one its weights arrive over, shared with them) into a buffer on that device.
 *
 * <p>The throttled devices compute with the CPU kernels in host memory, so the consuming node reads the producer's
 * tensor itself (the moved bytes are the same bytes); what the pipeline adds is the order and the cost: lanes held
 * per device, and activation bytes over the links at their bandwidth. Outputs are therefore those of the plain run.
 *
 * <p>Invariants: a run holds at most one lane at a time (no run waits for a lane while holding another, so lanes
 * never deadlock); a run's device never decreases from node to node; a flow releases its lane when closed, whatever
 * happened.
 */
public final class ShardPipeline {
    private final List<CopyLink> toDevice;
    private final List<CopyLink> toHost = new ArrayList<>();
    private final Semaphore[] lanes;
    private final AtomicLongArray nodesRun;
    private final AtomicLongArray activationBytesIn;
    private final Map<String, Map<String, Integer>> stages = new java.util.concurrent.ConcurrentHashMap<>();
    private volatile List<Step> lastRun = List.of();
    private final java.util.concurrent.atomic.AtomicLong runsDone = new java.util.concurrent.atomic.AtomicLong();

    /** @param toDevice each device's host-to-device link, device 0 first; each gets a device-to-host link of the same bandwidth */
    ShardPipeline(List<CopyLink> toDevice) {
        this.toDevice = List.copyOf(toDevice);
        this.lanes = new Semaphore[toDevice.size()];
        for (int d = 0; d < lanes.length; d++) {
            lanes[d] = new Semaphore(1, true);
            toHost.add(new CopyLink(toDevice.get(d).bytesPerSecond()));
        }
        this.nodesRun = new AtomicLongArray(lanes.length);
        this.activationBytesIn = new AtomicLongArray(lanes.length);
    }

    int devices() { return lanes.length; }

    /**
     * Places a model's weights on devices: a weight belongs to the device whose shard holds its last byte. A node then
     * runs on the device of the weights it reads (the latest of them), and never on an earlier device than the run
     * is on (a node with no weights stays where the run is): the run's way through the devices follows the weights.
     * By names, not node objects, so that it holds for whatever nodes the session executes.
     *
     * @param weightEnds where each weight ends in the model's weight buffer, by name
     * @param bounds     the shards' byte bounds ({@code ModelSwapper.shardBounds})
     */
    void plan(String key, Map<String, Long> weightEnds, long[] bounds) {
        Map<String, Integer> m = new HashMap<>();
        weightEnds.forEach((name, end) -> {
            int d = 0;
            while (d + 1 < bounds.length - 1 && bounds[d + 1] <= end - 1) d++;
            m.put(name, d);
        });
        stages.put(key, m);
    }

    /** The device a node runs on when the run is on {@code device} (-1: not started). */
    static int stage(Node node, int device, Map<String, Integer> weightDevice) {
        int to = Math.max(device, 0);
        for (String in : node.inputs()) {
            Integer d = weightDevice.get(in);
            if (d != null) to = Math.max(to, d);
        }
        return to;
    }

    void forget(String key) { stages.remove(key); }

    /** One run's way through the devices; {@link #close()} it when the run is over. */
    Flow flow(String key) { return new Flow(stages.getOrDefault(key, Map.of())); }

    /** Nodes run per device and activation bytes moved into each device, so far. */
    public record Stats(long[] nodesRun, long[] activationBytesIn) {}

    Stats stats() {
        long[] n = new long[lanes.length], b = new long[lanes.length];
        for (int d = 0; d < n.length; d++) {
            n[d] = nodesRun.get(d);
            b[d] = activationBytesIn.get(d);
        }
        return new Stats(n, b);
    }

    /** A node of a run and the device it ran on. */
    record Step(Node node, int device) {}

    /** The nodes of the last finished run in the order they ran, each with its device (for checks). */
    List<Step> lastRun() { return lastRun; }

    /** Runs whose flow has closed (the answer goes out just before: a check waits for this count). */
    long runsDone() { return runsDone.get(); }

    final class Flow implements ExecutionListener, AutoCloseable {
        private final Map<String, Integer> weightDevice;
        private final Map<String, Tensor> produced = new HashMap<>();
        private final Map<String, Integer> producedOn = new HashMap<>();
        private final Set<String> moved = new HashSet<>();
        private final List<Step> ranOn = new ArrayList<>();
        private int device = -1;

        Flow(Map<String, Integer> weightDevice) { this.weightDevice = weightDevice; }

        @Override public void beforeNode(int step, Node node) {
            int to = stage(node, device, weightDevice);
            if (to != device) {
                if (device >= 0) lanes[device].release();
                device = -1;
                try {
                    lanes[to].acquire();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new ServeException(ServeException.Kind.UNAVAILABLE, "interrupted while waiting for device " + to);
                }
                device = to;
            }
            for (String in : node.inputs()) {
                Integer from = producedOn.get(in);
                if (from == null || from == device || !moved.add(in + "@" + device)) continue;
                move(produced.get(in), from, device);
            }
            ranOn.add(new Step(node, device));
            nodesRun.incrementAndGet(device);
        }

        @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
            for (int i = 0; i < outputs.size() && i < node.outputs().size(); i++) {
                if (outputs.get(i) == null) continue;
                produced.put(node.outputs().get(i), outputs.get(i));
                producedOn.put(node.outputs().get(i), device);
            }
        }

        @Override public void released(int step, String value, Tensor tensor) {
            produced.remove(value);
            producedOn.remove(value);
        }

        /** The activation's bytes leave device {@code from} over its link to the host, then cross {@code to}'s link. */
        private void move(Tensor t, int from, int to) {
            if (t == null || t.byteSize() == 0) return;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment host = a.allocate(t.byteSize(), 64), there = a.allocate(t.byteSize(), 64);
                toHost.get(from).copy(t.data(), 0, host, 0, t.byteSize());
                toDevice.get(to).copy(host, 0, there, 0, t.byteSize());
            }
            activationBytesIn.addAndGet(to, t.byteSize());
        }

        /** The run is over: its device's lane goes back. */
        private boolean closed;

        @Override public void close() {
            if (closed) return;
            closed = true;
            if (device >= 0) lanes[device].release();
            device = -1;
            lastRun = List.copyOf(ranOn);
            runsDone.incrementAndGet();
        }
    }
}
