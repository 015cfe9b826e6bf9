package dev.sluice.kernels;

/**
 * The contract between a tiling that cuts an Expand's output into boxes and the Expand kernel: a tile carries
 * {@value #TILE_SHAPE}, the extents of its box of the output, and the kernel broadcasts its input (the matching box
 * of the node's input) to that shape instead of the one its shape input names (the whole output's, which a box of a
 * broadcast input does not broadcast to). Absent, the shape input alone, as ONNX defines the op. An Expand only copies
 * elements, so a box expanded on its own is, element for element, that box of the whole output.
 */
public final class ExpandBoxes {
    private ExpandBoxes() {}

    /** The attribute holding a tile's output extents (one per output axis). */
    public static final String TILE_SHAPE = "sluice_tile_shape";
}
