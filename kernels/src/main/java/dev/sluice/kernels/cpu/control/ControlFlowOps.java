package dev.sluice.kernels.cpu.control;

import dev.sluice.kernels.OpRegistry;

/** Control flow over subgraphs: If, Loop, Scan, and the guard an inlined If leaves (sluice.BranchGuard). */
public final class ControlFlowOps {
    private ControlFlowOps() {}

    public static void register(OpRegistry r) {
        r.register("If", new ControlFlowKernels.If());
        r.register("Loop", new ControlFlowKernels.Loop());
        r.register("Scan", new ControlFlowKernels.Scan());
        r.register("sluice", "BranchGuard", new ControlFlowKernels.BranchGuard());
    }
}
