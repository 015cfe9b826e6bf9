package dev.sluice.memgraph.plan;

import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns a {@link MemoryProfile} into an {@link OffsetPlan}: takes the in-place reuse the lifetimes allow
 * (merging each output with the input it overwrites into one block), runs every heuristic on the blocks
 * and keeps the smallest arena. The lower bound is computed on the same merged blocks, so the reuse is
 * counted in the bound as well as in the plan.
 */
public final class Planner {
    /** Every offset and block size is a multiple of this: the tensor data alignment. */
    public static final long ALIGNMENT = Tensor.ALIGNMENT;

    private final List<PlacementHeuristic> heuristics;

    public Planner(List<PlacementHeuristic> heuristics) {
        if (heuristics.isEmpty()) throw new IllegalArgumentException("a planner needs at least one heuristic");
        this.heuristics = List.copyOf(heuristics);
    }

    /** The paper's heuristic (two tie-break orders) and greedy best fit by size and by breadth. */
    public static Planner standard() {
        return new Planner(List.of(
            new SkylineBestFit(SkylineBestFit.Preference.LONGEST),
            new SkylineBestFit(SkylineBestFit.Preference.LARGEST),
            new GreedyBestFit(GreedyBestFit.Order.SIZE),
            new GreedyBestFit(GreedyBestFit.Order.BREADTH)));
    }

    public OffsetPlan plan(MemoryProfile profile) {
        long t0 = System.nanoTime();
        List<Lifetime> values = new ArrayList<>();
        Map<String, Integer> index = new HashMap<>();
        for (Lifetime l : profile.lifetimes()) {
            if (index.putIfAbsent(l.value(), values.size()) != null) {
                throw new IllegalArgumentException("value '" + l.value() + "' has two lifetimes");
            }
            values.add(new Lifetime(l.value(), Tensor.alignUp(l.bytes(), ALIGNMENT), l.firstStep(), l.lastStep()));
        }
        // in-place reuse: union each output into the block of the input it overwrites
        int n = values.size();
        int[] root = new int[n];
        long[] blockBytes = new long[n];
        int[] blockFirst = new int[n], blockLast = new int[n];
        for (int i = 0; i < n; i++) {
            root[i] = i;
            blockBytes[i] = values.get(i).bytes();
            blockFirst[i] = values.get(i).firstStep();
            blockLast[i] = values.get(i).lastStep();
        }
        Map<String, String> inPlace = new LinkedHashMap<>();
        List<InPlace> candidates = new ArrayList<>(profile.inPlace());
        candidates.sort(java.util.Comparator.comparingInt(InPlace::step));
        for (InPlace c : candidates) {
            Integer in = index.get(c.input()), out = index.get(c.output());
            if (in == null || out == null || in.equals(out) || root[out] != out) continue;
            Lifetime li = values.get(in), lo = values.get(out);
            int r = find(root, in);
            if (li.lastStep() != c.step() || lo.firstStep() != c.step() || blockLast[r] != c.step()) continue;
            if (lo.bytes() > blockBytes[r]) continue;
            root[out] = r;
            blockLast[r] = lo.lastStep();
            inPlace.put(c.output(), c.input());
        }
        List<Lifetime> blocks = new ArrayList<>();
        int[] blockOf = new int[n];
        Map<Integer, Integer> rootToBlock = new HashMap<>();
        for (int i = 0; i < n; i++) {
            int r = find(root, i);
            Integer b = rootToBlock.get(r);
            if (b == null) {
                b = blocks.size();
                rootToBlock.put(r, b);
                blocks.add(new Lifetime(values.get(r).value(), blockBytes[r], blockFirst[r], blockLast[r]));
            }
            blockOf[i] = b;
        }
        long bound = Bounds.lowerBound(blocks);
        long naive = Bounds.naive(values);
        long[] best = null;
        long bestBytes = Long.MAX_VALUE;
        String bestName = null;
        Map<String, Long> tried = new LinkedHashMap<>();
        for (PlacementHeuristic h : heuristics) {
            long[] off = h.place(blocks);
            long bytes = PlacementHeuristic.arenaBytes(blocks, off);
            tried.put(h.name(), bytes);
            if (bytes < bestBytes) { best = off; bestBytes = bytes; bestName = h.name(); }
        }
        Map<String, Long> offsets = new HashMap<>();
        for (int i = 0; i < n; i++) offsets.put(values.get(i).value(), best[blockOf[i]]);
        return new OffsetPlan(blocks.isEmpty() ? 0 : bestBytes, offsets, bound, naive, bestName, values, inPlace, tried,
            System.nanoTime() - t0);
    }

    private static int find(int[] root, int i) {
        while (root[i] != i) { root[i] = root[root[i]]; i = root[i]; }
        return i;
    }
}
