package dev.sluice.memgraph.plan;

import java.util.ArrayList;
import java.util.List;

/**
 * The heuristic of Sekiyama et al. (2018), "Profile-guided memory optimization for deep neural networks":
 * the best-fit strip-packing heuristic (Burke et al. 2004) adapted to rectangles fixed in time. It keeps
 * the skyline (the top of what is placed, per step) as segments; repeatedly takes the lowest segment and
 * places there, at the segment's height, the unplaced block whose lifetime lies inside the segment and fits
 * best (longest lifetime first, ties by size; or size first in the {@code LARGEST} variant). If no block
 * fits, the segment is raised to its lower neighbour and merged with it: that strip of address space is
 * given up, as in best-fit strip packing.
 */
public final class SkylineBestFit implements PlacementHeuristic {
    /** How the block for a gap is chosen among those that fit in time. */
    public enum Preference { LONGEST, LARGEST }

    private final Preference preference;

    public SkylineBestFit(Preference preference) { this.preference = preference; }

    @Override public String name() {
        return preference == Preference.LONGEST ? "sekiyama-best-fit" : "sekiyama-best-fit-largest";
    }

    private static final class Seg {
        int start, end;
        long height;
        Seg(int start, int end, long height) { this.start = start; this.end = end; this.height = height; }
    }

    @Override public long[] place(List<Lifetime> blocks) {
        int n = blocks.size();
        long[] off = new long[n];
        if (n == 0) return off;
        int steps = 0;
        for (Lifetime l : blocks) steps = Math.max(steps, l.lastStep() + 1);
        List<Seg> sky = new ArrayList<>();
        sky.add(new Seg(0, steps - 1, 0));
        int[] unplaced = new int[n];
        for (int i = 0; i < n; i++) unplaced[i] = i;
        int left = n;
        while (left > 0) {
            int si = 0;
            for (int i = 1; i < sky.size(); i++) if (sky.get(i).height < sky.get(si).height) si = i;
            Seg s = sky.get(si);
            int bestPos = -1;
            for (int p = 0; p < left; p++) {
                Lifetime l = blocks.get(unplaced[p]);
                if (l.firstStep() < s.start || l.lastStep() > s.end) continue;
                if (bestPos < 0 || better(l, unplaced[p], blocks.get(unplaced[bestPos]), unplaced[bestPos])) bestPos = p;
            }
            if (bestPos >= 0) {
                int b = unplaced[bestPos];
                unplaced[bestPos] = unplaced[--left];
                Lifetime l = blocks.get(b);
                off[b] = s.height;
                List<Seg> repl = new ArrayList<>(3);
                if (l.firstStep() > s.start) repl.add(new Seg(s.start, l.firstStep() - 1, s.height));
                repl.add(new Seg(l.firstStep(), l.lastStep(), s.height + l.bytes()));
                if (l.lastStep() < s.end) repl.add(new Seg(l.lastStep() + 1, s.end, s.height));
                sky.remove(si);
                sky.addAll(si, repl);
                mergeEqual(sky);
            } else {
                // nothing fits this gap: raise it to its lower neighbour
                long target = Long.MAX_VALUE;
                if (si > 0) target = Math.min(target, sky.get(si - 1).height);
                if (si + 1 < sky.size()) target = Math.min(target, sky.get(si + 1).height);
                if (target == Long.MAX_VALUE) throw new IllegalStateException("a block outlives the skyline");
                s.height = target;
                mergeEqual(sky);
            }
        }
        return off;
    }

    private boolean better(Lifetime a, int ia, Lifetime b, int ib) {
        int c;
        if (preference == Preference.LONGEST) {
            c = Integer.compare(a.length(), b.length());
            if (c == 0) c = Long.compare(a.bytes(), b.bytes());
        } else {
            c = Long.compare(a.bytes(), b.bytes());
            if (c == 0) c = Integer.compare(a.length(), b.length());
        }
        return c > 0 || c == 0 && ia < ib;
    }

    private static void mergeEqual(List<Seg> sky) {
        for (int i = sky.size() - 1; i > 0; i--) {
            Seg a = sky.get(i - 1), b = sky.get(i);
            if (a.height == b.height) {
                a.end = b.end;
                sky.remove(i);
            }
        }
    }
}
