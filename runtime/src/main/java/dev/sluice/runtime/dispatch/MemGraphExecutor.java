package dev.sluice.runtime.dispatch;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.memgraph.Box;
import dev.sluice.memgraph.Edge;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.OpTiling;
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.device.ComputeLane;
import dev.sluice.runtime.device.CopyLane;
import dev.sluice.runtime.device.Device;
import dev.sluice.runtime.device.DeviceArena;
import dev.sluice.runtime.device.Lane;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.device.TornadoDevice;
import dev.sluice.runtime.exec.GraphExecutor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs a {@link MemGraph} on real devices through the {@link Dispatcher}: kernels on compute lanes, copies
 * on copy lanes, device values in each device's {@link DeviceArena} at the planned offsets. A device
 * block is released when the last task reading it finishes, so the arena's own count of live bytes checks
 * the plan's promise (never over budget) on every run. Each run's state is a {@link MemGraphRun}; how a kernel
 * task runs is its tile kind's {@link TileRun}.
 */
public final class MemGraphExecutor {
    /** What a run produced and what it measured. {@code peakBytes}: per device, the most arena bytes live at once. */
    public record Result(Map<String, Tensor> outputs, Trace trace, List<Long> peakBytes) {}

    private final Model model;
    private final OpRegistry registry;
    /** Per device (plan order), the kernels its tasks run: the host registry, or the device's own (TornadoVM's). */
    private final OpRegistry[] registries;
    private final MemGraph plan;
    private final List<Device> devices;
    private final Dispatcher dispatcher;
    private final int[][] queueOf;
    /** Per device, its first compute lane and its first copy lane of each kind (or null): looked up once, not per task. */
    private final ComputeLane[] computeLanes;
    private final CopyLane[][] copyLanes;
    private final Map<Graph, GraphExecutor> subgraphs = new ConcurrentHashMap<>();
    /** Box-split nodes' tilings, by node index (asked once per node, not per tile). */
    private final Map<Integer, OpTiling> tilings = new ConcurrentHashMap<>();

    /**
     * {@code devices} aligned with {@code plan.devices()}; device 0 the host. {@code registry} holds the host's kernels;
     * a task on a TornadoVM device runs that device's kernels (TornadoVM's where it has one, these otherwise), every
     * other device runs {@code registry}. Starts its own lane workers.
     */
    public MemGraphExecutor(Model model, OpRegistry registry, MemGraph plan, List<Device> devices, Dispatcher.Order order) {
        this(model, registry, plan, devices, order, null);
    }

    /**
     * As above, issuing through {@code shared}'s lane workers (in {@code order}) when it serves the same lanes,
     * so that the executors of one session (one per input shapes) reuse its threads; else through new ones.
     */
    public MemGraphExecutor(Model model, OpRegistry registry, MemGraph plan, List<Device> devices, Dispatcher.Order order,
                            Dispatcher shared) {
        if (devices.size() != plan.devices().size()) throw new IllegalArgumentException("one device per planned device");
        this.model = model;
        this.registry = registry;
        this.plan = plan;
        this.devices = List.copyOf(devices);
        registries = new OpRegistry[devices.size()];
        for (int d = 0; d < devices.size(); d++) {
            registries[d] = devices.get(d) instanceof TornadoDevice t ? t.registry(registry) : registry;
        }
        queueOf = new int[devices.size()][LaneKind.values().length];
        computeLanes = new ComputeLane[devices.size()];
        copyLanes = new CopyLane[devices.size()][LaneKind.values().length];
        for (int d = 0; d < devices.size(); d++) {
            for (Lane l : devices.get(d).lanes()) {
                if (l instanceof ComputeLane c && computeLanes[d] == null) computeLanes[d] = c;
                if (l instanceof CopyLane c && copyLanes[d][c.kind().ordinal()] == null) copyLanes[d][c.kind().ordinal()] = c;
            }
        }
        List<Dispatcher.LaneSlot> slots = new ArrayList<>();
        int q = 0;
        for (int d = 0; d < devices.size(); d++) {
            for (LaneKind k : LaneKind.values()) {
                List<Lane> ls = devices.get(d).lanes(k);
                queueOf[d][k.ordinal()] = ls.isEmpty() ? -1 : q;
                for (Lane l : ls) slots.add(new Dispatcher.LaneSlot(l.name(), q, k.isCopy()));
                if (!ls.isEmpty()) q++;
            }
        }
        for (Task t : plan.tasks()) {
            if (queueOf[t.device()][t.lane().ordinal()] < 0) {
                throw new SluiceException("device '" + devices.get(t.device()).name() + "' has no " + t.lane() + " lane for " + t.label());
            }
        }
        this.dispatcher = shared != null && shared.lanes().equals(slots) ? shared.withOrder(order) : new Dispatcher(slots, order);
    }

    public MemGraph plan() { return plan; }

    public Result run(Map<String, Tensor> feeds) { return run(feeds, dispatcher); }

    /** Runs with another dispatcher over the same lanes (schedule fuzzing in tests). */
    Result run(Map<String, Tensor> feeds, Dispatcher d) {
        DeviceArena[] arenas = new DeviceArena[devices.size()];
        MemGraphRun s = null;
        try {
            for (int i = 0; i < devices.size(); i++) {
                if (devices.get(i) instanceof ThrottledDevice t) arenas[i] = t.newArena();
                else if (devices.get(i) instanceof TornadoDevice t && t.hasArena()) arenas[i] = t.newArena();
            }
            MemGraphRun run = new MemGraphRun(this, feeds, arenas);
            s = run;
            TaskGraph tg = new TaskGraph();
            for (Task t : plan.tasks()) {
                // a copy on a throttled device's copy lane is a memcpy that hands its link time over: quick
                boolean quick = t.lane().isCopy() && copyLanes[t.device()][t.lane().ordinal()] != null && devices.get(t.device()) instanceof ThrottledDevice;
                tg.add(new TaskGraph.Job(t.label(), queueOf[t.device()][t.lane().ordinal()], t.bytes(), () -> run.execute(t), quick));
            }
            for (Edge e : plan.edges()) tg.edge(e.from(), e.to());
            Trace trace = d.run(tg);
            Map<String, Tensor> out = run.results();
            List<Long> peaks = new ArrayList<>();
            for (DeviceArena a : arenas) peaks.add(a == null ? 0L : a.peak());
            return new Result(out, trace, peaks);
        } finally {
            for (DeviceArena a : arenas) if (a != null) a.close();
            if (s != null) s.close(); // a failed run's lanes have all left (Dispatcher.run), so nothing still writes here
        }
    }

    /** The devices it runs on, in the plan's device order (the caller's: it closes their worker pools). */
    public List<Device> devices() { return devices; }

    /** The dispatcher this executor issues through (its lane workers outlive a run). */
    public Dispatcher dispatcher() { return dispatcher; }

    Model model() { return model; }

    /** The host's kernels (subgraphs run on the host with these). */
    OpRegistry registry() { return registry; }

    /** The kernels a task on device {@code d} runs. */
    OpRegistry registry(int d) { return registries[d]; }

    /**
     * Whether kernels on device {@code d} may write the header slot in front of a tensor's data (TornadoVM's kernels
     * do: its arrays carry a header there), so that a view into the middle of a block must be staged in a block of
     * its own for them.
     */
    boolean writesHeaders(int d) { return devices.get(d) instanceof TornadoDevice; }

    Device device(int d) { return devices.get(d); }

    /** Device d's (first) compute lane. */
    ComputeLane computeLane(int d) { return computeLanes[d]; }

    /** Device d's (first) copy lane of that kind. */
    CopyLane copyLane(int d, LaneKind kind) { return copyLanes[d][kind.ordinal()]; }

    /** The executor of a subgraph a kernel on {@code device} runs, with that device's kernels (one per subgraph, shared by the runs). */
    GraphExecutor subgraphExecutor(Graph sg, Parallelism parallelism, int device) {
        return subgraphs.computeIfAbsent(sg, x -> new GraphExecutor(model.withGraph(x), registries[device], parallelism));
    }

    /** A box-split node's tiling (asked once per node, not per tile); null if its op family has none. */
    OpTiling tilingOf(int node) {
        return tilings.computeIfAbsent(node, i -> OpTiling.of(plan.graph(), plan.graph().nodes().get(i)));
    }


    static long product(long[] dims) {
        long p = 1;
        for (long d : dims) p *= d;
        return p;
    }

    /**
     * A box as runs of contiguous bytes: {@code big} their offsets in the whole tensor (row-major in the box's
     * shape), {@code dense} in a buffer of the box's extents. Axes the box covers fully below its innermost
     * partial axis join the run.
     */
    record BoxRuns(long[] big, long[] dense, long runBytes) {
        static BoxRuns of(Box b, long es) {
            int r = b.rank();
            long[] dims = b.dims(), lo = b.lo(), ext = b.extents().dims();
            int k = r;
            long inner = 1;
            while (k > 0 && lo[k - 1] == 0 && ext[k - 1] == dims[k - 1]) { inner *= dims[k - 1]; k--; }
            long run = (k > 0 ? ext[k - 1] : 1) * inner;
            long[] stride = new long[r];
            long s = 1;
            for (int a = r - 1; a >= 0; a--) { stride[a] = s; s *= dims[a]; }
            long count = 1;
            for (int a = 0; a < k - 1; a++) count *= ext[a];
            long[] big = new long[Math.toIntExact(count)], dense = new long[big.length];
            long[] idx = new long[Math.max(0, k - 1)];
            for (int q = 0; q < big.length; q++) {
                long off = k > 0 ? lo[k - 1] * stride[k - 1] : 0;
                for (int a = 0; a < k - 1; a++) off += (lo[a] + idx[a]) * stride[a];
                big[q] = off * es;
                dense[q] = q * run * es;
                for (int a = k - 2; a >= 0; a--) { if (++idx[a] < ext[a]) break; idx[a] = 0; }
            }
            return new BoxRuns(big, dense, run * es);
        }
    }

}
