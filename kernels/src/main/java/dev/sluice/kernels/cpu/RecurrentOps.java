package dev.sluice.kernels.cpu;

import dev.sluice.kernels.OpRegistry;

/** Recurrent layers (RNN, GRU, LSTM). */
final class RecurrentOps {
    private RecurrentOps() {}

    static void register(OpRegistry r) {
        r.register("RNN", new RecurrentKernel(RecurrentKernel.Cell.RNN));
        r.register("GRU", new RecurrentKernel(RecurrentKernel.Cell.GRU));
        r.register("LSTM", new RecurrentKernel(RecurrentKernel.Cell.LSTM));
    }
}
