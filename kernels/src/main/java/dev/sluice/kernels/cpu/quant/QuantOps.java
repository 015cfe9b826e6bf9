package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.OpRegistry;

/** Linear quantization and the integer / quantized matmul and convolution. */
public final class QuantOps {
    private QuantOps() {}

    public static void register(OpRegistry r) {
        r.register("QuantizeLinear", new QuantizeKernels.Quantize());
        r.register("DequantizeLinear", new QuantizeKernels.Dequantize());
        r.register("DynamicQuantizeLinear", new QuantizeKernels.DynamicQuantize());
        r.register("MatMulInteger", new IntegerMatMulKernels.MatMulInteger());
        r.register("QLinearMatMul", new IntegerMatMulKernels.QLinearMatMul());
        r.register("sluice", "DynamicQuantMatMul", new IntegerMatMulKernels.DynamicQuantMatMul());
        r.register("ConvInteger", new IntegerConvKernels.ConvInteger());
        r.register("QLinearConv", new IntegerConvKernels.QLinearConv());
    }
}
