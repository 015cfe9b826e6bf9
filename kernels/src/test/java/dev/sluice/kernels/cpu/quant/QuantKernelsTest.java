package dev.sluice.kernels.cpu.quant;

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

class QuantKernelsTest {
    @Test
    void quantizeRoundsHalfToEvenAndSaturates() {
        Tensor x = floats(dims(6), 0.5, 1.5, 2.5, -0.5, 300, -300);
        Tensor[] u = new FakeNodeCall("QuantizeLinear", 13, 1, x, floats(dims(), 1)).run();
        assertEquals(DType.UINT8, u[0].dtype());
        assertArrayEquals(new long[] {0, 2, 2, 0, 255, 0}, u[0].toLongArray());
        Tensor[] s = new FakeNodeCall("QuantizeLinear", 13, 1, x, floats(dims(), 1), of(DType.INT8, dims(), 1)).run();
        assertEquals(DType.INT8, s[0].dtype());
        assertArrayEquals(new long[] {1, 3, 3, 1, 127, -128}, s[0].toLongArray());
    }

    @Test
    void quantizeAndDequantizePerAxis() {
        Tensor x = floats(dims(2, 2), 1, 2, 4, 6);
        Tensor scale = floats(dims(2), 1, 2);
        Tensor zp = of(DType.UINT8, dims(2), 0, 10);
        Tensor[] q = new FakeNodeCall("QuantizeLinear", 13, 1, x, scale, zp).attr("axis", 0).run();
        assertArrayEquals(new long[] {1, 2, 12, 13}, q[0].toLongArray());
        Tensor[] d = new FakeNodeCall("DequantizeLinear", 13, 1, q[0], scale, zp).attr("axis", 0).run();
        assertEquals(DType.FLOAT32, d[0].dtype());
        assertArrayEquals(new double[] {1, 2, 4, 6}, d[0].toDoubleArray(), 0);
    }

    @Test
    void blockedQuantizationUsesOneScalePerBlock() {
        // x [1, 4], blocks of 2 along axis 1: scales [1, 10]
        Tensor x = floats(dims(1, 4), 1, 2, 30, 40);
        Tensor[] q = new FakeNodeCall("QuantizeLinear", 21, 1, x, floats(dims(1, 2), 1, 10)).attr("axis", 1).attr("block_size", 2).run();
        assertArrayEquals(new long[] {1, 2, 3, 4}, q[0].toLongArray());
    }

    @Test
    void dynamicQuantizeIncludesZeroInTheRange() {
        Tensor[] o = new FakeNodeCall("DynamicQuantizeLinear", 11, 3, floats(dims(3), 0.51, 1.02, 2.55)).run();
        // range [0, 2.55] -> scale 0.01, zero point 0
        assertEquals(0.01, o[1].getDouble(0), 1e-7);
        assertEquals(0, o[2].getLong(0));
        assertArrayEquals(new long[] {51, 102, 255}, o[0].toLongArray());
        Tensor[] n = new FakeNodeCall("DynamicQuantizeLinear", 11, 3, floats(dims(2), -1.02, 1.53)).run();
        // range [-1.02, 1.53] -> scale 0.01, zero point 102
        assertEquals(102, n[2].getLong(0));
        assertArrayEquals(new long[] {0, 255}, n[0].toLongArray());
    }

    @Test
    void matMulIntegerSubtractsZeroPointsAndBroadcastsBatches() {
        Tensor a = of(DType.UINT8, dims(2, 2), 1, 2, 3, 4);
        Tensor b = of(DType.UINT8, dims(2, 2), 1, 0, 0, 1);
        Tensor[] o = new FakeNodeCall("MatMulInteger", 10, 1, a, b, of(DType.UINT8, dims(), 1)).run();
        assertEquals(DType.INT32, o[0].dtype());
        assertArrayEquals(new long[] {0, 1, 2, 3}, o[0].toLongArray());
        // per-column b zero point [1, 0]; A [2, 1, 2] against one B
        Tensor a3 = of(DType.INT8, dims(2, 1, 2), 1, 1, -1, 2);
        Tensor b2 = of(DType.INT8, dims(2, 2), 2, 3, 2, 4);
        Tensor[] p = new FakeNodeCall("MatMulInteger", 10, 1, a3, b2, null, of(DType.INT8, dims(2), 1, 0)).run();
        assertEquals(Shape.of(2, 1, 2), p[0].shape());
        // (B - zp) = [[1,3],[1,4]]: [1,1] -> [2,7]; [-1,2] -> [1,5]
        assertArrayEquals(new long[] {2, 7, 1, 5}, p[0].toLongArray());
    }

    @Test
    void convIntegerTreatsPaddingAsTheZeroPoint() {
        Tensor x = of(DType.UINT8, dims(1, 1, 3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9);
        Tensor w = of(DType.UINT8, dims(1, 1, 2, 2), 1, 1, 1, 1);
        Tensor zp = of(DType.UINT8, dims(), 1);
        Tensor[] o = new FakeNodeCall("ConvInteger", 10, 1, x, w, zp).run();
        // x - 1 = [[0,1,2],[3,4,5],[6,7,8]], 2x2 window sums
        assertArrayEquals(new long[] {8, 12, 20, 24}, o[0].toLongArray());
        Tensor[] p = new FakeNodeCall("ConvInteger", 10, 1, x, w, zp).attr("pads", new long[] {1, 1, 1, 1}).attr("strides", new long[] {2, 2}).run();
        assertEquals(Shape.of(1, 1, 2, 2), p[0].shape());
        // windows at (-1,-1), (-1,1), (1,-1), (1,1)
        assertArrayEquals(new long[] {0, 1 + 2, 3 + 6, 24}, p[0].toLongArray());
    }

    @Test
    void qlinearMatMulRequantizes() {
        Tensor a = of(DType.UINT8, dims(1, 2), 2, 4);
        Tensor b = of(DType.UINT8, dims(2, 1), 3, 5);
        Tensor one = floats(dims(), 1);
        Tensor zero = of(DType.UINT8, dims(), 0);
        // real: 2*3 + 4*5 = 26, times 0.5 * 1 / 2 = 6.5 -> 6 (half to even), plus zero point 100
        Tensor[] o = new FakeNodeCall("QLinearMatMul", 10, 1, a, floats(dims(), 0.5), zero, b, one, zero,
                floats(dims(), 2), of(DType.UINT8, dims(), 100)).run();
        assertArrayEquals(new long[] {106}, o[0].toLongArray());
    }
}
