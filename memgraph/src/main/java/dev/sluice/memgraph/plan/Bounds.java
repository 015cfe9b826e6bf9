package dev.sluice.memgraph.plan;

import java.util.Collection;

/** Figures of a set of lifetimes that no placement can beat or exceed. */
public final class Bounds {
    private Bounds() {}

    /** The most bytes live at any one step: no arena can be smaller. */
    public static long lowerBound(Collection<Lifetime> lifetimes) {
        return peak(lifetimes)[0];
    }

    /** {peak bytes, the first step where it is reached (-1 if empty)}. */
    public static long[] peak(Collection<Lifetime> lifetimes) {
        int steps = 0;
        for (Lifetime l : lifetimes) steps = Math.max(steps, l.lastStep() + 2);
        long[] delta = new long[steps + 1];
        for (Lifetime l : lifetimes) {
            delta[l.firstStep()] += l.bytes();
            delta[l.lastStep() + 1] -= l.bytes();
        }
        long live = 0, best = 0;
        int at = -1;
        for (int s = 0; s < steps; s++) {
            live += delta[s];
            if (live > best) { best = live; at = s; }
        }
        return new long[] {best, at};
    }

    /** Bytes live at every step. */
    public static long[] liveBytes(Collection<Lifetime> lifetimes, int steps) {
        long[] delta = new long[steps + 1];
        for (Lifetime l : lifetimes) {
            delta[l.firstStep()] += l.bytes();
            delta[Math.min(steps, l.lastStep() + 1)] -= l.bytes();
        }
        long[] live = new long[steps];
        long acc = 0;
        for (int s = 0; s < steps; s++) { acc += delta[s]; live[s] = acc; }
        return live;
    }

    /** Every block side by side: what planning without reuse takes. */
    public static long naive(Collection<Lifetime> lifetimes) {
        long n = 0;
        for (Lifetime l : lifetimes) n += l.bytes();
        return n;
    }
}
