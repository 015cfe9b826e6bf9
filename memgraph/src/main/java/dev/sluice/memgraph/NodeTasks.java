package dev.sluice.memgraph;

import java.util.List;

/**
 * How one node becomes tasks, by how it is split: whole on the host, whole on a device, or tile by tile by its
 * tile kind (weight blocks, element ranges, time steps, hidden units, row bands, output boxes). Each knows what
 * its node needs at once, what it reads, what may be fetched ahead of it, and emits its tasks through the shared
 * {@link BuildState}. Invariant: {@link #reads} covers every value {@link #emit} reads, so that next-use distances
 * and dead-value release agree with the tasks.
 */
sealed interface NodeTasks permits HostNodeTasks, WholeNodeTasks, WeightTileTasks, ElementTileTasks, StepTileTasks,
    UnitTileTasks, BandTileTasks, BoxTileTasks, ChainTileTasks {

    /** Bytes the node needs on its device at once as planned: its largest tile's when it is split. */
    long need();

    /** Values the node reads, each once (a split node: what any tile reads, blocks in place of split weights). */
    List<String> reads();

    /** What may be fetched into free memory before the node runs (empty where inputs stream in tile by tile). */
    List<String> prefetched();

    /** How the node is split, for the message refusing a budget that is too small ("" when it is whole). */
    String splitNote();

    /** Emits the node's tasks, leaving its outputs resident (or on the host) for its readers. */
    void emit();

    /** Every value some tile of a split node reads, each once, in tile order ({@code tileReads} gives tile t's). */
    static List<String> readsOfTiles(int tiles, java.util.function.IntFunction<List<String>> tileReads) {
        java.util.Set<String> r = new java.util.LinkedHashSet<>();
        for (int t = 0; t < tiles; t++) r.addAll(tileReads.apply(t));
        return new java.util.ArrayList<>(r);
    }

    /** The form node i takes: on the host, whole, or by its split's tile kind. */
    static NodeTasks of(BuildState s, int i, boolean onHost) {
        if (onHost) return new HostNodeTasks(s, i);
        Tiling.Split sp = s.split(i);
        if (sp == null) return new WholeNodeTasks(s, i);
        return switch (sp.tiles().getFirst().kind()) {
            case GATHER_ROWS, OUTPUT_COLUMNS, OUTPUT_CHANNELS -> new WeightTileTasks(s, i);
            case ELEMENTS -> new ElementTileTasks(s, i);
            case TIME_STEPS -> new StepTileTasks(s, i);
            case HIDDEN_UNITS -> new UnitTileTasks(s, i);
            case OUTPUT_ROWS -> new BandTileTasks(s, i);
            case OUTPUT_BOX -> new BoxTileTasks(s, i);
        };
    }
}
