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
        // the registry's options, not a JVM-wide flag, choose the pointwise loop: two sessions may differ
        boolean pointwise = r.options().pointwiseConv();
        r.register("Conv", new ConvKernels.Conv(pointwise));
        r.register("sluice", "FusedConv", new ConvKernels.FusedConv(pointwise));
        r.register("sluice", "FusedConvAdd", new ConvKernels.FusedConvAdd(pointwise));
        r.register("ConvTranspose", new ConvTransposeKernels.ConvTranspose());
        r.register("sluice", "FusedConvTranspose", new ConvTransposeKernels.FusedConvTranspose());
        r.register("CausalConvWithState", new CausalConvWithStateKernel());
    }
}
