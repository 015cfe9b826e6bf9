package dev.sluice.kernels.cpu;

import dev.sluice.kernels.OpRegistry;

/** Registers every CPU kernel family. Each family lives in its own class and registers its own ops. */
public final class CpuKernels {
    private CpuKernels() {}

    public static void registerAll(OpRegistry r) {
        ElementwiseOps.register(r);
        ReductionOps.register(r);
        ShapeOps.register(r);
        NnOps.register(r);
        RecurrentOps.register(r);
        ControlFlowOps.register(r);
        QuantOps.register(r);
        // losses, Det and the signal windows are small families of their own
        LossKernels.register(r);
        r.register("Det", new DeterminantKernel());
        WindowKernels.register(r);
    }
}
