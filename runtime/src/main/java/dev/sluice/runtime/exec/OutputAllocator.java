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
    /**
     * Fresh memory from its own automatic arena, not the recycling pool: the profiling run of a planned
     * session allocates every intermediate this way once, a burst that the pool would keep pinned after the
     * collector finds it (MiniLM's peak RSS rose by 40 MiB), where malloc reuses freed memory for the arena
     * and the weights that come next.
     */
    OutputAllocator FRESH = (step, node, index, dtype, shape) -> Tensor.allocate(dtype, shape, java.lang.foreign.Arena.ofAuto());

    /** Memory for output {@code index} of the node at {@code step} (step is -1 inside subgraphs). */
    Tensor allocate(int step, Node node, int index, DType dtype, Shape shape);
}
