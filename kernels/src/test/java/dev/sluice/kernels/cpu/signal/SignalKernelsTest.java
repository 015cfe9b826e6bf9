package dev.sluice.kernels.cpu.signal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.KernelHarness;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * DFT, STFT and MelWeightMatrix against plain references written here: a direct O(n²) DFT in double (angles
 * reduced exactly in integers), framing by hand, and matrices printed by the ONNX Python reference
 * (onnx.reference, onnx 1.23.1).
 */
class SignalKernelsTest {
    /** The conformance rule: |actual - expected| <= 1e-4 + 1e-3·|expected|. */
    private static void assertClose(double want, double got, String where) {
        assertTrue(Math.abs(got - want) <= 1e-4 + 1e-3 * Math.abs(want), where + ": expected " + want + " got " + got);
    }

    /** Direct DFT of x (re, im), sign -1 forward, +1 inverse, unscaled. */
    private static double[][] direct(double[] re, double[] im, boolean inverse) {
        int n = re.length;
        double[] or = new double[n], oi = new double[n];
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < n; j++) {
                double a = (inverse ? 2 : -2) * Math.PI * (((long) j * k) % n) / n;
                double c = Math.cos(a), s = Math.sin(a);
                or[k] += re[j] * c - im[j] * s;
                oi[k] += re[j] * s + im[j] * c;
            }
        }
        return new double[][] {or, oi};
    }

    private static double[] random(SplittableRandom r, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = r.nextDouble() * 2 - 1;
        return v;
    }

    /** The FFT in double against the direct DFT: radix-2 lengths, Bluestein lengths (primes, 400, 1000), tiny ones. */
    @Test
    void fftMatchesTheDirectTransformAtEveryLength() {
        SplittableRandom r = new SplittableRandom(1);
        for (int n : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 97, 100, 128, 400, 512, 1000, 1024, 1031}) {
            double[] re = random(r, n), im = random(r, n);
            for (boolean inverse : new boolean[] {false, true}) {
                double[][] want = direct(re, im, inverse);
                double[] gr = re.clone(), gi = im.clone();
                Fft fft = Fft.of(n);
                fft.transform(gr, gi, inverse, fft.newScratch());
                double worst = 0;
                for (int k = 0; k < n; k++) worst = Math.max(worst, Math.max(Math.abs(gr[k] - want[0][k]), Math.abs(gi[k] - want[1][k])));
                // the direct sum itself carries n·1e-16-sized rounding; 1e-9 is far below float32 and far above both
                assertTrue(worst < 1e-9 * n, "n=" + n + " inverse=" + inverse + ": max error " + worst);
            }
        }
        assertThrows(KernelException.class, () -> Fft.of(0));
    }

    /** float32 DFTs of real and complex signals at audio lengths, every mode, to the conformance tolerance. */
    @Test
    void dftKernelMatchesTheDirectTransformInFloat32() {
        SplittableRandom r = new SplittableRandom(2);
        for (int n : new int[] {400, 512, 1024, 11}) {
            for (int comps = 1; comps <= 2; comps++) {
                Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(3, n, comps));
                double[][] re = new double[3][n], im = new double[3][n];
                for (int b = 0; b < 3; b++) {
                    for (int j = 0; j < n; j++) {
                        re[b][j] = (float) (r.nextDouble() * 2 - 1);
                        im[b][j] = comps == 2 ? (float) (r.nextDouble() * 2 - 1) : 0;
                        x.setDouble(((long) b * n + j) * comps, re[b][j]);
                        if (comps == 2) x.setDouble(((long) b * n + j) * comps + 1, im[b][j]);
                    }
                }
                for (int mode = 0; mode < 3; mode++) {
                    boolean inverse = mode == 2, onesided = mode == 1;
                    Tensor y = KernelHarness.op("DFT").opset(17).attr("axis", 1L).attr("inverse", inverse ? 1L : 0L)
                        .attr("onesided", onesided ? 1L : 0L).in(x).parallel(Parallelism.SEQUENTIAL).run1();
                    long bins = onesided ? n / 2 + 1 : n;
                    assertEquals(Shape.of(3, bins, 2), y.shape());
                    for (int b = 0; b < 3; b++) {
                        double[][] want = direct(re[b], im[b], inverse);
                        for (int k = 0; k < bins; k++) {
                            String where = "n=" + n + " comps=" + comps + " mode=" + mode + " batch " + b + " bin " + k;
                            double scale = inverse ? 1.0 / n : 1;
                            assertClose(want[0][k] * scale, y.getDouble(((long) b * bins + k) * 2), where + " re");
                            assertClose(want[1][k] * scale, y.getDouble(((long) b * bins + k) * 2 + 1), where + " im");
                        }
                    }
                }
            }
        }
    }

    /** Opset 20: the axis as an input (negative allowed), dft_length padding and truncating, on a middle axis. */
    @Test
    void dftOpset20AxisInputAndLength() {
        SplittableRandom r = new SplittableRandom(3);
        int len = 6, lanes = 4;
        Tensor x = Tensor.allocate(DType.FLOAT64, Shape.of(2, len, lanes, 1));
        for (long i = 0; i < x.elementCount(); i++) x.setDouble(i, r.nextDouble());
        for (long n : new long[] {4, 6, 9}) {
            for (long axis : new long[] {1, -3}) {
                Tensor y = KernelHarness.op("DFT").opset(20).in(x).in(Tensor.scalar(DType.INT64, n))
                    .in(Tensor.scalar(DType.INT32, axis)).run1();
                assertEquals(Shape.of(2, n, lanes, 2), y.shape());
                for (int b = 0; b < 2; b++) {
                    for (int l = 0; l < lanes; l++) {
                        double[] re = new double[(int) n], im = new double[(int) n];
                        for (int j = 0; j < Math.min(n, len); j++) re[j] = x.getDouble((b * len + j) * lanes + l);
                        double[][] want = direct(re, im, false);
                        for (int k = 0; k < n; k++) {
                            long at = ((b * n + k) * lanes + l) * 2;
                            assertEquals(want[0][k], y.getDouble(at), 1e-12, "n=" + n + " re " + k);
                            assertEquals(want[1][k], y.getDouble(at + 1), 1e-12, "n=" + n + " im " + k);
                        }
                    }
                }
            }
        }
        // without the axis input opset 20 transforms axis -2
        Tensor v = Tensor.allocate(DType.FLOAT32, Shape.of(5, 1));
        v.setFloat(0, 1);
        Tensor y = KernelHarness.op("DFT").opset(20).in(v).run1();
        assertEquals(Shape.of(5, 2), y.shape());
        for (int k = 0; k < 5; k++) assertEquals(1.0, y.getDouble(2 * k), 1e-7);
    }

    /** An inverse one-sided DFT of a real signal's one-sided spectrum gives the signal back, for even and odd n. */
    @Test
    void inverseOfOneSidedSpectrumRecoversTheSignal() {
        SplittableRandom r = new SplittableRandom(4);
        for (int n : new int[] {400, 512, 9}) {
            double[] sig = random(r, n);
            double[][] spec = direct(sig, new double[n], false);
            int bins = n / 2 + 1;
            Tensor x = Tensor.allocate(DType.FLOAT64, Shape.of(1, bins, 2));
            for (int k = 0; k < bins; k++) { x.setDouble(2 * k, spec[0][k]); x.setDouble(2 * k + 1, spec[1][k]); }
            Tensor y = KernelHarness.op("DFT").opset(20).attr("inverse", 1L).attr("onesided", 1L).in(x)
                .in(Tensor.scalar(DType.INT64, n)).in(Tensor.scalar(DType.INT64, 1)).run1();
            assertEquals(Shape.of(1, n, 1), y.shape());
            for (int t = 0; t < n; t++) assertEquals(sig[t], y.getDouble(t), 1e-12, "n=" + n + " sample " + t);
        }
        // default length 2·(bins - 1)
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(1, 5, 2));
        assertEquals(Shape.of(1, 8, 1), KernelHarness.op("DFT").opset(17).attr("inverse", 1L).attr("onesided", 1L).in(x).run1().shape());
    }

    @Test
    void dftRefusesBadInputsByName() {
        Tensor three = Tensor.allocate(DType.FLOAT32, Shape.of(1, 4, 3));
        KernelException e = assertThrows(KernelException.class, () -> KernelHarness.op("DFT").opset(17).in(three).run1());
        assertTrue(e.getMessage().contains("last dimension"), e.getMessage());
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(1, 4, 1));
        e = assertThrows(KernelException.class, () -> KernelHarness.op("DFT").opset(17).attr("axis", 2L).in(x).run1());
        assertTrue(e.getMessage().contains("axis 2"), e.getMessage());
        e = assertThrows(KernelException.class, () -> KernelHarness.op("DFT").opset(20).in(x).in(Tensor.scalar(DType.INT64, 0)).run1());
        assertTrue(e.getMessage().contains("dft_length"), e.getMessage());
        Tensor ints = Tensor.allocate(DType.INT32, Shape.of(1, 4, 1));
        assertThrows(KernelException.class, () -> KernelHarness.op("DFT").opset(17).in(ints).run1());
    }

    @Test
    void dftInferenceFollowsConstantsAndSaysUnknownOtherwise() {
        TensorType in = TensorType.of(DType.FLOAT32, Shape.of(2, 10, 1));
        List<TensorType> t = KernelHarness.op("DFT").opset(20).attr("onesided", 1L).typeIn(in).absent()
            .constIn(Tensor.scalar(DType.INT64, -2)).infer();
        assertEquals(SymShape.ofKnown(2, 6, 2), t.get(0).shape());
        t = KernelHarness.op("DFT").opset(20).typeIn(in).typeIn(TensorType.of(DType.INT64, Shape.SCALAR)).infer();
        assertEquals(SymShape.of(Dim.of(2), Dim.UNKNOWN, Dim.of(2)), t.get(0).shape());
        t = KernelHarness.op("DFT").opset(20).typeIn(in).absent().typeIn(TensorType.of(DType.INT64, Shape.SCALAR)).infer();
        assertEquals(SymShape.of(Dim.UNKNOWN, Dim.UNKNOWN, Dim.of(2)), t.get(0).shape());
    }

    /** STFT frames by hand: frame f is x[f·step, f·step + len) times the window, then the direct DFT. */
    @Test
    void stftMatchesFramingByHand() {
        SplittableRandom r = new SplittableRandom(5);
        int length = 1000, frameLength = 400, step = 160;
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(2, length, 1));
        for (long i = 0; i < x.elementCount(); i++) x.setFloat(i, (float) (r.nextDouble() * 2 - 1));
        Tensor w = Tensor.allocate(DType.FLOAT32, Shape.of(frameLength));
        for (int k = 0; k < frameLength; k++) w.setFloat(k, (float) (0.5 - 0.5 * Math.cos(2 * Math.PI * k / frameLength)));
        for (boolean onesided : new boolean[] {true, false}) {
            Tensor y = KernelHarness.op("STFT").opset(17).attr("onesided", onesided ? 1L : 0L).in(x)
                .in(Tensor.scalar(DType.INT64, step)).in(w).in(Tensor.scalar(DType.INT64, frameLength))
                .parallel(Parallelism.SEQUENTIAL).run1();
            int frames = (length - frameLength) / step + 1, bins = onesided ? frameLength / 2 + 1 : frameLength;
            assertEquals(Shape.of(2, frames, bins, 2), y.shape());
            for (int b = 0; b < 2; b++) {
                for (int f = 0; f < frames; f++) {
                    double[] re = new double[frameLength];
                    for (int k = 0; k < frameLength; k++) re[k] = x.getDouble((long) b * length + f * step + k) * w.getDouble(k);
                    double[][] want = direct(re, new double[frameLength], false);
                    for (int k = 0; k < bins; k++) {
                        long at = (((long) b * frames + f) * bins + k) * 2;
                        assertClose(want[0][k], y.getDouble(at), "frame " + f + " bin " + k + " re");
                        assertClose(want[1][k], y.getDouble(at + 1), "frame " + f + " bin " + k + " im");
                    }
                }
            }
        }
    }

    @Test
    void stftInferenceAgreesWithTheKernel() {
        TensorType sig = TensorType.of(DType.FLOAT32, Shape.of(2, 1000, 1));
        Tensor step = Tensor.scalar(DType.INT64, 160);
        List<TensorType> t = KernelHarness.op("STFT").opset(17).typeIn(sig).constIn(step)
            .typeIn(TensorType.of(DType.FLOAT32, Shape.of(400))).infer();
        assertEquals(SymShape.ofKnown(2, 4, 201, 2), t.get(0).shape());
        t = KernelHarness.op("STFT").opset(17).attr("onesided", 0L).typeIn(sig).constIn(step).infer();
        assertEquals(SymShape.ofKnown(2, 1, 1000, 2), t.get(0).shape());
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(2, 1000, 1));
        assertEquals(Shape.of(2, 1, 1000, 2), KernelHarness.op("STFT").opset(17).attr("onesided", 0L).in(x).in(step).run1().shape());
        t = KernelHarness.op("STFT").opset(17).typeIn(sig).typeIn(TensorType.of(DType.INT64, Shape.SCALAR)).absent()
            .constIn(Tensor.scalar(DType.INT64, 512)).infer();
        assertEquals(SymShape.of(Dim.of(2), Dim.UNKNOWN, Dim.of(257), Dim.of(2)), t.get(0).shape());
    }

    @Test
    void stftRefusesAMismatchedWindowAndAShortSignal() {
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(1, 100, 1));
        Tensor step = Tensor.scalar(DType.INT64, 10);
        KernelException e = assertThrows(KernelException.class, () -> KernelHarness.op("STFT").opset(17).in(x).in(step)
            .in(Tensor.allocate(DType.FLOAT32, Shape.of(32))).in(Tensor.scalar(DType.INT64, 64)).run1());
        assertTrue(e.getMessage().contains("window"), e.getMessage());
        e = assertThrows(KernelException.class, () -> KernelHarness.op("STFT").opset(17).in(x).in(step).absent()
            .in(Tensor.scalar(DType.INT64, 128)).run1());
        assertTrue(e.getMessage().contains("shorter"), e.getMessage());
        assertThrows(KernelException.class, () -> KernelHarness.op("STFT").opset(17).in(x).in(Tensor.scalar(DType.INT64, 0))
            .absent().in(Tensor.scalar(DType.INT64, 16)).run1());
    }

    /**
     * Printed by onnx.reference (onnx 1.23.1) for MelWeightMatrix(num_mel_bins=4, dft_length=16, sample_rate=8000,
     * lower=0, upper=4000) and (6, 64, 8000, 50, 3500) as double, rows = spectrogram bins, columns = bands.
     */
    @Test
    void melWeightMatrixMatchesTheOnnxReference() {
        double[][] a = MEL_4_16_8000;
        Tensor m = KernelHarness.op("MelWeightMatrix").opset(17).in(Tensor.scalar(DType.INT64, 4)).in(Tensor.scalar(DType.INT64, 16))
            .in(Tensor.scalar(DType.INT64, 8000)).in(Tensor.scalar(DType.FLOAT32, 0)).in(Tensor.scalar(DType.FLOAT32, 4000)).run1();
        assertEquals(Shape.of(9, 4), m.shape());
        for (int i = 0; i < 9; i++) for (int j = 0; j < 4; j++) assertEquals(a[i][j], m.getDouble(i * 4L + j), 1e-7, i + "," + j);
        Tensor m2 = KernelHarness.op("MelWeightMatrix").opset(17).attr("output_datatype", 11L)
            .in(Tensor.scalar(DType.INT32, 6)).in(Tensor.scalar(DType.INT32, 64))
            .in(Tensor.scalar(DType.INT32, 8000)).in(Tensor.scalar(DType.FLOAT32, 50)).in(Tensor.scalar(DType.FLOAT32, 3500)).run1();
        assertEquals(DType.FLOAT64, m2.dtype());
        assertEquals(Shape.of(33, 6), m2.shape());
        for (int i = 0; i < 33; i++) for (int j = 0; j < 6; j++) assertEquals(MEL_6_64_8000[i][j], m2.getDouble(i * 6L + j), 1e-12, i + "," + j);
    }

    private static final double[][] MEL_4_16_8000 = MEL_4_16_8000();
    private static final double[][] MEL_6_64_8000 = MEL_6_64_8000();

    private static double[][] MEL_4_16_8000() {
        return new double[][] {
            {1.0, 0.0, 0.0, 0.0},
            {0.0, 1.0, 0.0, 0.0},
            {0.0, 0.0, 1.0, 0.0},
            {0.0, 0.0, 0.0, 1.0},
            {0.0, 0.0, 0.0, 0.5},
            {0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0}};
    }

    private static double[][] MEL_6_64_8000() {
        return new double[][] {
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {1.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.5, 0.5, 0.0, 0.0, 0.0, 0.0},
            {0.0, 1.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.5, 0.5, 0.0, 0.0, 0.0},
            {0.0, 0.0, 1.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.6666666666666666, 0.3333333333333333, 0.0, 0.0},
            {0.0, 0.0, 0.3333333333333333, 0.6666666666666666, 0.0, 0.0},
            {0.0, 0.0, 0.0, 1.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.75, 0.25, 0.0},
            {0.0, 0.0, 0.0, 0.5, 0.5, 0.0},
            {0.0, 0.0, 0.0, 0.25, 0.75, 0.0},
            {0.0, 0.0, 0.0, 0.0, 1.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.75, 0.25},
            {0.0, 0.0, 0.0, 0.0, 0.5, 0.5},
            {0.0, 0.0, 0.0, 0.0, 0.25, 0.75},
            {0.0, 0.0, 0.0, 0.0, 0.0, 1.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.8},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.6},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.4},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.2},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
            {0.0, 0.0, 0.0, 0.0, 0.0, 0.0}};
    }
}
