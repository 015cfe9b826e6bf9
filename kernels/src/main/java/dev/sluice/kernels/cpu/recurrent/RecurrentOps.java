package dev.sluice.kernels.cpu.recurrent;

import dev.sluice.kernels.OpRegistry;

/** Recurrent layers (RNN, GRU, LSTM). */
public final class RecurrentOps {
    private RecurrentOps() {}

    public static void register(OpRegistry r) {
        r.register("RNN", new RecurrentKernel(RecurrentKernel.Cell.RNN));
        r.register("GRU", new RecurrentKernel(RecurrentKernel.Cell.GRU));
        r.register("LSTM", new RecurrentKernel(RecurrentKernel.Cell.LSTM));
        // A block of hidden units for one step, for the memgraph's hidden-unit tiles (see RecurrentKernel).
        r.register("sluice", "RNNBlock", new RecurrentKernel(RecurrentKernel.Cell.RNN, true));
        r.register("sluice", "GRUBlock", new RecurrentKernel(RecurrentKernel.Cell.GRU, true));
        r.register("sluice", "LSTMBlock", new RecurrentKernel(RecurrentKernel.Cell.LSTM, true));
    }
}
