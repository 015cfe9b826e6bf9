package dev.sluice.kernels.cpu.recurrent;

import static dev.sluice.kernels.cpu.core.FakeNodeCall.dims;
import static dev.sluice.kernels.cpu.core.FakeNodeCall.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import org.junit.jupiter.api.Test;

/** Expected values worked out by hand from the ONNX RNN/GRU/LSTM equations on one-unit layers. */
class RecurrentKernelTest {
    private static final double EPS = 1e-6;

    private static double sigmoid(double x) { return 1 / (1 + Math.exp(-x)); }

    private static void assertValues(Tensor t, double... expected) {
        assertArrayEquals(expected, t.toDoubleArray(), EPS, t.toString());
    }

    // RNN with Relu, W=2, R=0.5, Wb+Rb=0.3: h_t = relu(2 x_t + 0.5 h_{t-1} + 0.3)
    private static FakeNodeCall relu(String direction, int numDir, Tensor x, Tensor lens) {
        double[] w = new double[numDir], r = new double[numDir], b = new double[2 * numDir];
        for (int d = 0; d < numDir; d++) { w[d] = 2; r[d] = 0.5; b[2 * d] = 0.1; b[2 * d + 1] = 0.2; }
        String[] acts = new String[numDir];
        java.util.Arrays.fill(acts, "Relu");
        return new FakeNodeCall("RNN", 14, 2, x, floats(dims(numDir, 1, 1), w), floats(dims(numDir, 1, 1), r),
                floats(dims(numDir, 2), b), lens).attr("hidden_size", 1).attr("direction", direction).attr("activations", acts);
    }

    @Test
    void rnnForwardReverseAndBidirectional() {
        Tensor x = floats(dims(2, 1, 1), 1, 2);
        Tensor[] f = relu("forward", 1, x, null).run();
        // h0 = relu(2 + 0.3) = 2.3; h1 = relu(4 + 1.15 + 0.3) = 5.45
        assertEquals(Shape.of(2, 1, 1, 1), f[0].shape());
        assertValues(f[0], 2.3, 5.45);
        assertValues(f[1], 5.45);
        Tensor[] r = relu("reverse", 1, x, null).run();
        // from the end: h1 = 4.3, h0 = 2 + 2.15 + 0.3 = 4.45
        assertValues(r[0], 4.45, 4.3);
        assertValues(r[1], 4.45);
        Tensor[] b = relu("bidirectional", 2, x, null).run();
        assertEquals(Shape.of(2, 2, 1, 1), b[0].shape());
        assertValues(b[0], 2.3, 4.45, 5.45, 4.3);
        assertValues(b[1], 5.45, 4.45);
    }

    @Test
    void rnnSequenceLensStopEachBatchEntryAndZeroTheRest() {
        Tensor x = floats(dims(2, 2, 1), 1, 3, 2, 9); // [seq, batch, in]; entry 1 has length 1
        Tensor lens = FakeNodeCall.of(DType.INT32, dims(2), 2, 1);
        Tensor[] o = relu("forward", 1, x, lens).run();
        // entry 1: relu(6 + 0.3) = 6.3, then nothing
        assertValues(o[0], 2.3, 6.3, 5.45, 0);
        assertValues(o[1], 5.45, 6.3);
        Tensor[] rev = relu("reverse", 1, x, lens).run();
        // reverse over its own length: entry 1 starts at t = 0
        assertValues(rev[0], 4.45, 6.3, 4.3, 0);
    }

    @Test
    void rnnBatchwiseLayout() {
        // batch 2, seq 2: X [batch, seq, in]
        Tensor x = floats(dims(2, 2, 1), 1, 2, 3, 0);
        FakeNodeCall c = relu("forward", 1, x, null).attr("layout", 1);
        Tensor[] o = c.run();
        assertEquals(Shape.of(2, 2, 1, 1), o[0].shape());
        // entry 1: relu(6.3) = 6.3, relu(0 + 3.15 + 0.3) = 3.45
        assertValues(o[0], 2.3, 5.45, 6.3, 3.45);
        assertEquals(Shape.of(2, 1, 1), o[1].shape());
        assertValues(o[1], 5.45, 3.45);
    }

    @Test
    void rnnClipAndHardSigmoidAlphaBeta() {
        Tensor x = floats(dims(1, 1, 1), 1);
        Tensor[] c = relu("forward", 1, x, null).attr("clip", 1.0f).run();
        assertValues(c[1], 1.0); // clip(2.3) before relu
        Tensor[] h = new FakeNodeCall("RNN", 14, 2, x, floats(dims(1, 1, 1), 1), floats(dims(1, 1, 1), 0))
                .attr("hidden_size", 1).attr("activations", new String[] {"HardSigmoid"})
                .attr("activation_alpha", new float[] {0.5f}).attr("activation_beta", new float[] {0.25f}).run();
        assertValues(h[1], 0.75);
    }

    @Test
    void lstmStateAndPeepholeOnOutputGate() {
        // all weights zero: i = f = o = 0.5, candidate tanh(0) = 0, so C_t = C_{t-1} / 2 and H = 0.5 tanh(C)
        Tensor x = floats(dims(2, 1, 1), 7, -7);
        Tensor w = floats(dims(1, 4, 1), 0, 0, 0, 0), r = floats(dims(1, 4, 1), 0, 0, 0, 0);
        Tensor h0 = floats(dims(1, 1, 1), 0), c0 = floats(dims(1, 1, 1), 2);
        Tensor[] o = new FakeNodeCall("LSTM", 14, 3, x, w, r, null, null, h0, c0).attr("hidden_size", 1).run();
        assertValues(o[0], 0.5 * Math.tanh(1), 0.5 * Math.tanh(0.5));
        assertValues(o[2], 0.5);
        Tensor[] coupled = new FakeNodeCall("LSTM", 14, 3, x, w, r, null, null, h0, c0).attr("input_forget", 1).run();
        assertValues(coupled[2], 0.5); // f = 1 - i = 0.5 as well
        // P = [i, o, f]: only the output gate sees the new cell state: o = sigmoid(1 * C_1) with C_1 = 1
        Tensor p = floats(dims(1, 3), 0, 1, 0);
        Tensor[] peep = new FakeNodeCall("LSTM", 14, 2, floats(dims(1, 1, 1), 0), w, r, null, null, h0, c0, p).run();
        assertValues(peep[1], sigmoid(1) * Math.tanh(1));
    }

    @Test
    void gruLinearBeforeReset() {
        // W = 0, Rz = Rr = 0, Rh = 1, Rbh = 1, H0 = 2: z = r = 0.5
        Tensor x = floats(dims(1, 1, 1), 5);
        Tensor w = floats(dims(1, 3, 1), 0, 0, 0), r = floats(dims(1, 3, 1), 0, 0, 1);
        Tensor b = floats(dims(1, 6), 0, 0, 0, 0, 0, 1);
        Tensor h0 = floats(dims(1, 1, 1), 2);
        Tensor[] before = new FakeNodeCall("GRU", 14, 2, x, w, r, b, null, h0).run();
        // h~ = tanh((r h) Rh + Rbh) = tanh(2); H = 0.5 h~ + 0.5 * 2
        assertValues(before[1], 0.5 * Math.tanh(2) + 1);
        Tensor[] after = new FakeNodeCall("GRU", 14, 2, x, w, r, b, null, h0).attr("linear_before_reset", 1).run();
        // h~ = tanh(r (h Rh + Rbh)) = tanh(1.5)
        assertValues(after[1], 0.5 * Math.tanh(1.5) + 1);
    }
}
