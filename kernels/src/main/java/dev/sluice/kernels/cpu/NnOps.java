package dev.sluice.kernels.cpu;

import dev.sluice.kernels.OpRegistry;

/**
 * The neural-network family: convolutions, pooling, normalizations, matrix products, softmax, resizing.
 * The kernels live in files named for what they compute (ConvKernels, PoolKernels, ...); float32 matrix
 * products all go through {@link Gemm32}.
 */
final class NnOps {
    private NnOps() {}

    static void register(OpRegistry r) {
        r.register("Conv", new ConvKernels.Conv());
        r.register("sluice", "FusedConv", new ConvKernels.FusedConv());
        r.register("sluice", "FusedMatMul", new MatMulKernels.FusedMatMul());
        r.register("sluice", "Attention", new AttentionKernel());
        r.register("ConvTranspose", new ConvKernels.ConvTranspose());
        r.register("sluice", "FusedConvTranspose", new ConvKernels.FusedConvTranspose());
        r.register("sluice", "ChannelScaleResidual", new ChannelScaleResidual());
        r.register("MaxPool", new PoolKernels.Pool(PoolKernels.Kind.MAX));
        r.register("AveragePool", new PoolKernels.Pool(PoolKernels.Kind.AVG));
        r.register("LpPool", new PoolKernels.Pool(PoolKernels.Kind.LP));
        r.register("GlobalMaxPool", new PoolKernels.GlobalPool(PoolKernels.Kind.MAX));
        r.register("GlobalAveragePool", new PoolKernels.GlobalPool(PoolKernels.Kind.AVG));
        r.register("GlobalLpPool", new PoolKernels.GlobalPool(PoolKernels.Kind.LP));
        r.register("MaxUnpool", new PoolKernels.MaxUnpool());
        r.register("BatchNormalization", new NormKernels.BatchNorm());
        r.register("InstanceNormalization", new NormKernels.InstanceNorm());
        r.register("LayerNormalization", new NormKernels.LayerNorm());
        r.register("sluice", "AddLayerNorm", new NormKernels.LayerNorm(true));
        r.register("MeanVarianceNormalization", new NormKernels.Mvn());
        r.register("LRN", new NormKernels.Lrn());
        r.register("Gemm", new MatMulKernels.Gemm());
        r.register("MatMul", new MatMulKernels.MatMul());
        r.register("Einsum", new EinsumKernel());
        r.register("Softmax", new SoftmaxKernels.Softmax(false));
        r.register("LogSoftmax", new SoftmaxKernels.Softmax(true));
        r.register("Resize", new ResizeKernels.Resize(false));
        r.register("Upsample", new ResizeKernels.Resize(true));
    }
}
