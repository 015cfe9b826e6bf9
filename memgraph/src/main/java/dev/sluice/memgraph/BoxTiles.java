package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Chooses the grid of an {@link OpTiling} split ({@link Tile.Kind#OUTPUT_BOX}): a block size per cut axis, the
 * largest (fewest tiles) whose every tile fits a target, else the smallest allowed. A tile needs on the device
 * at once its node's whole inputs and its {@link Footprint} (a block per input box it gathers and its output box);
 * sizing, {@link MemGraph#minimumBudget} and the tile's placement all count it by {@link #footprint}, so the budget
 * the builder states is what the tiles ask for.
 */
final class BoxTiles {
    /** More tiles than this per node: task overhead would dwarf the kernels. */
    static final int MAX_TILES = 4096;

    private BoxTiles() {}

    /** A chosen split: the tiling, its output boxes in execution order, and the most any of them needs. */
    record Plan(OpTiling tiling, List<Box> boxes, long need) {}

    /**
     * The split whose tiles fit {@code target} with the fewest tiles, else the finest; null when n has no box tiling.
     * With {@code byBytes}, of the grids that fit, the one that gathers the fewest input bytes ({@link #fewestBytes};
     * {@link TilingOptions#gridByBytes()}), else the need-first grid.
     */
    static Plan plan(Graph g, Node n, long target, boolean byBytes) {
        OpTiling t = OpTiling.of(g, n);
        if (t == null) return null;
        List<OpTiling.Cut> cuts = t.cuts();
        long[] block = new long[cuts.size()];
        for (int c = 0; c < block.length; c++) block[c] = t.output().dim(cuts.get(c).axis());
        Sizer s = new Sizer(g, n, t);
        long need = s.need(block);
        while (need > target) {
            int best = -1;
            long bestNeed = need;
            long[] bestBlock = null;
            for (int c = 0; c < block.length; c++) {
                OpTiling.Cut cut = cuts.get(c);
                long least = Math.max(cut.unit(), ceilDiv(cut.least(), cut.unit()) * cut.unit());
                long nb = Math.max(least, ceilDiv(block[c] / 2, cut.unit()) * cut.unit());
                // a halving whose short last block joins the one before may leave the axis's blocks as they were
                // (196 positions in blocks of 112, at least 96: one block), so that this cut never steps: halve again
                long dim = t.output().dim(cut.axis()), blocks = edges(dim, block[c], cut).length;
                while (nb > least && edges(dim, nb, cut).length == blocks) nb = Math.max(least, ceilDiv(nb / 2, cut.unit()) * cut.unit());
                if (nb >= block[c]) continue;
                long[] trial = block.clone();
                trial[c] = nb;
                if (count(t, trial) > MAX_TILES || !t.allows(trial)) continue;
                long tn = s.need(trial);
                if (tn < bestNeed) { best = c; bestNeed = tn; bestBlock = trial; }
            }
            if (best < 0) break;
            block = bestBlock;
            need = bestNeed;
        }
        // one tile is a split too when it reads only a box of some input (a Slice's window: the whole input is not needed)
        if (count(t, block) < 2 && t.boxes(Box.whole(t.output())).values().stream().allMatch(Box::isWhole)) return null;
        List<Box> order = cheapestOrder(g, n, t, block);
        if (byBytes && target > 0 && need <= target) {
            Plan fewer = fewestBytes(g, n, t, s, target, block, order);
            if (fewer != null) return fewer;
        }
        return new Plan(t, order, need);
    }

    /**
     * Of the grids whose every tile fits {@code target} and that no cut could coarsen while still fitting (each block
     * one of the halvings the need-first search steps through), with at most 4x the need-first grid's tiles, the one
     * whose cheapest order gathers the fewest input bytes; ties to fewer tiles. Null when none beats {@code block}.
     * (Choosing by bytes alone, each halving step taking the cheapest cut, moved more: it counted every tile's boxes
     * as copied, though consecutive tiles share them, and stepped into finer grids than needed.)
     */
    private static Plan fewestBytes(Graph g, Node n, OpTiling t, Sizer s, long target, long[] block, List<Box> order) {
        List<OpTiling.Cut> cuts = t.cuts();
        List<long[]> levels = new ArrayList<>();
        for (OpTiling.Cut cut : cuts) {
            List<Long> l = new ArrayList<>();
            long b = t.output().dim(cut.axis());
            long least = Math.max(cut.unit(), ceilDiv(cut.least(), cut.unit()) * cut.unit());
            l.add(b);
            while (true) {
                long nb = Math.max(least, ceilDiv(b / 2, cut.unit()) * cut.unit());
                if (nb >= b) break;
                l.add(nb);
                b = nb;
            }
            levels.add(l.stream().mapToLong(Long::longValue).toArray());
        }
        long most = Math.max(64, 4 * count(t, block));
        String out = n.outputs().getFirst();
        long bestBytes = gathered(g, t, order, out);
        Plan best = null;
        int[] at = new int[cuts.size()];
        int combos = 1;
        for (long[] l : levels) combos = (int) Math.min(100_000, (long) combos * l.length);
        if (combos > 5_000) return null; // too many to weigh: keep the need-first grid
        for (int k = 0; k < combos; k++) {
            int r = k;
            long[] trial = new long[cuts.size()];
            for (int c = 0; c < at.length; c++) { at[c] = r % levels.get(c).length; r /= levels.get(c).length; trial[c] = levels.get(c)[at[c]]; }
            long tiles = count(t, trial);
            if (tiles < 2 || tiles > most || !t.allows(trial) || s.need(trial) > target) continue;
            boolean coarser = false; // a grid one level coarser along some cut also fits: this one is not maximal
            for (int c = 0; c < at.length && !coarser; c++) {
                if (at[c] == 0) continue;
                long[] up = trial.clone();
                up[c] = levels.get(c)[at[c] - 1];
                if (count(t, up) >= 2 && t.allows(up) && s.need(up) <= target) coarser = true;
            }
            if (coarser) continue;
            List<Box> o = cheapestOrder(g, n, t, trial);
            long bytes = gathered(g, t, o, out);
            if (bytes < bestBytes || (bytes == bestBytes && best != null && o.size() < best.boxes().size())) {
                bestBytes = bytes;
                best = new Plan(t, o, s.need(trial));
            }
        }
        return best;
    }

    /** The least n needs at once split into boxes as finely as allowed; {@code Long.MAX_VALUE} when it has no box tiling. */
    static long smallestNeed(Graph g, Node n) {
        Plan p = plan(g, n, 0, false); // with no target, the finest grid: choosing by bytes needs one
        return p == null ? Long.MAX_VALUE : p.need();
    }

    /** Where blocks of {@code block} along a cut start, then the axis length: a last block shorter than the least joins the one before. */
    static long[] edges(long dim, long block, OpTiling.Cut cut) {
        List<Long> e = new ArrayList<>();
        for (long s = 0; s < dim; s += block) e.add(s);
        if (e.size() > 1 && dim - e.getLast() < cut.least()) e.removeLast();
        e.add(dim);
        return e.stream().mapToLong(Long::longValue).toArray();
    }

    private static long count(OpTiling t, long[] block) {
        long n = 1;
        for (int c = 0; c < block.length; c++) n *= edges(t.output().dim(t.cuts().get(c).axis()), block[c], t.cuts().get(c)).length - 1;
        return n;
    }

    /**
     * The grid's boxes in the order of its cuts that gathers the fewest input bytes: a tile whose box of an input is
     * the previous tile's reads that buffer again (BoxTileTasks), so the cut left innermost decides which operand is
     * read once (a product's rows innermost keep its weight block across them). A reduction (K) cut stays last: the K
     * tiles of one output box must run one after another (ReductionCut). Ties keep the cuts' own order.
     */
    static List<Box> cheapestOrder(Graph g, Node n, OpTiling t, long[] block) {
        int cuts = block.length;
        boolean k = cuts > 0 && t.outputBox(Box.whole(t.output())).rank() < t.output().rank()
            && t.cuts().get(cuts - 1).axis() == t.output().rank() - 1;
        int free = k ? cuts - 1 : cuts;
        List<int[]> orders = new ArrayList<>();
        permute(new int[free], new boolean[free], 0, orders);
        List<Box> best = null;
        long bestBytes = Long.MAX_VALUE;
        String out = n.outputs().getFirst();
        for (int[] o : orders) {
            int[] order = java.util.Arrays.copyOf(o, cuts);
            if (k) order[cuts - 1] = cuts - 1;
            List<Box> boxes = boxes(t, block, order);
            long bytes = gathered(g, t, boxes, out);
            if (bytes < bestBytes) { bestBytes = bytes; best = boxes; }
        }
        return best;
    }

    private static void permute(int[] a, boolean[] used, int at, List<int[]> into) {
        if (at == a.length) { into.add(a.clone()); return; }
        for (int c = 0; c < a.length; c++) {
            if (used[c]) continue;
            used[c] = true;
            a[at] = c;
            permute(a, used, at + 1, into);
            used[c] = false;
        }
    }

    /** Bytes of input boxes tiles in this order copy in: those that differ from the previous tile's box of the value. */
    static long gathered(Graph g, OpTiling t, List<Box> boxes, String out) {
        long s = 0;
        Map<String, Box> prev = Map.of();
        for (Box o : boxes) {
            Map<String, Box> bx = t.boxes(o);
            for (var e : bx.entrySet()) {
                if (e.getKey().equals(out) || e.getValue().equals(prev.get(e.getKey()))) continue;
                s += e.getValue().elementCount() * dtype(g, e.getKey()).byteSize();
            }
            prev = bx;
        }
        return s;
    }

    /** Every output box of the grid, the first cut outermost. */
    static List<Box> boxes(OpTiling t, long[] block) {
        int[] order = new int[block.length];
        for (int c = 0; c < order.length; c++) order[c] = c;
        return boxes(t, block, order);
    }

    /** Every output box of the grid, cut {@code order[0]} outermost. */
    private static List<Box> boxes(OpTiling t, long[] block, int[] order) {
        List<Box> r = new ArrayList<>();
        r.add(Box.whole(t.output()));
        for (int c : order) {
            OpTiling.Cut cut = t.cuts().get(c);
            long[] e = edges(t.output().dim(cut.axis()), block[c], cut);
            List<Box> next = new ArrayList<>();
            for (Box b : r) for (int k = 0; k + 1 < e.length; k++) next.add(b.with(cut.axis(), e[k], e[k + 1]));
            r = next;
        }
        return r;
    }

    /**
     * What one tile holds on the device while it runs, beside the inputs all the node's tiles read whole ({@link
     * #wholeInputs}, loaded once and pinned): a block per value it gathers, by value, and a block for its output box.
     * The gathered values are the tiling's boxes (a K tile's partial sums among them) and, for a value that other tiles
     * of the node slice but this one reads whole, that value whole (it is not resident: it is gathered like a box).
     * This is the one reckoning of a tile's bytes: the grid's sizing and so the minimum budget ({@link Sizer}) and the
     * tile's placement (BoxTileTasks) both take them from here, so what the builder promises is what a tile asks for.
     */
    record Footprint(Map<String, Box> gathered, Map<String, Long> blocks, Box output, long outputBlock) {
        /** Its blocks together. */
        long bytes() {
            long s = outputBlock;
            for (long b : blocks.values()) s += b;
            return s;
        }
    }

    /** Tile {@code tile}'s footprint; {@code sliced} are the values some tile of the node gathers by box ({@link #sliced}). */
    static Footprint footprint(Graph g, OpTiling t, String out, Box tile, Set<String> sliced) {
        Map<String, Box> bx = new LinkedHashMap<>(t.boxes(tile));
        for (String v : t.node(tile).inputs()) if (sliced.contains(v)) bx.putIfAbsent(v, Box.whole(OpTiling.shapeOf(g, v)));
        Map<String, Long> blocks = new LinkedHashMap<>();
        for (var e : bx.entrySet()) blocks.put(e.getKey(), block(g, e.getKey(), e.getValue()));
        Box o = t.outputBox(tile);
        return new Footprint(bx, blocks, o, block(g, out, o));
    }

    /** Bytes of the arena block that holds box {@code b} of value {@code v}. */
    static long block(Graph g, String v, Box b) { return Tensor.blockBytes(b.elementCount() * dtype(g, v).byteSize()); }

    /** The values some of {@code tiles} gathers by box: not the node's own output {@code out} (K tiles' partial sums). */
    static Set<String> sliced(OpTiling t, String out, Iterable<Box> tiles) {
        Set<String> s = new LinkedHashSet<>();
        for (Box b : tiles) s.addAll(t.boxes(b).keySet());
        s.remove(out);
        return s;
    }

    /** The inputs the node's tiles read whole, loaded once and pinned for all of them: what the first tile reads that no tile slices. */
    static Set<String> wholeInputs(OpTiling t, String out, Box first, Set<String> sliced) {
        Set<String> w = new LinkedHashSet<>();
        for (String v : BuildState.distinctInputs(t.node(first))) if (!v.equals(out) && !sliced.contains(v)) w.add(v);
        return w;
    }

    /**
     * Bytes the tiles of a grid need at once: the whole inputs and the largest {@link Footprint}. Exact without visiting
     * every tile: along each cut, blocks whose tiles gather boxes of the same extents (and run nodes with the same
     * inputs) need the same bytes, so one block per such class stands for the others, and the tiles that combine one
     * class of every cut are all the different footprints there are (a box's extents along an axis depend on one cut
     * alone). Sampling the first two and last two blocks instead missed the inner blocks of a window taller than a
     * block (a 5x5 conv in one-row blocks: its third row's tile reads five input rows, its second four), so the
     * minimum budget promised less than such a tile asks for.
     */
    private static final class Sizer {
        final Graph g;
        final OpTiling t;
        final String out;
        /** One block {lo, hi} of each class, by cut and block size. */
        private final Map<List<Long>, List<long[]>> classes = new HashMap<>();

        Sizer(Graph g, Node n, OpTiling t) {
            this.g = g;
            this.t = t;
            this.out = n.outputs().getFirst();
        }

        long need(long[] block) {
            List<OpTiling.Cut> cuts = t.cuts();
            Box first = Box.whole(t.output());
            for (int c = 0; c < block.length; c++) {
                long[] e = edges(t.output().dim(cuts.get(c).axis()), block[c], cuts.get(c));
                first = first.with(cuts.get(c).axis(), e[0], e[1]);
            }
            List<Box> sample = new ArrayList<>();
            sample.add(Box.whole(t.output()));
            for (int c = 0; c < block.length; c++) {
                int axis = cuts.get(c).axis();
                Box base = first;
                List<long[]> reps = classes.computeIfAbsent(List.of((long) c, block[c]), k -> classesOf(k.get(0).intValue(), k.get(1), base));
                List<Box> next = new ArrayList<>();
                for (Box b : sample) for (long[] r : reps) next.add(b.with(axis, r[0], r[1]));
                sample = next;
            }
            Set<String> sliced = sliced(t, out, sample);
            long most = 0;
            for (Box b : sample) most = Math.max(most, footprint(g, t, out, b, sliced).bytes());
            for (String v : wholeInputs(t, out, first, sliced)) most += bytes(g, v);
            return most;
        }

        /** One block of each class along cut c for blocks of {@code block}, the other cuts at their first block ({@code first}). */
        private List<long[]> classesOf(int c, long block, Box first) {
            OpTiling.Cut cut = t.cuts().get(c);
            long[] e = edges(t.output().dim(cut.axis()), block, cut);
            Map<String, long[]> seen = new LinkedHashMap<>();
            for (int i = 0; i + 1 < e.length; i++) {
                Box probe = first.with(cut.axis(), e[i], e[i + 1]);
                seen.putIfAbsent(signature(probe), new long[] {e[i], e[i + 1]});
            }
            return List.copyOf(seen.values());
        }

        /** What a tile's bytes depend on: its output box's extents, the extents of the boxes it gathers, and what its node reads. */
        private String signature(Box tile) {
            StringBuilder s = new StringBuilder(t.outputBox(tile).extents().toString());
            for (var e : t.boxes(tile).entrySet()) s.append('|').append(e.getKey()).append(e.getValue().extents());
            return s.append('|').append(t.node(tile).inputs()).toString();
        }
    }

    static DType dtype(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        return c != null ? c.dtype() : g.typeOf(v).dtype();
    }

    static long bytes(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return Tensor.blockBytes(c.byteSize());
        var ty = g.typeOf(v);
        return Tensor.blockBytes(Tensor.byteSize(ty.dtype(), ty.shape().toShape()));
    }

    private static long ceilDiv(long a, long b) { return (a + b - 1) / b; }
}
