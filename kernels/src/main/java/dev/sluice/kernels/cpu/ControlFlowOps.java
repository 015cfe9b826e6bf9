package dev.sluice.kernels.cpu;

import dev.sluice.kernels.OpRegistry;

/** Control flow over subgraphs: If, Loop, Scan, and the guard an inlined If leaves (sluice.BranchGuard). */
final class ControlFlowOps {
    private ControlFlowOps() {}

    static void register(OpRegistry r) {
        r.register("If", new ControlFlowKernels.If());
        r.register("Loop", new ControlFlowKernels.Loop());
        r.register("Scan", new ControlFlowKernels.Scan());
        r.register("sluice", "BranchGuard", new ControlFlowKernels.BranchGuard());
    }
}
