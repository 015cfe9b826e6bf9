package dev.sluice.runtime.dispatch;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.NodeCall;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A kernel's view of one kernel task: its inputs are the task's buffers and its outputs go where the plan placed
 * them, both as the task's tile kind sees them ({@link TileRun#input}, {@link TileRun#allocate}: views of a range,
 * steps, a scratch block). Subgraphs run on the host with the task's captured buffers as their outer scope.
 */
final class TaskCall extends NodeCall {
    final MemGraphRun run;
    final Task.Kernel task;
    private final TileRun tile;
    private final Parallelism parallelism;
    /**
     * Whether views into the middle of a block are staged (see {@link MemGraphExecutor#writesHeaders}): the kernel
     * then gets a copy in a block of its own ({@link #stagedIn}), or writes an output into one ({@link #stagedOut})
     * that {@link #unstage} copies into the view afterwards. Never for the host's or the throttled device's kernels.
     */
    private final boolean stageViews;
    private Tensor[] stagedIn;
    private Tensor[] stagedOut;
    private Tensor[] viewOut;

    TaskCall(MemGraphRun run, Node node, Task.Kernel task, Parallelism parallelism, boolean stageViews) {
        super(node, run.ex.model().opset(node.domain()));
        this.run = run;
        this.task = task;
        this.tile = TileRun.of(task.tile());
        this.parallelism = parallelism;
        this.stageViews = stageViews;
    }

    /**
     * True when {@code v} starts strictly inside {@code whole}'s data: a view whose header slot (the bytes right before
     * its data) is some other element of {@code whole}, which a kernel writing headers would overwrite.
     */
    private static boolean inside(Tensor v, Tensor whole) {
        if (v == null || whole == null || v == whole || !v.data().isNative() || !whole.data().isNative()) return false;
        long a = v.data().address(), lo = whole.data().address();
        return a > lo && a < lo + whole.byteSize();
    }

    /** Copies staged outputs into the views they stand for (after the kernel ran) and frees the staging copies. */
    void unstage() {
        if (stagedOut != null) {
            for (int i = 0; i < stagedOut.length; i++) {
                if (stagedOut[i] == null) continue;
                java.lang.foreign.MemorySegment.copy(stagedOut[i].data(), 0, viewOut[i].data(), 0, viewOut[i].byteSize());
                stagedOut[i].close();
                outputs()[i] = viewOut[i];
            }
        }
        if (stagedIn != null) for (Tensor t : stagedIn) if (t != null) t.close();
    }

    /** The node this call runs (the task's node, or the form its tile runs). */
    Node node() { return node; }

    Graph graph() { return run.plan.graph(); }

    @Override public boolean hasInput(int i) { return i >= 0 && i < task.inputs().size() && task.inputs().get(i) >= 0; }

    @Override protected Tensor inputValue(int i) {
        if (!hasInput(i)) return null;
        Tensor t = run.buf[task.inputs().get(i)];
        Tensor v = tile.input(this, i, t);
        if (!stageViews || !inside(v, t)) return v;
        if (stagedIn == null) stagedIn = new Tensor[task.inputs().size()];
        if (stagedIn[i] == null) stagedIn[i] = v.copy();
        return stagedIn[i];
    }

    @Override public boolean inputIsInitializer(int i) {
        return hasInput(i) && graph().initializers().get(node.inputs().get(i)) == input(i);
    }

    @Override protected Tensor allocate(int i, DType dtype, Shape shape) {
        Tensor o = tile.allocate(this, i, dtype, shape);
        int b = i < task.outputs().size() ? task.outputs().get(i) : -1;
        if (!stageViews || b < 0 || !inside(o, run.buf[b])) return o;
        if (stagedOut == null) {
            stagedOut = new Tensor[outputCount()];
            viewOut = new Tensor[outputCount()];
        }
        viewOut[i] = o;
        stagedOut[i] = Tensor.allocateOwned(dtype, shape);
        return stagedOut[i];
    }

    /** Output i in the buffer the task names for it (plain memory where it names none). */
    Tensor inPlannedBuffer(int i, DType dtype, Shape shape) {
        int b = task.outputs().get(i);
        return b < 0 ? Tensor.allocate(dtype, shape) : run.allocate(b, dtype, shape);
    }

    @Override public List<Tensor> runSubgraph(Subgraph sub, List<Tensor> in) {
        Graph sg = (Graph) sub;
        if (in.size() != sg.inputs().size()) {
            throw new KernelException("subgraph '" + sg.name() + "' takes " + sg.inputs().size() + " inputs, got " + in.size());
        }
        // The captured values of this node are the subgraph's outer scope; its own inputs shadow them.
        Map<String, Tensor> feeds = new HashMap<>();
        List<String> names = MemGraph.capturedNames(node, graph());
        for (int i = 0; i < names.size(); i++) {
            int b = task.captured().get(i);
            if (b >= 0) feeds.put(names.get(i), run.buf[b]);
        }
        for (int i = 0; i < in.size(); i++) if (in.get(i) != null) feeds.put(sg.inputs().get(i).name(), in.get(i));
        GraphExecutor sx = run.ex.subgraphExecutor(sg, parallelism, task.device());
        return new ArrayList<>(sx.run(feeds, OutputAllocator.FRESH, ExecutionListener.NONE).values());
    }

    @Override public Parallelism parallelism() { return parallelism; }
}
