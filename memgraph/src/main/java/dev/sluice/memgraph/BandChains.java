package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Chains of consecutive row-banded nodes run band by band together ({@link ChainTileTasks}): band t of every node of
 * the chain runs before band t + 1 of any, and the value one node makes and the next alone reads lives on the device a
 * band at a time, never whole, never crossing the link. Without a chain such a value, when it is larger than the
 * budget, goes down band by band after its maker and comes back up band by band for its reader (twice its bytes).
 *
 * <p>A link from node i to node i + 1 (both on one device with its own memory, both able to take row bands whatever split
 * {@link Tiling} gave them, at least one of them split at all) holds when node i's one output v is read by node i + 1
 * alone, is not a graph output, and is one banded input of node i + 1 (any {@link RowBands.Band}: row for row, by whole
 * factors, or with a halo, as convs and their strides read). The last node's bands partition its output (they are
 * scattered). Going backwards, node i's band t is <em>exactly</em> the rows of v that band t of node i + 1 reads,
 * {@link RowBands.Band#rowsFor}: where node i + 1 reads v with a halo (a kxk conv, depthwise or not, of stride 1 or 2),
 * node i's neighbouring bands overlap and it computes the overlap rows once per band that reads them (recomputation, not
 * a ring of rows kept from band to band: each band buffer is whole by itself, so a band index holds just its own
 * buffers and its output band is the reader's input band with no copy); where a stride skips rows, no band of node i
 * computes them. The halos grow node by node towards the chain's head, and the head's gathers with them, which the
 * chooser counts. Bits: a node computes every element of a band as its whole run does, wherever the band lies
 * ({@link RowBands#anyBandUnit}: a conv on the direct or depthwise path on any row, other nodes' bands starting, and
 * ending short of the height, on their lane unit, no band of one element), so an element computed by two bands has
 * the same bits in both, and the reader reads the same bits as from the whole value. Each chain's node computes at
 * most {@link #RECOMPUTE} times its rows. From each node the longest linked run whose bands fit and copy in fewer bytes
 * than the nodes' own splits (estimated) is taken; the builder plans with the chains and without and keeps the plan
 * that moves fewer bytes, so a chain never costs bytes.
 *
 * <p>Invariants: a chain's nodes are consecutive in the graph's order and on one device; every value inside a chain is
 * read only inside it (by the next node), and band t of its maker holds exactly the rows band t of its reader reads;
 * the last node's bands partition its output; the chain's band need (every node's whole inputs, its outside bands and
 * every node's output band of one band index) is within the budget.
 */
public final class BandChains {
    /** Whether chains are formed ({@code -Dsluice.memgraph.bandChains=false} turns them off, for comparisons; read per plan). */
    static boolean on() { return !"false".equals(System.getProperty("sluice.memgraph.bandChains")); }

    /**
     * Whether links may cross reads with a halo or a stride ({@code -Dsluice.memgraph.haloChains=false}: only inputs whose
     * bands partition the value link, as before halo chains; for comparisons, read per plan and by {@link #links}).
     */
    static boolean halos() { return !"false".equals(System.getProperty("sluice.memgraph.haloChains")); }

    /** The kinds of chain sets the builder tries: with halo links and without, or without alone when they are off. */
    static boolean[] haloChoices() { return halos() ? new boolean[] {true, false} : new boolean[] {false}; }

    private BandChains() {}

    /**
     * One chain: its nodes (consecutive indices), the edges of each node's bands (one band index runs across all), and
     * the most one band index holds on the device.
     */
    record Chain(List<Integer> nodes, List<long[][]> rows, long need) {
        int head() { return nodes.getFirst(); }
        int last() { return nodes.getLast(); }
        int bands() { return rows.getFirst().length; }
    }

    /**
     * The chains of a plan whose row splits are {@code splits}, the splits of their nodes replaced by the chains' bands
     * in {@code splitsOut} (a copy of splits). Empty when none forms. Without {@code halos} only links whose reader's
     * bands partition the value form: a chain over a halo may displace a longer or cheaper one without (each node is in
     * one chain), so the builder tries both.
     */
    static Map<Integer, Chain> find(Graph g, Map<Integer, Tiling.Split> splits, int[] placement, List<DeviceSpec> devices,
                                   Set<String> graphOutputs, int share, boolean halos, Map<Integer, Tiling.Split> splitsOut) {
        Map<Integer, Chain> chains = new LinkedHashMap<>();
        splitsOut.putAll(splits);
        if (!on()) return chains;
        List<Node> nodes = g.nodes();
        Map<String, Set<Integer>> readers = readers(g);
        int i = 0;
        while (i < nodes.size()) {
            int j = i;
            while (j + 1 < nodes.size() && linked(g, splits, placement, devices, graphOutputs, readers, j, halos)) j++;
            // the longest chain from i that fits and saves bytes; else none from i
            Chain c = null;
            for (int end = j; end > i && c == null; end--) c = choose(g, i, end, devices.get(placement[i]), splits, share);
            if (c == null) { i++; continue; }
            chains.put(i, c);
            for (int k = 0; k < c.nodes().size(); k++) splitsOut.put(c.nodes().get(k), rowSplit(g, c.nodes().get(k), c.rows().get(k)));
            i = c.last() + 1;
        }
        return chains;
    }

    /**
     * Where a chain may link node i to node i + 1 whatever the budget, by the graph alone: node i's one output is read by
     * node i + 1 alone, is no graph output, and is one banded input of node i + 1 (with a halo or not). Entry i is that
     * link (the last entry is false). The plans the builder makes may interleave the tasks of nodes so linked, and
     * compute rows of node i more than once; a bound on the bytes those plans move must not assume that all of node i
     * runs before node i + 1 there.
     */
    public static boolean[] links(Graph g) {
        List<Node> nodes = g.nodes();
        Map<String, Set<Integer>> readers = readers(g);
        Set<String> outputs = new HashSet<>(g.outputNames());
        boolean[] r = new boolean[nodes.size()];
        for (int i = 0; i + 1 < nodes.size(); i++) r[i] = linkable(g, readers, outputs, i, halos());
        return r;
    }

    private static Map<String, Set<Integer>> readers(Graph g) {
        List<Node> nodes = g.nodes();
        Map<String, Set<Integer>> readers = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            for (String v : nodes.get(i).inputs()) if (!v.isEmpty()) readers.computeIfAbsent(v, k -> new HashSet<>()).add(i);
            for (Graph sg : nodes.get(i).subgraphs()) for (String v : sg.capturedNames()) readers.computeIfAbsent(v, k -> new HashSet<>()).add(i);
        }
        return readers;
    }

    private static boolean linkable(Graph g, Map<String, Set<Integer>> readers, Set<String> graphOutputs, int i, boolean halos) {
        Node p = g.nodes().get(i), c = g.nodes().get(i + 1);
        if (p.outputs().size() != 1) return false;
        String v = p.outputs().getFirst();
        if (v.isEmpty() || graphOutputs.contains(v) || !readers.getOrDefault(v, Set.of()).equals(Set.of(i + 1))) return false;
        RowBands.Form fc = RowBands.form(g, c);
        if (fc == null || RowBands.form(g, p) == null) return false;
        RowBands.Band b = band(fc, v);
        if (b == null || (!halos && (b.pad() != 0 || b.extent() != 1 || b.num() != 1))) return false;
        for (int k : fc.whole()) if (c.inputs().get(k).equals(v)) return false;
        return true;
    }

    /** Whether node i can take row bands: it has a row form with room for two bands or more. */
    private static boolean rowsOk(Graph g, int i) {
        RowBands.Form f = RowBands.form(g, g.nodes().get(i));
        return f != null && RowBands.narrowest(f) < f.rows();
    }

    /** Whether node i's output may live band by band into node i + 1 (see the class doc; the edges are checked later). */
    private static boolean linked(Graph g, Map<Integer, Tiling.Split> splits, int[] placement, List<DeviceSpec> devices,
                                  Set<String> graphOutputs, Map<String, Set<Integer>> readers, int i, boolean halos) {
        if (placement[i] != placement[i + 1] || devices.get(placement[i]).kind().sharesHostMemory()) return false;
        // both nodes take row bands in the chain whatever their own split (bands are always theirs to take: RowBands),
        // but at least one of them must be split: else both fit whole and the value between may well stay resident
        if (!splits.containsKey(i) && !splits.containsKey(i + 1)) return false;
        if (!rowsOk(g, i) || !rowsOk(g, i + 1) || !linkable(g, readers, graphOutputs, i, halos)) return false;
        Node p = g.nodes().get(i), c = g.nodes().get(i + 1);
        String v = p.outputs().getFirst();
        // a value outside the chain read by both nodes, banded by one or both, would need two kinds of reads: not linked
        Set<String> outside = new HashSet<>(BuildState.distinctInputs(p));
        for (String x : BuildState.distinctInputs(c)) if (!x.equals(v) && outside.contains(x)) return false;
        return true;
    }

    /** The band of value v in form f (its first, when it is read twice); null if v is not banded there. */
    static RowBands.Band band(RowBands.Form f, String v) {
        for (RowBands.Band b : f.bands()) if (b.value().equals(v)) return b;
        return null;
    }

    /**
     * Edges for the chain of nodes first..last: of the bands of the last node whose edges, carried back link by link, are
     * valid for every node and whose band need is within {@code 1 / share} of the budget, those that copy in the fewest
     * bytes (narrow bands re-read their halos); else the narrowest valid whose need fits the budget. Null when none is
     * valid or none fits. A larger share leaves more room beside the chain (for the next band's buffers, and whatever
     * the arena holds), a smaller one allows wider bands.
     */
    private static Chain choose(Graph g, int first, int last, DeviceSpec d, Map<Integer, Tiling.Split> splits, int share) {
        long capacity = d.budgetBytes() / Tensor.ALIGNMENT * Tensor.ALIGNMENT;
        RowBands.Form fl = RowBands.form(g, g.nodes().get(last));
        Chain cheapest = null, narrowestFitting = null;
        long least = Long.MAX_VALUE;
        for (long rows = RowBands.narrowest(fl); rows < fl.rows(); rows += fl.unit()) {
            List<long[][]> edges = carryBack(g, first, last, RowBands.edges(fl, rows));
            if (edges == null) continue;
            long need = 0;
            for (int t = 0; t < edges.getFirst().length; t++) need = Math.max(need, bandNeed(g, first, edges, t));
            if (need > capacity) continue;
            Chain c = new Chain(range(first, last), edges, need);
            if (narrowestFitting == null) narrowestFitting = c;
            long cost = gathered(g, c);
            if (need <= capacity / share && cost <= least) { cheapest = c; least = cost; }
        }
        Chain c = cheapest != null ? cheapest : narrowestFitting;
        if (c == null || c.bands() < 2) return null;
        return saves(g, c, splits) ? c : null;
    }

    private static List<Integer> range(int first, int last) {
        List<Integer> r = new ArrayList<>();
        for (int k = first; k <= last; k++) r.add(k);
        return r;
    }

    /**
     * Each node's bands from the last node's edges: node k's band t is the rows node k + 1's band t reads of its output
     * (with that reader's halo, so neighbouring bands may overlap, or leave rows that no band reads); null where a band
     * is empty, the bands do not advance, node k's band rules break ({@link RowBands#anyBandUnit}: every band's start,
     * and its end short of the height, on that unit; no band of a single element), or some node would compute more
     * than {@link #RECOMPUTE} times its rows.
     */
    private static List<long[][]> carryBack(Graph g, int first, int last, long[] lastEdges) {
        List<long[][]> out = new ArrayList<>();
        long[][] e = new long[lastEdges.length - 1][];
        for (int t = 0; t < e.length; t++) e[t] = new long[] {lastEdges[t], lastEdges[t + 1]};
        out.add(e);
        for (int k = last - 1; k >= first; k--) {
            Node maker = g.nodes().get(k);
            RowBands.Form fc = RowBands.form(g, g.nodes().get(k + 1)), fp = RowBands.form(g, maker);
            RowBands.Band b = band(fc, maker.outputs().getFirst());
            long unit = RowBands.anyBandUnit(g, maker, fp), computed = 0;
            long[][] p = new long[e.length][];
            for (int t = 0; t < e.length; t++) {
                long[] ab = b.rowsFor(e[t][0], e[t][1]);
                if (ab[1] <= ab[0] || (ab[1] - ab[0]) * fp.width() < 2) return null;
                if (t > 0 && (ab[0] < p[t - 1][0] || ab[1] <= p[t - 1][1])) return null;
                if (ab[0] % unit != 0 || (ab[1] != fp.rows() && ab[1] % unit != 0)) return null;
                p[t] = ab;
                computed += ab[1] - ab[0];
            }
            if (computed > recompute() * fp.rows()) return null;
            out.addFirst(p);
            e = p;
        }
        return out;
    }

    /**
     * The most rows a node of a chain computes, as a multiple of its height: bands read by a halo compute their
     * overlap twice (and the overlaps grow node by node towards the chain's head), so narrow bands under a deep chain
     * of windows could cost more kernel time than the bytes they save are worth ({@code -Dsluice.memgraph.chainRecompute}
     * sets another, for comparisons).
     */
    static final double RECOMPUTE = 1.5;

    private static double recompute() {
        String v = System.getProperty("sluice.memgraph.chainRecompute");
        return v == null ? RECOMPUTE : Double.parseDouble(v);
    }

    /**
     * What band index t of the chain holds at once: every node's whole inputs, its bands of values from outside the
     * chain, and every node's output band (the band the next node reads, so counted once).
     */
    static long bandNeed(Graph g, int first, List<long[][]> edges, int t) {
        Set<String> whole = new LinkedHashSet<>();
        long s = 0;
        for (int k = 0; k < edges.size(); k++) {
            Node n = g.nodes().get(first + k);
            RowBands.Form f = RowBands.form(g, n);
            long[] e = edges.get(k)[t];
            for (int w : f.whole()) whole.add(n.inputs().get(w));
            String inner = k == 0 ? null : g.nodes().get(first + k - 1).outputs().getFirst();
            for (var b : RowBands.bandBlocks(f, e[0], e[1]).entrySet()) if (!b.getKey().equals(inner)) s += b.getValue();
            s += RowBands.outBandBlock(f, e[0], e[1]);
        }
        for (String v : whole) s += BuildState.blockBytes(g, v);
        return s;
    }

    /** Whether the chain copies fewer bytes in than its nodes' own bands with the values inside going through the host. */
    private static boolean saves(Graph g, Chain c, Map<Integer, Tiling.Split> splits) {
        long chained = 0, own = 0;
        for (int k = 0; k < c.nodes().size(); k++) {
            Node n = g.nodes().get(c.nodes().get(k));
            RowBands.Form f = RowBands.form(g, n);
            chained += RowBands.gathered(f, c.rows().get(k));
            Tiling.Split sp = splits.get(c.nodes().get(k));
            if (sp != null && sp.tiles().getFirst().kind() == Tile.Kind.OUTPUT_ROWS) {
                List<Tile> tiles = sp.tiles();
                long[] mine = new long[tiles.size() + 1];
                for (int t = 0; t < tiles.size(); t++) mine[t] = tiles.get(t).start();
                mine[tiles.size()] = tiles.getLast().end();
                own += RowBands.gathered(f, mine);
            } else {
                // any other split (or none) reads each input at least once: an estimate from below of what it copies in
                for (String v : BuildState.distinctInputs(n)) own += BuildState.blockBytes(g, v);
            }
            if (k > 0) {
                // the chain gathers none of the value inside; alone it is scattered down and gathered back up
                String inner = g.nodes().get(c.nodes().get(k - 1)).outputs().getFirst();
                chained -= BuildState.blockBytes(g, inner);
                own += BuildState.blockBytes(g, inner);
            }
        }
        return chained < own;
    }

    /** Bytes the chain's bands copy in: each node's bands of values from outside the chain (halos again each time) and its whole inputs. */
    private static long gathered(Graph g, Chain c) {
        long s = 0;
        for (int k = 0; k < c.nodes().size(); k++) {
            RowBands.Form f = RowBands.form(g, g.nodes().get(c.nodes().get(k)));
            s += RowBands.gathered(f, c.rows().get(k));
        }
        return s;
    }

    /** A row split with these bands (overlapping where a halo reads them), as {@link Tiling}'s row splits are made. */
    private static Tiling.Split rowSplit(Graph g, int i, long[][] e) {
        RowBands.Form f = RowBands.form(g, g.nodes().get(i));
        List<Tile> tiles = new ArrayList<>();
        for (int t = 0; t < e.length; t++) tiles.add(new Tile(Tile.Kind.OUTPUT_ROWS, t, e.length, e[t][0], e[t][1], f.rows()));
        List<Integer> banded = f.bands().stream().map(RowBands.Band::input).toList();
        return new Tiling.Split(-1, -1, tiles, List.of(), List.of(), 0, banded);
    }
}
