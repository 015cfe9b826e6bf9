package dev.sluice.memgraph.plan;

import java.util.List;

/**
 * One way to pack lifetimes into an arena (two-dimensional strip packing: steps across, addresses up, each
 * rectangle fixed in time and free to move in address). Returns each block's offset, by index.
 * Implementations need not be optimal but must never let two time-overlapping blocks share bytes; sizes
 * come in already aligned, so sums of sizes keep the alignment.
 */
public interface PlacementHeuristic {
    String name();

    long[] place(List<Lifetime> blocks);

    /** Arena bytes a placement needs: the highest block end. */
    static long arenaBytes(List<Lifetime> blocks, long[] offsets) {
        long top = 0;
        for (int i = 0; i < offsets.length; i++) top = Math.max(top, offsets[i] + blocks.get(i).bytes());
        return top;
    }
}
