package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A node split by blocks of its weight ({@link Tile.Kind#GATHER_ROWS}, {@link Tile.Kind#OUTPUT_COLUMNS},
 * {@link Tile.Kind#OUTPUT_CHANNELS}): one kernel task per tile, chained. Each tile loads its weight block (evicting
 * others' values if it must, never the node's shared inputs or its partly written output), runs, and frees the
 * block, so the node's need is that of its largest tile, not of the whole weight. The next tile's block is fetched
 * into free memory behind the current kernel. Invariant: the whole output is placed once, by the first tile, and
 * published after the last.
 */
record WeightTileTasks(BuildState s, int i) implements NodeTasks {
    @Override public long need() {
        Tiling.Split sp = s.split(i);
        long most = 0;
        for (int t = 0; t < sp.tiles().size(); t++) {
            long b = sp.scratchBytes();
            for (String v : tileReads(t)) b += s.blockBytes(v);
            for (String o : s.node(i).outputs()) if (!o.isEmpty()) b += s.blockBytes(o);
            most = Math.max(most, b);
        }
        return most;
    }

    /** What tile t reads: the node's inputs with the weight (and bias) replaced by the tile's blocks. */
    List<String> tileReads(int t) {
        Tiling.Split sp = s.split(i);
        Node n = s.node(i);
        Set<String> r = new LinkedHashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty()) continue;
            if (k == sp.weightInput()) r.add(sp.weightBlocks().get(t));
            else if (k == sp.biasInput()) r.add(sp.biasBlocks().get(t));
            else r.add(v);
        }
        return new ArrayList<>(r);
    }

    @Override public List<String> reads() { return NodeTasks.readsOfTiles(s.split(i).tiles().size(), this::tileReads); }

    /** Only the first tile's blocks: the others stream in behind its tiles. */
    @Override public List<String> prefetched() { return tileReads(0); }

    @Override public String splitNote() { return ", its weight split into " + s.split(i).tiles().size() + " tiles"; }

    @Override public void emit() {
        Node n = s.node(i);
        Tiling.Split sp = s.split(i);
        int d = s.placement[i];
        Residency res = s.res;
        Residency.Held D = res.on(d);
        String out = n.outputs().getFirst();
        Set<String> pinned = new HashSet<>();
        DraftBuffer outBuf = null;
        // One scratch region for all tiles, placed with the output: held across the tiles it costs no more than
        // the need (which counts it for every tile), and later tiles then only swap weight blocks.
        DraftBuffer scratch = null;
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            List<String> need = tileReads(t);
            for (String v : need) if (D.holds(v)) pinned.add(v);
            for (String v : need) {
                if (D.holds(v)) continue;
                int tt = t;
                res.loadPinned(d, v, pinned, () -> new MemGraphException("tile " + tt + " of node " + n.label()
                    + " does not fit the arena of '" + D.name() + "' next to its output", need()));
                pinned.add(v);
            }
            if (outBuf == null) {
                outBuf = res.allocateBeside(d, out, s.blockBytes(out), pinned, need);
                if (outBuf == null) throw new MemGraphException("node " + n.label() + ": no room for its output on '" + D.name() + "'", need());
                pinned.add(out);
                if (sp.scratchBytes() > 0) {
                    scratch = res.allocateBeside(d, out + "#scratch", sp.scratchBytes(), pinned, need);
                    if (scratch == null) {
                        // Free bytes enough, but the output landed where no gap beside it holds the scratch. Nothing
                        // is written yet: output and scratch go side by side into the emptied arena, the first
                        // tile's reads behind them (the node's need, checked against the budget, fits).
                        res.free(d, outBuf);
                        pinned.clear();
                        res.evictUnless(d, v -> false);
                        outBuf = res.allocate(d, out, s.blockBytes(out), pinned, false);
                        scratch = outBuf == null ? null : res.allocate(d, out + "#scratch", sp.scratchBytes(), pinned, false);
                        if (scratch == null) throw new MemGraphException("node " + n.label() + ": no room for a tile's scratch on '" + D.name() + "'", need());
                        pinned.add(out);
                        for (String v : need) {
                            int tt = t;
                            res.loadPinned(d, v, pinned, () -> new MemGraphException("tile " + tt + " of node " + n.label()
                                + " does not fit the arena of '" + D.name() + "' next to its output", need()));
                            pinned.add(v);
                        }
                    }
                }
            }
            int id = s.out.next();
            List<Integer> ins = new ArrayList<>();
            for (int k = 0; k < n.inputs().size(); k++) {
                String v = n.inputs().get(k);
                if (v.isEmpty()) { ins.add(-1); continue; }
                String actual = k == sp.weightInput() ? sp.weightBlocks().get(t) : k == sp.biasInput() ? sp.biasBlocks().get(t) : v;
                ins.add(D.get(actual).id);
            }
            Tile tile = sp.tiles().get(t);
            s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " tile " + (t + 1) + "/" + sp.tiles().size(), ins, List.of(),
                List.of(outBuf.id), tile, scratch == null ? -1 : scratch.id));
            for (String v : need) s.out.read(D.get(v).id, id);
            s.out.continued(outBuf, prev, id);
            if (scratch != null) s.out.continued(scratch, prev, id);
            // The block is this tile's alone: its region is free for the next block at once.
            String block = sp.weightBlocks().get(t);
            res.drop(d, block);
            pinned.remove(block);
            if (sp.biasInput() >= 0) { res.drop(d, sp.biasBlocks().get(t)); pinned.remove(sp.biasBlocks().get(t)); }
            prev = id;
            if (t + 1 < sp.tiles().size()) prefetchBlock(d, sp, t + 1, pinned);
        }
        if (scratch != null) res.free(d, scratch);
        res.publish(d, out, outBuf);
        s.releaseDead(i, this);
    }

    /** Loads the next tile's block into free memory now, so that its copy overlaps this tile's kernel. */
    private void prefetchBlock(int d, Tiling.Split sp, int t, Set<String> pinned) {
        String b = sp.weightBlocks().get(t);
        Residency.Held D = s.res.on(d);
        if (D.holds(b) || D.used() + s.blockBytes(b) > D.capacity()) return; // the scratch, held for all tiles, is in used()
        if (s.res.load(d, b, pinned, false)) pinned.add(b);
    }
}
