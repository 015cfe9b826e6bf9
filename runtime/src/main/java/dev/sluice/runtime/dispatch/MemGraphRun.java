package dev.sluice.runtime.dispatch;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.memgraph.Box;
import dev.sluice.memgraph.Buffer;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.device.ComputeLane;
import dev.sluice.runtime.device.CopyLane;
import dev.sluice.runtime.device.DeviceArena;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * One run of a {@link MemGraph}: the tensor in each planned buffer, the readers each buffer still has, and each
 * device's arena. Runs a task on the lane thread the dispatcher picks: a copy by its shape (whole, element range,
 * rows, box), a kernel by its tile's {@link TileRun}. Invariants: a device buffer is claimed at its planned offset
 * when it is written and released when its last reader is done (or at once if nobody reads it), so the arena's own
 * count of live bytes checks the plan's promise on every run; a host buffer is plain memory: a result in memory the
 * caller owns, an intermediate in the run's own host arena, freed when the run is {@link #close closed} (at its
 * end, success or failure) rather than whenever a collection finds it: a placed run's intermediates outlive many
 * young collections, and native memory held by old objects went back only at a full collection, so a bench of
 * many configurations grew by gigabytes it no longer used.
 */
final class MemGraphRun {
    final MemGraphExecutor ex;
    final MemGraph plan;
    final Tensor[] buf;
    final AtomicIntegerArray readersLeft;
    final DeviceArena[] arenas;

    /** Host intermediates of this run (not results, which the caller owns); shared: any lane may write one. */
    private final java.lang.foreign.Arena hostArena = java.lang.foreign.Arena.ofShared();
    private final boolean[] result;
    private long hostBytes;
    /** Bytes of host intermediates in runs not yet closed, over all runs: zero whenever no run is open. */
    private static final java.util.concurrent.atomic.AtomicLong OPEN_HOST_BYTES = new java.util.concurrent.atomic.AtomicLong();

    /** Bytes of host intermediates held by runs not yet closed (the accounting a leak test checks). */
    static long openHostBytes() { return OPEN_HOST_BYTES.get(); }

    MemGraphRun(MemGraphExecutor ex, Map<String, Tensor> feeds, DeviceArena[] arenas) {
        this.ex = ex;
        this.plan = ex.plan();
        this.arenas = arenas;
        buf = new Tensor[plan.buffers().size()];
        Graph g = plan.graph();
        for (var e : plan.sources().entrySet()) {
            Tensor t = feeds.containsKey(e.getKey()) ? feeds.get(e.getKey()) : g.initializers().get(e.getKey());
            if (t == null) throw new SluiceException("input '" + e.getKey() + "' has no value");
            buf[e.getValue()] = t;
        }
        readersLeft = new AtomicIntegerArray(plan.readerCounts());
        result = new boolean[plan.buffers().size()];
        for (int b : plan.results().values()) result[b] = true;
    }

    /**
     * The run's results, each in memory of its own: a result that is a view of an intermediate (a kernel that
     * passes its input through) is copied out before the intermediates go.
     */
    Map<String, Tensor> results() {
        Map<String, Tensor> out = new java.util.LinkedHashMap<>();
        for (var e : plan.results().entrySet()) {
            Tensor t = buf[e.getValue()];
            out.put(e.getKey(), t != null && t.data().scope().equals(hostArena.scope()) ? t.copy() : t);
        }
        return out;
    }

    /** Frees the run's host intermediates; results from {@link #results()} stay valid. */
    void close() {
        hostArena.close();
        OPEN_HOST_BYTES.addAndGet(-hostBytes);
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
            ev.device = ex.device(t.device()).name();
            ev.lane = t.lane().name();
            ev.bytes = t.bytes();
            ev.commit();
        }
    }

    private void run(Task t) {
        switch (t) {
            case Task.Kernel k -> TileRun.of(k.tile()).execute(this, k);
            case Task.Transfer x when x.boxed() -> boxCopy(x);
            case Task.Transfer x when x.rows() -> rowCopy(x);
            case Task.Transfer x when x.ranged() -> rangeCopy(x);
            case Task.Transfer x -> copy(x.device(), x.lane(), x.src(), x.dst());
            case Task.Offload x -> copy(x.device(), x.lane(), x.src(), x.dst());
            case Task.Reload x -> copy(x.device(), x.lane(), x.src(), x.dst());
        }
    }

    Node node(Task.Kernel k) { return plan.graph().nodes().get(k.node()); }

    /** Runs node {@code n}'s kernel (the task's node, or the form its tile runs) for task k; returns the call. */
    TaskCall runKernel(Node n, Task.Kernel k) {
        OpKernel kernel = ex.registry(k.device()).find(n.domain(), n.opType());
        if (kernel == null) {
            throw new SluiceException("operator " + (n.domain().isEmpty() ? "" : n.domain() + ".") + n.opType() + " is not supported");
        }
        ComputeLane lane = ex.computeLane(k.device());
        TaskCall c = new TaskCall(this, n, k, lane.parallelism(), ex.writesHeaders(k.device()));
        kernel.execute(c);
        c.unstage();
        return c;
    }

    /** Task k is done with its inputs and captured values (each counted once). */
    void doneReadingInputs(Task.Kernel k) {
        List<Integer> in = k.inputs(), cap = k.captured();
        int ni = in.size(), n = ni + cap.size();
        // A buffer read twice counts once: a scan of the few before it, rather than a set allocated per task.
        for (int i = 0; i < n; i++) {
            int b = i < ni ? in.get(i) : cap.get(i - ni);
            if (b < 0) continue;
            boolean seen = false;
            for (int j = 0; j < i && !seen; j++) seen = (j < ni ? in.get(j) : cap.get(j - ni)) == b;
            if (!seen) doneReading(b);
        }
    }

    private CopyLane copyLane(int device, LaneKind lane) { return ex.copyLane(device, lane); }

    void copy(int device, LaneKind lane, int src, int dst) {
        Tensor from = buf[src];
        Tensor to = allocate(dst, from.dtype(), from.shape());
        copyLane(device, lane).copy(Dispatcher.taskReadyNanos(), from, to);
        buf[dst] = to;
        doneWriting(dst);
        doneReading(src);
    }

    /** Elements [start, end) of a value, into a 1-D block of their own (an elementwise tile's input range). */
    void rangeCopy(Task.Transfer x) {
        Tensor from = buf[x.src()];
        Tensor to = allocate(x.dst(), from.dtype(), Shape.of(x.end() - x.start()));
        copyLane(x.device(), x.lane()).copy(Dispatcher.taskReadyNanos(), from, x.start() * from.dtype().byteSize(), to);
        buf[x.dst()] = to;
        doneWriting(x.dst());
        doneReading(x.src());
    }

    /** The host copy of a whole value that scatters write into: placed by the first to arrive (the plan chains them). */
    private Tensor wholeOnHost(int dst) {
        Tensor to = buf[dst];
        if (to == null) {
            TensorType type = plan.graph().typeOf(plan.buffers().get(dst).value());
            to = Tensor.allocate(type.dtype(), type.shape().toShape());
            buf[dst] = to;
        }
        return to;
    }

    /**
     * Rows [start, end) (the axis before the last) of every plane: H2D gathers them from a whole host copy
     * into a band buffer; D2H scatters a band into a host copy of the whole value, which the first band
     * to arrive places (the plan chains a value's scatters, so they never run at once). A local copy (the
     * compute lane, both buffers on the device) gathers from a resident whole or scatters into a whole kept
     * resident, which the first band places in its planned block (the transfer says which: {@link Task.Transfer#scatter}).
     */
    void rowCopy(Task.Transfer x) {
        Tensor from = buf[x.src()];
        boolean local = x.local();
        CopyLane lane = local ? null : copyLane(x.device(), x.lane());
        long rows = x.end() - x.start();
        boolean gather = local ? localGather(x) : x.lane() == LaneKind.H2D;
        if (gather) {
            long[] dims = from.shape().dims().clone();
            int r = dims.length;
            long height = dims[r - 2], row = dims[r - 1] * from.dtype().byteSize();
            dims[r - 2] = rows;
            Tensor to = allocate(x.dst(), from.dtype(), Shape.of(dims));
            copyRuns(lane, from.data(), x.start() * row, height * row, to.data(), 0, rows * row, rows * row, to.byteSize() / Math.max(1, rows * row));
            buf[x.dst()] = to;
            doneWriting(x.dst());
        } else {
            Tensor to = local ? wholeOnDevice(x.dst()) : wholeOnHost(x.dst());
            long[] dims = to.shape().dims();
            int r = dims.length;
            long height = dims[r - 2], row = dims[r - 1] * to.dtype().byteSize();
            if (from.shape().dim(r - 2) != rows || from.byteSize() != to.byteSize() / height * rows) {
                throw new SluiceException("band " + from.shape() + " does not hold rows [" + x.start() + ", " + x.end() + ") of " + to.shape());
            }
            copyRuns(lane, from.data(), 0, rows * row, to.data(), x.start() * row, height * row, rows * row, to.byteSize() / (height * row));
        }
        doneReading(x.src());
    }

    /**
     * Whether a local copy gathers (a part out of a whole) rather than scatters: as the transfer says. A part is never
     * larger than its whole, so a copy whose blocks say otherwise was planned with the wrong direction: refused by name
     * rather than run past a block's end.
     */
    private boolean localGather(Task.Transfer x) {
        long src = plan.buffers().get(x.src()).bytes(), dst = plan.buffers().get(x.dst()).bytes();
        if (x.scatter() ? src > dst : dst > src) {
            throw new SluiceException("local copy '" + x.label() + "' is planned as a " + (x.scatter() ? "scatter" : "gather")
                + " from " + src + " bytes into " + dst + ": its part is larger than its whole");
        }
        return !x.scatter();
    }

    /** The device block of a whole value that local scatters write into: claimed by the first (the plan chains them). */
    private Tensor wholeOnDevice(int dst) {
        Tensor to = buf[dst];
        if (to == null) {
            TensorType type = plan.graph().typeOf(plan.buffers().get(dst).value());
            to = allocate(dst, type.dtype(), type.shape().toShape());
            buf[dst] = to;
        }
        return to;
    }

    /** A strided copy on a link lane (paced), or a plain one inside the device (lane null). */
    private static void copyRuns(CopyLane lane, java.lang.foreign.MemorySegment src, long srcOffset, long srcStride,
                                 java.lang.foreign.MemorySegment dst, long dstOffset, long dstStride, long runBytes, long runs) {
        if (lane != null) { lane.copyRuns(Dispatcher.taskReadyNanos(), src, srcOffset, srcStride, dst, dstOffset, dstStride, runBytes, runs); return; }
        for (long i = 0; i < runs; i++) java.lang.foreign.MemorySegment.copy(src, srcOffset + i * srcStride, dst, dstOffset + i * dstStride, runBytes);
    }

    /**
     * A box of a value: H2D gathers it from the whole host copy (seen with the box's shape) into a dense buffer of
     * its extents; D2H scatters a dense box into the host copy of the whole value, which the first box to arrive
     * places (the plan chains a value's scatters). A local copy (the compute lane) does either on the device: from a
     * resident whole, or into a whole kept resident ({@link Task.Transfer#scatter}).
     */
    void boxCopy(Task.Transfer x) {
        Tensor from = buf[x.src()];
        Box box = x.box();
        boolean local = x.local();
        CopyLane lane = local ? null : copyLane(x.device(), x.lane());
        long es = from.dtype().byteSize();
        boolean gather = local ? localGather(x) : x.lane() == LaneKind.H2D;
        if (gather) {
            if (from.elementCount() != MemGraphExecutor.product(box.dims())) {
                throw new SluiceException("box " + box + " of " + java.util.Arrays.toString(box.dims()) + " does not fit " + from.shape());
            }
            Tensor to = allocate(x.dst(), from.dtype(), box.extents());
            MemGraphExecutor.BoxRuns r = MemGraphExecutor.BoxRuns.of(box, es);
            copyRuns(lane, from.data(), r.big(), to.data(), r.dense(), r.runBytes());
            buf[x.dst()] = to;
            doneWriting(x.dst());
        } else {
            Tensor to = local ? wholeOnDevice(x.dst()) : wholeOnHost(x.dst());
            if (to.elementCount() != MemGraphExecutor.product(box.dims()) || from.elementCount() != box.elementCount() || to.dtype() != from.dtype()) {
                throw new SluiceException("box " + box + " (" + from + ") does not fit " + to);
            }
            MemGraphExecutor.BoxRuns r = MemGraphExecutor.BoxRuns.of(box, es);
            copyRuns(lane, from.data(), r.dense(), to.data(), r.big(), r.runBytes());
        }
        doneReading(x.src());
    }

    /** Runs at the given offsets on a link lane (paced), or plainly inside the device (lane null). */
    private static void copyRuns(CopyLane lane, java.lang.foreign.MemorySegment src, long[] srcOffsets, java.lang.foreign.MemorySegment dst,
                                 long[] dstOffsets, long runBytes) {
        if (lane != null) { lane.copyRuns(Dispatcher.taskReadyNanos(), src, srcOffsets, dst, dstOffsets, runBytes); return; }
        for (int i = 0; i < srcOffsets.length; i++) java.lang.foreign.MemorySegment.copy(src, srcOffsets[i], dst, dstOffsets[i], runBytes);
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

    Tensor allocate(int b, DType dtype, Shape shape) {
        Buffer p = plan.buffers().get(b);
        if (p.onHost() && result[b]) return Tensor.allocateOwned(dtype, shape); // the caller's: closing it frees it
        if (p.onHost()) {
            Tensor t = Tensor.allocate(dtype, shape, hostArena);
            long bytes = t.data().byteSize();
            synchronized (this) { hostBytes += bytes; }
            OPEN_HOST_BYTES.addAndGet(bytes);
            return t;
        }
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
