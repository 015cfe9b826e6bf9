package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A recurrent node split by steps and blocks of hidden units ({@link Tile.Kind#HIDDEN_UNITS}). Y is placed whole and
 * the constants (sequence_lens, initial states) loaded whole and pinned, as for time-step tiles; X stays resident
 * while it fits (tiles view their step), else each step copies its step of X from the host copy. At a step's first
 * block the step's state buffers are placed; every block of the step writes its columns of them (the tiles chained
 * by data edges), and the next step's tiles read them whole, after which they are freed. Each tile loads its blocks
 * of gate rows (the next block of the same step is fetched into free memory behind it) and frees them after its
 * kernel. Invariant: the node's need is one block's, not the weights'.
 */
record UnitTileTasks(BuildState s, int i) implements NodeTasks {
    /** See {@link Tiling#unitNeed}. */
    @Override public long need() {
        Node n = s.node(i);
        return Tiling.unitNeed(s.g, n, Tiling.units(s.g, n), widest());
    }

    private long widest() { return s.split(i).tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0); }

    /** Values tile t reads: X, the constants, and the blocks of its units' gate rows. */
    List<String> tileReads(int t) {
        Node n = s.node(i);
        Tile tile = s.split(i).tiles().get(t);
        long j0 = Tile.unitStart(tile, Tile.hidden(s.g, n));
        Set<String> r = new LinkedHashSet<>();
        r.add(n.inputs().getFirst());
        r.addAll(Tiling.unitConstants(n));
        r.addAll(blocks(n, i, j0));
        return new ArrayList<>(r);
    }

    /** The names of the W / R / B / P blocks of node i's units from j0, each once. */
    private static List<String> blocks(Node n, int i, long j0) {
        Set<String> r = new LinkedHashSet<>();
        for (int k : Tile.GATE_INPUTS) {
            if (k >= n.inputs().size() || n.inputs().get(k).isEmpty() || (k == 7 && !n.opType().equals("LSTM"))) continue;
            r.add(Tile.unitBlock(n.inputs().get(k), i, j0));
        }
        return new ArrayList<>(r);
    }

    @Override public List<String> reads() { return NodeTasks.readsOfTiles(s.split(i).tiles().size(), this::tileReads); }

    /** The first tile's: the other blocks stream in behind the tiles. */
    @Override public List<String> prefetched() { return tileReads(0); }

    @Override public String splitNote() { return ", its weight split into " + s.split(i).tiles().size() + " tiles"; }

    @Override public void emit() {
        Node n = s.node(i);
        Tiling.Split sp = s.split(i);
        Tiling.Units u = Tiling.units(s.g, n);
        int d = s.placement[i];
        Residency res = s.res;
        Residency.Held D = res.on(d);
        String devName = D.name();
        String x = n.inputs().getFirst();
        String y = n.outputs().getFirst();
        Node tn = Tile.stepNode(n);
        int states = Tile.stateCount(n);
        long hidden = u.hidden(), xRow = u.batch() * u.in();
        long stateBytes = Tensor.blockBytes(u.batch() * hidden * Float.BYTES);
        long slice = Tensor.blockBytes(xRow * Float.BYTES);
        long perTile = Tiling.unitVariableBytes(s.g, n, u, widest());
        Set<String> consts = Tiling.unitConstants(n);
        long need = perTile - slice + (y.isEmpty() ? 0 : s.blockBytes(y));
        for (String v : consts) need += s.blockBytes(v);
        // A resident X is read in place when each step's view starts on 64 bytes.
        boolean aligned = u.seq() == 1 || xRow % 16 == 0;
        RecurrentPlacement placed = RecurrentPlacement.place(s, i, aligned, need, consts, perTile, slice, need());
        boolean kept = placed.xKept();
        DraftBuffer yBuf = placed.y();
        Set<String> pinned = placed.pinned();
        int[] stateIn = new int[states];
        for (int st = 0; st < states; st++) {
            String v = n.inputs().size() > Tile.STATE_INPUT + st ? n.inputs().get(Tile.STATE_INPUT + st) : "";
            stateIn[st] = v.isEmpty() ? -1 : D.get(v).id;
        }
        DraftBuffer[] handed = new DraftBuffer[states], out = new DraftBuffer[states];
        Map<String, DraftBuffer> finals = new LinkedHashMap<>();
        long lastStep = Tile.unitStep(sp.tiles().getLast(), hidden);
        DraftBuffer range = null;
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            long step = Tile.unitStep(tile, hidden), j0 = Tile.unitStart(tile, hidden);
            boolean first = j0 == 0, endOfStep = j0 + tile.end() - tile.start() == hidden, last = step == lastStep;
            if (first) {
                if (!kept) {
                    res.hostCopyOf(x);
                    String rn = x + "#range" + i + "." + step;
                    range = res.allocateOrFree(d, rn, slice, pinned, n.label(), t, need());
                    int src = res.hostCopy.get(x);
                    int id = s.out.next();
                    s.out.add(new Task.Transfer(id, d, LaneKind.H2D, src, range.id, range.bytes,
                        "h2d " + x + "[" + step * xRow + ":" + (step + 1) * xRow + "] to " + devName, step * xRow, (step + 1) * xRow));
                    s.out.read(src, id);
                    s.out.written(range, id);
                    pinned.add(rn);
                }
                for (int st = 0; st < states; st++) {
                    String o = n.outputs().size() > 1 + st ? n.outputs().get(1 + st) : "";
                    out[st] = null;
                    if (last && o.isEmpty()) continue; // nobody reads the final state
                    String name = last ? o : (y.isEmpty() ? n.label() : y) + "#state" + i + "." + step + "." + st;
                    out[st] = res.allocateOrFree(d, name, last ? s.blockBytes(o) : stateBytes, pinned, n.label(), t, need());
                    pinned.add(name);
                    if (last) finals.put(o, out[st]);
                }
            }
            List<String> blocks = blocks(n, i, j0);
            for (String v : blocks) {
                if (D.holds(v)) { pinned.add(v); continue; }
                int tt = t;
                res.loadPinned(d, v, pinned, () -> new MemGraphException("tile " + tt + " of node " + n.label()
                    + " does not fit the arena of '" + devName + "' next to its output", need()));
                pinned.add(v);
            }
            int id = s.out.next();
            List<Integer> ins = new ArrayList<>();
            for (int k = 0; k < tn.inputs().size(); k++) {
                String v = tn.inputs().get(k);
                if (k == 0) ins.add(kept ? D.get(x).id : range.id);
                else if (k >= Tile.STATE_INPUT && k < Tile.STATE_INPUT + states) ins.add(stateIn[k - Tile.STATE_INPUT]);
                else if (v.isEmpty()) ins.add(-1);
                else if (Tile.GATE_INPUTS.contains(k) && !(k == 7 && !n.opType().equals("LSTM"))) ins.add(D.get(Tile.unitBlock(v, i, j0)).id);
                else ins.add(D.get(v).id);
            }
            List<Integer> outs = new ArrayList<>();
            outs.add(yBuf == null ? -1 : yBuf.id);
            for (DraftBuffer b : out) outs.add(b == null ? -1 : b.id);
            s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " step " + step + " units " + j0 + ":" + (j0 + tile.end() - tile.start())
                + " (" + (t + 1) + "/" + sp.tiles().size() + ")", ins, List.of(), outs, tile, -1));
            s.out.readAll(ins, id);
            if (prev >= 0) s.out.edge(prev, id, Edge.Kind.DATA);
            if (yBuf != null) { if (prev < 0) s.out.written(yBuf, id); else s.out.rewritten(yBuf, id); }
            for (DraftBuffer b : out) if (b != null) { if (first) s.out.written(b, id); else s.out.rewritten(b, id); }
            // The blocks are this tile's alone: free them at once for the next block.
            for (String v : blocks) { res.drop(d, v); pinned.remove(v); }
            if (endOfStep) {
                if (range != null) { res.free(d, range); pinned.remove(range.value); range = null; }
                for (int st = 0; st < states; st++) {
                    if (handed[st] != null) { res.free(d, handed[st]); pinned.remove(handed[st].value); }
                    handed[st] = last ? null : out[st];
                    stateIn[st] = out[st] == null ? -1 : out[st].id;
                }
            } else {
                // Fetch the next block of this step into free memory, so that its copy overlaps this kernel.
                List<String> next = blocks(n, i, Tile.unitStart(sp.tiles().get(t + 1), hidden));
                long bytes = 0;
                for (String v : next) bytes += s.blockBytes(v);
                if (D.used() + bytes <= D.capacity()) {
                    for (String v : next) {
                        if (D.holds(v) || !res.load(d, v, pinned, false)) break;
                        pinned.add(v);
                    }
                }
            }
            prev = id;
        }
        RecurrentPlacement.publish(s, d, y, yBuf, finals);
        s.releaseDead(i, this);
    }
}
