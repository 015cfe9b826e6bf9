package dev.sluice.kernels.cpu.signal;

import dev.sluice.kernels.KernelException;

/**
 * A complex discrete Fourier transform of one fixed length n, computed in double in O(n log n) for every n.
 *
 * <p>A power-of-two n runs an iterative radix-2 Cooley-Tukey transform. Any other n (400-sample audio frames,
 * for one) runs Bluestein's algorithm: the DFT is rewritten as a convolution with the chirp exp(-iπk²/n), and
 * that convolution is done with radix-2 transforms of the first power of two m >= 2n-1, so it costs about three
 * transforms of length m. Every twiddle and chirp factor is computed directly with {@link Math#cos}/{@link
 * Math#sin} of an exactly reduced angle (k² is taken modulo 2n in integers), not by recurrence, so the error
 * stays near double rounding and far inside float32 tolerances.
 *
 * <p>A plan is immutable and may be shared between threads; the scratch a Bluestein transform needs comes from
 * {@link #newScratch()}, one per thread.
 */
final class Fft {
    /** Transforms longer than this are refused: their scratch would not fit a Java array. */
    static final int MAX_LENGTH = 1 << 28;

    private final int n;
    /** The radix-2 plan of n itself, or of the convolution length m for Bluestein. */
    private final Radix2 radix;
    /** Bluestein only: the chirp exp(-iπk²/n), k in [0, n). */
    private final double[] chirpRe, chirpIm;
    /** Bluestein only: the forward transform of the conjugate chirp laid out circularly over m points. */
    private final double[] kernelRe, kernelIm;

    private Fft(int n) {
        this.n = n;
        if (Integer.bitCount(n) == 1) {
            radix = new Radix2(n);
            chirpRe = chirpIm = kernelRe = kernelIm = null;
            return;
        }
        int m = Integer.highestOneBit(2 * n - 1);
        if (m < 2 * n - 1) m <<= 1;
        radix = new Radix2(m);
        chirpRe = new double[n];
        chirpIm = new double[n];
        long twoN = 2L * n;
        for (int k = 0; k < n; k++) {
            double angle = Math.PI * (((long) k * k) % twoN) / n;
            chirpRe[k] = Math.cos(angle);
            chirpIm[k] = -Math.sin(angle);
        }
        kernelRe = new double[m];
        kernelIm = new double[m];
        kernelRe[0] = chirpRe[0];
        kernelIm[0] = -chirpIm[0];
        for (int k = 1; k < n; k++) {
            kernelRe[k] = kernelRe[m - k] = chirpRe[k];
            kernelIm[k] = kernelIm[m - k] = -chirpIm[k];
        }
        radix.transform(kernelRe, kernelIm);
    }

    /**
     * The plan for length n.
     *
     * @param n the transform length, at least 1
     * @return the plan
     */
    static Fft of(int n) {
        if (n < 1 || n > MAX_LENGTH) throw new KernelException("DFT length " + n + " is outside [1, " + MAX_LENGTH + "]");
        return new Fft(n);
    }

    int length() { return n; }

    /** Working arrays for one thread's transforms with this plan: a Bluestein transform needs two of length m. */
    static final class Scratch {
        final double[] re, im;

        private Scratch(int m) { re = new double[m]; im = new double[m]; }
    }

    /** Scratch for one thread's transforms with this plan (empty for a power of two). */
    Scratch newScratch() { return new Scratch(chirpRe == null ? 0 : radix.n); }

    /**
     * Transforms re/im[0, n) in place: X[k] = Σ x[j]·exp(∓2πi·jk/n), the minus sign forward. The inverse is not
     * scaled by 1/n.
     *
     * @param re real parts, length at least n
     * @param im imaginary parts, length at least n
     * @param inverse true for the positive exponent
     * @param scratch from this plan's {@link #newScratch()}, used by one thread at a time
     */
    void transform(double[] re, double[] im, boolean inverse, Scratch scratch) {
        // the inverse transform is the conjugate of the forward transform of the conjugate
        if (inverse) negate(im, n);
        if (chirpRe == null) radix.transform(re, im);
        else bluestein(re, im, scratch);
        if (inverse) negate(im, n);
    }

    private static void negate(double[] a, int n) {
        for (int i = 0; i < n; i++) a[i] = -a[i];
    }

    /** X[k] = c[k]·Σ (x[j]·c[j])·conj(c[k-j]): premultiply by the chirp, convolve, postmultiply. */
    private void bluestein(double[] re, double[] im, Scratch scratch) {
        int m = radix.n;
        double[] wr = scratch.re, wi = scratch.im;
        for (int k = 0; k < n; k++) {
            wr[k] = re[k] * chirpRe[k] - im[k] * chirpIm[k];
            wi[k] = re[k] * chirpIm[k] + im[k] * chirpRe[k];
        }
        java.util.Arrays.fill(wr, n, m, 0);
        java.util.Arrays.fill(wi, n, m, 0);
        convolve(wr, wi);
        double scale = 1.0 / m;
        for (int k = 0; k < n; k++) {
            double yr = wr[k] * scale, yi = wi[k] * scale;
            re[k] = yr * chirpRe[k] - yi * chirpIm[k];
            im[k] = yr * chirpIm[k] + yi * chirpRe[k];
        }
    }

    /** a ← IFFT(FFT(a)·kernel)·m (unscaled), the circular convolution of a with the conjugate chirp. */
    private void convolve(double[] ar, double[] ai) {
        radix.transform(ar, ai);
        int m = radix.n;
        for (int k = 0; k < m; k++) {
            double r = ar[k] * kernelRe[k] - ai[k] * kernelIm[k];
            double i = ar[k] * kernelIm[k] + ai[k] * kernelRe[k];
            // conjugate now, transform forward, conjugate after: an inverse transform
            ar[k] = r;
            ai[k] = -i;
        }
        radix.transform(ar, ai);
        for (int k = 0; k < m; k++) ai[k] = -ai[k];
    }

    /** An in-place forward radix-2 transform of a power-of-two length. */
    private static final class Radix2 {
        final int n;
        /** exp(-2πik/n) for k in [0, n/2). */
        private final double[] cos, sin;
        /** The bit-reversal permutation of [0, n). */
        private final int[] reversed;

        Radix2(int n) {
            this.n = n;
            int half = Math.max(1, n / 2);
            cos = new double[half];
            sin = new double[half];
            for (int k = 0; k < half; k++) {
                double angle = 2 * Math.PI * k / n;
                cos[k] = Math.cos(angle);
                sin[k] = -Math.sin(angle);
            }
            reversed = new int[n];
            int bits = Integer.numberOfTrailingZeros(n);
            for (int i = 0; i < n; i++) reversed[i] = bits == 0 ? 0 : Integer.reverse(i) >>> (32 - bits);
        }

        void transform(double[] re, double[] im) {
            for (int i = 0; i < n; i++) {
                int j = reversed[i];
                if (j > i) {
                    double t = re[i]; re[i] = re[j]; re[j] = t;
                    t = im[i]; im[i] = im[j]; im[j] = t;
                }
            }
            for (int len = 2; len <= n; len <<= 1) {
                int half = len >>> 1, step = n / len;
                for (int start = 0; start < n; start += len) {
                    for (int k = 0; k < half; k++) {
                        double wr = cos[k * step], wi = sin[k * step];
                        int p = start + k, q = p + half;
                        double tr = re[q] * wr - im[q] * wi;
                        double ti = re[q] * wi + im[q] * wr;
                        re[q] = re[p] - tr;
                        im[q] = im[p] - ti;
                        re[p] += tr;
                        im[p] += ti;
                    }
                }
            }
        }
    }
}
