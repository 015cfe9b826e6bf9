package dev.sluice.runtime.testdata;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Tensor;

/**
 * The one comparison rule used everywhere: {@code |actual - expected| <= atol + rtol * |expected|}, NaN matches NaN,
 * infinities match only themselves, dtype and shape must be equal.
 */
public record Tolerance(double atol, double rtol) {
    /** The project's tolerance: atol 1e-4, rtol 1e-3. */
    public static final Tolerance DEFAULT = new Tolerance(1e-4, 1e-3);

    /** Null if the tensors match, else a description of the first and largest mismatch. */
    public String mismatch(Tensor actual, Tensor expected) {
        if (actual.dtype() != expected.dtype()) return "dtype " + actual.dtype() + " != expected " + expected.dtype();
        if (!actual.shape().equals(expected.shape())) return "shape " + actual.shape() + " != expected " + expected.shape();
        long n = expected.elementCount();
        long bad = 0, first = -1, worst = -1;
        double worstExcess = 0;
        boolean integral = !expected.dtype().isFloatingPoint();
        for (long i = 0; i < n; i++) {
            boolean ok;
            double excess;
            if (integral && expected.dtype() != DType.BOOL) {
                long a = actual.getLong(i), e = expected.getLong(i);
                ok = a == e || Math.abs((double) a - (double) e) <= atol + rtol * Math.abs((double) e);
                excess = Math.abs((double) a - (double) e);
            } else {
                double a = actual.getDouble(i), e = expected.getDouble(i);
                if (Double.isNaN(e) || Double.isNaN(a)) ok = Double.isNaN(e) && Double.isNaN(a);
                else if (Double.isInfinite(e) || Double.isInfinite(a)) ok = a == e;
                else ok = Math.abs(a - e) <= atol + rtol * Math.abs(e);
                excess = ok ? 0 : Double.isFinite(a - e) ? Math.abs(a - e) - (atol + rtol * Math.abs(e)) : Double.POSITIVE_INFINITY;
            }
            if (!ok) {
                bad++;
                if (first < 0) first = i;
                if (excess >= worstExcess) { worstExcess = excess; worst = i; }
            }
        }
        if (bad == 0) return null;
        return bad + " of " + n + " elements differ; first at " + first + ": " + value(actual, first) + " vs expected "
            + value(expected, first) + "; worst at " + worst + ": " + value(actual, worst) + " vs " + value(expected, worst);
    }

    private static String value(Tensor t, long i) {
        return t.dtype().isFloatingPoint() ? Double.toString(t.getDouble(i)) : Long.toString(t.getLong(i));
    }
}
