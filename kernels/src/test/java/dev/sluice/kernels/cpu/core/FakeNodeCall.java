package dev.sluice.kernels.cpu.core;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * One node call for kernel tests: given inputs (null = absent) and attributes, runs infer and execute, and
 * runs subgraphs as Java functions the test controls. Outputs start filled with garbage, as recycled memory
 * would be.
 */
public final class FakeNodeCall implements ExecContext, InferContext {
    /** A subgraph whose body is a Java function; records how often it ran. */
    public static final class FakeGraph implements Subgraph {
        final Function<List<Tensor>, List<Tensor>> body;
        final List<TensorType> inTypes, outTypes;
        public int runs;

        public FakeGraph(List<TensorType> inTypes, List<TensorType> outTypes, Function<List<Tensor>, List<Tensor>> body) {
            this.inTypes = inTypes; this.outTypes = outTypes; this.body = body;
        }

        private static List<String> names(String p, int n) {
            List<String> r = new ArrayList<>();
            for (int i = 0; i < n; i++) r.add(p + i);
            return r;
        }

        @Override public List<String> inputNames() { return names("in", inTypes.size()); }
        @Override public List<String> outputNames() { return names("out", outTypes.size()); }
        @Override public List<TensorType> inputTypes() { return inTypes; }
        @Override public List<TensorType> outputTypes() { return outTypes; }
    }

    private final String op;
    private final int opset;
    private final List<Tensor> inputs;
    private final Map<String, Attr> attrs = new LinkedHashMap<>();
    public final Tensor[] outputs;

    public FakeNodeCall(String op, int opset, int outputCount, Tensor... inputs) {
        this.op = op;
        this.opset = opset;
        this.inputs = Arrays.asList(inputs);
        this.outputs = new Tensor[outputCount];
    }

    public FakeNodeCall attr(String name, Object v) {
        Attr a = switch (v) {
            case Integer i -> new Attr.Int(i);
            case Long l -> new Attr.Int(l);
            case Float f -> new Attr.Float(f);
            case Double d -> new Attr.Float(d.floatValue());
            case String s -> new Attr.Str(s);
            case long[] l -> new Attr.Ints(l);
            case float[] f -> new Attr.Floats(f);
            case String[] s -> new Attr.Strs(List.of(s));
            case Subgraph g -> new Attr.Graph(g);
            default -> throw new IllegalArgumentException(String.valueOf(v));
        };
        attrs.put(name, a);
        return this;
    }

    private String domain = "";
    private Parallelism parallelism = Parallelism.SEQUENTIAL;

    /** Runs a kernel of this domain (sluice's fused ops) instead of the default ONNX one. */
    public FakeNodeCall domain(String d) { this.domain = d; return this; }

    private java.util.Set<Integer> initializerInputs = java.util.Set.of();

    /** Marks these inputs as the graph's initializers (the same tensor, with the same contents, on every run). */
    public FakeNodeCall initializers(Integer... idx) { this.initializerInputs = java.util.Set.of(idx); return this; }

    @Override public boolean inputIsInitializer(int i) { return hasInput(i) && initializerInputs.contains(i); }

    /** Runs with this many threads instead of one. */
    public FakeNodeCall threads(int n) { this.parallelism = Parallelism.of(n); return this; }

    /** Runs infer then execute with the registered kernel; returns the outputs. */
    public Tensor[] run() {
        OpKernel k = dev.sluice.kernels.OpRegistry.cpu().find(domain, op);
        if (k == null) throw new IllegalStateException("no kernel " + op);
        inferred = k.infer(this);
        k.execute(this);
        return outputs;
    }

    public List<TensorType> inferred;

    public static Tensor floats(long[] shape, double... v) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(shape));
        for (int i = 0; i < v.length; i++) t.setDouble(i, v[i]);
        return t;
    }

    public static Tensor of(DType dt, long[] shape, double... v) {
        Tensor t = Tensor.allocate(dt, Shape.of(shape));
        if (v.length != t.elementCount()) throw new IllegalArgumentException(v.length + " values for " + t.shape());
        for (int i = 0; i < v.length; i++) t.setDouble(i, v[i]);
        return t;
    }

    public static long[] dims(long... d) { return d; }

    @Override public String nodeName() { return "test"; }
    @Override public String opType() { return op; }
    @Override public int opset() { return opset; }
    @Override public Attributes attributes() { return new Attributes(attrs); }
    @Override public int inputCount() { return inputs.size(); }
    @Override public boolean hasInput(int i) { return i < inputs.size() && inputs.get(i) != null; }

    @Override public Tensor input(int i) {
        if (!hasInput(i)) throw new KernelException("input " + i + " absent");
        return inputs.get(i);
    }

    @Override public TensorType inputType(int i) { return input(i).type(); }
    @Override public Tensor constantInput(int i) { return null; }
    @Override public int outputCount() { return outputs.length; }

    @Override public Tensor output(int i, DType dtype, Shape shape) {
        if (outputs[i] != null) throw new KernelException("output " + i + " requested twice");
        Tensor t = Tensor.allocate(dtype, shape);
        t.data().fill((byte) 0x5a);
        return outputs[i] = t;
    }

    @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> in) {
        FakeGraph g = (FakeGraph) graph;
        g.runs++;
        return g.body.apply(in);
    }

    @Override public List<TensorType> inferSubgraph(Subgraph graph, List<TensorType> inputTypes) {
        return ((FakeGraph) graph).outTypes;
    }

    @Override public Parallelism parallelism() { return parallelism; }
}
