package dev.sluice.kernels.cpu;

import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.cpu.contrib.ContribOps;
import dev.sluice.kernels.cpu.control.ControlFlowOps;
import dev.sluice.kernels.cpu.conv.ConvOps;
import dev.sluice.kernels.cpu.elementwise.ElementwiseOps;
import dev.sluice.kernels.cpu.linalg.LinalgOps;
import dev.sluice.kernels.cpu.ml.MlOps;
import dev.sluice.kernels.cpu.nn.NnOps;
import dev.sluice.kernels.cpu.quant.QuantOps;
import dev.sluice.kernels.cpu.recurrent.RecurrentOps;
import dev.sluice.kernels.cpu.reduce.PoolKernels;
import dev.sluice.kernels.cpu.reduce.ReductionOps;
import dev.sluice.kernels.cpu.shape.ShapeOps;
import dev.sluice.kernels.cpu.vision.VisionOps;
import dev.sluice.kernels.cpu.signal.SignalOps;

/**
 * Registers every CPU kernel family. Each family is a subpackage (shared infrastructure is in {@code cpu.core})
 * whose registrar class registers its own ops; this class, the one entry point {@code OpRegistry.cpu()} uses,
 * only lists the families.
 */
public final class CpuKernels {
    private CpuKernels() {}

    public static void registerAll(OpRegistry r) {
        ElementwiseOps.register(r);
        ReductionOps.register(r);
        PoolKernels.register(r);
        ShapeOps.register(r);
        ConvOps.register(r);
        LinalgOps.register(r);
        NnOps.register(r);
        RecurrentOps.register(r);
        ControlFlowOps.register(r);
        QuantOps.register(r);
        VisionOps.register(r);
        ContribOps.register(r);
        MlOps.register(r);
        SignalOps.register(r);
    }
}
