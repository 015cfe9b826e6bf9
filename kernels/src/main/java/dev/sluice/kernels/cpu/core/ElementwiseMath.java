package dev.sluice.kernels.cpu.core;

/** Scalar functions the JDK lacks (erf) and numerically careful forms of activation functions, in double. */
public final class ElementwiseMath {
    private ElementwiseMath() {}

    private static final double TWO_OVER_SQRT_PI = 1.1283791670955126;
    private static final double ONE_OVER_SQRT_PI = 0.5641895835477563;

    /**
     * The error function to about 1e-15 relative. For |x| < 3 it sums the everywhere-positive series
     * erf(x) = 2/sqrt(pi) e^(-x^2) sum_n (2x^2)^n x / (1*3*...*(2n+1)), which has no cancellation; beyond that
     * it evaluates erfc by its continued fraction, which converges fast for large x.
     */
    public static double erf(double x) {
        if (Double.isNaN(x)) return x;
        double ax = Math.abs(x);
        double r;
        if (ax < 3.0) {
            double x2 = ax * ax;
            double term = ax, sum = ax;
            for (int n = 1; n < 200; n++) {
                term *= 2.0 * x2 / (2 * n + 1);
                sum += term;
                if (term < sum * 1e-17) break;
            }
            r = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
        } else if (ax < 6.5) {
            r = 1.0 - erfcLarge(ax);
        } else {
            r = 1.0;
        }
        return x < 0 ? -r : r;
    }

    /**
     * erfc(x) for x >= 3 via the continued fraction erfc(x) = e^(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x +
     * (3/2)/(x + ...)))), evaluated from the tail with a fixed depth that is ample for x >= 3.
     */
    static double erfcLarge(double x) {
        double f = x;
        for (int k = 60; k >= 1; k--) f = x + (k / 2.0) / f;
        return Math.exp(-x * x) * ONE_OVER_SQRT_PI / f;
    }

    /** Numerically stable logistic function. */
    public static double sigmoid(double x) {
        if (x >= 0) return 1.0 / (1.0 + Math.exp(-x));
        double e = Math.exp(x);
        return e / (1.0 + e);
    }

    /** log(1 + e^x) without overflow for large x or loss for very negative x. */
    public static double softplus(double x) {
        if (x > 0) return x + Math.log1p(Math.exp(-x));
        return Math.log1p(Math.exp(x));
    }

    public static double gelu(double x) { return 0.5 * x * (1.0 + erf(x / Math.sqrt(2.0))); }

    public static double geluTanh(double x) {
        double inner = Math.sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x);
        return 0.5 * x * (1.0 + Math.tanh(inner));
    }

    public static double asinh(double x) {
        // the odd-symmetric form keeps accuracy for negative x
        double ax = Math.abs(x);
        double r = ax > 1e8 ? Math.log(ax) + Math.log(2.0) : Math.log1p(ax + ax * ax / (1.0 + Math.sqrt(1.0 + ax * ax)));
        return Math.copySign(r, x);
    }

    public static double acosh(double x) {
        if (x < 1) return Double.NaN;
        if (x > 1e8) return Math.log(x) + Math.log(2.0);
        double t = x - 1.0;
        return Math.log1p(t + Math.sqrt(2.0 * t + t * t));
    }

    public static double atanh(double x) { return 0.5 * Math.log1p(2.0 * x / (1.0 - x)); }
}
