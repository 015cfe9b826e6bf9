package dev.sluice.kernels;

/**
 * The contract between a tiling that cuts a grouped conv into blocks of whole groups and the conv kernels: a tile
 * carries {@value #WHOLE_GROUPS} = the group count of the whole conv it is a part of. The kernels pick their loop by
 * the group count, and a tile of one group would otherwise be a group-1 conv, taken by the direct or pointwise loops,
 * which sum each element's products in another order than the whole conv's per-group im2col + Gemm32 (in K runs of
 * {@link PartialSums#GEMM_K_RUN}); with it the tile takes the whole conv's loop, so its bits are the whole conv's.
 * Absent, the node's own group count; never less than it.
 */
public final class ConvGroups {
    private ConvGroups() {}

    /** The attribute holding the whole conv's group count. */
    public static final String WHOLE_GROUPS = "sluice_whole_groups";
}
