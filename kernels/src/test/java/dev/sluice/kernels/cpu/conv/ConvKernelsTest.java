package dev.sluice.kernels.cpu.conv;

import static dev.sluice.kernels.cpu.core.FakeNodeCall.dims;
import static dev.sluice.kernels.cpu.core.FakeNodeCall.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ConvKernelsTest {
    private static final Tensor X3 = floats(dims(1, 1, 3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9);
    private static final Tensor ONES2 = floats(dims(1, 1, 2, 2), 1, 1, 1, 1);

    private static void assertValues(Tensor t, long[] shape, double... expect) {
        assertEquals(Shape.of(shape), t.shape());
        assertArrayEquals(expect, t.toDoubleArray(), 1e-5);
    }

    @Test
    void convSumsEachWindowAndAddsBias() {
        Tensor[] y = new FakeNodeCall("Conv", 11, 1, X3, ONES2, floats(dims(1), 1)).run();
        assertValues(y[0], dims(1, 1, 2, 2), 13, 17, 25, 29);
    }

    @Test
    void convPadsWithZerosAndStrides() {
        // windows start at (-1,-1), (-1,1), (1,-1), (1,1)
        Tensor[] y = new FakeNodeCall("Conv", 11, 1, X3, ONES2).attr("pads", dims(1, 1, 1, 1)).attr("strides", dims(2, 2)).run();
        assertValues(y[0], dims(1, 1, 2, 2), 1, 5, 11, 28);
    }

    @Test
    void autoPadSameUpperPadsAtTheEndAndSameLowerAtTheStart() {
        Tensor[] up = new FakeNodeCall("Conv", 11, 1, X3, ONES2).attr("auto_pad", "SAME_UPPER").run();
        assertValues(up[0], dims(1, 1, 3, 3), 12, 16, 9, 24, 28, 15, 15, 17, 9);
        Tensor[] low = new FakeNodeCall("Conv", 11, 1, X3, ONES2).attr("auto_pad", "SAME_LOWER").run();
        assertValues(low[0], dims(1, 1, 3, 3), 1, 3, 5, 5, 12, 16, 11, 24, 28);
    }

    @Test
    void conv1dWithDilation() {
        Tensor x = floats(dims(1, 1, 5), 1, 2, 4, 8, 16);
        Tensor w = floats(dims(1, 1, 2), 1, -1);
        // taps two apart: x[i] - x[i+2]
        Tensor[] y = new FakeNodeCall("Conv", 11, 1, x, w).attr("dilations", dims(2)).run();
        assertValues(y[0], dims(1, 1, 3), -3, -6, -12);
    }

    @Test
    void conv1dWhoseOuterTapsLieWhollyInThePadding() {
        // pytorch-converted/test_Conv1d_pad2size1: one input position, kernel 5, pads 2: taps 0, 1, 3, 4 only see padding
        Tensor x = floats(dims(1, 2, 1), 3, 5);
        Tensor w = floats(dims(1, 2, 5), 1, 2, 4, 8, 16, 1, 1, 1, 1, 1);
        Tensor[] y = new FakeNodeCall("Conv", 11, 1, x, w).attr("pads", dims(2, 2)).run();
        assertValues(y[0], dims(1, 1, 1), 3 * 4 + 5);
    }

    @Test
    void conv3dSumsTheCube() {
        Tensor x = floats(dims(1, 1, 2, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8);
        Tensor w = floats(dims(1, 1, 2, 2, 2), 1, 1, 1, 1, 1, 1, 1, 1);
        assertValues(new FakeNodeCall("Conv", 11, 1, x, w).run()[0], dims(1, 1, 1, 1, 1), 36);
    }

    @Test
    void depthwiseAndGroupedConvolutionKeepChannelsApart() {
        Tensor x = floats(dims(1, 2, 2, 2), 1, 2, 3, 4, 10, 20, 30, 40);
        Tensor w = floats(dims(2, 1, 2, 2), 1, 1, 1, 1, 2, 0, 0, 0);
        assertValues(new FakeNodeCall("Conv", 11, 1, x, w).attr("group", 2).run()[0], dims(1, 2, 1, 1), 10, 20);
        // two groups of two input channels, 1x1 kernel with stride 2 (not the pointwise path)
        Tensor x4 = floats(dims(1, 4, 1, 3), 1, 2, 3, 10, 20, 30, 100, 200, 300, 1000, 2000, 3000);
        Tensor w2 = floats(dims(2, 2, 1, 1), 1, 2, 3, 4);
        Tensor[] y = new FakeNodeCall("Conv", 11, 1, x4, w2).attr("group", 2).attr("strides", dims(1, 2)).run();
        assertValues(y[0], dims(1, 2, 1, 2), 21, 63, 4300, 12900);
    }

    @Test
    void float64ConvGoesThroughFloat() {
        Tensor x = FakeNodeCall.of(DType.FLOAT64, dims(1, 1, 3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9);
        Tensor w = FakeNodeCall.of(DType.FLOAT64, dims(1, 1, 2, 2), 1, 1, 1, 1);
        Tensor y = new FakeNodeCall("Conv", 11, 1, x, w).run()[0];
        assertEquals(DType.FLOAT64, y.dtype());
        assertValues(y, dims(1, 1, 2, 2), 12, 16, 24, 28);
    }

    /** Direct definition of a 2-D grouped convolution, for comparing the GEMM paths on random data. */
    private static float[] direct(float[] x, float[] w, float[] b, int n, int c, int h, int wd, int m, int g,
                                  int k, int s, int d, int p, int oh, int ow) {
        int cg = c / g, mg = m / g;
        float[] y = new float[n * m * oh * ow];
        for (int ni = 0; ni < n; ni++) for (int o = 0; o < m; o++) for (int oy = 0; oy < oh; oy++) for (int ox = 0; ox < ow; ox++) {
            double acc = b[o];
            int gi = o / mg;
            for (int ci = 0; ci < cg; ci++) for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) {
                int iy = oy * s - p + ky * d, ix = ox * s - p + kx * d;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                acc += (double) x[((ni * c + gi * cg + ci) * h + iy) * wd + ix] * w[((o * cg + ci) * k + ky) * k + kx];
            }
            y[((ni * m + o) * oh + oy) * ow + ox] = (float) acc;
        }
        return y;
    }

    @Test
    void gemmPathsMatchTheDefinitionInParallel() {
        Random rnd = new Random(3);
        // n, c, h, w, m, group, k, stride, dilation, pad
        int[][] cases = {{2, 6, 17, 23, 8, 2, 3, 1, 1, 1}, {1, 5, 40, 40, 7, 1, 3, 2, 1, 0}, {1, 4, 9, 11, 4, 4, 3, 2, 2, 2},
            {3, 8, 6, 6, 16, 1, 1, 1, 1, 0}, {1, 3, 70, 90, 20, 1, 5, 1, 1, 2}};
        for (int[] t : cases) {
            int n = t[0], c = t[1], h = t[2], wd = t[3], m = t[4], g = t[5], k = t[6], s = t[7], d = t[8], p = t[9];
            float[] x = new float[n * c * h * wd], w = new float[m * (c / g) * k * k], b = new float[m];
            for (int i = 0; i < x.length; i++) x[i] = rnd.nextFloat() - 0.5f;
            for (int i = 0; i < w.length; i++) w[i] = rnd.nextFloat() - 0.5f;
            for (int i = 0; i < b.length; i++) b[i] = rnd.nextFloat();
            Attributes at = new Attributes(Map.of("strides", new Attr.Ints(dims(s, s)), "dilations", new Attr.Ints(dims(d, d)),
                    "pads", new Attr.Ints(dims(p, p, p, p))));
            WindowGeometry geo = WindowGeometry.of(dims(h, wd), dims(k, k), at, false);
            int oh = geo.out()[0], ow = geo.out()[1];
            float[] expect = direct(x, w, b, n, c, h, wd, m, g, k, s, d, p, oh, ow);
            float[] y = new float[expect.length];
            java.util.Arrays.fill(y, Float.NaN);
            ConvKernels.conv(MemorySegment.ofArray(x), MemorySegment.ofArray(w), b, MemorySegment.ofArray(y), n, c, m, g, geo, Parallelism.of(3));
            for (int i = 0; i < y.length; i++) assertEquals(expect[i], y[i], 1e-4, "case " + java.util.Arrays.toString(t) + " at " + i);
        }
    }

    @Test
    void convTransposeSpreadsEachInputOverTheKernel() {
        Tensor x = floats(dims(1, 1, 2, 2), 1, 2, 3, 4);
        Tensor[] y = new FakeNodeCall("ConvTranspose", 11, 1, x, ONES2).run();
        assertValues(y[0], dims(1, 1, 3, 3), 1, 3, 2, 4, 10, 6, 3, 7, 4);
        Tensor[] s2 = new FakeNodeCall("ConvTranspose", 11, 1, x, ONES2).attr("strides", dims(2, 2)).run();
        assertValues(s2[0], dims(1, 1, 4, 4), 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4);
        Tensor[] padded = new FakeNodeCall("ConvTranspose", 11, 1, x, ONES2).attr("pads", dims(1, 1, 1, 1)).run();
        assertValues(padded[0], dims(1, 1, 1, 1), 10);
    }

    @Test
    void convTransposeOutputShapeAndPaddingAndBias() {
        Tensor x = floats(dims(1, 1, 2), 1, 2);
        Tensor w = floats(dims(1, 1, 2), 1, 10);
        // full output [1, 12, 20]; output_padding adds a trailing (bias-only) element
        assertValues(new FakeNodeCall("ConvTranspose", 11, 1, x, w, floats(dims(1), 0.5)).attr("output_padding", dims(1)).attr("strides", dims(1)).run()[0],
                dims(1, 1, 4), 1.5, 12.5, 20.5, 0.5);
        // output_shape 5 with stride 2: full is 4 elements, the rest zeros
        assertValues(new FakeNodeCall("ConvTranspose", 11, 1, x, w).attr("strides", dims(2)).attr("output_shape", dims(5)).run()[0],
                dims(1, 1, 5), 1, 10, 2, 20, 0);
    }

    @Test
    void convTransposeGroupsAndOutputChannels() {
        // 2 groups, each 1 input channel -> 2 output channels, 1x1 kernel
        Tensor x = floats(dims(1, 2, 1, 1), 3, 5);
        Tensor w = floats(dims(2, 2, 1, 1), 1, 2, 10, 20);
        Tensor[] y = new FakeNodeCall("ConvTranspose", 11, 1, x, w).attr("group", 2).run();
        assertValues(y[0], dims(1, 4, 1, 1), 3, 6, 50, 100);
    }
}
