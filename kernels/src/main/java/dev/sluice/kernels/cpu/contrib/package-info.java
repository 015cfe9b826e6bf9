/**
 * ONNX Runtime's contrib operators (domain {@code com.microsoft}) that its graph optimizer writes into saved
 * transformer models (the {@code *_optimized.onnx} and {@code model_O2..O4.onnx} files model hubs ship): the
 * Gelu forms, the fused residual layer norms, FusedMatMul, Attention, MultiHeadAttention and
 * EmbedLayerNormalization, plus SimplifiedLayerNormalization, which ONNX Runtime registers in the default
 * domain. Float32 only. The loops are the ones Sluice's own ops run ({@code nn.NormKernels#layerNormRow},
 * {@code nn.AttentionKernel#attend}, {@code linalg.Gemm32}, {@code core.Activation}); these kernels only
 * check the ONNX Runtime signatures, lay the operands out and say clearly what they do not support
 * (past key/value state, 4-D Megatron masks, transposed batches, half precision). The quantized contrib ops
 * live in {@code cpu.quant}.
 */
package dev.sluice.kernels.cpu.contrib;
