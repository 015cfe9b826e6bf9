package dev.sluice.bench.serve;

import dev.sluice.kernels.SluiceException;
import java.util.Locale;
import java.util.Random;

/**
 * The open-loop schedule of a load generator, fixed before the first request goes out: send times with
 * gamma-distributed gaps (coefficient of variation 1 is a Poisson process; larger is burstier) at a mean
 * rate, and for each send a model drawn from a Zipf distribution over the models (exponent 0 is uniform).
 */
public record Arrivals(long[] sendNanos, int[] model) {
    /**
     * @param rate     mean requests per second
     * @param seconds  how long the schedule runs
     * @param cv       coefficient of variation of the gaps (1: Poisson)
     * @param zipf     Zipf exponent over {@code models} models, in the order given (0: uniform)
     */
    public static Arrivals plan(double rate, double seconds, double cv, double zipf, int models, long seed) {
        if (!(rate > 0) || !(seconds > 0)) throw new SluiceException("rate and duration must be positive");
        if (!(cv > 0)) throw new SluiceException("the burst CV must be positive, got " + cv);
        if (zipf < 0) throw new SluiceException("the Zipf exponent must be >= 0, got " + zipf);
        Random r = new Random(seed);
        double shape = 1 / (cv * cv), scale = 1 / (rate * shape);
        double[] cdf = new double[models];
        double sum = 0;
        for (int i = 0; i < models; i++) cdf[i] = sum += 1 / Math.pow(i + 1, zipf);
        int cap = (int) Math.min(50_000_000, Math.ceil(rate * seconds * 4 + 100));
        long[] t = new long[cap];
        int[] m = new int[cap];
        int n = 0;
        double at = 0;
        while (n < cap) {
            at += gamma(r, shape) * scale;
            if (at >= seconds) break;
            t[n] = (long) (at * 1e9);
            double u = r.nextDouble() * sum;
            int k = 0;
            while (k < models - 1 && cdf[k] < u) k++;
            m[n++] = k;
        }
        return new Arrivals(java.util.Arrays.copyOf(t, n), java.util.Arrays.copyOf(m, n));
    }

    /**
     * The same sends with every gap scaled by one factor so that the schedule's mean rate is exactly {@code rate}: its
     * n requests span n / rate seconds. A short bursty schedule's count strays far from rate x seconds (CV 4 over a
     * dozen seconds: by half or double); scaling keeps its burst shape (the gaps' CV) and the model sequence.
     */
    public Arrivals atMeanRate(double rate) {
        int n = sendNanos.length;
        if (n == 0 || !(rate > 0)) return this;
        double span = sendNanos[n - 1] + (sendNanos[n - 1] / (double) n); // the last gap after the last send, on average
        double factor = n / rate * 1e9 / Math.max(span, 1);
        long[] t = new long[n];
        for (int i = 0; i < n; i++) t[i] = (long) (sendNanos[i] * factor);
        return new Arrivals(t, model);
    }

    /** A gamma(shape, 1) draw (Marsaglia and Tsang; shapes below 1 by the boost U^(1/shape)). */
    static double gamma(Random r, double shape) {
        if (shape < 1) return gamma(r, shape + 1) * Math.pow(r.nextDouble(), 1 / shape);
        double d = shape - 1.0 / 3, c = 1 / Math.sqrt(9 * d);
        while (true) {
            double x = r.nextGaussian(), v = 1 + c * x;
            if (v <= 0) continue;
            v = v * v * v;
            double u = r.nextDouble();
            if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
        }
    }

    /** Reads {@code gamma:CV} (or a bare CV). */
    public static double parseBurst(String s) {
        String t = s.toLowerCase(Locale.ROOT).startsWith("gamma:") ? s.substring(6) : s;
        try {
            return Double.parseDouble(t);
        } catch (NumberFormatException e) {
            throw new SluiceException("--burst must be gamma:CV, got '" + s + "'");
        }
    }

    /** Reads {@code zipf:S} (or a bare S). */
    public static double parseSkew(String s) {
        String t = s.toLowerCase(Locale.ROOT).startsWith("zipf:") ? s.substring(5) : s;
        try {
            return Double.parseDouble(t);
        } catch (NumberFormatException e) {
            throw new SluiceException("--skew must be zipf:S, got '" + s + "'");
        }
    }
}
