package dev.sluice.graph;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Shape and type inference over a graph, with constant folding in the same sweep: a node whose inputs are
 * all constants (or a Shape/Size of a statically shaped value) is evaluated once at load time and replaced
 * by an initializer. This collapses the Shape→Gather→Concat→Unsqueeze chains exporters emit, and, when
 * the caller supplies concrete input shapes, specializes the graph to them.
 */
public final class TypeInference {
    /** Nodes whose result must not be computed once for all runs. */
    private static final Set<String> NOT_FOLDABLE = Set.of("RandomNormal", "RandomUniform", "RandomNormalLike",
        "RandomUniformLike", "Multinomial", "Bernoulli", "If", "Loop", "Scan");
    /** Folding keeps small results only: folding a large Expand or Tile would just move work to load time. */
    private static final long FOLD_LIMIT_BYTES = 16L << 20;

    private final OpRegistry registry;
    private final Model model;
    private final boolean fold;
    /** How deep in If/Loop/Scan bodies the sweep is; declared shapes there are not trusted for folding. */
    private int bodyDepth;

    private TypeInference(OpRegistry registry, Model model, boolean fold) {
        this.registry = registry;
        this.model = model;
        this.fold = fold;
    }

    /**
     * Infers every value's type. {@code inputTypes} overrides declared input types (for example with the
     * concrete shapes of a run); with {@code fold}, constant subexpressions become initializers.
     */
    public static Model run(Model model, OpRegistry registry, Map<String, TensorType> inputTypes, boolean fold) {
        TypeInference ti = new TypeInference(registry, model, fold);
        Graph g = model.graph();
        List<Value> inputs = new ArrayList<>();
        for (Value v : g.inputs()) {
            TensorType t = inputTypes.getOrDefault(v.name(), v.type());
            inputs.add(new Value(v.name(), t));
        }
        Graph typed = ti.inferGraph(g.withInputs(inputs), Map.of(), Map.of(), true);
        return model.withGraph(typed);
    }

    private Graph inferGraph(Graph g, Map<String, TensorType> outerTypes, Map<String, Tensor> outerConsts, boolean rewrite) {
        Map<String, TensorType> types = new HashMap<>(outerTypes);
        types.putAll(g.types());
        Map<String, Tensor> consts = new HashMap<>(outerConsts);
        consts.putAll(g.initializers());
        for (Value v : g.inputs()) {
            types.put(v.name(), v.type());
            consts.remove(v.name());
        }
        for (var e : g.initializers().entrySet()) types.put(e.getKey(), e.getValue().type());
        Map<String, Tensor> newInits = new LinkedHashMap<>(g.initializers());
        List<Node> kept = new ArrayList<>();
        Map<String, TensorType> outTypes = new LinkedHashMap<>();
        for (Value v : g.inputs()) outTypes.put(v.name(), v.type());
        for (Node n : g.nodes()) {
            OpKernel k = registry.find(n.domain(), n.opType());
            List<TensorType> inferred;
            if (k == null) {
                inferred = n.outputs().stream().map(o -> g.types().getOrDefault(o, TensorType.UNKNOWN)).toList();
            } else {
                NodeInfer ctx = new NodeInfer(n, types, consts);
                try {
                    inferred = k.infer(ctx);
                } catch (SluiceException e) {
                    throw new ShapeException("node " + n.label() + ": " + e.getMessage(), e);
                } catch (RuntimeException e) {
                    throw new ShapeException("node " + n.label() + ": type inference failed: " + e, e);
                }
            }
            for (int i = 0; i < n.outputs().size(); i++) {
                String o = n.outputs().get(i);
                if (o.isEmpty()) continue;
                TensorType t = i < inferred.size() ? inferred.get(i) : TensorType.UNKNOWN;
                t = merge(t, g.types().get(o));
                types.put(o, t);
                outTypes.put(o, t);
            }
            if (rewrite && fold && k != null && foldable(n, types, consts)) {
                List<Tensor> results = evaluate(n, k, consts, types);
                if (results != null) {
                    for (int i = 0; i < n.outputs().size(); i++) {
                        String o = n.outputs().get(i);
                        if (o.isEmpty()) continue;
                        consts.put(o, results.get(i));
                        newInits.put(o, results.get(i));
                        types.put(o, results.get(i).type());
                        outTypes.put(o, results.get(i).type());
                    }
                    continue;
                }
            }
            // A body's own values shadow outer constants of the same name.
            for (String o : n.outputs()) if (!o.isEmpty()) consts.remove(o);
            kept.add(rewrite && fold && !n.subgraphs().isEmpty() ? foldBodies(n, types, consts) : n);
        }
        if (!rewrite) {
            for (Value v : g.outputs()) outTypes.put(v.name(), types.getOrDefault(v.name(), v.type()));
            return new Graph(g.name(), g.nodes(), g.inputs(), g.outputs(), g.initializers(), outTypes);
        }
        List<Value> outputs = new ArrayList<>();
        for (Value v : g.outputs()) outputs.add(new Value(v.name(), merge(types.getOrDefault(v.name(), TensorType.UNKNOWN), v.type())));
        // Drop initializers nothing reads any more (inputs of folded nodes).
        Set<String> used = new HashSet<>();
        for (Node n : kept) {
            used.addAll(n.inputs());
            for (Graph sg : n.subgraphs()) used.addAll(sg.capturedNames());
        }
        outputs.forEach(v -> used.add(v.name()));
        newInits.keySet().retainAll(used);
        Map<String, TensorType> allTypes = new LinkedHashMap<>(outTypes);
        for (var e : newInits.entrySet()) allTypes.put(e.getKey(), e.getValue().type());
        return new Graph(g.name(), kept, g.inputs(), outputs, newInits, allTypes);
    }

    /**
     * The node with constant subexpressions of its If/Loop/Scan bodies folded into the bodies' initializers
     * (recursively). Values the bodies capture from outside stay captured; outer constants fold into them.
     */
    private Node foldBodies(Node n, Map<String, TensorType> types, Map<String, Tensor> consts) {
        Map<String, Attr> attrs = new LinkedHashMap<>(n.attributes().asMap());
        boolean changed = false;
        for (var e : attrs.entrySet()) {
            if (e.getValue() instanceof Attr.Graph ga && ga.value() instanceof Graph sg) {
                bodyDepth++;
                Graph folded;
                try {
                    folded = inferGraph(sg, types, consts, true);
                } catch (SluiceException ex) {
                    continue; // a branch these shapes cannot take (see If): left as it is
                } finally {
                    bodyDepth--;
                }
                boolean same = folded.nodes().size() == sg.nodes().size();
                for (int i = 0; same && i < sg.nodes().size(); i++) same = folded.nodes().get(i) == sg.nodes().get(i);
                if (!same) {
                    // Keep the body's declared types: what this sweep inferred there must not pin later sweeps.
                    Map<String, TensorType> declared = new LinkedHashMap<>(sg.types());
                    for (var i : folded.initializers().entrySet()) declared.put(i.getKey(), i.getValue().type());
                    e.setValue(new Attr.Graph(new Graph(sg.name(), folded.nodes(), sg.inputs(), sg.outputs(),
                        folded.initializers(), declared)));
                    changed = true;
                }
            }
        }
        return changed ? new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(attrs)) : n;
    }

    /** The more specific of an inferred and a declared type (declared dims fill inferred unknowns). */
    static TensorType merge(TensorType inferred, TensorType declared) {
        if (declared == null) return inferred;
        DType dt = inferred.dtype() != null ? inferred.dtype() : declared.dtype();
        SymShape s = inferred.shape();
        SymShape d = declared.shape();
        if (!s.hasRank()) s = d;
        else if (d.hasRank() && d.rank() == s.rank()) {
            List<Dim> dims = new ArrayList<>();
            for (int i = 0; i < s.rank(); i++) {
                Dim a = s.dim(i), b = d.dim(i);
                dims.add(a.isKnown() ? a : (b.isKnown() || a instanceof Dim.Unknown) && !(b instanceof Dim.Unknown) ? b : a);
            }
            s = new SymShape(dims);
        }
        return new TensorType(dt, s);
    }

    private boolean foldable(Node n, Map<String, TensorType> types, Map<String, Tensor> consts) {
        if (NOT_FOLDABLE.contains(n.opType()) || !n.subgraphs().isEmpty()) return false;
        if (!n.domain().isEmpty()) return false;
        boolean shapeOnly = n.opType().equals("Shape") || n.opType().equals("Size");
        for (String in : n.inputs()) {
            if (in.isEmpty()) continue;
            if (consts.containsKey(in)) continue;
            if (shapeOnly && bodyDepth == 0 && types.get(in) != null && types.get(in).isStatic()) continue;
            return false;
        }
        for (String o : n.outputs()) {
            if (o.isEmpty()) continue;
            TensorType t = types.get(o);
            if (t == null || !t.isStatic()) return false;
            if (foldBytes(t.dtype(), t.shape().toShape()) > FOLD_LIMIT_BYTES) return false;
        }
        return true;
    }

    /** Bytes of a value of this type and shape, Long.MAX_VALUE when that overflows (such a value is never folded). */
    private static long foldBytes(DType dtype, Shape s) {
        try {
            return Math.multiplyExact(s.elementCount(), (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            return Long.MAX_VALUE;
        }
    }

    private List<Tensor> evaluate(Node n, OpKernel k, Map<String, Tensor> consts, Map<String, TensorType> types) {
        List<Tensor> ins = new ArrayList<>();
        for (String in : n.inputs()) {
            if (in.isEmpty()) { ins.add(null); continue; }
            Tensor c = consts.get(in);
            if (c == null) {
                // Shape/Size of a statically shaped value: only the shape matters.
                TensorType t = types.get(in);
                Shape s = t.shape().toShape();
                if (foldBytes(t.dtype(), s) > FOLD_LIMIT_BYTES) return null;
                c = Tensor.allocate(t.dtype(), s);
            }
            ins.add(c);
        }
        FoldCall call = new FoldCall(n, ins, model.opset(n.domain()));
        try {
            k.execute(call);
        } catch (SluiceException e) {
            throw new ShapeException("node " + n.label() + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            // constants from a damaged model can drive a kernel out of its bounds: name the node, not the JDK
            throw new ShapeException("node " + n.label() + ": cannot be evaluated on its constant inputs: " + e, e);
        }
        for (int i = 0; i < n.outputs().size(); i++) {
            if (!n.outputs().get(i).isEmpty() && call.outputs()[i] == null) {
                throw new ShapeException("node " + n.label() + ": kernel produced no output " + i);
            }
        }
        return java.util.Arrays.asList(call.outputs());
    }

    private final class NodeInfer implements InferContext {
        private final Node node;
        private final Map<String, TensorType> types;
        private final Map<String, Tensor> consts;

        NodeInfer(Node node, Map<String, TensorType> types, Map<String, Tensor> consts) {
            this.node = node;
            this.types = types;
            this.consts = consts;
        }

        @Override public String nodeName() { return node.name(); }
        @Override public String opType() { return node.opType(); }
        @Override public int opset() { return model.opset(node.domain()); }
        @Override public Attributes attributes() { return node.attributes(); }
        @Override public int inputCount() { return node.inputs().size(); }
        @Override public boolean hasInput(int i) { return i < node.inputs().size() && !node.inputs().get(i).isEmpty(); }

        @Override public TensorType inputType(int i) {
            if (!hasInput(i)) throw new KernelException("input " + i + " is absent");
            return types.getOrDefault(node.inputs().get(i), TensorType.UNKNOWN);
        }

        @Override public Tensor constantInput(int i) { return hasInput(i) ? consts.get(node.inputs().get(i)) : null; }
        @Override public int outputCount() { return node.outputs().size(); }

        @Override public List<TensorType> inferSubgraph(Subgraph sub, List<TensorType> inputTypes) {
            Graph sg = (Graph) sub;
            List<Value> ins = new ArrayList<>();
            for (int i = 0; i < sg.inputs().size(); i++) {
                Value v = sg.inputs().get(i);
                TensorType given = i < inputTypes.size() ? inputTypes.get(i) : null;
                ins.add(new Value(v.name(), given == null ? v.type() : merge(given, v.type())));
            }
            Graph typed = inferGraph(sg.withInputs(ins), types, consts, false);
            return typed.outputs().stream().map(v -> typed.typeOf(v.name())).toList();
        }
    }

    /** Runs one kernel on constants at load time. */
    private static final class FoldCall extends NodeCall {
        private final List<Tensor> inputs;

        FoldCall(Node node, List<Tensor> inputs, int opset) {
            super(node, opset);
            this.inputs = inputs;
        }

        @Override protected Tensor inputValue(int i) { return i < inputs.size() ? inputs.get(i) : null; }
        @Override protected Tensor allocate(int i, DType dtype, Shape shape) { return Tensor.allocate(dtype, shape); }

        @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> in) {
            throw new KernelException("subgraphs are not evaluated while folding");
        }

        @Override public Parallelism parallelism() { return Parallelism.SEQUENTIAL; }
    }
}
