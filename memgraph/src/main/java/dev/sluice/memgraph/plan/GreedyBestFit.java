package dev.sluice.memgraph.plan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Greedy placement with best fit (as in TensorFlow Lite's arena planner): blocks are taken in some order
 * and each goes into the smallest gap, among the blocks already placed that overlap it in time, that holds
 * it, or on top of them. Orders: by size (largest first), or by breadth (the steps with the most live
 * bytes first, and within a step the largest block first).
 */
public final class GreedyBestFit implements PlacementHeuristic {
    public enum Order { SIZE, BREADTH }

    private final Order order;

    public GreedyBestFit(Order order) { this.order = order; }

    @Override public String name() { return order == Order.SIZE ? "greedy-size-best-fit" : "greedy-breadth-best-fit"; }

    @Override public long[] place(List<Lifetime> blocks) {
        int n = blocks.size();
        long[] off = new long[n];
        boolean[] placed = new boolean[n];
        List<Integer> done = new ArrayList<>();
        for (int i : order(blocks)) {
            off[i] = bestFit(blocks, i, done, off);
            placed[i] = true;
            done.add(i);
        }
        return off;
    }

    private int[] order(List<Lifetime> blocks) {
        int n = blocks.size();
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Comparator<Integer> bySize = Comparator.<Integer>comparingLong(i -> -blocks.get(i).bytes())
            .thenComparingInt(i -> -blocks.get(i).length()).thenComparingInt(i -> blocks.get(i).firstStep());
        if (order == Order.SIZE) {
            Arrays.sort(idx, bySize);
            return Arrays.stream(idx).mapToInt(Integer::intValue).toArray();
        }
        int steps = 0;
        for (Lifetime l : blocks) steps = Math.max(steps, l.lastStep() + 1);
        long[] live = Bounds.liveBytes(blocks, steps);
        Integer[] stepOrder = new Integer[steps];
        for (int s = 0; s < steps; s++) stepOrder[s] = s;
        Arrays.sort(stepOrder, Comparator.<Integer>comparingLong(s -> -live[s]).thenComparingInt(s -> s));
        Arrays.sort(idx, bySize);
        // bucket blocks by step so each breadth step finds its live blocks quickly
        List<List<Integer>> byStep = new ArrayList<>();
        for (int s = 0; s < steps; s++) byStep.add(new ArrayList<>());
        for (int i : idx) for (int s = blocks.get(i).firstStep(); s <= blocks.get(i).lastStep(); s++) byStep.get(s).add(i);
        boolean[] taken = new boolean[n];
        int[] out = new int[n];
        int k = 0;
        for (int s : stepOrder) for (int i : byStep.get(s)) if (!taken[i]) { taken[i] = true; out[k++] = i; }
        return out;
    }

    static long bestFit(List<Lifetime> blocks, int i, List<Integer> done, long[] off) {
        Lifetime l = blocks.get(i);
        List<Integer> conflicts = new ArrayList<>();
        for (int j : done) if (blocks.get(j).overlapsInTime(l)) conflicts.add(j);
        conflicts.sort(Comparator.comparingLong(j -> off[j]));
        long prevEnd = 0, bestGap = Long.MAX_VALUE, bestOff = -1;
        for (int j : conflicts) {
            long gap = off[j] - prevEnd;
            if (gap >= l.bytes() && gap < bestGap) { bestGap = gap; bestOff = prevEnd; }
            prevEnd = Math.max(prevEnd, off[j] + blocks.get(j).bytes());
        }
        return bestOff >= 0 ? bestOff : prevEnd;
    }
}
