package dev.sluice.kernels.cpu.contrib;

import dev.sluice.kernels.OpRegistry;

/** Registers ONNX Runtime's float transformer contrib ops (see the package doc). */
public final class ContribOps {
    /** ONNX Runtime's contrib operator domain. */
    public static final String DOMAIN = "com.microsoft";

    private ContribOps() {}

    public static void register(OpRegistry r) {
        r.register(DOMAIN, "Gelu", new GeluKernels.Biased(GeluKernels.Form.ERF, -1));
        r.register(DOMAIN, "BiasGelu", new GeluKernels.Biased(GeluKernels.Form.ERF, 1));
        r.register(DOMAIN, "FastGelu", new GeluKernels.Biased(GeluKernels.Form.TANH, 1));
        r.register(DOMAIN, "QuickGelu", new GeluKernels.Biased(GeluKernels.Form.QUICK, -1));
        r.register(DOMAIN, "BiasAdd", new GeluKernels.BiasAdd());
        r.register(DOMAIN, "SkipLayerNormalization", new SkipNormKernels.Skip(false));
        r.register(DOMAIN, "SkipSimplifiedLayerNormalization", new SkipNormKernels.Skip(true));
        // ONNX Runtime registers this one in the default domain (ONNX itself has no op of that name)
        r.register("SimplifiedLayerNormalization", new SkipNormKernels.Simplified());
        r.register(DOMAIN, "FusedMatMul", new FusedMatMulKernel());
        r.register(DOMAIN, "Attention", new AttentionOps.Attention());
        r.register(DOMAIN, "MultiHeadAttention", new AttentionOps.MultiHead());
        r.register(DOMAIN, "EmbedLayerNormalization", new EmbedLayerNormKernel());
    }
}
