package dev.sluice.runtime.exec;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.NodeCall;
import dev.sluice.graph.Value;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.exec.CompiledGraph.Frame;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The reference executor: runs a graph's nodes one after another in topological order with the CPU
 * kernels, releasing each intermediate after its last reader. Subgraphs (If, Loop) run recursively in a
 * frame that sees the enclosing values. Each graph is compiled once ({@link CompiledGraph}: kernels and
 * int slots resolved) on first use; a run then touches no name maps on its hot path. Stateless between
 * runs; safe to share across threads.
 */
public final class GraphExecutor {
    private final Model model;
    private final OpRegistry registry;
    private final Parallelism parallelism;
    /** The top-level graph and every subgraph beneath it, compiled; built on first run. */
    private volatile Map<Graph, CompiledGraph> compiled;

    public GraphExecutor(Model model, OpRegistry registry, Parallelism parallelism) {
        this.model = model;
        this.registry = registry;
        this.parallelism = parallelism;
    }

    public Model model() { return model; }

    /** The worker pool the nodes run on. */
    public Parallelism parallelism() { return parallelism; }

    /** An executor of another model (a transformed copy of this one, say) with the same kernels and threads. */
    public GraphExecutor withModel(Model other) { return new GraphExecutor(other, registry, parallelism); }

    /** Runs the main graph on the given inputs; returns its outputs by name. */
    public Map<String, Tensor> run(Map<String, Tensor> feeds, OutputAllocator alloc, ExecutionListener listener) {
        CompiledGraph code = compiled(model.graph());
        Frame frame = new Frame(code, null);
        for (Map.Entry<String, Tensor> e : feeds.entrySet()) {
            Integer s = code.slotOf.get(e.getKey());
            if (s != null) frame.slots[s] = e.getValue();
        }
        runSteps(frame, alloc, listener, true);
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<Value> outs = model.graph().outputs();
        for (int i = 0; i < outs.size(); i++) out.put(outs.get(i).name(), frame.slots[code.outputSlots[i]]);
        return out;
    }

    /** The compiled form of a graph of this model (identity lookup); graphs from elsewhere compile afresh. */
    private CompiledGraph compiled(Graph g) {
        Map<Graph, CompiledGraph> m = compiled;
        if (m == null) {
            Map<Graph, CompiledGraph> all = new IdentityHashMap<>();
            compileAll(model.graph(), true, all);
            compiled = m = all;
        }
        CompiledGraph c = m.get(g);
        return c != null ? c : CompiledGraph.of(g, model, registry, false);
    }

    private void compileAll(Graph g, boolean top, Map<Graph, CompiledGraph> into) {
        if (into.containsKey(g)) return;
        into.put(g, CompiledGraph.of(g, model, registry, top));
        for (Node n : g.nodes()) for (Graph sg : n.subgraphs()) compileAll(sg, false, into);
    }

    private void runSteps(Frame frame, OutputAllocator alloc, ExecutionListener listener, boolean top) {
        CompiledGraph code = frame.code;
        CompiledGraph.Step[] steps = code.steps;
        boolean observed = listener != ExecutionListener.NONE;
        for (int step = 0; step < steps.length; step++) {
            CompiledGraph.Step st = steps[step];
            Node n = st.node();
            OpKernel k = st.kernel();
            if (k == null) throw new SluiceException("node " + n.label() + ": operator is not supported");
            int[] inSlots = st.in();
            Tensor[] ins = new Tensor[inSlots.length];
            for (int i = 0; i < inSlots.length; i++) {
                if (inSlots[i] < 0) continue;
                Tensor t = frame.get(inSlots[i]);
                if (t == null) throw new SluiceException("node " + n.label() + ": input '" + n.inputs().get(i) + "' has no value");
                ins[i] = t;
            }
            if (top) listener.beforeNode(step, n);
            Call call = new Call(st, ins, frame, alloc, listener, top ? step : -1);
            long t0 = top || observed ? System.nanoTime() : 0;
            try {
                k.execute(call);
            } catch (NodeFailure f) {
                throw f;
            } catch (SluiceException e) {
                throw new NodeFailure("node " + n.label() + ": " + e.getMessage(), e);
            } catch (ArithmeticException | IndexOutOfBoundsException | IllegalArgumentException | IllegalStateException e) {
                throw new NodeFailure("node " + n.label() + ": " + e, e);
            }
            long dt = top || observed ? System.nanoTime() - t0 : 0;
            Tensor[] produced = call.outputs();
            int[] outSlots = st.out();
            for (int i = 0; i < outSlots.length; i++) {
                if (outSlots[i] < 0) continue;
                Tensor t = produced[i];
                if (t == null) throw new NodeFailure("node " + n.label() + ": kernel did not produce output " + i + " ('" + n.outputs().get(i) + "')", null);
                frame.slots[outSlots[i]] = t;
            }
            if (top) {
                if (observed) {
                    List<Tensor> outs = new ArrayList<>(outSlots.length);
                    for (int i = 0; i < outSlots.length; i++) outs.add(outSlots[i] < 0 ? null : produced[i]);
                    listener.afterNode(step, n, outs, dt);
                }
                // release values whose last reader was this node
                for (int s : st.release()) {
                    Tensor t = frame.slots[s];
                    frame.slots[s] = null;
                    if (t != null && observed) listener.released(step, code.names[s], t);
                }
            } else if (observed) {
                listener.afterInnerNode(n, dt);
            }
        }
    }

    /** A kernel failure already labelled with its node. */
    public static final class NodeFailure extends SluiceException {
        NodeFailure(String message, Throwable cause) { super(message, cause); }
    }

    private final class Call extends NodeCall {
        private final CompiledGraph.Step st;
        private final Tensor[] inputs;
        private final Frame frame;
        private final OutputAllocator alloc;
        private final ExecutionListener listener;
        private final int step;

        Call(CompiledGraph.Step st, Tensor[] inputs, Frame frame, OutputAllocator alloc, ExecutionListener listener, int step) {
            super(st.node(), st.opset());
            this.st = st;
            this.inputs = inputs;
            this.frame = frame;
            this.alloc = alloc;
            this.listener = listener;
            this.step = step;
        }

        @Override protected Tensor inputValue(int i) { return i >= 0 && i < inputs.length ? inputs[i] : null; }

        @Override public boolean inputIsInitializer(int i) {
            Tensor t = inputValue(i);
            if (t == null || i >= node.inputs().size()) return false;
            String name = node.inputs().get(i);
            return frame.code.graph.initializers().get(name) == t || model.graph().initializers().get(name) == t;
        }

        @Override protected Tensor allocate(int i, DType dtype, Shape shape) {
            // Unwanted optional outputs and subgraph values get fresh memory; the plan covers the top level only.
            if (step < 0) return frame.fresh(dtype, shape);
            int slot = st.out()[i];
            if (slot < 0) return Tensor.allocate(dtype, shape);
            // what the caller gets back owns its memory, so that closing it recycles the memory at once
            if (frame.code.graphOutput[slot]) return Tensor.allocateOwned(dtype, shape);
            return alloc.allocate(step, node, i, dtype, shape);
        }

        @Override public List<Tensor> runSubgraph(Subgraph sub, List<Tensor> in) {
            Graph sg = (Graph) sub;
            if (in.size() != sg.inputs().size()) {
                throw new KernelException("subgraph '" + sg.name() + "' takes " + sg.inputs().size() + " inputs, got " + in.size());
            }
            CompiledGraph code = compiled(sg);
            Frame inner = new Frame(code, frame);
            for (int i = 0; i < in.size(); i++) {
                if (in.get(i) != null) inner.slots[code.inputSlots[i]] = in.get(i);
            }
            runSteps(inner, alloc, listener, false);
            inner.finish();
            List<Tensor> out = new ArrayList<>(code.outputSlots.length);
            for (int i = 0; i < code.outputSlots.length; i++) {
                Tensor t = inner.get(code.outputSlots[i]);
                if (t == null) throw new KernelException("subgraph '" + sg.name() + "' output '" + sg.outputs().get(i).name() + "' has no value");
                out.add(t);
            }
            return out;
        }

        @Override public Parallelism parallelism() { return parallelism; }
    }
}
