package dev.sluice.bench;

import java.util.Arrays;

/**
 * Whether an engine's warm-up runs have stopped getting faster: the median of its last {@link #WINDOW} runs is
 * within {@link #TOLERANCE} of the median of the {@link #WINDOW} before. Medians, so that one run slowed by
 * the host does not hold the warm-up open, and one lucky run does not end it.
 */
final class WarmupTrend {
    static final int WINDOW = 10;
    static final double TOLERANCE = 0.10;

    private final long[] ring = new long[2 * WINDOW];
    private int count;

    void add(long nanos) { ring[count++ % ring.length] = nanos; }

    boolean steady() {
        if (count < ring.length) return false;
        long[] older = new long[WINDOW], newer = new long[WINDOW];
        for (int k = 0; k < WINDOW; k++) {
            older[k] = ring[(count + k) % ring.length];
            newer[k] = ring[(count + WINDOW + k) % ring.length];
        }
        return median(newer) >= (1 - TOLERANCE) * median(older);
    }

    private static double median(long[] v) {
        long[] s = v.clone();
        Arrays.sort(s);
        return (s[WINDOW / 2 - 1] + s[WINDOW / 2]) / 2.0;
    }
}
