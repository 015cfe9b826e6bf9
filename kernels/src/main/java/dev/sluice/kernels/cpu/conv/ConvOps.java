package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.OpRegistry;

/**
 * The convolution family: Conv and ConvTranspose, plain and fused with bias and activation. The kernels live in
 * {@link ConvKernels}, which picks among the specialised loops ({@link PointwiseConv}, {@link DepthwiseConv},
 * {@link DirectConv}, {@link NarrowConv}) and the im2col + GEMM path.
 */
public final class ConvOps {
    private ConvOps() {}

    public static void register(OpRegistry r) {
        r.register("Conv", new ConvKernels.Conv());
        r.register("sluice", "FusedConv", new ConvKernels.FusedConv());
        r.register("sluice", "FusedConvAdd", new ConvKernels.FusedConvAdd());
        r.register("ConvTranspose", new ConvKernels.ConvTranspose());
        r.register("sluice", "FusedConvTranspose", new ConvKernels.FusedConvTranspose());
    }
}
