package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Conv on random 2-D shapes against the ONNX definition written out here (a plain loop summing in double):
 * odd sizes, kernels 1-5, strides 1-3, dilations 1-2, asymmetric pads, groups (dense, grouped, depthwise with
 * multipliers, one input channel), batch, one and two threads, so every path ConvKernels dispatches to
 * (pointwise, depthwise, direct, im2col + GEMM) meets shapes it was not tuned on. Also sluice.FusedConvAdd, the
 * residual form: act(conv + bias + r).
 */
class ConvRandomShapesTest {
    private record Case(int n, int c, int h, int w, int m, int kh, int kw, int sh, int sw, int dh, int dw,
                        int pt, int pl, int pb, int pr, int group) {
        int oh() { return (h + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
        int ow() { return (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }

        @Override public String toString() {
            return "x " + n + "x" + c + "x" + h + "x" + w + " w " + m + "x" + (c / group) + "x" + kh + "x" + kw + " s " + sh + "," + sw
                + " d " + dh + "," + dw + " pads " + pt + "," + pl + "," + pb + "," + pr + " group " + group;
        }
    }

    private static float[] random(SplittableRandom r, int count) {
        float[] v = new float[count];
        for (int i = 0; i < count; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    private static Tensor tensor(float[] v, long... dims) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(dims));
        for (int i = 0; i < v.length; i++) t.setFloat(i, v[i]);
        return t;
    }

    /** y = conv(x, w) + b by the definition, in double. */
    private static double[] reference(Case k, float[] x, float[] w, float[] b) {
        int oh = k.oh(), ow = k.ow(), cg = k.c / k.group, mg = k.m / k.group;
        double[] y = new double[k.n * k.m * oh * ow];
        for (int ni = 0; ni < k.n; ni++) {
            for (int o = 0; o < k.m; o++) {
                int gi = o / mg;
                for (int oy = 0; oy < oh; oy++) {
                    for (int ox = 0; ox < ow; ox++) {
                        double s = b[o];
                        for (int ci = 0; ci < cg; ci++) {
                            int cin = gi * cg + ci;
                            for (int ky = 0; ky < k.kh; ky++) {
                                int iy = oy * k.sh - k.pt + ky * k.dh;
                                if (iy < 0 || iy >= k.h) continue;
                                for (int kx = 0; kx < k.kw; kx++) {
                                    int ix = ox * k.sw - k.pl + kx * k.dw;
                                    if (ix < 0 || ix >= k.w) continue;
                                    s += (double) x[((ni * k.c + cin) * k.h + iy) * k.w + ix] * w[((o * cg + ci) * k.kh + ky) * k.kw + kx];
                                }
                            }
                        }
                        y[((ni * k.m + o) * oh + oy) * ow + ox] = s;
                    }
                }
            }
        }
        return y;
    }

    private static FakeNodeCall call(String op, Case k, Tensor... inputs) {
        FakeNodeCall f = new FakeNodeCall(op, 12, 1, inputs);
        if (!op.equals("Conv")) f.domain("sluice");
        return f.attr("kernel_shape", new long[] {k.kh, k.kw}).attr("strides", new long[] {k.sh, k.sw})
            .attr("dilations", new long[] {k.dh, k.dw}).attr("pads", new long[] {k.pt, k.pl, k.pb, k.pr})
            .attr("group", (long) k.group);
    }

    /** |got - want| within float rounding of a sum of |terms|: 1e-5 relative to the sum's scale plus 1e-6. */
    private static void assertClose(double want, double scale, float got, String what) {
        assertTrue(Math.abs(got - want) <= 1e-5 * scale + 1e-6, what + ": " + got + " vs " + want);
    }

    private static void check(SplittableRandom r, Case k, int threads) {
        float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m * (k.c / k.group) * k.kh * k.kw), b = random(r, k.m);
        Tensor xt = tensor(x, k.n, k.c, k.h, k.w), wt = tensor(w, k.m, k.c / k.group, k.kh, k.kw), bt = tensor(b, k.m);
        double[] want = reference(k, x, w, b);
        // the scale of each sum: the taps' count, since |x|, |w| < 1
        double scale = (double) (k.c / k.group) * k.kh * k.kw + 1;
        Tensor y = call("Conv", k, xt, wt, bt).threads(threads).run()[0];
        assertEquals(Shape.of(k.n, k.m, k.oh(), k.ow()), y.shape(), k.toString());
        for (int i = 0; i < want.length; i++) assertClose(want[i], scale, y.getFloat(i), k + " threads " + threads + " at " + i);
        // the residual form: relu(conv + b + res)
        float[] res = random(r, want.length);
        Tensor rt = tensor(res, k.n, k.m, k.oh(), k.ow());
        Tensor z = call("FusedConvAdd", k, xt, wt, bt, rt).attr("activation", "Relu").threads(threads).run()[0];
        for (int i = 0; i < want.length; i++) {
            assertClose(Math.max(0, want[i] + res[i]), scale, z.getFloat(i), "FusedConvAdd " + k + " threads " + threads + " at " + i);
        }
    }

    @Test
    void mobileNetShapes() {
        SplittableRandom r = new SplittableRandom(7);
        // depthwise 3x3 at stride 2 with TensorFlow's asymmetric pads, pointwise with few output channels,
        // a dense 3x3 from one input channel (a spectrogram's first conv), a 5x5 stride-2 stem
        check(r, new Case(1, 28, 64, 64, 28, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 28), 2);
        check(r, new Case(1, 88, 16, 16, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1), 2);
        check(r, new Case(1, 24, 64, 64, 28, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1), 2);
        check(r, new Case(1, 1, 76, 32, 24, 3, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1), 2);
        check(r, new Case(1, 3, 128, 128, 24, 5, 5, 2, 2, 1, 1, 1, 1, 2, 2, 1), 2);
        check(r, new Case(1, 96, 8, 8, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 96), 1);
    }

    /**
     * sluice.FusedConv with each kind of activation on dense convs whose rows are narrower than a vector (8, 4,
     * 2 and odd widths, with and without padding columns), where the bias and activation run over the output
     * buffer in whole vectors before the rows are copied out: against act(reference), in double.
     */
    @Test
    void narrowRowsWithActivations() {
        SplittableRandom r = new SplittableRandom(11);
        Case[] cases = {
            new Case(1, 48, 32, 8, 72, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1),
            new Case(1, 72, 32, 8, 72, 3, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1),
            new Case(1, 20, 14, 4, 23, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1),
            new Case(2, 9, 10, 2, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1),
            new Case(1, 7, 11, 5, 17, 3, 2, 2, 1, 1, 2, 1, 0, 1, 1, 1),
        };
        String[] acts = {"Relu", "LeakyRelu", "Sigmoid", "HardSigmoid"};
        for (int t = 0; t < cases.length; t++) {
            Case k = cases[t];
            String act = acts[t % acts.length];
            float[] x = random(r, k.n * k.c * k.h * k.w), w = random(r, k.m * k.c * k.kh * k.kw), b = random(r, k.m);
            Tensor xt = tensor(x, k.n, k.c, k.h, k.w), wt = tensor(w, k.m, k.c, k.kh, k.kw), bt = tensor(b, k.m);
            double[] want = reference(k, x, w, b);
            double scale = (double) k.c * k.kh * k.kw + 1;
            for (int threads = 1; threads <= 2; threads++) {
                Tensor y = call("FusedConv", k, xt, wt, bt).attr("activation", act).attr("activation_alpha", 0.1f)
                    .threads(threads).run()[0];
                assertEquals(Shape.of(k.n, k.m, k.oh(), k.ow()), y.shape(), k.toString());
                for (int i = 0; i < want.length; i++) {
                    double v = want[i], e = switch (act) {
                        case "Relu" -> Math.max(0, v);
                        case "LeakyRelu" -> v < 0 ? 0.1 * v : v;
                        case "Sigmoid" -> 1 / (1 + Math.exp(-v));
                        default -> Math.min(1, Math.max(0, 0.1 * v + 0.5));
                    };
                    assertClose(e, scale, y.getFloat(i), act + " " + k + " threads " + threads + " at " + i);
                }
            }
        }
    }

    @Test
    void randomShapes() {
        SplittableRandom r = new SplittableRandom(2026);
        for (int t = 0; t < 120; t++) {
            int kh = 1 + r.nextInt(5), kw = 1 + r.nextInt(5), sh = 1 + r.nextInt(3), sw = 1 + r.nextInt(3);
            int dh = 1 + r.nextInt(2), dw = 1 + r.nextInt(2);
            int pt = r.nextInt(kh), pb = r.nextInt(kh), pl = r.nextInt(kw), pr = r.nextInt(kw);
            int h = (kh - 1) * dh + 1 + r.nextInt(18), w = (kw - 1) * dw + 1 + r.nextInt(r.nextBoolean() ? 12 : 80);
            int kind = r.nextInt(4);
            int c, m, group;
            switch (kind) {
                case 0 -> { group = 1; c = 1 + r.nextInt(9); m = 1 + r.nextInt(19); }
                case 1 -> { c = 1 + r.nextInt(12); group = c; m = c * (1 + r.nextInt(3)); }
                case 2 -> { group = 2 + r.nextInt(3); c = group * (1 + r.nextInt(3)); m = group * (1 + r.nextInt(4)); }
                default -> { group = 1; c = 1; m = 1 + r.nextInt(30); }
            }
            if (r.nextInt(6) == 0) { kh = kw = 1; sh = sw = 1; dh = dw = 1; pt = pb = pl = pr = 0; }
            check(r, new Case(1 + r.nextInt(2), c, h, w, m, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group), 1 + r.nextInt(2));
        }
    }

    @Test
    void residualOfAnotherShapeIsAnError() {
        Case k = new Case(1, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        SplittableRandom r = new SplittableRandom(1);
        Tensor xt = tensor(random(r, 50), 1, 2, 5, 5), wt = tensor(random(r, 54), 3, 2, 3, 3), bt = tensor(random(r, 3), 3);
        Tensor wrong = tensor(random(r, 25), 1, 1, 5, 5);
        KernelException e = assertThrows(KernelException.class, () -> call("FusedConvAdd", k, xt, wt, bt, wrong).run());
        assertTrue(e.getMessage().contains("residual"), e.getMessage());
    }
}
