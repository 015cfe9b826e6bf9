package dev.sluice.bench;

import java.util.Arrays;
import java.util.List;

/** The statistics a bench report prints. */
public final class Stats {
    private Stats() {}

    /** Median; the mean of the two middle values for an even count. */
    public static double median(double[] values) {
        if (values.length == 0) throw new IllegalArgumentException("median of no values");
        double[] v = values.clone();
        Arrays.sort(v);
        int m = v.length / 2;
        return v.length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
    }

    /** Median of nanosecond samples, in milliseconds. */
    public static double medianMillis(long[] nanos) {
        double[] ms = new double[nanos.length];
        for (int i = 0; i < nanos.length; i++) ms[i] = nanos[i] / 1e6;
        return median(ms);
    }

    /** Geometric mean of positive values (exp of the mean log); NaN for none. */
    public static double geomean(List<Double> values) {
        if (values.isEmpty()) return Double.NaN;
        double s = 0;
        for (double v : values) {
            if (!(v > 0) || Double.isInfinite(v)) throw new IllegalArgumentException("geomean needs positive finite values, got " + v);
            s += Math.log(v);
        }
        return Math.exp(s / values.size());
    }
}
