package dev.sluice.kernels.cpu.nn;

import static dev.sluice.kernels.cpu.core.FakeNodeCall.dims;
import static dev.sluice.kernels.cpu.core.FakeNodeCall.floats;
import static dev.sluice.kernels.cpu.core.FakeNodeCall.of;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import org.junit.jupiter.api.Test;

class PoolAndNormKernelsTest {
    private static final Tensor X16 = floats(dims(1, 1, 4, 4), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);

    private static void assertValues(Tensor t, long[] shape, double... expect) {
        assertEquals(Shape.of(shape), t.shape());
        assertArrayEquals(expect, t.toDoubleArray(), 1e-5);
    }

    @Test
    void maxPoolWithRowAndColumnMajorIndices() {
        Tensor[] r = new FakeNodeCall("MaxPool", 12, 2, X16).attr("kernel_shape", dims(2, 2)).attr("strides", dims(2, 2)).run();
        assertValues(r[0], dims(1, 1, 2, 2), 6, 8, 14, 16);
        assertEquals(DType.INT64, r[1].dtype());
        assertArrayEquals(new long[] {5, 7, 13, 15}, r[1].toLongArray());
        Tensor[] c = new FakeNodeCall("MaxPool", 12, 2, X16).attr("kernel_shape", dims(2, 2)).attr("strides", dims(2, 2))
                .attr("storage_order", 1).run();
        // (row, col) -> row + col * height
        assertArrayEquals(new long[] {5, 13, 7, 15}, c[1].toLongArray());
    }

    @Test
    void maxPoolCeilModeDilationsAndUint8() {
        Tensor x = floats(dims(1, 1, 5), 1, 2, 3, 4, 5);
        assertValues(new FakeNodeCall("MaxPool", 12, 1, x).attr("kernel_shape", dims(2)).attr("strides", dims(2)).attr("ceil_mode", 1).run()[0],
                dims(1, 1, 3), 2, 4, 5);
        assertValues(new FakeNodeCall("MaxPool", 12, 1, x).attr("kernel_shape", dims(2)).attr("dilations", dims(3)).run()[0],
                dims(1, 1, 2), 4, 5);
        Tensor u = of(DType.UINT8, dims(1, 1, 3), 200, 7, 255);
        Tensor y = new FakeNodeCall("MaxPool", 12, 1, u).attr("kernel_shape", dims(2)).run()[0];
        assertEquals(DType.UINT8, y.dtype());
        assertArrayEquals(new long[] {200, 255}, y.toLongArray());
    }

    @Test
    void averagePoolCountsPaddingOnlyWhenAsked() {
        Tensor ones = floats(dims(1, 1, 3, 3), 1, 1, 1, 1, 1, 1, 1, 1, 1);
        assertValues(new FakeNodeCall("AveragePool", 11, 1, ones).attr("kernel_shape", dims(3, 3)).attr("pads", dims(1, 1, 1, 1)).run()[0],
                dims(1, 1, 3, 3), 1, 1, 1, 1, 1, 1, 1, 1, 1);
        double c = 4 / 9.0, e = 6 / 9.0;
        assertValues(new FakeNodeCall("AveragePool", 11, 1, ones).attr("kernel_shape", dims(3, 3)).attr("pads", dims(1, 1, 1, 1))
                .attr("count_include_pad", 1).run()[0], dims(1, 1, 3, 3), c, e, c, e, 1, e, c, e, c);
        assertValues(new FakeNodeCall("AveragePool", 11, 1, X16).attr("kernel_shape", dims(2, 2)).attr("strides", dims(2, 2)).run()[0],
                dims(1, 1, 2, 2), 3.5, 5.5, 11.5, 13.5);
    }

    @Test
    void lpAndGlobalPools() {
        Tensor x = floats(dims(1, 1, 2), 3, 4);
        assertValues(new FakeNodeCall("LpPool", 11, 1, x).attr("kernel_shape", dims(2)).run()[0], dims(1, 1, 1), 5);
        Tensor x2 = floats(dims(1, 2, 2), 1, 2, 3, 4);
        assertValues(new FakeNodeCall("GlobalAveragePool", 1, 1, x2).run()[0], dims(1, 2, 1), 1.5, 3.5);
        assertValues(new FakeNodeCall("GlobalMaxPool", 1, 1, x2).run()[0], dims(1, 2, 1), 2, 4);
        assertValues(new FakeNodeCall("GlobalLpPool", 2, 1, x).run()[0], dims(1, 1, 1), 5);
    }

    @Test
    void globalPoolsOverLargePlanesWithTailsMatchAPlainReference() {
        // planes of 1..40 and 6,400 + 7 elements: the vector body, its 16-element steps and the tail
        for (int size : new int[] {1, 7, 15, 16, 17, 40, 6407}) {
            int planes = 3;
            float[] v = new float[planes * size];
            java.util.Random r = new java.util.Random(size);
            for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 100 + 3);
            Tensor x = Tensor.ofFloats(Shape.of(1, planes, size), v);
            Tensor avg = new FakeNodeCall("GlobalAveragePool", 1, 1, x).run()[0];
            Tensor max = new FakeNodeCall("GlobalMaxPool", 1, 1, x).run()[0];
            for (int p = 0; p < planes; p++) {
                double sum = 0;
                float m = Float.NEGATIVE_INFINITY;
                for (int i = 0; i < size; i++) {
                    sum += v[p * size + i];
                    m = Math.max(m, v[p * size + i]);
                }
                // the reference sums in one double chain; the kernel's interleaved double sums may differ by
                // rounding far below float precision
                assertEquals((float) (sum / size), avg.getFloat(p), Math.ulp((float) (sum / size)), "average, size " + size);
                assertEquals(m, max.getFloat(p), "max, size " + size);
            }
        }
        float[] withNaN = new float[40];
        withNaN[33] = Float.NaN;
        Tensor n = Tensor.ofFloats(Shape.of(1, 1, 40), withNaN);
        assertEquals(Float.NaN, new FakeNodeCall("GlobalMaxPool", 1, 1, n).run()[0].getFloat(0));
        assertEquals(Float.NaN, new FakeNodeCall("GlobalAveragePool", 1, 1, n).run()[0].getFloat(0));
    }

    @Test
    void maxUnpoolScattersToTheIndices() {
        Tensor x = floats(dims(1, 1, 1, 2), 7, 9);
        Tensor idx = of(DType.INT64, dims(1, 1, 1, 2), 1, 2);
        Tensor[] y = new FakeNodeCall("MaxUnpool", 11, 1, x, idx).attr("kernel_shape", dims(2, 2)).attr("strides", dims(2, 2)).run();
        assertValues(y[0], dims(1, 1, 2, 4), 0, 7, 9, 0, 0, 0, 0, 0);
    }

    @Test
    void batchNormInferenceUsesTheGivenStatistics() {
        Tensor x = floats(dims(1, 2, 1, 2), 1, 2, 3, 4);
        Tensor[] y = new FakeNodeCall("BatchNormalization", 15, 1, x, floats(dims(2), 1, 2), floats(dims(2), 0, 1),
                floats(dims(2), 1, 3), floats(dims(2), 4, 1)).attr("epsilon", 0f).run();
        // channel 0: (x - 1) / 2; channel 1: (x - 3) * 2 + 1
        assertValues(y[0], dims(1, 2, 1, 2), 0, 0.5, 1, 3);
    }

    @Test
    void batchNormTrainingModeUsesBatchStatisticsAndUpdatesRunningOnes() {
        Tensor x = floats(dims(2, 1, 1), 1, 3);
        Tensor[] y = new FakeNodeCall("BatchNormalization", 15, 3, x, floats(dims(1), 1), floats(dims(1), 0),
                floats(dims(1), 10), floats(dims(1), 5)).attr("epsilon", 0f).attr("training_mode", 1).attr("momentum", 0.5f).run();
        // batch mean 2, population variance 1
        assertValues(y[0], dims(2, 1, 1), -1, 1);
        assertValues(y[1], dims(1), 6);
        assertValues(y[2], dims(1), 3);
    }

    @Test
    void instanceAndLayerNormalization() {
        Tensor x = floats(dims(1, 2, 2), 1, 3, 2, 6);
        assertValues(new FakeNodeCall("InstanceNormalization", 6, 1, x, floats(dims(2), 1, 2), floats(dims(2), 0, 10))
                .attr("epsilon", 0f).run()[0], dims(1, 2, 2), -1, 1, 8, 12);
        Tensor[] ln = new FakeNodeCall("LayerNormalization", 17, 3, x.reshaped(Shape.of(2, 2)), floats(dims(2), 1, 2), floats(dims(2), 0, 1))
                .attr("epsilon", 0f).run();
        assertValues(ln[0], dims(2, 2), -1, 3, -1, 3);
        assertValues(ln[1], dims(2, 1), 2, 4);
        assertValues(ln[2], dims(2, 1), 1, 0.5);
        // axis 0 normalizes everything together: mean 3, variance 3.5
        Tensor[] all = new FakeNodeCall("LayerNormalization", 17, 1, x.reshaped(Shape.of(2, 2)), floats(dims(1), 1)).attr("axis", 0)
                .attr("epsilon", 0f).run();
        double s = Math.sqrt(3.5);
        assertValues(all[0], dims(2, 2), -2 / s, 0, -1 / s, 3 / s);
    }

    @Test
    void meanVarianceNormalizationOverChosenAxes() {
        Tensor x = floats(dims(2, 2), 1, 3, 10, 30);
        assertValues(new FakeNodeCall("MeanVarianceNormalization", 13, 1, x).attr("axes", dims(1)).run()[0], dims(2, 2), -1, 1, -1, 1);
    }

    @Test
    void lrnDividesByTheChannelWindow() {
        Tensor x = floats(dims(1, 2, 1, 1), 1, 2);
        Tensor y = new FakeNodeCall("LRN", 13, 1, x).attr("size", 3).attr("alpha", 3f).attr("beta", 1f).attr("bias", 1f).run()[0];
        // both channels see 1 + 4 = 5: divisor 1 + 3/3 * 5 = 6
        assertValues(y, dims(1, 2, 1, 1), 1 / 6.0, 2 / 6.0);
    }

    @Test
    void poolRejectsTooSmallInputs() {
        assertThrows(KernelException.class, () -> new FakeNodeCall("MaxPool", 12, 1, floats(dims(1, 1, 1), 1)).attr("kernel_shape", dims(3)).run());
    }
}
