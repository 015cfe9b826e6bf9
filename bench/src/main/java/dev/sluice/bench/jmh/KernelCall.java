package dev.sluice.bench.jmh;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import java.util.List;

/**
 * The tiniest ExecContext: one CPU kernel, fixed inputs and attributes, and outputs allocated on the first
 * call and handed out again on later ones (as a planned arena would), so a benchmark times the kernel, not
 * the allocator.
 */
final class KernelCall implements ExecContext {
    private final String opType;
    private final OpKernel kernel;
    private final Attributes attributes;
    private final List<Tensor> inputs;
    private final Tensor[] outputs;
    private final Parallelism parallelism;

    KernelCall(String opType, Attributes attributes, Parallelism parallelism, int outputCount, Tensor... inputs) {
        this("", opType, attributes, parallelism, outputCount, inputs);
    }

    /** The same for an op of {@code domain} ("sluice" for the fused ops), absent inputs given as null. */
    KernelCall(String domain, String opType, Attributes attributes, Parallelism parallelism, int outputCount, Tensor... inputs) {
        this.opType = opType;
        this.kernel = OpRegistry.cpu().find(domain, opType);
        if (kernel == null) throw new IllegalStateException("Sluice has no CPU kernel for " + opType + " yet; nothing to measure");
        this.attributes = attributes;
        this.inputs = java.util.Arrays.asList(inputs);
        this.outputs = new Tensor[outputCount];
        this.parallelism = parallelism;
    }

    /** Runs the kernel once; returns output 0 (for the blackhole). */
    Tensor execute() {
        kernel.execute(this);
        return outputs[0];
    }

    @Override public String nodeName() { return "bench_" + opType; }
    @Override public String opType() { return opType; }
    @Override public int opset() { return 17; }
    @Override public Attributes attributes() { return attributes; }
    @Override public int inputCount() { return inputs.size(); }
    @Override public boolean hasInput(int i) { return i < inputs.size() && inputs.get(i) != null; }
    @Override public Tensor input(int i) {
        if (!hasInput(i)) throw new IllegalStateException(opType + ": input " + i + " is absent");
        return inputs.get(i);
    }
    @Override public int outputCount() { return outputs.length; }
    @Override public Tensor output(int i, DType dtype, Shape shape) {
        Tensor t = outputs[i];
        if (t == null || t.dtype() != dtype || !t.shape().equals(shape)) outputs[i] = t = Tensor.allocate(dtype, shape);
        return t;
    }
    @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> inputs) {
        throw new UnsupportedOperationException("no subgraphs in kernel benchmarks");
    }
    @Override public Parallelism parallelism() { return parallelism; }

    /** Floats uniform in [-1, 1), seeded. */
    static Tensor random(long seed, long... dims) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(dims));
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, (float) (r.nextDouble() * 2 - 1));
        return t;
    }

    /** "128x384x1536" as longs. */
    static long[] dims(String spec) {
        String[] p = spec.split("x");
        long[] d = new long[p.length];
        for (int i = 0; i < p.length; i++) d[i] = Long.parseLong(p[i]);
        return d;
    }
}
