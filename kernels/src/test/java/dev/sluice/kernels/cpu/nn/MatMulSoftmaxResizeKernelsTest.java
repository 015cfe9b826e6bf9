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

class MatMulSoftmaxResizeKernelsTest {
    private static void assertValues(Tensor t, long[] shape, double... expect) {
        assertEquals(Shape.of(shape), t.shape());
        assertArrayEquals(expect, t.toDoubleArray(), 1e-5);
    }

    @Test
    void matMulPromotesVectors() {
        Tensor a = floats(dims(2, 3), 1, 2, 3, 4, 5, 6);
        assertValues(new FakeNodeCall("MatMul", 13, 1, a, floats(dims(3), 1, 0, -1)).run()[0], dims(2), -2, -2);
        assertValues(new FakeNodeCall("MatMul", 13, 1, floats(dims(2), 1, 1), a).run()[0], dims(3), 5, 7, 9);
        assertValues(new FakeNodeCall("MatMul", 13, 1, floats(dims(2), 1, 2), floats(dims(2), 3, 4)).run()[0], dims(), 11);
    }

    @Test
    void matMulBroadcastsBatches() {
        // a: [2,1,1,2] (two row vectors), b: [3,2,1] (three column vectors): out [2,3,1,1] = dot products
        Tensor a = floats(dims(2, 1, 1, 2), 1, 0, 0, 1);
        Tensor b = floats(dims(3, 2, 1), 1, 2, 3, 4, 5, 6);
        assertValues(new FakeNodeCall("MatMul", 13, 1, a, b).run()[0], dims(2, 3, 1, 1), 1, 3, 5, 2, 4, 6);
        // shared 2-D b folds the batch into rows
        Tensor a3 = floats(dims(2, 1, 2), 1, 2, 3, 4);
        assertValues(new FakeNodeCall("MatMul", 13, 1, a3, floats(dims(2, 1), 10, 1)).run()[0], dims(2, 1, 1), 12, 34);
    }

    @Test
    void matMulIntegersAndDoubles() {
        Tensor a = of(DType.INT32, dims(1, 2), 3, -4);
        Tensor b = of(DType.INT32, dims(2, 1), 5, 6);
        Tensor y = new FakeNodeCall("MatMul", 13, 1, a, b).run()[0];
        assertEquals(DType.INT32, y.dtype());
        assertArrayEquals(new long[] {-9}, y.toLongArray());
        Tensor d = new FakeNodeCall("MatMul", 13, 1, of(DType.FLOAT64, dims(1, 2), 0.1, 0.2), of(DType.FLOAT64, dims(2, 1), 10, 100)).run()[0];
        assertEquals(DType.FLOAT64, d.dtype());
        assertEquals(21.0, d.getDouble(0), 1e-12);
    }

    @Test
    void gemmTransposesScalesAndBroadcastsC() {
        Tensor a = floats(dims(2, 2), 1, 2, 3, 4);
        Tensor id = floats(dims(2, 2), 1, 0, 0, 1);
        // alpha * A^T * I + beta * c(row vector)
        Tensor[] y = new FakeNodeCall("Gemm", 13, 1, a, id, floats(dims(2), 10, 20)).attr("transA", 1).attr("alpha", 2f).attr("beta", 0.5f).run();
        assertValues(y[0], dims(2, 2), 7, 16, 9, 18);
        Tensor[] col = new FakeNodeCall("Gemm", 13, 1, id, a, floats(dims(2, 1), 1, 2)).attr("transB", 1).run();
        assertValues(col[0], dims(2, 2), 2, 4, 4, 6);
        Tensor[] noC = new FakeNodeCall("Gemm", 13, 1, a, id).run();
        assertValues(noC[0], dims(2, 2), 1, 2, 3, 4);
    }

    @Test
    void einsumContractionsDiagonalsAndImplicitOutput() {
        Tensor a = floats(dims(2, 2), 1, 2, 3, 4);
        assertValues(new FakeNodeCall("Einsum", 12, 1, a, a).attr("equation", "ij,jk->ik").run()[0], dims(2, 2), 7, 10, 15, 22);
        assertValues(new FakeNodeCall("Einsum", 12, 1, a).attr("equation", "ii->i").run()[0], dims(2), 1, 4);
        assertValues(new FakeNodeCall("Einsum", 12, 1, a).attr("equation", "ji").run()[0], dims(2, 2), 1, 3, 2, 4);
        assertValues(new FakeNodeCall("Einsum", 12, 1, a).attr("equation", "ij->").run()[0], dims(), 10);
        Tensor b = floats(dims(2, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8);
        assertValues(new FakeNodeCall("Einsum", 12, 1, b).attr("equation", "...ii->...i").run()[0], dims(2, 2), 1, 4, 5, 8);
    }

    @Test
    void softmaxAlongOneAxisAndLegacyCoercion() {
        double ln2 = Math.log(2);
        assertValues(new FakeNodeCall("Softmax", 13, 1, floats(dims(2), 0, ln2)).run()[0], dims(2), 1 / 3.0, 2 / 3.0);
        assertValues(new FakeNodeCall("LogSoftmax", 13, 1, floats(dims(2), 0, ln2)).run()[0], dims(2), Math.log(1 / 3.0), Math.log(2 / 3.0));
        Tensor z = floats(dims(1, 2, 2), 0, 0, 0, 0);
        // opset 13 axis 1: pairs; opset 11 axis 1: the trailing [2,2] is one row of four
        assertValues(new FakeNodeCall("Softmax", 13, 1, z).attr("axis", 1).run()[0], dims(1, 2, 2), 0.5, 0.5, 0.5, 0.5);
        assertValues(new FakeNodeCall("Softmax", 11, 1, z).run()[0], dims(1, 2, 2), 0.25, 0.25, 0.25, 0.25);
        assertValues(new FakeNodeCall("Softmax", 13, 1, floats(dims(2), 1000, 1000)).run()[0], dims(2), 0.5, 0.5);
    }

    @Test
    void resizeNearestAndLinearHalfPixel() {
        Tensor x = floats(dims(1, 2), 1, 2);
        Tensor scales = floats(dims(2), 1, 2);
        Tensor[] lin = new FakeNodeCall("Resize", 13, 1, x, null, scales).attr("mode", "linear").run();
        // input coordinates -0.25, 0.25, 0.75, 1.25, clamped at the edges
        assertValues(lin[0], dims(1, 4), 1, 1.25, 1.75, 2);
        Tensor[] near = new FakeNodeCall("Resize", 13, 1, x, null, scales).attr("mode", "nearest").run();
        assertValues(near[0], dims(1, 4), 1, 1, 2, 2);
        Tensor[] sizes = new FakeNodeCall("Resize", 13, 1, x, null, null, of(DType.INT64, dims(2), 1, 3))
                .attr("mode", "nearest").attr("coordinate_transformation_mode", "asymmetric").attr("nearest_mode", "ceil").run();
        // input coordinates 0, 2/3, 4/3 -> ceil 0, 1, 2 (clamped to 1)
        assertValues(sizes[0], dims(1, 3), 1, 2, 2);
    }

    @Test
    void resizeCubicReproducesLinesAwayFromEdges() {
        double[] v = new double[8];
        for (int i = 0; i < 8; i++) v[i] = i;
        Tensor x = floats(dims(8), v);
        Tensor[] y = new FakeNodeCall("Resize", 13, 1, x, null, null, of(DType.INT64, dims(1), 15)).attr("mode", "cubic")
                .attr("coordinate_transformation_mode", "align_corners").run();
        assertEquals(Shape.of(15), y[0].shape());
        // output i samples input coordinate i/2; between 2 and 5 all four taps are inside
        for (int i = 4; i <= 10; i++) assertEquals(i / 2.0, y[0].getDouble(i), 1e-5);
    }

    @Test
    void resizeCropAndResizeExtrapolatesOutsideTheRoi() {
        Tensor x = floats(dims(1, 2), 10, 20);
        Tensor roi = floats(dims(4), 0, 0, 1, 2);
        Tensor[] y = new FakeNodeCall("Resize", 13, 1, x, roi, null, of(DType.INT64, dims(2), 1, 3)).attr("mode", "linear")
                .attr("coordinate_transformation_mode", "tf_crop_and_resize").attr("extrapolation_value", -1f).run();
        // input coordinates 0, 1, 2: the last is past the end
        assertValues(y[0], dims(1, 3), 10, 20, -1);
    }

    @Test
    void upsampleRepeatsForIntegerScales() {
        Tensor x = floats(dims(1, 2), 1, 2);
        Tensor[] y = new FakeNodeCall("Upsample", 9, 1, x, floats(dims(2), 2, 3)).run();
        assertValues(y[0], dims(2, 6), 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2);
    }
}
