package dev.sluice.bench;

import java.util.Arrays;

/**
 * Whether an engine's warm-up runs have stopped getting faster: the median of its last {@link #WINDOW} runs is
 * within {@link #TOLERANCE} of the median of the {@link #WINDOW} before, and the JIT compiled for at most
 * {@link #JIT_SHARE} of the newest window's span. Medians, so that one run slowed by the host does not hold the
 * warm-up open, and one lucky run does not end it. The JIT's own clock, because a flat window can sit between two
 * compilations: a model run after others waits behind their compile queue, and a bench that stopped there timed
 * BlazeFace at 1.2-1.6 ms in one run and 0.69 ms in the next (8 s of warm-up: 0.70 ms).
 */
final class WarmupTrend {
    static final int WINDOW = 10;
    static final double TOLERANCE = 0.10;
    static final double JIT_SHARE = 0.05;

    private final long[] ring = new long[2 * WINDOW], at = new long[2 * WINDOW], jit = new long[2 * WINDOW];
    private int count;

    /** A run of {@code nanos}, with no clock for the JIT (the trend alone decides). */
    void add(long nanos) { add(nanos, 0, 0); }

    /** A run of {@code nanos} that started at {@code atNanos}, when the JIT had compiled for {@code jitMillis} in all. */
    void add(long nanos, long atNanos, long jitMillis) {
        int k = count++ % ring.length;
        ring[k] = nanos;
        at[k] = atNanos;
        jit[k] = jitMillis;
    }

    boolean steady() {
        if (count < ring.length) return false;
        long[] older = new long[WINDOW], newer = new long[WINDOW];
        for (int k = 0; k < WINDOW; k++) {
            older[k] = ring[(count + k) % ring.length];
            newer[k] = ring[(count + WINDOW + k) % ring.length];
        }
        int first = (count + WINDOW) % ring.length, last = (count - 1) % ring.length;
        boolean jitQuiet = (jit[last] - jit[first]) * 1e6 <= JIT_SHARE * (at[last] - at[first]);
        return median(newer) >= (1 - TOLERANCE) * median(older) && jitQuiet;
    }

    private static double median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return (s[WINDOW / 2 - 1] + s[WINDOW / 2]) / 2.0;
    }
}
