package dev.sluice.kernels.cpu;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
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

/** One node of this family run directly through its kernel, for unit tests (no graph, no executor). */
final class ElementwiseNode implements ExecContext, InferContext {
    static final OpRegistry REGISTRY = OpRegistry.cpu();

    private final String op;
    private int opset = 18;
    private final Map<String, Attr> attrs = new LinkedHashMap<>();
    private final List<Tensor> inputs = new ArrayList<>();
    private final List<TensorType> inputTypes = new ArrayList<>();
    private final Tensor[] outputs = new Tensor[4];
    private int outputCount = 1;
    private Parallelism par = Parallelism.SEQUENTIAL;

    ElementwiseNode(String op) { this.op = op; }

    static ElementwiseNode of(String op) { return new ElementwiseNode(op); }

    ElementwiseNode opset(int v) { opset = v; return this; }
    ElementwiseNode attr(String name, long v) { attrs.put(name, new Attr.Int(v)); return this; }
    ElementwiseNode attr(String name, float v) { attrs.put(name, new Attr.Float(v)); return this; }
    ElementwiseNode attr(String name, String v) { attrs.put(name, new Attr.Str(v)); return this; }
    ElementwiseNode attrs(String name, long... v) { attrs.put(name, new Attr.Ints(v)); return this; }
    ElementwiseNode outputs(int n) { outputCount = n; return this; }
    ElementwiseNode threads(Parallelism p) { par = p; return this; }

    /** Adds an input; null stands for an absent optional input. */
    ElementwiseNode in(Tensor t) {
        inputs.add(t);
        inputTypes.add(t == null ? null : t.type());
        return this;
    }

    /** Adds an input known only by type (for inference tests). */
    ElementwiseNode in(TensorType t) {
        inputs.add(null);
        inputTypes.add(t);
        return this;
    }

    OpKernel kernel() {
        OpKernel k = REGISTRY.find("", op);
        if (k == null) throw new AssertionError("no kernel for " + op);
        return k;
    }

    Tensor run() { return runAll()[0]; }

    Tensor[] runAll() {
        kernel().execute(this);
        return Arrays.copyOf(outputs, outputCount);
    }

    List<TensorType> infer() { return kernel().infer(this); }

    static Tensor floats(long[] shape, float... v) { return Tensor.ofFloats(Shape.of(shape), v); }
    static Tensor floats(float... v) { return Tensor.ofFloats(Shape.of(v.length), v); }
    static Tensor longs(long... v) { return Tensor.ofLongs(Shape.of(v.length), v); }

    static Tensor of(DType t, long[] shape, double... v) {
        Tensor r = Tensor.allocate(t, Shape.of(shape));
        for (int i = 0; i < v.length; i++) r.setDouble(i, v[i]);
        return r;
    }

    static Tensor ofLong(DType t, long[] shape, long... v) {
        Tensor r = Tensor.allocate(t, Shape.of(shape));
        for (int i = 0; i < v.length; i++) r.setLong(i, v[i]);
        return r;
    }

    // ---- ExecContext / InferContext

    @Override public String nodeName() { return "test_" + op; }
    @Override public String opType() { return op; }
    @Override public int opset() { return opset; }
    @Override public Attributes attributes() { return new Attributes(attrs); }
    @Override public int inputCount() { return inputs.size(); }
    @Override public boolean hasInput(int i) { return i < inputTypes.size() && inputTypes.get(i) != null; }

    @Override public Tensor input(int i) {
        if (!hasInput(i) || inputs.get(i) == null) throw new KernelException("input " + i + " is absent");
        return inputs.get(i);
    }

    @Override public TensorType inputType(int i) {
        if (!hasInput(i)) throw new KernelException("input " + i + " is absent");
        return inputTypes.get(i);
    }

    @Override public Tensor constantInput(int i) { return i < inputs.size() ? inputs.get(i) : null; }
    @Override public int outputCount() { return outputCount; }

    @Override public Tensor output(int i, DType dtype, Shape shape) {
        if (outputs[i] != null) throw new AssertionError("output " + i + " requested twice");
        // fill with garbage so a kernel that skips elements shows up
        Tensor t = Tensor.allocate(dtype, shape);
        t.data().fill((byte) 0x5A);
        outputs[i] = t;
        return t;
    }

    @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> in) { throw new UnsupportedOperationException(); }
    @Override public List<TensorType> inferSubgraph(Subgraph graph, List<TensorType> in) { throw new UnsupportedOperationException(); }
    @Override public Parallelism parallelism() { return par; }
}
