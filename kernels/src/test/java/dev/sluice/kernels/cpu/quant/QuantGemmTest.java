package dev.sluice.kernels.cpu.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.FakeNodeCall;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The exact integer product (QuantGemm, behind MatMulInteger) and the fused dynamic chain
 * (sluice.DynamicQuantMatMul) against plain scalar references written here from ONNX's definitions: long
 * arithmetic for the product; for the chain, DynamicQuantizeLinear's formulas in double, then the float Cast,
 * the float product of the scales, the float multiply and the bias add, in the unfused graph's order.
 */
class QuantGemmTest {
    private static final int[][] SHAPES = {
        {1, 1, 1}, {1, 7, 5}, {3, 5, 1}, {3, 0, 4}, {2, 256, 3}, {2, 257, 3}, {13, 300, 17}, {5, 1000, 33}, {64, 384, 40}, {9, 513, 130}};
    /** Shapes past the fused kernel's threshold for splitting across threads (by weight panels and row tiles). */
    private static final int[][] PARALLEL_SHAPES = {{70, 1031, 67}, {128, 384, 200}, {3, 2048, 600}};

    private static Tensor random8(DType t, Shape s, SplittableRandom r) {
        Tensor x = Tensor.allocate(t, s);
        for (long i = 0; i < s.elementCount(); i++) x.setLong(i, t == DType.UINT8 ? r.nextInt(256) : r.nextInt(256) - 128);
        return x;
    }

    private static long[] reference(Tensor a, Tensor azp, Tensor b, Tensor bzp, int m, int k, int n) {
        long[] acc = new long[m * n];
        for (int i = 0; i < m; i++) {
            long za = azp == null ? 0 : azp.getLong(azp.elementCount() == 1 ? 0 : i);
            for (int j = 0; j < n; j++) {
                long zb = bzp == null ? 0 : bzp.getLong(bzp.elementCount() == 1 ? 0 : j);
                long s = 0;
                for (int q = 0; q < k; q++) s += (a.getLong((long) i * k + q) - za) * (b.getLong((long) q * n + j) - zb);
                acc[i * n + j] = (int) s;
            }
        }
        return acc;
    }

    @Test
    void matMulIntegerIsExactForOddShapesSignsAndZeroPoints() {
        SplittableRandom r = new SplittableRandom(17);
        for (int[] mkn : SHAPES) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            for (DType at : new DType[] {DType.UINT8, DType.INT8}) {
                for (DType bt : new DType[] {DType.INT8, DType.UINT8}) {
                    Tensor a = random8(at, Shape.of(m, k), r), b = random8(bt, Shape.of(k, n), r);
                    Tensor[] azps = {null, random8(at, Shape.of(), r), random8(at, Shape.of(m), r)};
                    Tensor[] bzps = {null, random8(bt, Shape.of(), r), random8(bt, Shape.of(n), r)};
                    for (Tensor azp : azps) {
                        for (Tensor bzp : bzps) {
                            Tensor y = new FakeNodeCall("MatMulInteger", 10, 1, a, b, azp, bzp).run()[0];
                            assertArrayEquals(reference(a, azp, b, bzp, m, k, n), y.toLongArray(),
                                m + "x" + k + "x" + n + " " + at + " x " + bt + " zp " + (azp != null) + "/" + (bzp != null));
                        }
                    }
                }
            }
        }
    }

    /** Every product at its largest magnitude, 255 * 255, over a long depth: partial sums at the float bound. */
    @Test
    void extremeOperandsStayExact() {
        int m = 6, k = 1031, n = 19;
        Tensor a = Tensor.allocate(DType.UINT8, Shape.of(m, k)), b = Tensor.allocate(DType.INT8, Shape.of(k, n));
        for (long i = 0; i < a.elementCount(); i++) a.setLong(i, 255);
        for (long i = 0; i < b.elementCount(); i++) b.setLong(i, -128);
        Tensor azp = Tensor.scalar(DType.UINT8, 0), bzp = Tensor.scalar(DType.INT8, 127);
        Tensor y = new FakeNodeCall("MatMulInteger", 10, 1, a, b, azp, bzp).run()[0];
        for (long v : y.toLongArray()) assertEquals(-255L * 255 * k, v);
    }

    // ---- the fused chain ----

    /** DynamicQuantizeLinear, MatMulInteger, Cast, Mul by (x_scale * w_scale), Add bias, by the definitions. */
    private static float[] chainReference(Tensor x, Tensor w, Tensor wzp, float[] wScale, float[] bias, int rows, int k, int n) {
        double min = 0, max = 0;
        for (long i = 0; i < x.elementCount(); i++) {
            float v = x.getFloat(i);
            if (v < min) min = v;
            if (v > max) max = v;
        }
        float scale = max == min ? 1f : (float) ((float) max - (float) min) / 255f;
        long zp = (long) Math.max(0, Math.min(255, Math.rint((0f - (float) min) / scale)));
        long[] q = new long[(int) x.elementCount()];
        for (int i = 0; i < q.length; i++) {
            double v = Math.rint(x.getFloat(i) / scale) + zp;
            q[i] = Double.isNaN(v) ? 0 : (long) Math.max(0, Math.min(255, v));
        }
        float[] y = new float[rows * n];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < n; j++) {
                long zb = wzp == null ? 0 : wzp.getLong(wzp.elementCount() == 1 ? 0 : j);
                long acc = 0;
                for (int p = 0; p < k; p++) acc += (q[i * k + p] - zp) * (w.getLong((long) p * n + j) - zb);
                float s = scale * wScale[wScale.length == 1 ? 0 : j];
                float v = (float) (int) acc * s;
                y[i * n + j] = bias == null ? v : bias[j] + v;
            }
        }
        return y;
    }

    private static void checkChain(Tensor x, int k, int n, SplittableRandom r, int threads) {
        checkChain(x, k, n, r, threads, DType.INT8);
    }

    private static void checkChain(Tensor x, int k, int n, SplittableRandom r, int threads, DType wt) {
        long[] d = x.shape().dims();
        int rows = 1;
        for (int i = 0; i < d.length - 1; i++) rows *= (int) d[i];
        Tensor w = random8(wt, Shape.of(k, n), r);
        Tensor wzp = random8(wt, Shape.of(n), r);
        // zero points at both ends of the type's range in some columns
        for (int j = 0; j < n; j += 3) wzp.setLong(j, wt == DType.UINT8 ? (j % 2 == 0 ? 0 : 255) : (j % 2 == 0 ? -128 : 127));
        float[] ws = new float[n], bias = new float[n];
        for (int j = 0; j < n; j++) { ws[j] = (float) (0.001 + r.nextDouble() * 0.01); bias[j] = (float) r.nextGaussian(); }
        for (boolean withBias : new boolean[] {false, true}) {
            Tensor[] in = {x, w, wzp, Tensor.ofFloats(Shape.of(n), ws), withBias ? Tensor.ofFloats(Shape.of(n), bias) : null};
            Tensor y = new FakeNodeCall("DynamicQuantMatMul", 1, 1, in).domain("sluice").threads(threads).run()[0];
            float[] want = chainReference(x, w, wzp, ws, withBias ? bias : null, rows, k, n);
            float[] got = y.toFloatArray();
            for (int i = 0; i < want.length; i++) {
                assertEquals(Float.floatToIntBits(want[i]), Float.floatToIntBits(got[i]),
                    x.shape() + " x " + k + "x" + n + " element " + i + ": " + got[i] + " vs " + want[i]);
            }
        }
    }

    @Test
    void fusedChainGivesTheUnfusedBits() {
        SplittableRandom r = new SplittableRandom(23);
        for (int[] mkn : SHAPES) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            for (int threads : new int[] {1, 3}) {
                Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(1, m, k));
                double lo = r.nextDouble() * -3, hi = r.nextDouble() * 5;
                for (long i = 0; i < x.elementCount(); i++) x.setFloat(i, (float) (lo + r.nextDouble() * (hi - lo)));
                checkChain(x, k, n, r, threads);
            }
        }
    }

    /** Large shapes, split across threads, both weight types, inputs that quantize far from their zero point. */
    @Test
    void fusedChainSplitAcrossThreadsGivesTheUnfusedBits() {
        SplittableRandom r = new SplittableRandom(41);
        for (int[] mkn : PARALLEL_SHAPES) {
            int m = mkn[0], k = mkn[1], n = mkn[2];
            for (DType wt : new DType[] {DType.INT8, DType.UINT8}) {
                Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(1, m, k));
                for (long i = 0; i < x.elementCount(); i++) x.setFloat(i, r.nextInt(3) == 0 ? (i % 2 == 0 ? -0.2f : 6f) : (float) (r.nextDouble() * 6 - 0.2));
                checkChain(x, k, n, r, 3, wt);
            }
        }
    }

    /** Rounding ties (x an odd multiple of half a step), an all-zero x, an all-positive x, a NaN. */
    @Test
    void fusedChainHandlesTiesEmptyRangesAndNaN() {
        SplittableRandom r = new SplittableRandom(29);
        int m = 5, k = 300, n = 21;
        Tensor ties = Tensor.allocate(DType.FLOAT32, Shape.of(m, k));
        for (long i = 0; i < ties.elementCount(); i++) ties.setFloat(i, -0.005f * (i % 511));
        ties.setFloat(0, -2.55f);
        checkChain(ties, k, n, r, 1);
        checkChain(Tensor.allocate(DType.FLOAT32, Shape.of(m, k)), k, n, r, 1);
        Tensor positive = Tensor.allocate(DType.FLOAT32, Shape.of(m, k));
        for (long i = 0; i < positive.elementCount(); i++) positive.setFloat(i, (float) (1 + r.nextDouble()));
        checkChain(positive, k, n, r, 2);
        positive.setFloat(7, Float.NaN);
        checkChain(positive, k, n, r, 1);
        // a NaN or an infinity in every part of the range scan: the second vector of an unrolled step, the scalar tail
        for (int at : new int[] {20, 1499}) {
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
                Tensor xb = Tensor.allocate(DType.FLOAT32, Shape.of(m, k));
                for (long i = 0; i < xb.elementCount(); i++) xb.setFloat(i, (float) (r.nextDouble() * 4 - 1));
                xb.setFloat(at, bad);
                checkChain(xb, k, n, r, 1);
            }
        }
        // negative zeros beside negatives only: the range's upper end is 0 whichever zero the scan keeps
        Tensor negative = Tensor.allocate(DType.FLOAT32, Shape.of(m, k));
        for (long i = 0; i < negative.elementCount(); i++) negative.setFloat(i, i % 3 == 0 ? -0.0f : (float) -r.nextDouble());
        checkChain(negative, k, n, r, 1);
        // operands too large for one exact float pass (|a| sums over a row times |w| reach 2^24): the run-by-run path
        int deep = 1031;
        Tensor extreme = Tensor.allocate(DType.FLOAT32, Shape.of(m, deep));
        for (long i = 0; i < extreme.elementCount(); i++) extreme.setFloat(i, i % 2 == 0 ? -1f : 1f);
        checkChain(extreme, deep, n, r, 2);
    }
}
