package dev.sluice.kernels.cpu.nn;

import static dev.sluice.kernels.cpu.core.FakeNodeCall.dims;
import static dev.sluice.kernels.cpu.core.FakeNodeCall.floats;
import static dev.sluice.kernels.cpu.core.FakeNodeCall.of;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import org.junit.jupiter.api.Test;

class LossAndMiscKernelsTest {
    private static final Tensor LOGP = floats(dims(2, 2), -1, -2, -3, -4);
    private static final Tensor TARGET = of(DType.INT64, dims(2), 1, 0);

    @Test
    void nllLossReductionsAndWeights() {
        Tensor[] none = new FakeNodeCall("NegativeLogLikelihoodLoss", 13, 1, LOGP, TARGET).attr("reduction", "none").run();
        assertArrayEquals(new double[] {2, 3}, none[0].toDoubleArray(), 1e-9);
        Tensor[] mean = new FakeNodeCall("NegativeLogLikelihoodLoss", 13, 1, LOGP, TARGET).run();
        assertEquals(Shape.SCALAR, mean[0].shape());
        assertEquals(2.5, mean[0].getDouble(0), 1e-9);
        Tensor w = floats(dims(2), 1, 3);
        Tensor[] wn = new FakeNodeCall("NegativeLogLikelihoodLoss", 13, 1, LOGP, TARGET, w).attr("reduction", "none").run();
        assertArrayEquals(new double[] {6, 3}, wn[0].toDoubleArray(), 1e-9);
        Tensor[] wm = new FakeNodeCall("NegativeLogLikelihoodLoss", 13, 1, LOGP, TARGET, w).run();
        assertEquals(9.0 / 4, wm[0].getDouble(0), 1e-9); // divided by the sum of the weights used
        Tensor[] ii = new FakeNodeCall("NegativeLogLikelihoodLoss", 13, 1, LOGP, TARGET, w).attr("ignore_index", 0).run();
        assertEquals(6.0 / 3, ii[0].getDouble(0), 1e-9);
        Tensor[] sum = new FakeNodeCall("NegativeLogLikelihoodLoss", 13, 1, LOGP, TARGET, w).attr("reduction", "sum").run();
        assertEquals(9, sum[0].getDouble(0), 1e-9);
    }

    @Test
    void softmaxCrossEntropyWithLogProb() {
        // [N=1, C=2, d=2]: position 0 logits (0, 0), position 1 logits (0, ln 3)
        Tensor x = floats(dims(1, 2, 2), 0, 0, 0, Math.log(3));
        Tensor y = of(DType.INT64, dims(1, 2), 0, 1);
        Tensor[] o = new FakeNodeCall("SoftmaxCrossEntropyLoss", 13, 2, x, y).attr("reduction", "none").run();
        assertArrayEquals(new double[] {Math.log(2), -Math.log(0.75)}, o[0].toDoubleArray(), 1e-6);
        assertEquals(Shape.of(1, 2, 2), o[1].shape());
        assertArrayEquals(new double[] {Math.log(0.5), Math.log(0.25), Math.log(0.5), Math.log(0.75)}, o[1].toDoubleArray(), 1e-6);
    }

    @Test
    void determinantOfBatchedMatrices() {
        Tensor x = floats(dims(2, 2, 2), 1, 2, 3, 4, 0, 2, 3, 0);
        Tensor[] o = new FakeNodeCall("Det", 11, 1, x).run();
        assertEquals(Shape.of(2), o[0].shape());
        assertArrayEquals(new double[] {-2, -6}, o[0].toDoubleArray(), 1e-9);
    }

    @Test
    void windows() {
        Tensor four = Tensor.ofLongs(Shape.SCALAR, 4);
        assertArrayEquals(new double[] {0, 0.5, 1, 0.5}, new FakeNodeCall("HannWindow", 17, 1, four).run()[0].toDoubleArray(), 1e-6);
        Tensor three = Tensor.ofLongs(Shape.SCALAR, 3);
        assertArrayEquals(new double[] {0, 1, 0}, new FakeNodeCall("HannWindow", 17, 1, three).attr("periodic", 0).run()[0].toDoubleArray(), 1e-6);
        Tensor two = Tensor.ofLongs(Shape.SCALAR, 2);
        Tensor[] h = new FakeNodeCall("HammingWindow", 17, 1, two).attr("output_datatype", 11).run();
        assertEquals(DType.FLOAT64, h[0].dtype());
        assertArrayEquals(new double[] {4.0 / 46, 1}, h[0].toDoubleArray(), 1e-12);
        // Blackman symmetric of 3: 0.42 - 0.5 cos + 0.08 cos 2x at x = 0, pi, 2pi
        assertArrayEquals(new double[] {0, 1, 0}, new FakeNodeCall("BlackmanWindow", 17, 1, three).attr("periodic", 0).run()[0].toDoubleArray(), 1e-6);
    }
}
