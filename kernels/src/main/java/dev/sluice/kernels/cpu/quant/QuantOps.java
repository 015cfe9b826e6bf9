package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.OpRegistry;

/**
 * Linear quantization and the integer / quantized matmul and convolution; and ONNX Runtime's contrib quantized ops
 * (domain com.microsoft) that its QOperator quantization and int4 exports write.
 */
public final class QuantOps {
    private QuantOps() {}

    /** ONNX Runtime's contrib operator domain. */
    static final String MS = "com.microsoft";

    public static void register(OpRegistry r) {
        r.register("QuantizeLinear", new QuantizeKernels.Quantize());
        r.register("DequantizeLinear", new QuantizeKernels.Dequantize());
        r.register("DynamicQuantizeLinear", new QuantizeKernels.DynamicQuantize());
        r.register("MatMulInteger", new IntegerMatMulKernels.MatMulInteger());
        r.register("QLinearMatMul", new IntegerMatMulKernels.QLinearMatMul());
        r.register("sluice", "DynamicQuantMatMul", new IntegerMatMulKernels.DynamicQuantMatMul());
        r.register("ConvInteger", new IntegerConvKernels.ConvInteger());
        r.register("QLinearConv", new IntegerConvKernels.QLinearConv());

        // com.microsoft: the same QuantizeLinear / DequantizeLinear as ai.onnx's (per tensor or per axis)
        r.register(MS, "QuantizeLinear", new QuantizeKernels.Quantize());
        r.register(MS, "DequantizeLinear", new QuantizeKernels.Dequantize());
        r.register(MS, "QLinearAdd", new QLinearElementwiseKernels.QLinearBinary(QLinearElementwiseKernels.BinaryOp.ADD));
        r.register(MS, "QLinearMul", new QLinearElementwiseKernels.QLinearBinary(QLinearElementwiseKernels.BinaryOp.MUL));
        r.register(MS, "QLinearSigmoid", QLinearElementwiseKernels.QLinearUnary.sigmoid());
        r.register(MS, "QLinearLeakyRelu", QLinearElementwiseKernels.QLinearUnary.leakyRelu());
        r.register(MS, "QLinearSoftmax", new QLinearSoftmaxKernel());
        r.register(MS, "QLinearConcat", new QLinearElementwiseKernels.QLinearConcat());
        r.register(MS, "QLinearGlobalAveragePool", new QLinearPoolKernels.GlobalAverage());
        r.register(MS, "QLinearAveragePool", new QLinearPoolKernels.Average());
        r.register(MS, "QGemm", new QGemmKernel());
        r.register(MS, "MatMulIntegerToFloat", new ToFloatMatMulKernels.MatMulIntegerToFloat());
        r.register(MS, "DynamicQuantizeMatMul", new ToFloatMatMulKernels.DynamicQuantizeMatMul());
        r.register(MS, "MatMulNBits", new MatMulNBitsKernel());
    }
}
