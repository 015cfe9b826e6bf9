package dev.sluice.kernels.cpu.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.KernelHarness;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The float32 vector paths an encoder runs on (Softmax, LayerNormalization, sluice.AddLayerNorm, sluice.Attention,
 * FusedMatMul's Gelu epilogue) against naive double references written from the ONNX definitions, and the
 * bit-identities the fused ops promise (fused = unfused, independent of where a row starts and of threads).
 */
class TransformerKernelsTest {
    private static Tensor random(SplittableRandom r, double lo, double hi, long... shape) {
        Tensor t = Tensor.allocate(DType.FLOAT32, Shape.of(shape));
        for (long i = 0; i < t.elementCount(); i++) t.setFloat(i, (float) r.nextDouble(lo, hi));
        return t;
    }

    private static void assertClose(double want, double got, double tol, String what) {
        assertTrue(Math.abs(want - got) <= tol * (1 + Math.abs(want)), what + ": want " + want + ", got " + got);
    }

    @Test
    void softmaxAndLogSoftmaxMatchTheDefinition() {
        SplittableRandom r = new SplittableRandom(1);
        for (int n : new int[] {1, 5, 16, 17, 33, 128, 131}) {
            Tensor x = random(r, -20, 20, 3, n);
            if (n > 1) x.setFloat(n - 1, Float.NEGATIVE_INFINITY); // a masked-out score
            Tensor y = KernelHarness.op("Softmax").opset(13).in(x).run1();
            Tensor ly = KernelHarness.op("LogSoftmax").opset(13).in(x).run1();
            for (int row = 0; row < 3; row++) {
                double max = Double.NEGATIVE_INFINITY, sum = 0;
                for (int j = 0; j < n; j++) max = Math.max(max, x.getFloat((long) row * n + j));
                for (int j = 0; j < n; j++) sum += Math.exp(x.getFloat((long) row * n + j) - max);
                for (int j = 0; j < n; j++) {
                    long i = (long) row * n + j;
                    double v = x.getFloat(i) - max;
                    assertClose(Math.exp(v) / sum, y.getFloat(i), 2e-6, "softmax n=" + n + " at " + i);
                    if (Double.isFinite(v)) assertClose(v - Math.log(sum), ly.getFloat(i), 2e-6, "log-softmax n=" + n + " at " + i);
                    else assertEquals(Float.NEGATIVE_INFINITY, ly.getFloat(i));
                }
            }
        }
    }

    @Test
    void softmaxRowBitsDoNotDependOnWhereTheRowStarts() {
        SplittableRandom r = new SplittableRandom(2);
        int n = 45;
        Tensor x = random(r, -8, 8, 3 * n);
        Tensor a = Tensor.allocate(DType.FLOAT32, Shape.of(n)), b = Tensor.allocate(DType.FLOAT32, Shape.of(3 * n));
        MemorySegment src = x.data().asSlice(7L * 4, (long) n * 4);
        SoftmaxKernels.softmaxRow(src, 0, a.data(), 0, n);
        SoftmaxKernels.softmaxRow(x.data(), 7, b.data(), 13, n);
        for (int j = 0; j < n; j++) assertEquals(Float.floatToRawIntBits(a.getFloat(j)), Float.floatToRawIntBits(b.getFloat(13 + j)));
    }

    @Test
    void layerNormalizationMatchesTheDefinition() {
        SplittableRandom r = new SplittableRandom(3);
        for (int n : new int[] {1, 7, 16, 37, 384}) {
            // values around 5: a one-pass variance would cancel badly
            Tensor x = random(r, 4, 6, 4, n), w = random(r, -2, 2, n), b = random(r, -1, 1, n);
            var out = KernelHarness.op("LayerNormalization").opset(17).attr("epsilon", 1e-5f).outputs(3).in(x).in(w).in(b).run();
            for (int row = 0; row < 4; row++) {
                double mean = 0, var = 0;
                for (int j = 0; j < n; j++) mean += x.getFloat((long) row * n + j);
                mean /= n;
                for (int j = 0; j < n; j++) { double d = x.getFloat((long) row * n + j) - mean; var += d * d; }
                double inv = 1 / Math.sqrt(var / n + 1e-5f);
                assertClose(mean, out.get(1).getFloat(row), 1e-6, "mean");
                assertClose(inv, out.get(2).getFloat(row), 1e-4, "inv std dev");
                for (int j = 0; j < n; j++) {
                    long i = (long) row * n + j;
                    assertClose((x.getFloat(i) - mean) * inv * w.getFloat(j) + b.getFloat(j), out.get(0).getFloat(i), 1e-4, "n=" + n + " at " + i);
                }
            }
        }
    }

    @Test
    void addLayerNormIsAddThenLayerNormalizationBitForBit() {
        SplittableRandom r = new SplittableRandom(4);
        for (int n : new int[] {7, 16, 37, 384}) {
            Tensor a = random(r, -3, 3, 5, n), c = random(r, -3, 3, 5, n), w = random(r, -2, 2, n), b = random(r, -1, 1, n);
            Tensor fused = KernelHarness.op("sluice:AddLayerNorm").attr("epsilon", 1e-12f).in(a).in(c).in(w).in(b)
                .parallel(Parallelism.of(2)).run1();
            Tensor sum = KernelHarness.op("Add").in(a).in(c).run1();
            Tensor plain = KernelHarness.op("LayerNormalization").opset(17).attr("epsilon", 1e-12f).in(sum).in(w).in(b).run1();
            assertTrue(fused.sameBits(plain), "n=" + n);
        }
        // a broadcasting Add (shapes unknown to the fusion pass) takes the materialized path, same bits
        Tensor a = random(r, -3, 3, 5, 37), c = random(r, -3, 3, 1, 37), w = random(r, -2, 2, 37);
        Tensor fused = KernelHarness.op("sluice:AddLayerNorm").attr("epsilon", 1e-5f).in(c).in(a).in(w).run1();
        Tensor plain = KernelHarness.op("LayerNormalization").opset(17).attr("epsilon", 1e-5f)
            .in(KernelHarness.op("Add").in(c).in(a).run1()).in(w).run1();
        assertEquals(Shape.of(5, 37), fused.shape());
        assertTrue(fused.sameBits(plain), "broadcasting add");
    }

    /** sluice.Attention against softmax(q k^T / s + mask) v per batch and head, in double. */
    @Test
    void attentionMatchesTheDefinition() {
        SplittableRandom r = new SplittableRandom(5);
        int[][] cases = {{2, 7, 3, 5, 9, 4}, {1, 1, 2, 16, 20, 8}, {1, 33, 1, 8, 33, 17}};
        for (int[] c : cases) {
            int bsz = c[0], l = c[1], h = c[2], d = c[3], lk = c[4], dv = c[5];
            Tensor q = random(r, -1, 1, bsz, l, h, d), k = random(r, -1, 1, bsz, lk, h, d), v = random(r, -1, 1, bsz, lk, h, dv);
            Tensor mask = random(r, -3, 0, bsz, 1, 1, lk); // broadcast over heads and query rows
            float scale = (float) Math.sqrt(d);
            Tensor y = KernelHarness.op("sluice:Attention").attr("scale_div", scale).in(q).in(k).in(v).in(mask).run1();
            Tensor y2 = KernelHarness.op("sluice:Attention").attr("scale_div", scale).in(q).in(k).in(v).in(mask)
                .parallel(Parallelism.of(2)).run1();
            assertTrue(y.sameBits(y2), "threads changed the bits");
            assertEquals(Shape.of(bsz, l, h, dv), y.shape());
            for (int b = 0; b < bsz; b++) {
                for (int hh = 0; hh < h; hh++) {
                    for (int i = 0; i < l; i++) {
                        double[] s = new double[lk];
                        double max = Double.NEGATIVE_INFINITY, sum = 0;
                        for (int j = 0; j < lk; j++) {
                            double dot = 0;
                            for (int p = 0; p < d; p++) {
                                dot += (double) q.getFloat((((long) b * l + i) * h + hh) * d + p) * k.getFloat((((long) b * lk + j) * h + hh) * d + p);
                            }
                            s[j] = dot / scale + mask.getFloat((long) b * lk + j);
                            max = Math.max(max, s[j]);
                        }
                        for (int j = 0; j < lk; j++) { s[j] = Math.exp(s[j] - max); sum += s[j]; }
                        for (int p = 0; p < dv; p++) {
                            double o = 0;
                            for (int j = 0; j < lk; j++) o += s[j] / sum * v.getFloat((((long) b * lk + j) * h + hh) * dv + p);
                            assertClose(o, y.getFloat((((long) b * l + i) * h + hh) * dv + p), 1e-5,
                                java.util.Arrays.toString(c) + " b" + b + " h" + hh + " i" + i + " p" + p);
                        }
                    }
                }
            }
        }
    }

    /**
     * FusedMatMul's row blocks (threads) give the bits of one whole product plus the bias, also when the rows
     * leave a one-row remainder (37 rows in blocks of 12: the last row joins the block before).
     */
    @Test
    void fusedMatMulRowBlocksAreTheWholeProduct() {
        SplittableRandom r = new SplittableRandom(7);
        for (int rows : new int[] {37, 128, 5}) {
            Tensor a = random(r, -1, 1, rows, 300), w = random(r, -0.5, 0.5, 300, 128), bias = random(r, -1, 1, 128); // k > KC
            Tensor threaded = KernelHarness.op("sluice:FusedMatMul").in(a).in(w).in(bias).parallel(Parallelism.of(2)).run1();
            Tensor single = KernelHarness.op("sluice:FusedMatMul").in(a).in(w).in(bias).run1();
            Tensor plain = KernelHarness.op("MatMul").in(a).in(w).run1();
            for (long i = 0; i < plain.elementCount(); i++) plain.setFloat(i, plain.getFloat(i) + bias.getFloat(i % 128));
            assertTrue(threaded.sameBits(single), "rows=" + rows + ": threads changed the bits");
            assertTrue(threaded.sameBits(plain), "rows=" + rows + ": fused differs from MatMul + bias");
        }
    }

    /** FusedMatMul's Gelu epilogue gives the bits of the Gelu kernel run on FusedMatMul's plain output. */
    @Test
    void fusedMatMulGeluIsTheGeluKernelBitForBit() {
        SplittableRandom r = new SplittableRandom(6);
        for (int n : new int[] {5, 16, 37, 96}) {
            Tensor a = random(r, -2, 2, 2, 9, 24), w = random(r, -0.5, 0.5, 24, n), bias = random(r, -1, 1, n);
            Tensor fused = KernelHarness.op("sluice:FusedMatMul").attr("activation", "Gelu").in(a).in(w).in(bias).run1();
            Tensor plain = KernelHarness.op("sluice:FusedMatMul").in(a).in(w).in(bias).run1();
            Tensor gelu = KernelHarness.op("Gelu").opset(20).in(plain).run1();
            assertTrue(fused.sameBits(gelu), "n=" + n);
        }
    }
}
