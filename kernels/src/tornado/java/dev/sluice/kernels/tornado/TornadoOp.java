package dev.sluice.kernels.tornado;

import dev.sluice.kernels.AcceleratorOptions;
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
import java.util.List;

/**
 * An op with a TornadoVM kernel. Type inference is the CPU kernel's. A call the kernel cannot take (another
 * dtype, an attribute it lacks) or one TornadoVM fails on runs the CPU kernel instead, counted with its reason,
 * so a run always completes and always says what ran where.
 */
abstract class TornadoOp implements OpKernel {
    final TornadoBackend backend;
    final String op;
    final OpKernel cpu;
    /** The switches of the registry this kernel belongs to: set once by {@link TornadoOps#kernels} before the registry is handed out. */
    AcceleratorOptions options = AcceleratorOptions.defaults();

    TornadoOp(TornadoBackend backend, String op, OpKernel cpu) {
        this.backend = backend;
        this.op = op;
        this.cpu = cpu;
    }

    /** Null if the kernel takes this call, else why not (before any output is requested). */
    abstract String reject(ExecContext ctx);

    /** Runs the kernel: requests the outputs from ctx and fills them on the device. */
    abstract void run(ExecContext ctx);

    @Override public List<TensorType> infer(InferContext ctx) { return cpu.infer(ctx); }

    @Override public boolean inPlaceSafe() { return cpu.inPlaceSafe(); }

    @Override public final void execute(ExecContext ctx) {
        KeepOutputs c = new KeepOutputs(ctx);
        String why = reject(ctx);
        if (why == null) {
            try {
                run(c);
                backend.ran(op);
                return;
            } catch (RuntimeException e) {
                why = "TornadoVM failed: " + TornadoOps.firstLine(e);
            }
        }
        backend.fellBack(op, why);
        cpu.execute(c);
    }

    // ---- helpers for reject() ----

    /** Null if every given input among these is float32 with 1..2^31-64 elements. */
    static String floats(ExecContext ctx, int... inputs) {
        for (int i : inputs) {
            if (!ctx.hasInput(i)) continue;
            Tensor t = ctx.input(i);
            if (t.dtype() != DType.FLOAT32) return "input " + i + " is " + t.dtype();
            if (t.elementCount() == 0) return "input " + i + " is empty";
            if (t.elementCount() > Integer.MAX_VALUE - 64) return "input " + i + " has over 2^31 elements";
        }
        return null;
    }

    static String shapes(ExecContext ctx, int... inputs) {
        StringBuilder sb = new StringBuilder();
        for (int i : inputs) sb.append(ctx.hasInput(i) ? ctx.input(i).shape().toString() : "-").append(';');
        return sb.toString();
    }

    static int i(long v) { return Math.toIntExact(v); }

    /**
     * Hands the same output back when a kernel that gave up after requesting it falls back to the CPU kernel
     * (an ExecContext allows one request per output).
     */
    private static final class KeepOutputs implements ExecContext {
        private final ExecContext c;
        private final Tensor[] outs;

        KeepOutputs(ExecContext c) {
            this.c = c;
            this.outs = new Tensor[c.outputCount()];
        }

        @Override public Tensor output(int i, DType dtype, Shape shape) {
            if (i >= 0 && i < outs.length && outs[i] != null) {
                if (outs[i].dtype() != dtype || !outs[i].shape().equals(shape)) {
                    throw new KernelException("output " + i + " requested as " + dtype + shape + " after " + outs[i]);
                }
                return outs[i];
            }
            Tensor t = c.output(i, dtype, shape);
            if (i >= 0 && i < outs.length) outs[i] = t;
            return t;
        }

        @Override public String nodeName() { return c.nodeName(); }
        @Override public String opType() { return c.opType(); }
        @Override public int opset() { return c.opset(); }
        @Override public Attributes attributes() { return c.attributes(); }
        @Override public int inputCount() { return c.inputCount(); }
        @Override public boolean hasInput(int i) { return c.hasInput(i); }
        @Override public Tensor input(int i) { return c.input(i); }
        @Override public int outputCount() { return c.outputCount(); }
        @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> inputs) { return c.runSubgraph(graph, inputs); }
        @Override public Parallelism parallelism() { return c.parallelism(); }
        @Override public boolean inputIsInitializer(int i) { return c.inputIsInitializer(i); }
    }
}
