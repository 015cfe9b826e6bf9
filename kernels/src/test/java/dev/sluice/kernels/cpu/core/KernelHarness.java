package dev.sluice.kernels.cpu.core;

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
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs one registered kernel outside a graph, for kernel unit tests. Outputs start filled with
 * garbage bytes, as recycled planned memory would, so a kernel that skips elements fails.
 */
public final class KernelHarness {
    public static final OpRegistry REGISTRY = OpRegistry.cpu();

    private final String op;
    private int opset = 18;
    private final Map<String, Attr> attrs = new HashMap<>();
    private final List<Tensor> inputs = new ArrayList<>();
    private final List<TensorType> types = new ArrayList<>();
    private final List<Boolean> constant = new ArrayList<>();
    private int outputs = 1;
    private Parallelism parallelism = Parallelism.SEQUENTIAL;
    private boolean alias;
    private OpRegistry registry = REGISTRY;

    private KernelHarness(String op) { this.op = op; }

    /** Runs the kernel of this registry (one made with other KernelOptions) instead of the default one. */
    public KernelHarness registry(OpRegistry r) { registry = r; return this; }

    public static KernelHarness op(String op) { return new KernelHarness(op); }

    public KernelHarness opset(int v) { opset = v; return this; }
    public KernelHarness outputs(int n) { outputs = n; return this; }
    public KernelHarness parallel(Parallelism p) { parallelism = p; return this; }
    /** Hands out input 0's memory as output 0, as the planner does for in-place-safe kernels. */
    public KernelHarness inPlace() { alias = true; return this; }
    public KernelHarness attr(String name, long v) { attrs.put(name, new Attr.Int(v)); return this; }
    public KernelHarness attr(String name, float v) { attrs.put(name, new Attr.Float(v)); return this; }
    public KernelHarness attr(String name, String v) { attrs.put(name, new Attr.Str(v)); return this; }
    public KernelHarness attr(String name, Tensor v) { attrs.put(name, new Attr.TensorValue(v)); return this; }
    public KernelHarness ints(String name, long... v) { attrs.put(name, new Attr.Ints(v)); return this; }

    /** A runtime input (not constant for inference). */
    public KernelHarness in(Tensor t) { inputs.add(t); types.add(t == null ? null : t.type()); constant.add(false); return this; }
    /** An input that inference sees as a constant. */
    public KernelHarness constIn(Tensor t) { inputs.add(t); types.add(t.type()); constant.add(true); return this; }
    /** An input inference sees only by type (execute cannot run). */
    public KernelHarness typeIn(TensorType t) { inputs.add(null); types.add(t); constant.add(false); return this; }
    public KernelHarness absent() { inputs.add(null); types.add(null); constant.add(false); return this; }

    /** The kernel of {@code op}; "domain:Op" names an op outside the default domain (e.g. "sluice:Attention"). */
    public OpKernel kernel() {
        int colon = op.indexOf(':');
        OpKernel k = colon < 0 ? registry.find("", op) : registry.find(op.substring(0, colon), op.substring(colon + 1));
        if (k == null) throw new AssertionError(op + " is not registered");
        return k;
    }

    public List<Tensor> run() {
        Exec c = new Exec();
        kernel().execute(c);
        for (int i = 0; i < outputs; i++) if (c.out[i] == null) throw new AssertionError("output " + i + " not produced");
        return Arrays.asList(c.out);
    }

    public Tensor run1() { return run().get(0); }

    public List<TensorType> infer() { return kernel().infer(new Infer()); }

    private final class Exec implements ExecContext {
        final Tensor[] out = new Tensor[outputs];
        @Override public String nodeName() { return "test"; }
        @Override public String opType() { return op; }
        @Override public int opset() { return opset; }
        @Override public Attributes attributes() { return new Attributes(attrs); }
        @Override public int inputCount() { return inputs.size(); }
        @Override public boolean hasInput(int i) { return i < inputs.size() && inputs.get(i) != null; }
        @Override public Tensor input(int i) {
            if (!hasInput(i)) throw new KernelException("required input " + i + " is missing");
            return inputs.get(i);
        }
        @Override public int outputCount() { return outputs; }
        @Override public Tensor output(int i, DType dtype, Shape shape) {
            if (out[i] != null) throw new AssertionError("output " + i + " requested twice");
            if (alias && i == 0) {
                if (!kernel().inPlaceSafe()) throw new AssertionError(op + " is not in-place safe");
                return out[0] = inputs.get(0).reshaped(shape);
            }
            Tensor t = Tensor.allocate(dtype, shape);
            t.data().fill((byte) 0x5A);
            out[i] = t;
            return t;
        }
        @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> in) { throw new UnsupportedOperationException(); }
        @Override public Parallelism parallelism() { return parallelism; }
    }

    private final class Infer implements InferContext {
        @Override public String nodeName() { return "test"; }
        @Override public String opType() { return op; }
        @Override public int opset() { return opset; }
        @Override public Attributes attributes() { return new Attributes(attrs); }
        @Override public int inputCount() { return types.size(); }
        @Override public boolean hasInput(int i) { return i < types.size() && types.get(i) != null; }
        @Override public TensorType inputType(int i) {
            if (!hasInput(i)) throw new KernelException("input " + i + " is absent");
            return types.get(i);
        }
        @Override public Tensor constantInput(int i) { return hasInput(i) && constant.get(i) ? inputs.get(i) : null; }
        @Override public int outputCount() { return outputs; }
        @Override public List<TensorType> inferSubgraph(Subgraph graph, List<TensorType> inputTypes) { throw new UnsupportedOperationException(); }
    }

    // ---- tensor builders ----

    public static Tensor f32(long[] shape, float... v) { return Tensor.ofFloats(Shape.of(shape), v); }
    public static Tensor i64(long[] shape, long... v) { return Tensor.ofLongs(Shape.of(shape), v); }
    public static Tensor i64(long... v) { return Tensor.ofLongs(Shape.of(v.length), v); }
    public static long[] s(long... d) { return d; }

    public static Tensor typed(DType dt, long[] shape, double... v) {
        Tensor t = Tensor.allocate(dt, Shape.of(shape));
        for (int i = 0; i < v.length; i++) t.setDouble(i, v[i]);
        return t;
    }

    /** 0, 1, 2... as float32 in the given shape. */
    public static Tensor iota(long... shape) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(shape));
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, i);
        return t;
    }
}
