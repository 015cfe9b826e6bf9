package dev.sluice.kernels.cpu.core;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.List;

/**
 * One node of the elementwise/reduction families run directly through its kernel, in the words those
 * tests use. A thin front on {@link KernelHarness}: every given input is a constant for inference.
 */
public final class ElementwiseNode {
    private final KernelHarness h;

    private ElementwiseNode(String op) { this.h = KernelHarness.op(op); }

    public static ElementwiseNode of(String op) { return new ElementwiseNode(op); }

    public ElementwiseNode opset(int v) { h.opset(v); return this; }
    public ElementwiseNode attr(String name, long v) { h.attr(name, v); return this; }
    public ElementwiseNode attr(String name, float v) { h.attr(name, v); return this; }
    public ElementwiseNode attr(String name, String v) { h.attr(name, v); return this; }
    public ElementwiseNode attrs(String name, long... v) { h.ints(name, v); return this; }
    public ElementwiseNode outputs(int n) { h.outputs(n); return this; }
    public ElementwiseNode threads(Parallelism p) { h.parallel(p); return this; }

    /** Adds an input; null stands for an absent optional input. */
    public ElementwiseNode in(Tensor t) {
        if (t == null) h.absent(); else h.constIn(t);
        return this;
    }

    /** Adds an input known only by type (for inference tests). */
    public ElementwiseNode in(TensorType t) { h.typeIn(t); return this; }

    public OpKernel kernel() { return h.kernel(); }

    public Tensor run() { return h.run1(); }

    public Tensor[] runAll() { return h.run().toArray(new Tensor[0]); }

    public List<TensorType> infer() { return h.infer(); }

    public static Tensor floats(long[] shape, float... v) { return Tensor.ofFloats(Shape.of(shape), v); }
    public static Tensor floats(float... v) { return Tensor.ofFloats(Shape.of(v.length), v); }
    public static Tensor longs(long... v) { return Tensor.ofLongs(Shape.of(v.length), v); }

    public static Tensor of(DType t, long[] shape, double... v) {
        Tensor r = Tensor.allocate(t, Shape.of(shape));
        for (int i = 0; i < v.length; i++) r.setDouble(i, v[i]);
        return r;
    }

    public static Tensor ofLong(DType t, long[] shape, long... v) {
        Tensor r = Tensor.allocate(t, Shape.of(shape));
        for (int i = 0; i < v.length; i++) r.setLong(i, v[i]);
        return r;
    }
}
