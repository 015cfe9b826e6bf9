package dev.sluice.kernels.cpu.conv;

import static dev.sluice.kernels.cpu.core.FakeNodeCall.dims;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * One-channel 1-D convolutions with long kernels (a filter bank over a waveform, an STFT as Conv) read their
 * windows in place: checked against the definition summed plainly in double here, for strides below, at and
 * above the kernel length, a batch of two, with and without bias, and a fused Relu; and the bits do not
 * depend on the thread count.
 */
class WindowRowsConvTest {
    private static Tensor floats(long[] shape, float[] v) { return Tensor.ofFloats(Shape.of(shape), v); }

    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    /** y[b, o, j] = bias[o] + sum_k w[o, k] x[b, j * stride + k], in double. */
    private static double[] reference(float[] x, int batch, int len, float[] w, int m, int k, int stride, float[] bias) {
        int out = (len - k) / stride + 1;
        double[] y = new double[batch * m * out];
        for (int b = 0; b < batch; b++) for (int o = 0; o < m; o++) for (int j = 0; j < out; j++) {
            double s = bias == null ? 0 : bias[o];
            for (int t = 0; t < k; t++) s += (double) w[o * k + t] * x[b * len + j * stride + t];
            y[(b * m + o) * out + j] = s;
        }
        return y;
    }

    private static void check(int batch, int len, int m, int k, int stride, boolean withBias) {
        assertTrue(ConvKernels.windowsAreRows(new WindowGeometry(new int[] {len}, new int[] {k}, new int[] {stride}, new int[] {1},
            new int[] {0}, new int[] {0}, new int[] {(len - k) / stride + 1})), "the case under test takes the window-rows path");
        float[] xv = random(batch * len, 1), wv = random(m * k, 2), bv = withBias ? random(m, 3) : null;
        Tensor x = floats(dims(batch, 1, len), xv), w = floats(dims(m, 1, k), wv);
        FakeNodeCall call = withBias ? new FakeNodeCall("Conv", 11, 1, x, w, floats(dims(m), bv)) : new FakeNodeCall("Conv", 11, 1, x, w);
        Tensor y = call.attr("strides", dims(stride)).run()[0];
        int out = (len - k) / stride + 1;
        assertEquals(Shape.of(batch, m, out), y.shape());
        double[] want = reference(xv, batch, len, wv, m, k, stride, bv);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], y.getFloat(i), 1e-5 + 1e-5 * Math.abs(want[i]), "element " + i + " (k " + k + ", stride " + stride + ")");
        }
    }

    @Test
    void matchesTheDefinition() {
        check(1, 1000, 7, 64, 16, true);   // overlapping windows
        check(2, 700, 9, 40, 40, false);   // windows end to end, batch of two
        check(1, 900, 5, 33, 50, true);    // gaps between windows
        check(1, 2000, 21, 512, 160, true); // the STFT shape of a mel front end
    }

    /**
     * Window counts just past whole GEMM panels (Gemm32.NR + 1..4, 2 NR + 1) take their last windows one by one
     * (WindowEdge) when the weight is constant: the values are the definition's, and the bits are those of the same
     * conv done wholly by the GEMM (an uncached weight) and of the conv cut in two by output positions (as memgraph's
     * tiles cut it), at one and three threads; kernel length past one KC run, a bias and Relu.
     */
    @Test
    void trailingWindowsPastWholePanelsKeepTheGemmBits() {
        int m = 37, k = 300, stride = 7, nr = dev.sluice.kernels.cpu.linalg.Gemm32.NR;
        float[] wv = random(m * k, 8), bv = random(m, 9);
        Activation relu = new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1);
        Object key = new Object();
        Tensor w = floats(dims(m, 1, k), wv);
        for (int out : new int[] {nr + 1, nr + 2, nr + 4, 2 * nr + 1, nr + 5}) {
            int len = (out - 1) * stride + k;
            float[] xv = random(len, out);
            Tensor x = floats(dims(1, 1, len), xv);
            double[] want = reference(xv, 1, len, wv, m, k, stride, bv);
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                Tensor cached = run(x, w, bv, m, k, stride, len, out, par, relu, key);
                Tensor plain = run(x, w, bv, m, k, stride, len, out, par, relu, null);
                // the same conv cut at window 50 (at half the windows where there are fewer: with AVX2's 16-column panels
                // the trailing counts are 17-33): the second part starts that many windows into the input
                int cut = Math.min(50, out / 2), len2 = (out - cut - 1) * stride + k;
                Tensor first = run(x, w, bv, m, k, stride, (cut - 1) * stride + k, cut, par, relu, key);
                Tensor x2 = floats(dims(1, 1, len2), java.util.Arrays.copyOfRange(xv, cut * stride, cut * stride + len2));
                Tensor second = run(x2, w, bv, m, k, stride, len2, out - cut, par, relu, key);
                for (int o = 0; o < m; o++) {
                    for (int j = 0; j < out; j++) {
                        int at = o * out + j;
                        String what = "out " + out + ", filter " + o + ", window " + j + ", " + par.threads() + " threads";
                        float got = cached.getFloat(at);
                        assertEquals(Math.max(0, want[at]), got, 1e-5 + 1e-5 * Math.abs(want[at]), what);
                        assertEquals(Float.floatToIntBits(plain.getFloat(at)), Float.floatToIntBits(got), what + " (whole GEMM)");
                        float part = j < cut ? first.getFloat(o * cut + j) : second.getFloat(o * (out - cut) + j - cut);
                        assertEquals(Float.floatToIntBits(part), Float.floatToIntBits(got), what + " (cut in two)");
                    }
                }
            }
        }
    }

    private static Tensor run(Tensor x, Tensor w, float[] bias, int m, int k, int stride, int len, int out, Parallelism par,
                              Activation act, Object key) {
        WindowGeometry g = new WindowGeometry(new int[] {len}, new int[] {k}, new int[] {stride}, new int[] {1}, new int[] {0},
            new int[] {0}, new int[] {out});
        Tensor y = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, m, out));
        ConvKernels.conv(x.data(), w.data(), bias, y.data(), 1, 1, m, 1, g, par, act, key);
        return y;
    }

    @Test
    void fusedReluAndThreadCountsGiveTheSameBits() {
        int len = 3000, m = 33, k = 100, stride = 37, out = (len - k) / stride + 1;
        float[] xv = random(len, 4), wv = random(m * k, 5), bv = random(m, 6);
        WindowGeometry g = new WindowGeometry(new int[] {len}, new int[] {k}, new int[] {stride}, new int[] {1}, new int[] {0}, new int[] {0}, new int[] {out});
        Tensor x = floats(dims(1, 1, len), xv), w = floats(dims(m, 1, k), wv);
        Tensor y1 = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, m, out));
        Tensor y2 = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, Shape.of(1, m, out));
        Activation relu = new Activation(Activation.Kind.RELU, 0, 0, 0, 0, 0, 1);
        ConvKernels.conv(x.data(), w.data(), bv, y1.data(), 1, 1, m, 1, g, Parallelism.SEQUENTIAL, relu);
        ConvKernels.conv(x.data(), w.data(), bv, y2.data(), 1, 1, m, 1, g, Parallelism.of(2), relu);
        double[] want = reference(xv, 1, len, wv, m, k, stride, bv);
        for (int i = 0; i < want.length; i++) {
            assertEquals(Float.floatToIntBits(y1.getFloat(i)), Float.floatToIntBits(y2.getFloat(i)), "element " + i);
            assertEquals(Math.max(0, want[i]), y1.getFloat(i), 1e-5 + 1e-5 * Math.abs(want[i]), "element " + i);
        }
    }
}
