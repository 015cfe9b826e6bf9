package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TilingOptions;
import dev.sluice.memgraph.plan.OffsetPlan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds a {@link MemGraph} by walking the graph's node order once. The walk decides residency (what is on which
 * device when, {@link Residency}), checks that each node's pieces fit each device's {@link Arena}, and lets each node
 * emit its tasks by the form it takes ({@link NodeTasks}: whole, or tile by tile by its split's kind) through one
 * {@link TaskEmitter}. Then the memory planner gives each device's buffers their offsets from their lifetimes, one
 * offset plan per device, and the memory edges follow from them ({@link ArenaPlan}). The order of the walk only
 * fixes those choices; the edges emitted allow any other order.
 * Invariant: every node's planned need is checked against its device's budget before anything is emitted, so a
 * budget that is too small is refused up front with the number it needs.
 * Where nodes are split into row bands or output boxes, it walks twice by bytes, with their tiles keeping resident
 * values on the device ({@link BandTileTasks.Keep}) and without, and keeps the plan that moves fewer bytes over the link: so keeping never
 * costs bytes overall, whatever evictions it causes further on. Where band chains form ({@link BandChains}), all of that
 * is done with each set of chains and without, and the plan that moves fewest link bytes is kept.
 */
final class MemGraphBuilder {
    /** How many nodes ahead weights and offloaded values are fetched into free memory (never by evicting). */
    private static final int PREFETCH_NODES = 4;

    private final Graph g;
    /** The splits the walk uses: {@link #ownSplits}, or one of {@link #chainSplitSets} in a walk with band chains. */
    private Map<Integer, Tiling.Split> splits;
    private final Map<Integer, Tiling.Split> ownSplits;
    /**
     * Band chains ({@link BandChains}) by first node, and the splits with their nodes' bands on the chains' edges: one
     * set per share of the budget a chain's band may take (a half, a quarter), the builder keeping the plan that moves
     * fewest bytes of those and the one without chains.
     */
    private final List<Map<Integer, BandChains.Chain>> chainSets = new ArrayList<>();
    private final List<Map<Integer, Tiling.Split>> chainSplitSets = new ArrayList<>();
    private Map<Integer, BandChains.Chain> chains = Map.of();
    /** Whether the current walk runs the chains (else every node on its own splits). */
    private boolean chained;
    private final List<DeviceSpec> devices;
    private final int[] placement;
    private final TilingOptions tiling;
    private final List<Node> nodes;
    private final Set<String> graphOutputs = new HashSet<>();
    // the state of the current walk
    private BuildState state;
    private NodeTasks[] forms;
    private final Map<String, Integer> sources = new LinkedHashMap<>();
    private final Map<String, Integer> results = new LinkedHashMap<>();

    MemGraphBuilder(Graph g, List<DeviceSpec> devices, int[] placement, TilingOptions tiling) {
        this.tiling = java.util.Objects.requireNonNull(tiling, "tiling");
        if (devices.isEmpty() || !devices.get(0).kind().sharesHostMemory()) {
            throw new IllegalArgumentException("device 0 of a memory graph must be the host CPU");
        }
        if (placement.length != g.nodes().size()) {
            throw new IllegalArgumentException("placement has " + placement.length + " entries for " + g.nodes().size() + " nodes");
        }
        if (Arrays.stream(placement).anyMatch(p -> p < 0 || p >= devices.size())) {
            throw new IllegalArgumentException("placement names a device that is not in the list");
        }
        Map<String, Long> whole = new HashMap<>();
        for (int i = 0; i < g.nodes().size(); i++) {
            if (!devices.get(placement[i]).kind().sharesHostMemory()) whole.put(g.nodes().get(i).label(), BuildState.nodeNeed(g, g.nodes().get(i)));
        }
        Map<String, Tensor> inits = new LinkedHashMap<>(g.initializers());
        this.ownSplits = Tiling.plan(g, placement, devices, whole, inits, tiling);
        this.splits = ownSplits;
        this.g = splits.isEmpty() ? g : g.withNodes(g.nodes(), inits, g.types());
        this.devices = List.copyOf(devices);
        this.placement = placement.clone();
        this.nodes = this.g.nodes();
        for (Value v : g.outputs()) graphOutputs.add(v.name());
        for (boolean halos : BandChains.haloChoices()) for (int share : new int[] {2, 4}) {
            Map<Integer, Tiling.Split> sp = new HashMap<>();
            Map<Integer, BandChains.Chain> c = BandChains.find(this.g, ownSplits, this.placement, this.devices, graphOutputs, share, halos, sp);
            if (c.isEmpty() || chainSplitSets.contains(sp)) continue;
            chainSets.add(c);
            chainSplitSets.add(sp);
        }
    }

    /** Fresh walk state: every node's form, next uses, and residency placing first-fit or by bytes alone. */
    private void startWalk(boolean firstFit) {
        state = new BuildState(g, placement, splits, new TaskEmitter(), tiling);
        forms = new NodeTasks[nodes.size()];
        for (int i = 0; i < nodes.size(); i++) forms[i] = NodeTasks.of(state, i, devices.get(placement[i]).kind().sharesHostMemory());
        if (chained) for (BandChains.Chain c : chains.values()) for (int k : c.nodes()) forms[k] = new ChainTileTasks(state, c, k);
        Map<String, List<Integer>> u = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            for (String v : forms[i].reads()) u.computeIfAbsent(v, k -> new ArrayList<>()).add(i);
        }
        Map<String, int[]> uses = new HashMap<>();
        u.forEach((k, v) -> uses.put(k, v.stream().mapToInt(Integer::intValue).toArray()));
        state.res = new Residency(g, state.out, devices, uses, graphOutputs, firstFit);
        sources.clear();
        results.clear();
    }

    /** The largest need of any node, split into tiles as finely as allowed where it can be. */
    static long minimumBudget(Graph g, boolean withBoxes, TilingOptions tiling) {
        long m = 0;
        for (Node n : g.nodes()) {
            long whole = BuildState.nodeNeed(g, n);
            m = Math.max(m, withBoxes ? Tiling.smallestNeedOf(g, n, whole, tiling) : Tiling.withoutBoxes(g, n, whole, tiling));
        }
        return m;
    }

    /**
     * Walks by bytes alone and lets the planner pack each device; where it cannot within the budget, walks again
     * placing first-fit (that placement is then one of the planner's candidates, and it always fits). Where nodes are
     * split into output boxes, each walk is made with their cache of input boxes ({@link BoxTileTasks}) and without:
     * the boxes it keeps lengthen lifetimes, which the planner may fail to pack where it packed the walk without them,
     * and the plan that moves fewer link bytes is kept, so the cache never costs bytes. (Where the planner packs neither
     * cached walk by bytes, the cached walk placed first-fit stands in for them: often fewer bytes at small budgets.)
     */
    MemGraph build() {
        // With each set of band chains and without: the chains keep the values inside them off the link, but hold their
        // nodes' whole inputs together and may narrow their bands; the plan that moves fewest bytes is kept.
        MemGraph best = null;
        for (int k = 0; k < chainSets.size(); k++) {
            chained = true;
            chains = chainSets.get(k);
            splits = chainSplitSets.get(k);
            MemGraph m;
            try {
                m = buildOwn();
            } catch (MemGraphException | ArenaPlan.Overflow e) {
                m = null; // the chains left some tile no room: the other sets, and the plan without, decide
            }
            if (m != null && (best == null || linkBytes(m) < linkBytes(best))) best = m;
        }
        chained = false;
        chains = Map.of();
        splits = ownSplits;
        MemGraph own = buildOwn();
        return best != null && linkBytes(best) < linkBytes(own) ? best : own;
    }

    /** {@link #build} for the current walk mode (with the chains or without). */
    private MemGraph buildOwn() {
        boolean boxes = splits.values().stream().anyMatch(sp -> sp.tiles().getFirst().kind() == Tile.Kind.OUTPUT_BOX);
        MemGraph best = null;
        boolean packed = false; // whether the planner packed a walk by bytes without the cache
        for (boolean cache : boxes ? new boolean[] {true, false} : new boolean[] {false}) {
            MemGraph m;
            try {
                m = byBytes(cache);
            } catch (MemGraphException e) {
                // a tile found no room beside the boxes the cache kept (the arena fragmented otherwise): the walk without it decides
                if (!cache) throw e;
                m = null;
            }
            if (m == null && cache) {
                // the planner packs neither cached walk by bytes: the first-fit one with the cache, whose placement always packs
                try {
                    m = walk(true, false, true);
                } catch (MemGraphException | ArenaPlan.Overflow e) {
                    m = null;
                }
            }
            if (!cache && m != null) packed = true;
            if (m != null && (best == null || linkBytes(m) < linkBytes(best))) best = m;
        }
        if (packed) return best;
        MemGraph firstFit = walk(true, false, false);
        return best != null && linkBytes(best) < linkBytes(firstFit) ? best : firstFit;
    }

    /** The cheaper of the walks by bytes with and without keeping resident values; null if the planner packs neither. */
    private MemGraph byBytes(boolean boxCache) {
        MemGraph kept = null;
        // bands and boxes may read resident inputs in place and keep the output resident where that saves link bytes (see
        // BandTileTasks.Keep); the switch off skips the walk that keeps, so every tile goes through the host (for comparisons)
        if (tiling.keepResident() && splits.values().stream().anyMatch(sp -> sp.tiles().getFirst().kind() == Tile.Kind.OUTPUT_ROWS
            || sp.tiles().getFirst().kind() == Tile.Kind.OUTPUT_BOX)) {
            try {
                kept = walk(false, true, boxCache);
            } catch (ArenaPlan.Overflow | BandTileTasks.KeptTooMuch e) {
                // the values the tiles keep resident make lifetimes the planner cannot pack, or leave a tile no room: walk without them
            }
        }
        MemGraph plain;
        try {
            plain = walk(false, false, boxCache);
        } catch (ArenaPlan.Overflow e) {
            return kept;
        }
        // Keeping is chosen node by node on the bytes saved there; the evictions it causes later are only counted here.
        return kept != null && linkBytes(kept) <= linkBytes(plain) ? kept : plain;
    }

    /** Bytes a plan moves over the link (H2D and D2H transfers, offloads and reloads; local copies move none). */
    static long linkBytes(MemGraph m) {
        long b = 0;
        for (Task t : m.tasks()) if (t.lane().isCopy()) b += t.bytes();
        return b;
    }

    private MemGraph walk(boolean firstFit, boolean keepBands, boolean boxCache) {
        startWalk(firstFit);
        state.keepBands = keepBands;
        state.boxCache = boxCache;
        TaskEmitter out = state.out;
        Residency res = state.res;
        for (Value v : g.inputs()) sources.put(v.name(), out.hostBuffer(v.name()));
        for (String w : g.initializers().keySet()) if (!sources.containsKey(w)) sources.put(w, out.hostBuffer(w));
        sources.forEach(res.hostCopy::put);
        checkBudgets();
        for (int i = 0; i < nodes.size(); i++) {
            res.now = i;
            forms[i].emit();
            prefetch(i);
        }
        for (Value v : g.outputs()) {
            Integer h = res.hostCopy.get(v.name());
            if (h == null) throw new MemGraphException("graph output '" + v.name() + "' is never produced", -1);
            results.put(v.name(), h);
        }
        List<Long> peaks = new ArrayList<>();
        Map<Integer, OffsetPlan> plans = new HashMap<>();
        for (int d = 0; d < devices.size(); d++) {
            if (res.on(d) != null) plans.put(d, ArenaPlan.plan(d, res.on(d).arena, out));
            peaks.add(res.on(d) == null ? 0L : res.on(d).arena.peak);
        }
        return new MemGraph(g, devices, out.finished(), out.tasks, out.edges, sources, results, peaks, plans);
    }

    /** Refuses, before emitting anything, a device whose budget is below some node's planned need. */
    private void checkBudgets() {
        for (int d = 0; d < devices.size(); d++) {
            Residency.Held D = state.res.on(d);
            if (D == null) continue;
            for (int i = 0; i < nodes.size(); i++) {
                if (placement[i] != d) continue;
                long need = forms[i].need();
                if (need <= D.capacity()) continue;
                long min = 0;
                for (int j = 0; j < nodes.size(); j++) {
                    if (placement[j] == d) min = Math.max(min, Tiling.smallestNeedOf(g, nodes.get(j), BuildState.nodeNeed(g, nodes.get(j)), tiling));
                }
                throw new MemGraphException("a budget of " + devices.get(d).budgetBytes() + " bytes on '" + devices.get(d).name()
                    + "' is too small: node " + nodes.get(i).label() + " needs " + need + " bytes at once (its inputs and outputs"
                    + forms[i].splitNote() + "); this graph needs at least " + min + " bytes, with large weights split into tiles", min);
            }
        }
    }

    /**
     * Loads what the next few nodes read into memory that is free now, so that the copies are emitted (and
     * their memory edges point) early and the dispatcher can overlap them with the kernels in between.
     */
    private void prefetch(int i) {
        Residency res = state.res;
        for (int j = i + 1; j < Math.min(nodes.size(), i + 1 + PREFETCH_NODES); j++) {
            int d = placement[j];
            Residency.Held D = res.on(d);
            if (D == null) continue;
            long nextNeed = placement[i + 1] == d ? forms[i + 1].need() : 0;
            for (String v : forms[j].prefetched()) {
                if (D.holds(v)) continue;
                long bytes = state.blockBytes(v);
                // Keep room for the next node's own outputs so that a prefetch never forces an eviction there.
                if (D.used() + bytes + nextNeed > D.capacity()) return;
                if (!res.hostCopy.containsKey(v)) continue;
                if (!res.load(d, v, Set.of(), false)) return;
            }
        }
    }
}
