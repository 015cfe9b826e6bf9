package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Chooses the grid of an {@link OpTiling} split ({@link Tile.Kind#OUTPUT_BOX}): a block size per cut axis, the
 * largest (fewest tiles) whose every tile fits a target, else the smallest allowed. A tile needs on the device
 * at once its whole inputs, its input boxes (one buffer per value) and its output box; that is all that sizing
 * knows, so the builder and {@link MemGraph#minimumBudget} agree with what the executor will claim.
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
                if (nb >= block[c]) continue;
                long[] trial = block.clone();
                trial[c] = nb;
                if (count(t, trial) > MAX_TILES) continue;
                long tn = s.need(trial);
                if (tn < bestNeed) { best = c; bestNeed = tn; bestBlock = trial; }
            }
            if (best < 0) break;
            block = bestBlock;
            need = bestNeed;
        }
        if (count(t, block) < 2) return null;
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
            if (tiles < 2 || tiles > most || s.need(trial) > target) continue;
            boolean coarser = false; // a grid one level coarser along some cut also fits: this one is not maximal
            for (int c = 0; c < at.length && !coarser; c++) {
                if (at[c] == 0) continue;
                long[] up = trial.clone();
                up[c] = levels.get(c)[at[c] - 1];
                if (count(t, up) >= 2 && s.need(up) <= target) coarser = true;
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

    /** Bytes tiles need, for a grid, judged on the first two and last two blocks of every cut (the rest repeat them). */
    private static final class Sizer {
        final Graph g;
        final OpTiling t;
        final String out;
        final DType outType;
        final Set<String> inputs = new LinkedHashSet<>();

        Sizer(Graph g, Node n, OpTiling t) {
            this.g = g;
            this.t = t;
            this.out = n.outputs().getFirst();
            this.outType = g.typeOf(out).dtype();
            for (String v : t.node(Box.whole(t.output())).inputs()) if (!v.isEmpty()) inputs.add(v);
        }

        long need(long[] block) {
            List<Box> sample = new ArrayList<>();
            sample.add(Box.whole(t.output()));
            for (int c = 0; c < block.length; c++) {
                OpTiling.Cut cut = t.cuts().get(c);
                long[] e = edges(t.output().dim(cut.axis()), block[c], cut);
                int k = e.length - 1;
                Set<Integer> pick = new LinkedHashSet<>(List.of(0, Math.min(1, k - 1), Math.max(0, k - 2), k - 1));
                List<Box> next = new ArrayList<>();
                for (Box b : sample) for (int i : pick) next.add(b.with(cut.axis(), e[i], e[i + 1]));
                sample = next;
            }
            long most = 0;
            for (Box b : sample) most = Math.max(most, tileNeed(b));
            return most;
        }

        long tileNeed(Box o) {
            Map<String, Box> boxed = t.boxes(o);
            long s = Tensor.blockBytes(t.outputBox(o).elementCount() * outType.byteSize());
            for (String v : inputs) s += boxed.containsKey(v) ? Tensor.blockBytes(boxed.get(v).elementCount() * dtype(g, v).byteSize()) : bytes(g, v);
            // a K tile's partial sums (the output's box, see ReductionCut): not an input of the whole node
            for (var e : boxed.entrySet()) {
                if (!inputs.contains(e.getKey())) s += Tensor.blockBytes(e.getValue().elementCount() * dtype(g, e.getKey()).byteSize());
            }
            return s;
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
