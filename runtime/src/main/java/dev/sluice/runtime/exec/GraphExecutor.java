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
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The reference executor: runs a graph's nodes one after another in topological order with the CPU
 * kernels, releasing each intermediate after its last reader. Subgraphs (If, Loop) run recursively in a
 * scope that sees the enclosing values. Stateless between runs; safe to share across threads.
 */
public final class GraphExecutor {
    private final Model model;
    private final OpRegistry registry;
    private final Parallelism parallelism;
    private final Map<Graph, int[]> lastUseCache = new ConcurrentHashMap<>();

    public GraphExecutor(Model model, OpRegistry registry, Parallelism parallelism) {
        this.model = model;
        this.registry = registry;
        this.parallelism = parallelism;
    }

    public Model model() { return model; }

    /** An executor of another model (a transformed copy of this one, say) with the same kernels and threads. */
    public GraphExecutor withModel(Model other) { return new GraphExecutor(other, registry, parallelism); }

    /** Runs the main graph on the given inputs; returns its outputs by name. */
    public Map<String, Tensor> run(Map<String, Tensor> feeds, OutputAllocator alloc, ExecutionListener listener) {
        Graph g = model.graph();
        Scope scope = new Scope(null);
        scope.values.putAll(g.initializers());
        scope.values.putAll(feeds);
        runNodes(g, scope, alloc, listener, true);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Value v : g.outputs()) out.put(v.name(), scope.lookup(v.name()));
        return out;
    }

    private void runNodes(Graph g, Scope scope, OutputAllocator alloc, ExecutionListener listener, boolean top) {
        int[] lastUse = lastUseCache.computeIfAbsent(g, GraphExecutor::lastUses);
        List<Node> nodes = g.nodes();
        Map<String, Integer> index = top ? indexOfValues(g) : null;
        for (int step = 0; step < nodes.size(); step++) {
            Node n = nodes.get(step);
            OpKernel k = registry.find(n.domain(), n.opType());
            if (k == null) throw new SluiceException("node " + n.label() + ": operator is not supported");
            List<Tensor> ins = new ArrayList<>(n.inputs().size());
            for (String in : n.inputs()) {
                if (in.isEmpty()) { ins.add(null); continue; }
                Tensor t = scope.lookup(in);
                if (t == null) throw new SluiceException("node " + n.label() + ": input '" + in + "' has no value");
                ins.add(t);
            }
            if (top) listener.beforeNode(step, n);
            Call call = new Call(n, ins, scope, alloc, listener, top ? step : -1);
            call.graph = g;
            long t0 = System.nanoTime();
            try {
                k.execute(call);
            } catch (NodeFailure f) {
                throw f;
            } catch (SluiceException e) {
                throw new NodeFailure("node " + n.label() + ": " + e.getMessage(), e);
            } catch (ArithmeticException | IndexOutOfBoundsException | IllegalArgumentException | IllegalStateException e) {
                throw new NodeFailure("node " + n.label() + ": " + e, e);
            }
            long dt = System.nanoTime() - t0;
            List<Tensor> outs = new ArrayList<>(n.outputs().size());
            for (int i = 0; i < n.outputs().size(); i++) {
                String o = n.outputs().get(i);
                Tensor t = call.outputs()[i];
                if (!o.isEmpty()) {
                    if (t == null) throw new NodeFailure("node " + n.label() + ": kernel did not produce output " + i + " ('" + o + "')", null);
                    scope.values.put(o, t);
                }
                outs.add(o.isEmpty() ? null : t);
            }
            if (top) {
                listener.afterNode(step, n, outs, dt);
                // release values whose last reader was this node
                for (String in : n.inputs()) release(in, step, lastUse, index, scope, listener, g);
                for (String o : n.outputs()) release(o, step, lastUse, index, scope, listener, g);
            }
        }
    }

    private static void release(String name, int step, int[] lastUse, Map<String, Integer> index, Scope scope,
                                ExecutionListener listener, Graph g) {
        if (name.isEmpty()) return;
        Integer id = index.get(name);
        if (id == null || lastUse[id] != step) return;
        if (g.initializers().containsKey(name)) return;
        Tensor t = scope.values.remove(name);
        if (t != null) listener.released(step, name, t);
    }

    /** Value ids of a graph: its inputs, initializers and node outputs, in order. */
    private static Map<String, Integer> indexOfValues(Graph g) {
        Map<String, Integer> idx = new HashMap<>();
        for (Value v : g.inputs()) idx.putIfAbsent(v.name(), idx.size());
        for (String i : g.initializers().keySet()) idx.putIfAbsent(i, idx.size());
        for (Node n : g.nodes()) for (String o : n.outputs()) if (!o.isEmpty()) idx.putIfAbsent(o, idx.size());
        return idx;
    }

    /** For each value id, the last step that reads it; graph outputs are never released (MAX_VALUE). */
    private static int[] lastUses(Graph g) {
        Map<String, Integer> idx = indexOfValues(g);
        int[] last = new int[idx.size()];
        java.util.Arrays.fill(last, -1);
        List<Node> nodes = g.nodes();
        for (int s = 0; s < nodes.size(); s++) {
            Node n = nodes.get(s);
            for (String o : n.outputs()) { Integer id = idx.get(o); if (id != null) last[id] = Math.max(last[id], s); }
            for (String in : n.inputs()) { Integer id = idx.get(in); if (id != null) last[id] = s; }
            for (Graph sg : n.subgraphs()) {
                for (String c : sg.capturedNames()) { Integer id = idx.get(c); if (id != null) last[id] = s; }
            }
        }
        for (Value v : g.outputs()) { Integer id = idx.get(v.name()); if (id != null) last[id] = Integer.MAX_VALUE; }
        return last;
    }

    /** Values visible to a graph: its own, then its enclosing scopes'. */
    private static final class Scope {
        final Scope parent;
        final Map<String, Tensor> values = new HashMap<>();

        Scope(Scope parent) { this.parent = parent; }

        Tensor lookup(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                Tensor t = s.values.get(name);
                if (t != null) return t;
            }
            return null;
        }
    }

    /** A kernel failure already labelled with its node. */
    public static final class NodeFailure extends SluiceException {
        NodeFailure(String message, Throwable cause) { super(message, cause); }
    }

    private final class Call extends NodeCall {
        private final List<Tensor> inputs;
        private final Scope scope;
        private final OutputAllocator alloc;
        private final ExecutionListener listener;
        private final int step;

        Call(Node node, List<Tensor> inputs, Scope scope, OutputAllocator alloc, ExecutionListener listener, int step) {
            super(node, model.opset(node.domain()));
            this.inputs = inputs;
            this.scope = scope;
            this.alloc = alloc;
            this.listener = listener;
            this.step = step;
        }

        @Override protected Tensor inputValue(int i) { return i < inputs.size() ? inputs.get(i) : null; }

        Graph graph; // the graph this node is in (set after construction; null means unknown)

        @Override public boolean inputIsInitializer(int i) {
            Tensor t = inputValue(i);
            if (t == null || i >= node.inputs().size()) return false;
            String name = node.inputs().get(i);
            return graph != null && graph.initializers().get(name) == t || model.graph().initializers().get(name) == t;
        }

        @Override protected Tensor allocate(int i, DType dtype, Shape shape) {
            // Unwanted optional outputs and subgraph values get fresh memory; the plan covers the top level only.
            return step >= 0 && !node.outputs().get(i).isEmpty()
                ? alloc.allocate(step, node, i, dtype, shape)
                : Tensor.allocate(dtype, shape);
        }

        @Override public List<Tensor> runSubgraph(Subgraph sub, List<Tensor> in) {
            Graph sg = (Graph) sub;
            if (in.size() != sg.inputs().size()) {
                throw new KernelException("subgraph '" + sg.name() + "' takes " + sg.inputs().size() + " inputs, got " + in.size());
            }
            Scope inner = new Scope(scope);
            inner.values.putAll(sg.initializers());
            for (int i = 0; i < in.size(); i++) {
                if (in.get(i) != null) inner.values.put(sg.inputs().get(i).name(), in.get(i));
            }
            runNodes(sg, inner, alloc, listener, false);
            List<Tensor> out = new ArrayList<>();
            for (Value v : sg.outputs()) {
                Tensor t = inner.lookup(v.name());
                if (t == null) throw new KernelException("subgraph '" + sg.name() + "' output '" + v.name() + "' has no value");
                out.add(t);
            }
            return out;
        }

        @Override public Parallelism parallelism() { return parallelism; }
    }
}
