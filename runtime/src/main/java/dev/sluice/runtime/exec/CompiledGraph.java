package dev.sluice.runtime.exec;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.NativeBlockPool;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A graph resolved once for many runs: every value name it reads, defines or lets a subgraph capture gets
 * an int slot of a per-run frame, every node its kernel, opset and input/output slots, and (top level
 * only) the slots to release after each step. Running a node is then array reads instead of string
 * hashing, and a graph is never hashed per run (a {@link Graph} is a record: its hash walks every node and
 * subgraph). Immutable; shared by all runs and threads of one executor.
 *
 * <p>Invariant: the lookup semantics are the scoped-map ones this replaces. A frame's slot holds the
 * value this graph bound to the name (formal input, initializer, node output, or a feed at top level);
 * an empty slot falls back to the enclosing frames by name, innermost first.
 */
final class CompiledGraph {
    final Graph graph;
    /** Slot of each name. */
    final Map<String, Integer> slotOf;
    /** Name of each slot. */
    final String[] names;
    /** Initializer slots and their tensors, bound at the start of every run of this graph. */
    final int[] initSlots;
    final Tensor[] initTensors;
    /** Slots of the graph's formal inputs and outputs, in order. */
    final int[] inputSlots, outputSlots;
    /** Per slot: whether it holds one of the graph's outputs (what a top-level run hands to its caller). */
    final boolean[] graphOutput;
    final Step[] steps;
    /**
     * Bytes of small values a run of this graph asked for last (up to {@link Frame#MAX_CHUNK}): the size of
     * the next frame's chunk. A hint only, so racy updates are harmless; the one mutable field.
     */
    volatile long chunkHint;

    /**
     * One node: its kernel (null when unsupported: the run fails when it reaches the node, not before),
     * input and output slots (-1 for an empty name), and the slots whose last reader it is (top level).
     */
    record Step(Node node, OpKernel kernel, int opset, int[] in, int[] out, int[] release) {}

    private CompiledGraph(Graph graph, Map<String, Integer> slotOf, String[] names, int[] initSlots, Tensor[] initTensors,
                          int[] inputSlots, int[] outputSlots, Step[] steps) {
        this.graph = graph;
        this.slotOf = slotOf;
        this.names = names;
        this.initSlots = initSlots;
        this.initTensors = initTensors;
        this.inputSlots = inputSlots;
        this.outputSlots = outputSlots;
        this.graphOutput = new boolean[names.length];
        for (int o : outputSlots) graphOutput[o] = true;
        this.steps = steps;
    }

    /** Compiles {@code g}; {@code top} adds the release points (values are released at the top level only). */
    static CompiledGraph of(Graph g, Model model, OpRegistry registry, boolean top) {
        Map<String, Integer> slotOf = new HashMap<>();
        List<String> names = new ArrayList<>();
        Set<String> all = new LinkedHashSet<>();
        for (Value v : g.inputs()) all.add(v.name());
        all.addAll(g.initializers().keySet());
        for (Node n : g.nodes()) {
            for (String in : n.inputs()) if (!in.isEmpty()) all.add(in);
            for (Graph sg : n.subgraphs()) all.addAll(sg.capturedNames());
            for (String o : n.outputs()) if (!o.isEmpty()) all.add(o);
        }
        for (Value v : g.outputs()) all.add(v.name());
        for (String s : all) { slotOf.put(s, names.size()); names.add(s); }

        int[] initSlots = new int[g.initializers().size()];
        Tensor[] initTensors = new Tensor[initSlots.length];
        int k = 0;
        for (Map.Entry<String, Tensor> e : g.initializers().entrySet()) {
            initSlots[k] = slotOf.get(e.getKey());
            initTensors[k++] = e.getValue();
        }
        int[] inputSlots = g.inputs().stream().mapToInt(v -> slotOf.get(v.name())).toArray();
        int[] outputSlots = g.outputs().stream().mapToInt(v -> slotOf.get(v.name())).toArray();

        int[][] release = top ? releases(g, slotOf) : null;
        List<Node> nodes = g.nodes();
        Step[] steps = new Step[nodes.size()];
        for (int s = 0; s < steps.length; s++) {
            Node n = nodes.get(s);
            int[] in = n.inputs().stream().mapToInt(x -> x.isEmpty() ? -1 : slotOf.get(x)).toArray();
            int[] out = n.outputs().stream().mapToInt(x -> x.isEmpty() ? -1 : slotOf.get(x)).toArray();
            steps[s] = new Step(n, registry.find(n.domain(), n.opType()), model.opset(n.domain()), in, out,
                top ? release[s] : new int[0]);
        }
        return new CompiledGraph(g, Map.copyOf(slotOf), names.toArray(String[]::new), initSlots, initTensors,
            inputSlots, outputSlots, steps);
    }

    /**
     * For each step, the slots released after it, in the order the listener hears of them: the node's
     * inputs, then its outputs, each once, when this step is the value's last reader and the value is not
     * an initializer. Graph outputs are never released.
     */
    private static int[][] releases(Graph g, Map<String, Integer> slotOf) {
        Map<String, Integer> idx = new HashMap<>();
        for (Value v : g.inputs()) idx.putIfAbsent(v.name(), idx.size());
        for (String i : g.initializers().keySet()) idx.putIfAbsent(i, idx.size());
        for (Node n : g.nodes()) for (String o : n.outputs()) if (!o.isEmpty()) idx.putIfAbsent(o, idx.size());
        int[] last = new int[idx.size()];
        Arrays.fill(last, -1);
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

        int[][] r = new int[nodes.size()][];
        for (int s = 0; s < nodes.size(); s++) {
            Node n = nodes.get(s);
            Set<String> rel = new LinkedHashSet<>();
            List<String> both = new ArrayList<>(n.inputs());
            both.addAll(n.outputs());
            for (String name : both) {
                if (name.isEmpty()) continue;
                Integer id = idx.get(name);
                if (id == null || last[id] != s || g.initializers().containsKey(name)) continue;
                rel.add(name);
            }
            r[s] = rel.stream().mapToInt(slotOf::get).toArray();
        }
        return r;
    }

    /**
     * The values of one run of a compiled graph, inside the frames of the graphs that enclose it, and the
     * memory of its small fresh values: one zeroed chunk per frame, cut into tensor blocks, instead of one
     * native allocation (malloc, reservation, cleaner, zeroing) per tensor. The chunk is freed by the
     * garbage collector once no tensor cut from it is reachable, like a fresh tensor, so a value that
     * outlives the frame stays valid; control-flow kernels copy what a subgraph returns anyway.
     */
    static final class Frame {
        /** Values up to this size come from the chunk; larger ones cost their zeroing more than the allocation. */
        static final long SMALL = 64 << 10;
        /** The largest chunk a frame takes. */
        static final long MAX_CHUNK = 1 << 20;

        final CompiledGraph code;
        final Frame parent;
        final Tensor[] slots;
        private MemorySegment chunk;
        private long used, wanted;

        Frame(CompiledGraph code, Frame parent) {
            this.code = code;
            this.parent = parent;
            this.slots = new Tensor[code.names.length];
            for (int i = 0; i < code.initSlots.length; i++) slots[code.initSlots[i]] = code.initTensors[i];
        }

        /** The value in a slot, else the enclosing frames' value of its name; null when none. */
        Tensor get(int slot) {
            Tensor t = slots[slot];
            return t != null || parent == null ? t : parent.lookup(code.names[slot]);
        }

        /** A fresh zeroed tensor, cut from this frame's chunk when small and the chunk has room. */
        Tensor fresh(DType dtype, Shape shape) {
            long need = Tensor.blockBytes(Tensor.byteSize(dtype, shape));
            if (need <= SMALL) {
                wanted += need;
                if (chunk == null) {
                    long hint = code.chunkHint;
                    chunk = hint > 0 ? NativeBlockPool.SHARED.allocate(hint) : MemorySegment.NULL;
                }
                if (used + need <= chunk.byteSize()) {
                    Tensor t = Tensor.inBlock(dtype, shape, chunk.asSlice(used, need));
                    used += need;
                    return t;
                }
            }
            return Tensor.allocate(dtype, shape);
        }

        /** Records what this run asked for, so that the next frame's chunk fits it. */
        void finish() {
            long w = Math.min(wanted, MAX_CHUNK);
            if (w > code.chunkHint) code.chunkHint = w;
        }

        /** The value of a name here, else in the enclosing frames; null when none. */
        Tensor lookup(String name) {
            for (Frame f = this; f != null; f = f.parent) {
                Integer s = f.code.slotOf.get(name);
                if (s != null && f.slots[s] != null) return f.slots[s];
            }
            return null;
        }
    }
}
