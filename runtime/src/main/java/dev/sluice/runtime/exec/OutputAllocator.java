package dev.sluice.runtime.exec;

import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;

/**
 * Where node outputs live. The default allocates fresh memory; a planned allocator hands out slices of one
 * arena per device at offsets fixed by the memory plan.
 */
public interface OutputAllocator {
    OutputAllocator FRESH = (step, node, index, dtype, shape) -> Tensor.allocate(dtype, shape);

    /** Memory for output {@code index} of the node at {@code step} (step is -1 inside subgraphs). */
    Tensor allocate(int step, Node node, int index, DType dtype, Shape shape);
}
