/**
 * The CPU operator kernels, one subpackage per op family; {@link dev.sluice.kernels.cpu.CpuKernels} is the one
 * entry point ({@code OpRegistry.cpu()} calls it) and asks each family's registrar to register its ops.
 *
 * <ul>
 *   <li>{@code core}: what several families share: the vector math ({@code VectorMath}, {@code ElementwiseMath}),
 *       scratch buffers, broadcasting, tensor/array conversions, sliding-window geometry, fused activations.
 *   <li>{@code elementwise}: broadcasting binary/variadic ops, unary math, the row walker they share.
 *   <li>{@code reduce}: Reduce*, index-producing reductions (ArgMax, TopK, CumSum...), pooling.
 *   <li>{@code shape}: views, tensor sources, strided movement, gather/scatter/selection, Unique.
 *   <li>{@code conv}: Conv and ConvTranspose with their specialised loops.
 *   <li>{@code linalg}: the float32 GEMM and MatMul, Gemm, Einsum, Det.
 *   <li>{@code nn}: normalizations, softmax, attention, resize, losses, signal windows.
 *   <li>{@code signal}: DFT, STFT, MelWeightMatrix over one O(n log n) FFT (radix-2, Bluestein for other lengths).
 *   <li>{@code recurrent}: RNN, GRU, LSTM. {@code quant}: (de)quantization and integer products.
 *       {@code control}: If, Loop, Scan.
 *   <li>{@code vision}: detection and spatial-sampling ops: NonMaxSuppression, RoiAlign, MaxRoiPool, GridSample,
 *       AffineGrid, Col2Im, CenterCropPad, DeformConv.
 *   <li>{@code contrib}: ONNX Runtime's {@code com.microsoft} transformer ops (Gelu forms, skip layer norms,
 *       FusedMatMul, Attention, MultiHeadAttention, EmbedLayerNormalization); its quantized ones are in {@code quant}.
 *   <li>{@code ml}: the {@code ai.onnx.ml} domain: tree ensembles, linear models, SVMs, numeric preprocessors.
 * </ul>
 *
 * <p>Nothing here is exported by the module; cross-family members are public only so sibling packages can use
 * them.
 */
package dev.sluice.kernels.cpu;
