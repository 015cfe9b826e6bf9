package dev.sluice.kernels.tornado;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One node call for the tests: inputs (null = absent), attributes, outputs filled with garbage as recycled memory would be. */
final class Call implements ExecContext {
    final String op;
    final int opset;
    final List<Tensor> inputs;
    final Map<String, Attr> attrs = new LinkedHashMap<>();
    final Tensor[] outputs;
    final java.util.Set<Integer> constants = new java.util.HashSet<>();

    Call(String op, int opset, int outputCount, Tensor... inputs) {
        this.op = op;
        this.opset = opset;
        this.inputs = Arrays.asList(inputs);
        this.outputs = new Tensor[outputCount];
    }

    Call attr(String name, Object v) {
        attrs.put(name, switch (v) {
            case Integer i -> new Attr.Int(i);
            case Long l -> new Attr.Int(l);
            case Float f -> new Attr.Float(f);
            case String s -> new Attr.Str(s);
            case long[] l -> new Attr.Ints(l);
            default -> throw new IllegalArgumentException(String.valueOf(v));
        });
        return this;
    }

    /** Marks inputs as graph initializers (weights the device may keep resident). */
    Call constant(Integer... inputs) {
        constants.addAll(Arrays.asList(inputs));
        return this;
    }

    /** The same call again (fresh outputs), with other inputs; the same inputs stay constant. */
    Call with(Tensor... in) {
        Call c = new Call(op, opset, outputs.length, in);
        c.attrs.putAll(attrs);
        c.constants.addAll(constants);
        return c;
    }

    @Override public boolean inputIsInitializer(int i) { return hasInput(i) && constants.contains(i); }

    @Override public String nodeName() { return "test_" + op; }
    @Override public String opType() { return op; }
    @Override public int opset() { return opset; }
    @Override public Attributes attributes() { return new Attributes(attrs); }
    @Override public int inputCount() { return inputs.size(); }
    @Override public boolean hasInput(int i) { return i < inputs.size() && inputs.get(i) != null; }
    @Override public Tensor input(int i) {
        if (!hasInput(i)) throw new KernelException("input " + i + " missing");
        return inputs.get(i);
    }
    @Override public int outputCount() { return outputs.length; }
    @Override public Tensor output(int i, DType dtype, Shape shape) {
        if (outputs[i] != null) throw new KernelException("output " + i + " requested twice");
        Tensor t = Tensor.allocate(dtype, shape);
        for (long k = 0; k < t.elementCount(); k++) t.setDouble(k, 12345);
        return outputs[i] = t;
    }
    @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> in) { throw new UnsupportedOperationException(); }
    @Override public Parallelism parallelism() { return Parallelism.SEQUENTIAL; }
}
