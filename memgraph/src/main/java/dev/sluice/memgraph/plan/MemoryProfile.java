package dev.sluice.memgraph.plan;

import java.util.List;

/**
 * What one profiled run recorded: every intermediate tensor's lifetime in execution order, the in-place
 * candidates, the number of steps, and the bytes of weights and constants (planned apart: they live for
 * the whole session). Graph inputs and outputs are not intermediates and are not in {@code lifetimes}.
 */
public record MemoryProfile(String model, int steps, List<Lifetime> lifetimes, List<InPlace> inPlace, long constantBytes) {
    public MemoryProfile {
        lifetimes = List.copyOf(lifetimes);
        inPlace = List.copyOf(inPlace);
        for (Lifetime l : lifetimes) {
            if (l.lastStep() >= steps) throw new IllegalArgumentException(l.value() + " outlives the " + steps + " steps");
        }
    }

    public MemoryProfile(List<Lifetime> lifetimes) {
        this("", lifetimes.stream().mapToInt(Lifetime::lastStep).max().orElse(-1) + 1, lifetimes, List.of(), 0);
    }
}
