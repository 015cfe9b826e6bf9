package dev.sluice.kernels.cpu.reduce;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Float MaxPool (the vector path, {@link WindowMax}) against the ONNX definition written out here as a plain
 * loop, on random 1-D and 2-D shapes: odd sizes, kernels 1-5, strides 1-3, dilations 1-2, pads, ceil_mode,
 * rows narrower and wider than a vector, and the mobile-net cases 2x2/2 and 1x2/(1,2); plus NaN and -infinity.
 */
class MaxPoolRandomShapesTest {
    /** y[oy, ox] = max over the in-range taps, NaN if any of them is NaN, -inf when there are none. */
    private static float[] reference(float[] x, int planes, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                                     int pt, int pl, int oh, int ow) {
        float[] y = new float[planes * oh * ow];
        for (int p = 0; p < planes; p++) {
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    float best = Float.NEGATIVE_INFINITY;
                    boolean any = false;
                    for (int ky = 0; ky < kh; ky++) {
                        int iy = oy * sh - pt + ky * dh;
                        if (iy < 0 || iy >= h) continue;
                        for (int kx = 0; kx < kw; kx++) {
                            int ix = ox * sw - pl + kx * dw;
                            if (ix < 0 || ix >= w) continue;
                            float v = x[(p * h + iy) * w + ix];
                            if (!any || v > best || Float.isNaN(v)) { best = v; any = true; }
                            if (Float.isNaN(v)) { ky = kh; break; }
                        }
                    }
                    y[(p * oh + oy) * ow + ox] = best;
                }
            }
        }
        return y;
    }

    private static void check(SplittableRandom r, int n, int c, int h, int w, int kh, int kw, int sh, int sw, int dh, int dw,
                              int pt, int pl, int pb, int pr, boolean ceil, boolean oneD, int threads) {
        float[] xv = new float[n * c * h * w];
        for (int i = 0; i < xv.length; i++) xv[i] = (float) (r.nextDouble() * 8 - 4);
        // a few NaN and -inf, where a window may start with them or meet them later
        for (int i = 0; i < xv.length / 17; i++) xv[r.nextInt(xv.length)] = r.nextBoolean() ? Float.NaN : Float.NEGATIVE_INFINITY;
        Tensor x = Tensor.allocate(DType.FLOAT32, oneD ? Shape.of(n, c, w) : Shape.of(n, c, h, w));
        for (int i = 0; i < xv.length; i++) x.setFloat(i, xv[i]);
        FakeNodeCall call = new FakeNodeCall("MaxPool", 12, 1, x).threads(threads);
        if (oneD) {
            call.attr("kernel_shape", new long[] {kw}).attr("strides", new long[] {sw}).attr("dilations", new long[] {dw})
                .attr("pads", new long[] {pl, pr});
        } else {
            call.attr("kernel_shape", new long[] {kh, kw}).attr("strides", new long[] {sh, sw})
                .attr("dilations", new long[] {dh, dw}).attr("pads", new long[] {pt, pl, pb, pr});
        }
        if (ceil) call.attr("ceil_mode", 1L);
        Tensor y = call.run()[0];
        // output sizes (and ceil_mode's rule) are WindowGeometry's, tested elsewhere; the values are checked here
        int oh = oneD ? 1 : (int) y.shape().dim(2), ow = (int) y.shape().dim(oneD ? 2 : 3);
        float[] want = oneD ? reference(xv, n * c, 1, w, 1, kw, 1, sw, 1, dw, 0, pl, 1, ow)
                : reference(xv, n * c, h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow);
        String what = "x " + x.shape() + " k " + kh + "x" + kw + " s " + sh + "," + sw + " d " + dh + "," + dw
                + " pads " + pt + "," + pl + "," + pb + "," + pr + (ceil ? " ceil" : "") + " threads " + threads;
        assertEquals(want.length, y.elementCount(), what);
        for (int i = 0; i < want.length; i++) {
            float got = y.getFloat(i);
            // the sign of a zero maximum may differ (ties of +0 and -0); NaN must match exactly
            assertTrue(Float.isNaN(want[i]) ? Float.isNaN(got) : got == want[i], what + " at " + i + ": " + got + " vs " + want[i]);
        }
    }

    @Test
    void mobileNetCases() {
        SplittableRandom r = new SplittableRandom(1);
        check(r, 1, 28, 64, 64, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false, 2);
        check(r, 1, 48, 32, 16, 1, 2, 1, 2, 1, 1, 0, 0, 0, 0, false, false, 2);
        check(r, 1, 96, 6, 2, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false, 1);
        check(r, 1, 72, 28, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false, 1);
        check(r, 2, 5, 33, 47, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false, false, 2);
    }

    /**
     * Rows narrower than a vector whose windows tile them, pooled as batches of rows end to end: several
     * batches per plane with a partial last one, windows narrower than the stride, dilated taps, 1-D, and
     * ceil_mode that leaves a row's windows exact; next to them shapes that just miss the condition (left
     * padding, a spare column, a window reaching past the row), which go row by row.
     */
    @Test
    void narrowRowsInBatches() {
        SplittableRandom r = new SplittableRandom(7);
        check(r, 1, 96, 10, 4, 1, 2, 1, 2, 1, 1, 0, 0, 0, 0, false, false, 1);
        check(r, 1, 3, 100, 16, 2, 2, 1, 2, 1, 1, 0, 0, 0, 0, false, false, 1);
        check(r, 1, 2, 400, 3, 1, 3, 1, 3, 1, 1, 0, 0, 0, 0, false, false, 2);
        check(r, 1, 4, 9, 8, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, false, false, 1);
        check(r, 2, 3, 13, 9, 2, 2, 3, 3, 2, 2, 0, 0, 0, 0, false, false, 1);
        check(r, 1, 5, 7, 12, 3, 2, 2, 2, 1, 1, 1, 0, 1, 0, true, false, 2);
        check(r, 3, 4, 1, 10, 1, 2, 1, 2, 1, 1, 0, 0, 0, 0, false, true, 1);
        check(r, 1, 4, 11, 9, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false, false, 1);
        check(r, 1, 4, 11, 8, 2, 2, 2, 2, 1, 1, 0, 1, 0, 1, false, false, 1);
        check(r, 1, 4, 11, 8, 2, 3, 2, 2, 1, 1, 0, 0, 0, 0, false, false, 1);
        check(r, 1, 2, 5, 1, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0, false, false, 1);
    }

    @Test
    void randomShapes() {
        SplittableRandom r = new SplittableRandom(42);
        for (int t = 0; t < 300; t++) {
            boolean oneD = r.nextInt(5) == 0;
            int kh = 1 + r.nextInt(4), kw = 1 + r.nextInt(5), sh = 1 + r.nextInt(3), sw = 1 + r.nextInt(3);
            int dh = 1 + r.nextInt(2), dw = 1 + r.nextInt(2);
            // ONNX: pads smaller than the kernel
            int pt = r.nextInt(kh), pb = r.nextInt(kh), pl = r.nextInt(kw), pr = r.nextInt(kw);
            int h = (kh - 1) * dh + 1 + r.nextInt(20), w = (kw - 1) * dw + 1 + r.nextInt(r.nextBoolean() ? 10 : 70);
            if (oneD) { kh = 1; sh = 1; dh = 1; pt = 0; pb = 0; h = 1; }
            boolean ceil = r.nextInt(4) == 0;
            check(r, 1 + r.nextInt(2), 1 + r.nextInt(5), h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, ceil, oneD, 1 + r.nextInt(2));
        }
    }
}
