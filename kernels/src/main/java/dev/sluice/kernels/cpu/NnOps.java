package dev.sluice.kernels.cpu;

import dev.sluice.kernels.OpRegistry;

final class NnOps {
    private NnOps() {}

    static void register(OpRegistry r) {
    }
}
