package dev.sluice.memgraph.plan;

import java.util.List;
import java.util.Map;

/**
 * Where every intermediate tensor lives in one arena of {@code arenaBytes}: {@code offsets} by value name
 * (block start, a multiple of the alignment). {@code bound} is the most bytes live at any one step (with
 * the in-place reuse taken), a lower bound for any arena; {@code naive} is the sum of all blocks (no
 * reuse). {@code inPlace} maps each output written over its input to that input. {@code tried} has the
 * arena size each heuristic reached; {@code heuristic} names the one kept.
 */
public record OffsetPlan(long arenaBytes, Map<String, Long> offsets, long bound, long naive, String heuristic,
                         List<Lifetime> lifetimes, Map<String, String> inPlace, Map<String, Long> tried, long planNanos) {
    public OffsetPlan {
        offsets = Map.copyOf(offsets);
        lifetimes = List.copyOf(lifetimes);
        inPlace = Map.copyOf(inPlace);
        tried = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(tried));
    }

    /** planned / bound (1.0 for an empty plan). */
    public double ratio() { return bound == 0 ? 1.0 : (double) arenaBytes / bound; }

    public Long offset(String value) { return offsets.get(value); }
}
