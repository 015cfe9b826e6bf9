package dev.sluice.graph;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import java.util.List;

/**
 * One invocation of a node's kernel: the part of {@link ExecContext} every executor shares (node metadata,
 * input checks, one allocation per output). Executors differ only in where inputs come from and where
 * outputs live, which subclasses supply.
 */
public abstract class NodeCall implements ExecContext {
    protected final Node node;
    private final int opset;
    private final Tensor[] outputs;

    protected NodeCall(Node node, int opset) {
        this.node = node;
        this.opset = opset;
        this.outputs = new Tensor[node.outputs().size()];
    }

    /** Input i's value, or null where the input is absent. */
    protected abstract Tensor inputValue(int i);

    /** Memory for output i. */
    protected abstract Tensor allocate(int i, DType dtype, Shape shape);

    /** The outputs the kernel produced (null where it produced none). */
    public final Tensor[] outputs() { return outputs; }

    @Override public final String nodeName() { return node.name(); }
    @Override public final String opType() { return node.opType(); }
    @Override public final int opset() { return opset; }
    @Override public final Attributes attributes() { return node.attributes(); }
    @Override public final int inputCount() { return node.inputs().size(); }

    @Override public boolean hasInput(int i) {
        return i >= 0 && i < node.inputs().size() && !node.inputs().get(i).isEmpty() && inputValue(i) != null;
    }

    @Override public final Tensor input(int i) {
        if (!hasInput(i)) throw new KernelException("required input " + i + " is missing");
        return inputValue(i);
    }

    @Override public final int outputCount() { return outputs.length; }

    @Override public final Tensor output(int i, DType dtype, Shape shape) {
        if (i < 0 || i >= outputs.length) throw new KernelException("output " + i + " does not exist (node has " + outputs.length + ")");
        if (outputs[i] != null) throw new KernelException("output " + i + " requested twice");
        // Shapes computed from a model's constants or inputs can be absurd: refuse them here, with the size, rather
        // than fail inside the allocator with an overflow or an out-of-memory error that blames the heap.
        long bytes;
        try {
            bytes = Math.multiplyExact(shape.elementCount(), (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new KernelException("output " + i + " " + dtype + shape + " would hold more than 2^63 bytes");
        }
        if (!TensorSizes.fits(bytes)) {
            throw new KernelException("output " + i + " " + dtype + shape + " needs " + bytes + " bytes (" + TensorSizes.human(bytes)
                + "), more than the " + TensorSizes.human(TensorSizes.limitBytes()) + " of native memory this JVM may allocate");
        }
        Tensor t = allocate(i, dtype, shape);
        outputs[i] = t;
        return t;
    }

    @Override public List<Tensor> runSubgraph(Subgraph graph, List<Tensor> inputs) {
        throw new KernelException("this executor does not run subgraphs");
    }
}
