package dev.sluice.runtime.dispatch;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.NodeCall;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.memgraph.Box;
import dev.sluice.memgraph.Buffer;
import dev.sluice.memgraph.Edge;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.OpTiling;
import dev.sluice.memgraph.RowBands;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.Tile;
import dev.sluice.kernels.TensorType;
import dev.sluice.runtime.device.ComputeLane;
import dev.sluice.runtime.device.CopyLane;
import dev.sluice.runtime.device.Device;
import dev.sluice.runtime.device.DeviceArena;
import dev.sluice.runtime.device.Lane;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Runs a {@link MemGraph} on real devices through the {@link Dispatcher}: kernels on compute lanes, copies
 * on copy lanes, device values in each device's {@link DeviceArena} at the planned offsets. A device
 * block is released when the last task reading it finishes, so the arena's own count of live bytes checks
 * the plan's promise (never over budget) on every run.
 */
public final class MemGraphExecutor {
    /** What a run produced and what it measured. {@code peakBytes}: per device, the most arena bytes live at once. */
    public record Result(Map<String, Tensor> outputs, Trace trace, List<Long> peakBytes) {}

    private final Model model;
    private final OpRegistry registry;
    private final MemGraph plan;
    private final List<Device> devices;
    private final Dispatcher dispatcher;
    private final int[][] queueOf;
    private final Map<Graph, GraphExecutor> subgraphs = new ConcurrentHashMap<>();
    /** Box-split nodes' tilings, by node index (asked once per node, not per tile). */
    private final Map<Integer, OpTiling> tilings = new ConcurrentHashMap<>();

    /** {@code devices} aligned with {@code plan.devices()}; device 0 the host. Starts its own lane workers. */
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
        queueOf = new int[devices.size()][LaneKind.values().length];
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
        try {
            for (int i = 0; i < devices.size(); i++) if (devices.get(i) instanceof ThrottledDevice t) arenas[i] = t.newArena();
            RunState s = new RunState(feeds, arenas);
            TaskGraph tg = new TaskGraph();
            for (Task t : plan.tasks()) tg.add(new TaskGraph.Job(t.label(), queueOf[t.device()][t.lane().ordinal()], t.bytes(), () -> s.execute(t)));
            for (Edge e : plan.edges()) tg.edge(e.from(), e.to());
            Trace trace = d.run(tg);
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (var e : plan.results().entrySet()) out.put(e.getKey(), s.buf[e.getValue()]);
            List<Long> peaks = new ArrayList<>();
            for (DeviceArena a : arenas) peaks.add(a == null ? 0L : a.peak());
            return new Result(out, trace, peaks);
        } finally {
            for (DeviceArena a : arenas) if (a != null) a.close();
        }
    }

    /** The dispatcher this executor issues through (its lane workers outlive a run). */
    public Dispatcher dispatcher() { return dispatcher; }

    private final class RunState {
        final Tensor[] buf;
        final AtomicIntegerArray readersLeft;
        final DeviceArena[] arenas;

        RunState(Map<String, Tensor> feeds, DeviceArena[] arenas) {
            this.arenas = arenas;
            buf = new Tensor[plan.buffers().size()];
            Graph g = plan.graph();
            for (var e : plan.sources().entrySet()) {
                Tensor t = feeds.containsKey(e.getKey()) ? feeds.get(e.getKey()) : g.initializers().get(e.getKey());
                if (t == null) throw new SluiceException("input '" + e.getKey() + "' has no value");
                buf[e.getValue()] = t;
            }
            readersLeft = new AtomicIntegerArray(plan.readerCounts());
        }

        void execute(Task t) {
            // a JFR event per task, on the lane's thread; when no recording enables it, begin/commit are no-ops
            dev.sluice.runtime.events.TaskEvent ev = new dev.sluice.runtime.events.TaskEvent();
            ev.begin();
            run(t);
            if (ev.shouldCommit()) {
                ev.kind = switch (t) {
                    case Task.Kernel k -> "KERNEL";
                    case Task.Transfer x -> x.lane().name();
                    case Task.Offload x -> "OFFLOAD";
                    case Task.Reload x -> "RELOAD";
                };
                ev.task = t.label();
                ev.device = devices.get(t.device()).name();
                ev.lane = t.lane().name();
                ev.bytes = t.bytes();
                ev.commit();
            }
        }

        private void run(Task t) {
            switch (t) {
                case Task.Kernel k -> kernel(k);
                case Task.Transfer x when x.boxed() -> boxCopy(x);
                case Task.Transfer x when x.rows() -> rowCopy(x);
                case Task.Transfer x when x.ranged() -> rangeCopy(x);
                case Task.Transfer x -> copy(x.device(), x.lane(), x.src(), x.dst());
                case Task.Offload x -> copy(x.device(), x.lane(), x.src(), x.dst());
                case Task.Reload x -> copy(x.device(), x.lane(), x.src(), x.dst());
            }
        }

        void copy(int device, LaneKind lane, int src, int dst) {
            Tensor from = buf[src];
            Tensor to = allocate(dst, from.dtype(), from.shape());
            ((CopyLane) devices.get(device).lanes(lane).getFirst()).copy(from, to);
            buf[dst] = to;
            doneWriting(dst);
            doneReading(src);
        }

        /** Elements [start, end) of a value, into a 1-D block of their own (an elementwise tile's input range). */
        void rangeCopy(Task.Transfer x) {
            Tensor from = buf[x.src()];
            Tensor to = allocate(x.dst(), from.dtype(), Shape.of(x.end() - x.start()));
            ((CopyLane) devices.get(x.device()).lanes(x.lane()).getFirst()).copy(from, x.start() * from.dtype().byteSize(), to);
            buf[x.dst()] = to;
            doneWriting(x.dst());
            doneReading(x.src());
        }

        /**
         * Rows [start, end) (the axis before the last) of every plane: H2D gathers them from a whole host copy
         * into a band buffer; D2H scatters a band into a host copy of the whole value, which the first band
         * to arrive places (the plan chains a value's scatters, so they never run at once).
         */
        void rowCopy(Task.Transfer x) {
            Tensor from = buf[x.src()];
            CopyLane lane = (CopyLane) devices.get(x.device()).lanes(x.lane()).getFirst();
            long rows = x.end() - x.start();
            if (x.lane() == LaneKind.H2D) {
                long[] dims = from.shape().dims().clone();
                int r = dims.length;
                long height = dims[r - 2], row = dims[r - 1] * from.dtype().byteSize();
                dims[r - 2] = rows;
                Tensor to = allocate(x.dst(), from.dtype(), Shape.of(dims));
                lane.copyRuns(from.data(), x.start() * row, height * row, to.data(), 0, rows * row, rows * row, to.byteSize() / Math.max(1, rows * row));
                buf[x.dst()] = to;
                doneWriting(x.dst());
            } else {
                Tensor to = buf[x.dst()];
                if (to == null) {
                    TensorType type = plan.graph().typeOf(plan.buffers().get(x.dst()).value());
                    to = Tensor.allocate(type.dtype(), type.shape().toShape());
                    buf[x.dst()] = to;
                }
                long[] dims = to.shape().dims();
                int r = dims.length;
                long height = dims[r - 2], row = dims[r - 1] * to.dtype().byteSize();
                if (from.shape().dim(r - 2) != rows || from.byteSize() != to.byteSize() / height * rows) {
                    throw new SluiceException("band " + from.shape() + " does not hold rows [" + x.start() + ", " + x.end() + ") of " + to.shape());
                }
                lane.copyRuns(from.data(), 0, rows * row, to.data(), x.start() * row, height * row, rows * row, to.byteSize() / (height * row));
            }
            doneReading(x.src());
        }

        /**
         * A box of a value ({@link Tile.Kind#OUTPUT_BOX}): H2D gathers it from the whole host copy (seen with the
         * box's shape) into a dense buffer of its extents; D2H scatters a dense box into the host copy of the whole
         * value, which the first box to arrive places (the plan chains a value's scatters).
         */
        void boxCopy(Task.Transfer x) {
            Tensor from = buf[x.src()];
            Box box = x.box();
            CopyLane lane = (CopyLane) devices.get(x.device()).lanes(x.lane()).getFirst();
            long es = from.dtype().byteSize();
            if (x.lane() == LaneKind.H2D) {
                if (from.elementCount() != product(box.dims())) {
                    throw new SluiceException("box " + box + " of " + java.util.Arrays.toString(box.dims()) + " does not fit " + from.shape());
                }
                Tensor to = allocate(x.dst(), from.dtype(), box.extents());
                BoxRuns r = BoxRuns.of(box, es);
                lane.copyRuns(from.data(), r.big(), to.data(), r.dense(), r.runBytes());
                buf[x.dst()] = to;
                doneWriting(x.dst());
            } else {
                Tensor to = buf[x.dst()];
                if (to == null) {
                    TensorType type = plan.graph().typeOf(plan.buffers().get(x.dst()).value());
                    to = Tensor.allocate(type.dtype(), type.shape().toShape());
                    buf[x.dst()] = to;
                }
                if (to.elementCount() != product(box.dims()) || from.elementCount() != box.elementCount() || to.dtype() != from.dtype()) {
                    throw new SluiceException("box " + box + " (" + from + ") does not fit " + to);
                }
                BoxRuns r = BoxRuns.of(box, es);
                lane.copyRuns(from.data(), r.dense(), to.data(), r.big(), r.runBytes());
            }
            doneReading(x.src());
        }

        /** Elements [start, start + count of shape) of device buffer b, seen in place with {@code shape}. */
        Tensor view(int b, DType dtype, long start, Shape shape) {
            Buffer p = plan.buffers().get(b);
            if (p.onHost()) throw new SluiceException("'" + p.value() + "' is on the host: an elementwise tile reads device values");
            long off = start * dtype.byteSize();
            if (off % Tensor.ALIGNMENT != 0) throw new SluiceException("range at element " + start + " of '" + p.value() + "' is misaligned");
            long bytes = Tensor.BLOCK_PREFIX + Tensor.byteSize(dtype, shape);
            if (off + bytes > p.bytes()) throw new SluiceException("range of '" + p.value() + "' runs past its block");
            return Tensor.inBlock(dtype, shape, arenas[p.device()].view(p.offset() + off, bytes));
        }

        void kernel(Task.Kernel k) {
            if (k.tile() != null && k.tile().kind() == Tile.Kind.TIME_STEPS) { timeSteps(k); return; }
            if (k.tile() != null && k.tile().kind() == Tile.Kind.OUTPUT_ROWS) { rowTile(k); return; }
            if (k.tile() != null && k.tile().kind() == Tile.Kind.OUTPUT_BOX) { boxTile(k); return; }
            if (k.tile() != null && k.tile().kind() == Tile.Kind.HIDDEN_UNITS) { hiddenUnits(k); return; }
            if (k.tile() != null) { tile(k); return; }
            Node n = plan.graph().nodes().get(k.node());
            OpKernel kernel = registry.find(n.domain(), n.opType());
            if (kernel == null) throw new SluiceException("operator is not supported");
            ComputeLane lane = (ComputeLane) devices.get(k.device()).lanes(LaneKind.COMPUTE).getFirst();
            Call c = new Call(this, n, k, lane.parallelism());
            kernel.execute(c);
            for (int i = 0; i < k.outputs().size(); i++) {
                int b = k.outputs().get(i);
                if (b < 0) continue;
                if (c.outputs()[i] == null) throw new KernelException("kernel did not produce output " + i + " ('" + n.outputs().get(i) + "')");
                buf[b] = c.outputs()[i];
                doneWriting(b);
            }
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int b : k.inputs()) if (b >= 0 && seen.add(b)) doneReading(b);
            for (int b : k.captured()) if (b >= 0 && seen.add(b)) doneReading(b);
        }

        /**
         * One tile of a split node (see {@link dev.sluice.memgraph.Tile}). The first tile places the whole
         * output (zeroed); every tile writes its share; the last one publishes it to the output's readers.
         */
        void tile(Task.Kernel k) {
            Node n = plan.graph().nodes().get(k.node());
            Tile tile = k.tile();
            int ob = k.outputs().getFirst();
            TensorType type = plan.graph().typeOf(n.outputs().getFirst());
            if (tile.index() == 0) buf[ob] = allocate(ob, type.dtype(), type.shape().toShape());
            Tensor out = buf[ob];
            switch (tile.kind()) {
                case GATHER_ROWS -> gatherRows(n, tile, buf[k.inputs().get(0)], buf[k.inputs().get(1)], out);
                case OUTPUT_COLUMNS, OUTPUT_CHANNELS -> {
                    OpKernel kernel = registry.find(n.domain(), n.opType());
                    if (kernel == null) throw new SluiceException("operator is not supported");
                    ComputeLane lane = (ComputeLane) devices.get(k.device()).lanes(LaneKind.COMPUTE).getFirst();
                    Call c = new Call(this, n, k, lane.parallelism());
                    kernel.execute(c);
                    Tensor part = c.outputs()[0];
                    if (part == null) throw new KernelException("kernel did not produce its output");
                    long cols = tile.end() - tile.start(), es = out.dtype().byteSize();
                    if (tile.kind() == Tile.Kind.OUTPUT_CHANNELS) {
                        // NCHW: per batch item, channels [start, end) are one contiguous run of the output
                        long batch = out.shape().dim(0), run = part.elementCount() / batch, inner = run / cols;
                        for (long b = 0; b < batch; b++) {
                            java.lang.foreign.MemorySegment.copy(part.data(), b * run * es, out.data(),
                                (b * tile.total() + tile.start()) * inner * es, run * es);
                        }
                    } else {
                        long rows = part.elementCount() / cols;
                        for (long r = 0; r < rows; r++) {
                            java.lang.foreign.MemorySegment.copy(part.data(), r * cols * es, out.data(), (r * tile.total() + tile.start()) * es, cols * es);
                        }
                    }
                    release(k.scratch());
                }
                case ELEMENTS -> {
                    // Inputs: views of resident values' ranges or range copies (see Call.input); output: a view.
                    OpKernel kernel = registry.find(n.domain(), n.opType());
                    if (kernel == null) throw new SluiceException("operator is not supported");
                    ComputeLane lane = (ComputeLane) devices.get(k.device()).lanes(LaneKind.COMPUTE).getFirst();
                    Call c = new Call(this, n, k, lane.parallelism());
                    kernel.execute(c);
                    if (c.outputs()[0] == null) throw new KernelException("kernel did not produce its output");
                }
            }
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int b : k.inputs()) if (b >= 0 && seen.add(b)) doneReading(b);
            if (tile.index() == tile.count() - 1) doneWriting(ob);
        }

        /**
         * One time-step tile of a recurrent node ({@link Tile.Kind#TIME_STEPS}): the node's kernel runs as
         * {@link Tile#stepNode} on the tile's steps (see {@link Call#stepInput}, {@link Call#allocate}). The first
         * tile places the whole Y (zeroed, so steps past a sequence length stay 0), the last publishes it; the
         * state outputs are published at once to the next tile.
         */
        void timeSteps(Task.Kernel k) {
            Node n = plan.graph().nodes().get(k.node());
            Tile tile = k.tile();
            int yb = k.outputs().getFirst();
            if (tile.index() == 0 && yb >= 0) {
                TensorType type = plan.graph().typeOf(n.outputs().getFirst());
                buf[yb] = allocate(yb, type.dtype(), type.shape().toShape());
            }
            OpKernel kernel = registry.find(n.domain(), n.opType());
            if (kernel == null) throw new SluiceException("operator is not supported");
            ComputeLane lane = (ComputeLane) devices.get(k.device()).lanes(LaneKind.COMPUTE).getFirst();
            Call c = new Call(this, Tile.stepNode(n), k, lane.parallelism());
            kernel.execute(c);
            for (int i = 1; i < k.outputs().size(); i++) {
                int b = k.outputs().get(i);
                if (b < 0) continue;
                if (c.outputs()[i] == null) throw new KernelException("kernel did not produce state output " + i);
                buf[b] = c.outputs()[i];
                doneWriting(b);
            }
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int b : k.inputs()) if (b >= 0 && seen.add(b)) doneReading(b);
            if (tile.index() == tile.count() - 1 && yb >= 0) doneWriting(yb);
        }

        /**
         * A band of output rows (see {@link dev.sluice.memgraph.RowBands}): the node's kernel (a conv with the
         * band's pads) on its input bands and whole inputs, into its output band buffer.
         */
        void rowTile(Task.Kernel k) {
            Node n = RowBands.tileNode(plan.graph(), plan.graph().nodes().get(k.node()), k.tile());
            OpKernel kernel = registry.find(n.domain(), n.opType());
            if (kernel == null) throw new SluiceException("operator is not supported");
            ComputeLane lane = (ComputeLane) devices.get(k.device()).lanes(LaneKind.COMPUTE).getFirst();
            Call c = new Call(this, n, k, lane.parallelism());
            kernel.execute(c);
            Tensor part = c.outputs()[0];
            if (part == null) throw new KernelException("kernel did not produce its output");
            long rows = k.tile().end() - k.tile().start();
            if (part.rank() < 3 || part.shape().dim(part.rank() - 2) != rows) {
                throw new KernelException("band of " + rows + " rows of " + n.label() + " came out as " + part.shape());
            }
            int ob = k.outputs().getFirst();
            buf[ob] = part;
            doneWriting(ob);
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int b : k.inputs()) if (b >= 0 && seen.add(b)) doneReading(b);
        }

        /**
         * A box of a node's output ({@link Tile.Kind#OUTPUT_BOX}): the node its op family's tiling runs for the box,
         * on the input boxes and whole inputs the plan placed, into the tile's output box buffer.
         */
        void boxTile(Task.Kernel k) {
            OpTiling tiling = tilings.computeIfAbsent(k.node(), i -> OpTiling.of(plan.graph(), plan.graph().nodes().get(i)));
            if (tiling == null) throw new SluiceException("node " + plan.graph().nodes().get(k.node()).label() + " has no box tiling");
            Node n = tiling.node(k.tile().box());
            Box box = tiling.outputBox(k.tile().box());
            OpKernel kernel = registry.find(n.domain(), n.opType());
            if (kernel == null) throw new SluiceException("operator is not supported");
            ComputeLane lane = (ComputeLane) devices.get(k.device()).lanes(LaneKind.COMPUTE).getFirst();
            Call c = new Call(this, n, k, lane.parallelism());
            kernel.execute(c);
            Tensor part = c.outputs()[0];
            if (part == null) throw new KernelException("kernel did not produce its output");
            if (part.elementCount() != box.elementCount()) {
                throw new KernelException("tile " + box + " of " + n.label() + " came out as " + part.shape() + ", not " + box.extents());
            }
            int ob = k.outputs().getFirst();
            buf[ob] = part;
            doneWriting(ob);
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int b : k.inputs()) if (b >= 0 && seen.add(b)) doneReading(b);
        }

        /**
         * One hidden-unit tile of a recurrent node ({@link Tile.Kind#HIDDEN_UNITS}): the sluice-domain block form of
         * the op ({@link Tile#unitNode}) on one step, reading the whole state of the previous step and writing its
         * units' columns of Y's step (a view) and of the step's state buffers (see {@link Call#allocate}). The first
         * tile places the whole Y (zeroed: steps past a sequence length stay 0), the last publishes it; a step's
         * state buffers are placed by its first block and published by its last.
         */
        void hiddenUnits(Task.Kernel k) {
            Node n = plan.graph().nodes().get(k.node());
            Tile tile = k.tile();
            long hidden = Tile.hidden(plan.graph(), n);
            int yb = k.outputs().getFirst();
            if (tile.index() == 0 && yb >= 0) {
                TensorType type = plan.graph().typeOf(n.outputs().getFirst());
                buf[yb] = allocate(yb, type.dtype(), type.shape().toShape());
            }
            Node un = Tile.unitNode(n, hidden, tile, k.node());
            OpKernel kernel = registry.find(un.domain(), un.opType());
            if (kernel == null) throw new SluiceException("operator " + un.domain() + "." + un.opType() + " is not supported");
            ComputeLane lane = (ComputeLane) devices.get(k.device()).lanes(LaneKind.COMPUTE).getFirst();
            Call c = new Call(this, un, k, lane.parallelism());
            kernel.execute(c);
            boolean endOfStep = Tile.unitStart(tile, hidden) + tile.end() - tile.start() == hidden;
            for (int i = 1; i < k.outputs().size(); i++) {
                int b = k.outputs().get(i);
                if (b < 0) continue;
                if (c.outputs()[i] == null || c.outputs()[i] != buf[b]) throw new KernelException("kernel did not fill state output " + i + " in place");
                if (endOfStep) doneWriting(b);
            }
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int b : k.inputs()) if (b >= 0 && seen.add(b)) doneReading(b);
            if (tile.index() == tile.count() - 1 && yb >= 0) doneWriting(yb);
        }

        /** Copies the output rows whose index falls in this block of table rows; checks every index once. */
        void gatherRows(Node n, Tile tile, Tensor block, Tensor indices, Tensor out) {
            long rows = tile.total();
            long rowBytes = block.byteSize() / Math.max(1, tile.end() - tile.start());
            for (long p = 0; p < indices.elementCount(); p++) {
                long idx = indices.getLong(p);
                if (idx < -rows || idx >= rows) {
                    throw new KernelException("index " + idx + " at position " + p + " is out of range [" + -rows + ", " + rows + ")");
                }
                if (idx < 0) idx += rows;
                if (idx < tile.start() || idx >= tile.end()) continue;
                java.lang.foreign.MemorySegment.copy(block.data(), (idx - tile.start()) * rowBytes, out.data(), p * rowBytes, rowBytes);
            }
        }

        Tensor allocate(int b, DType dtype, Shape shape) {
            Buffer p = plan.buffers().get(b);
            if (p.onHost()) return Tensor.allocate(dtype, shape);
            long need = Tensor.blockBytes(Tensor.byteSize(dtype, shape));
            if (need > p.bytes()) {
                throw new SluiceException("'" + p.value() + "' is " + dtype + shape + " (" + need + " bytes), larger than the "
                    + p.bytes() + " bytes planned for it");
            }
            java.lang.foreign.MemorySegment block = arenas[p.device()].claim(p.offset(), p.bytes());
            block.fill((byte) 0); // kernels may count on zeroed outputs, as with fresh memory
            return Tensor.inBlock(dtype, shape, block);
        }

        /** A device block nobody reads is dead as soon as it is written. */
        void doneWriting(int b) { if (readersLeft.get(b) == 0) release(b); }

        void doneReading(int b) { if (readersLeft.decrementAndGet(b) == 0) release(b); }

        void release(int b) {
            Buffer p = plan.buffers().get(b);
            if (p.onHost()) return;
            arenas[p.device()].release(p.bytes());
            buf[b] = null;
        }
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

    private final class Call extends NodeCall {
        final RunState s;
        final Task.Kernel task;
        final Parallelism parallelism;

        Call(RunState s, Node node, Task.Kernel task, Parallelism parallelism) {
            super(node, model.opset(node.domain()));
            this.s = s;
            this.task = task;
            this.parallelism = parallelism;
        }

        @Override public boolean hasInput(int i) { return i >= 0 && i < task.inputs().size() && task.inputs().get(i) >= 0; }

        @Override protected Tensor inputValue(int i) {
            if (!hasInput(i)) return null;
            Tensor t = s.buf[task.inputs().get(i)];
            Tile tile = task.tile();
            if (tile != null && tile.kind() == Tile.Kind.TIME_STEPS) return stepInput(i, t, tile);
            if (tile != null && tile.kind() == Tile.Kind.HIDDEN_UNITS) {
                // Inputs as for a time-step tile of the one step, except the gate rows (blocks, read as they are).
                long step = Tile.unitStep(tile, Tile.hidden(plan.graph(), plan.graph().nodes().get(task.node())));
                return stepInput(i, t, new Tile(Tile.Kind.TIME_STEPS, 0, 1, step, step + 1, tile.total()));
            }
            if (tile != null && tile.kind() == Tile.Kind.ELEMENTS && plan.graph().initializers().get(node.inputs().get(i)) != t) {
                Shape shape = tileShape(tile);
                // A whole resident activation: this tile's range of it, in place; a range copy: seen with the tile's shape.
                if (t.elementCount() == tile.total()) t = s.view(task.inputs().get(i), t.dtype(), tile.start(), shape);
                else if (t.elementCount() == shape.elementCount() && !t.shape().equals(shape)) t = t.reshaped(shape);
            }
            return t;
        }

        /**
         * A time-step tile's view of its inputs: X's steps [start, end) (in place when X is resident whole, else
         * the range copy), sequence_lens shifted to the tile's first step; the rest (weights, the state handed
         * in) as they are.
         */
        Tensor stepInput(int i, Tensor t, Tile tile) {
            long steps = tile.end() - tile.start();
            if (i == 0) {
                Shape xs = plan.graph().typeOf(plan.graph().nodes().get(task.node()).inputs().getFirst()).shape().toShape();
                long row = xs.dim(1) * xs.dim(2);
                Shape shape = Shape.of(steps, xs.dim(1), xs.dim(2));
                if (t.elementCount() == xs.elementCount()) return s.view(task.inputs().getFirst(), t.dtype(), tile.start() * row, shape);
                if (t.elementCount() != shape.elementCount()) throw new KernelException("range of X has " + t.elementCount() + " elements for " + shape);
                return t.reshaped(shape);
            }
            if (i == 4) {
                long[] lens = new long[Math.toIntExact(t.elementCount())];
                for (int b = 0; b < lens.length; b++) lens[b] = Math.clamp(t.getLong(b) - tile.start(), 0, steps);
                return Tensor.ofLongs(Shape.of(lens.length), lens);
            }
            return t;
        }

        @Override public boolean inputIsInitializer(int i) {
            return hasInput(i) && plan.graph().initializers().get(node.inputs().get(i)) == input(i);
        }

        /**
         * The shape an elementwise tile's ranges are seen with: flat, or for a row-wise op (Softmax over the
         * last axis) whole rows with the node's rank, so that its axis still names the rows.
         */
        Shape tileShape(Tile tile) {
            long len = tile.end() - tile.start();
            long row = Tile.rowLength(plan.graph(), node);
            if (row <= 0) return Shape.of(len);
            int rank = plan.graph().typeOf(node.outputs().getFirst()).shape().toShape().rank();
            long[] dims = new long[rank];
            java.util.Arrays.fill(dims, 1);
            dims[0] = len / row;
            dims[rank - 1] = row;
            return Shape.of(dims);
        }

        @Override protected Tensor allocate(int i, DType dtype, Shape shape) {
            Tile tile = task.tile();
            if (tile != null && tile.kind() == Tile.Kind.ELEMENTS) {
                // An elementwise tile writes its range of the whole output in place.
                if (shape.elementCount() != tile.end() - tile.start()) {
                    throw new KernelException("elementwise tile of " + (tile.end() - tile.start()) + " elements produced " + shape);
                }
                return s.view(task.outputs().get(i), dtype, tile.start(), shape);
            }
            if (tile != null && tile.kind() == Tile.Kind.TIME_STEPS && i == 0 && task.outputs().getFirst() >= 0) {
                // Y's steps [start, end), in place ([seq, 1, batch, hidden]: one contiguous run per step range).
                long perStep = shape.elementCount() / (tile.end() - tile.start());
                if (shape.rank() != 4 || shape.dim(0) != tile.end() - tile.start()) throw new KernelException("time-step tile produced Y " + shape);
                return s.view(task.outputs().getFirst(), dtype, tile.start() * perStep, shape);
            }
            if (tile != null && tile.kind() == Tile.Kind.TIME_STEPS) {
                int b = task.outputs().get(i);
                return b < 0 ? Tensor.allocate(dtype, shape) : s.allocate(b, dtype, shape);
            }
            if (tile != null && tile.kind() == Tile.Kind.HIDDEN_UNITS) return unitOutput(i, dtype, shape, tile);
            // A tile computes its columns into its scratch block; the task then copies them into the output.
            // A band of rows computes into its own output band.
            int b = tile != null && tile.kind() != Tile.Kind.OUTPUT_ROWS && tile.kind() != Tile.Kind.OUTPUT_BOX
                ? task.scratch() : task.outputs().get(i);
            return b < 0 ? Tensor.allocate(dtype, shape) : s.allocate(b, dtype, shape);
        }

        /**
         * A hidden-unit tile's outputs, written column block by column block: Y's step in place (a view of the
         * whole Y, [1, 1, batch, hidden]); a state buffer placed (zeroed) by the step's first block and handed as
         * it is to the later blocks of the step; an unread final state in a buffer of its own.
         */
        Tensor unitOutput(int i, DType dtype, Shape shape, Tile tile) {
            int b = task.outputs().get(i);
            if (b < 0) return Tensor.allocate(dtype, shape);
            long hidden = Tile.hidden(plan.graph(), plan.graph().nodes().get(task.node()));
            if (i == 0) {
                if (shape.rank() != 4 || shape.dim(0) != 1) throw new KernelException("hidden-unit tile produced Y " + shape);
                return s.view(b, dtype, Tile.unitStep(tile, hidden) * shape.elementCount(), shape);
            }
            if (Tile.unitStart(tile, hidden) == 0) {
                s.buf[b] = s.allocate(b, dtype, shape);
                return s.buf[b];
            }
            Tensor t = s.buf[b];
            if (t == null || !t.shape().equals(shape) || t.dtype() != dtype) throw new KernelException("state output " + i + " of the step is not placed as " + dtype + shape);
            return t;
        }

        @Override public List<Tensor> runSubgraph(Subgraph sub, List<Tensor> in) {
            Graph sg = (Graph) sub;
            if (in.size() != sg.inputs().size()) {
                throw new KernelException("subgraph '" + sg.name() + "' takes " + sg.inputs().size() + " inputs, got " + in.size());
            }
            // The captured values of this node are the subgraph's outer scope; its own inputs shadow them.
            Map<String, Tensor> feeds = new HashMap<>();
            List<String> names = MemGraph.capturedNames(node, plan.graph());
            for (int i = 0; i < names.size(); i++) {
                int b = task.captured().get(i);
                if (b >= 0) feeds.put(names.get(i), s.buf[b]);
            }
            for (int i = 0; i < in.size(); i++) if (in.get(i) != null) feeds.put(sg.inputs().get(i).name(), in.get(i));
            GraphExecutor ex = subgraphs.computeIfAbsent(sg, x -> new GraphExecutor(model.withGraph(x), registry, parallelism));
            return new ArrayList<>(ex.run(feeds, OutputAllocator.FRESH, ExecutionListener.NONE).values());
        }

        @Override public Parallelism parallelism() { return parallelism; }
    }
}
