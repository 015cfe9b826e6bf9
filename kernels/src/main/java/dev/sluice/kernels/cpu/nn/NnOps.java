package dev.sluice.kernels.cpu.nn;

import dev.sluice.kernels.OpRegistry;

/**
 * The neural-network family: normalizations, softmax, attention, resizing, losses and the signal windows.
 * Convolutions, matrix products and pooling have families of their own ({@code cpu.conv}, {@code cpu.linalg},
 * {@code cpu.reduce}).
 */
public final class NnOps {
    private NnOps() {}

    public static void register(OpRegistry r) {
        r.register("sluice", "Attention", new AttentionKernel());
        r.register("Attention", new OnnxAttentionKernel());
        r.register("BatchNormalization", new NormKernels.BatchNorm());
        r.register("InstanceNormalization", new NormKernels.InstanceNorm());
        // InstanceNormalization split by planes' parts (memgraph's PlanRewrite, for planes larger than a device)
        r.register("sluice", "PlaneSum", new InstanceNormParts.PlaneSum());
        r.register("sluice", "PlaneSquares", new InstanceNormParts.PlaneSquares());
        r.register("sluice", "PlaneNormalize", new InstanceNormParts.PlaneNormalize());
        r.register("LayerNormalization", new NormKernels.LayerNorm());
        r.register("sluice", "AddLayerNorm", new NormKernels.LayerNorm(true));
        r.register("RMSNormalization", new RmsGroupNormKernels.RmsNorm());
        r.register("GroupNormalization", new RmsGroupNormKernels.GroupNorm());
        r.register("RotaryEmbedding", new RotaryEmbeddingKernel());
        r.register("TensorScatter", new TensorScatterKernel());
        r.register("MeanVarianceNormalization", new NormKernels.Mvn());
        r.register("LRN", new NormKernels.Lrn());
        r.register("LpNormalization", new LpNormKernel());
        r.register("Softmax", new SoftmaxKernels.Softmax(false));
        r.register("LogSoftmax", new SoftmaxKernels.Softmax(true));
        r.register("Resize", new ResizeKernels.Resize(false));
        r.register("Upsample", new ResizeKernels.Resize(true));
        LossKernels.register(r);
        WindowKernels.register(r);
    }
}
