package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A node split into bands of output rows ({@link Tile.Kind#OUTPUT_ROWS}, see {@link RowBands}). Its whole inputs are
 * loaded and pinned; its banded inputs are read from their host copies (copied out first if the device holds their
 * only copy), or in place from their resident copy where that saves link bytes ({@link Keep}). Per band: a rows copy
 * per banded value into a band buffer (H2D, or local), the kernel into an output band buffer, a rows copy of that into
 * the output's host copy (D2H), or into its whole block kept resident (local). A band's buffers are freed once the next band's
 * are placed (beside them when there is room, so that copies and kernels of neighbouring bands overlap; else in their
 * regions, memory edges ordering the reuse). Invariant: the scatters are chained, so the last one stands for the
 * whole output, which exists afterwards only on the host, or only on the device when it is kept.
 */
record BandTileTasks(BuildState s, int i) implements NodeTasks {

    /** Its whole inputs, and its largest band's input and output bands. */
    @Override public long need() {
        RowBands.Form f = RowBands.form(s.g, s.node(i));
        long most = 0;
        for (Tile t : s.split(i).tiles()) most = Math.max(most, RowBands.tileNeed(f, t.start(), t.end()));
        return most;
    }

    @Override public List<String> reads() { return BuildState.distinctInputs(s.node(i)); }

    /** Nothing: its banded inputs are gathered band by band. */
    @Override public List<String> prefetched() { return List.of(); }

    @Override public String splitNote() { return ", split into " + s.split(i).tiles().size() + " bands of output rows"; }

    @Override public void emit() {
        Node n = s.node(i);
        Tiling.Split sp = s.split(i);
        RowBands.Form f = RowBands.form(s.g, n);
        int d = s.placement[i];
        Residency res = s.res;
        String out = n.outputs().getFirst();
        long need = need();
        Set<String> whole = new LinkedHashSet<>();
        for (int k : f.whole()) whole.add(n.inputs().get(k));
        Map<String, RowBands.Band> banded = new LinkedHashMap<>();
        for (RowBands.Band b : f.bands()) banded.putIfAbsent(b.value(), b);
        Set<String> pinned = new HashSet<>();
        res.loadWhole(d, whole, pinned, n.label(), need);
        Keep keep = keep(s, i, d, banded.keySet(), out, need);
        pinned.addAll(keep.inPlace());
        for (String v : banded.keySet()) if (!keep.inPlace().contains(v)) res.hostCopyOf(v);
        // the output kept resident: one whole block that the bands scatter into on the device
        DraftBuffer kept = keep.output() ? res.allocate(d, out, s.blockBytes(out), pinned, true) : null;
        if (keep.output() && kept == null) throw new KeptTooMuch(n.label() + ": no room for its output kept resident");
        int host = kept == null ? s.out.hostBuffer(out) : -1;
        int prevScatter = -1;
        List<DraftBuffer> held = new ArrayList<>();
        String devName = res.on(d).name();
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            // this band's buffers: one per banded value, then the output band
            // sized as need() counted them (RowBands.bandBlocks)
            Map<String, Long> want = new LinkedHashMap<>();
            Map<String, long[]> rowsOf = new HashMap<>();
            for (var e : banded.entrySet()) rowsOf.put(e.getKey(), e.getValue().rowsFor(tile.start(), tile.end()));
            for (var e : RowBands.bandBlocks(f, tile.start(), tile.end()).entrySet()) want.put(e.getKey() + "#rows" + i + "." + t, e.getValue());
            String outBand = out + "#rows" + i + "." + t;
            want.put(outBand, RowBands.outBandBlock(f, tile.start(), tile.end()));
            // Double buffering: this band's buffers in free memory beside the previous band's, so that its gathers
            // overlap the previous kernel and its kernel the previous scatter; else after freeing those.
            Map<String, DraftBuffer> placed = held.isEmpty() ? null : res.placeFree(d, want);
            for (DraftBuffer b : held) res.free(d, b);
            held.clear();
            if (placed == null) placed = keep.any() ? placeKeeping(d, want, pinned) : res.placeBands(d, want, whole, pinned, n.label(), need);
            for (var e : banded.entrySet()) {
                String v = e.getKey();
                long[] ab = rowsOf.get(v);
                DraftBuffer b = placed.get(v + "#rows" + i + "." + t);
                boolean local = keep.inPlace().contains(v);
                int src = local ? res.on(d).get(v).id : res.hostCopy.get(v);
                int id = s.out.next();
                s.out.add(new Task.Transfer(id, d, local ? LaneKind.COMPUTE : LaneKind.H2D, src, b.id, b.bytes,
                    (local ? "copy " : "h2d ") + v + " rows [" + ab[0] + ":" + ab[1] + "] " + (local ? "on " : "to ") + devName, ab[0], ab[1], true));
                s.out.read(src, id);
                s.out.written(b, id);
            }
            int id = s.out.next();
            List<Integer> ins = new ArrayList<>();
            for (String v : n.inputs()) {
                if (v.isEmpty()) ins.add(-1);
                else if (banded.containsKey(v)) ins.add(placed.get(v + "#rows" + i + "." + t).id);
                else ins.add(res.on(d).get(v).id);
            }
            DraftBuffer ob = placed.get(outBand);
            s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " rows [" + tile.start() + ":" + tile.end() + "] (band "
                + (t + 1) + "/" + sp.tiles().size() + ")", ins, List.of(), List.of(ob.id), tile, -1));
            s.out.readAll(ins, id);
            s.out.written(ob, id);
            for (String v : banded.keySet()) held.add(placed.get(v + "#rows" + i + "." + t));
            int sid = s.out.next();
            if (kept != null) {
                s.out.add(Task.Transfer.localScatter(sid, d, ob.id, kept.id, ob.bytes,
                    "copy " + out + " rows [" + tile.start() + ":" + tile.end() + "] on " + devName, tile.start(), tile.end(), true, null));
                s.out.read(ob.id, sid);
                s.out.continued(kept, prevScatter, sid);
            } else {
                s.out.add(new Task.Transfer(sid, d, LaneKind.D2H, ob.id, host, ob.bytes,
                    "d2h " + out + " rows [" + tile.start() + ":" + tile.end() + "] from " + devName, tile.start(), tile.end(), true));
                s.out.read(ob.id, sid);
                if (prevScatter >= 0) s.out.edge(prevScatter, sid, Edge.Kind.DATA);
                s.out.buffer(host).writer = sid;
            }
            held.add(ob);
            prevScatter = sid;
        }
        for (DraftBuffer b : held) res.free(d, b);
        if (kept != null) res.publish(d, out, kept);
        else res.hostCopy.put(out, host);
        s.releaseDead(i, this);
    }

    /**
     * What the bands keep on the device instead of a round trip through the host: the banded inputs read in place
     * (gathered band by band on the device from their resident copy, not from the host) and whether the output stays
     * resident (each band scattered into one whole block on the device, not into a host copy). Chosen by the link
     * bytes each saves, within the room beside the node's planned need (its whole inputs and its largest band's
     * buffers): a resident input read in place saves its gathers (and its copy out, if the host has none); an output
     * kept saves its scatters and its next reader's load. Both rarely fit at once (the node was split because its
     * inputs and output together exceed the budget), so the cheaper of the two is kept. Only on the walk that
     * counts bytes: the first-fit walk places into holes, where the bands might find no room beside what is kept.
     */
    record Keep(Set<String> inPlace, boolean output) {
        boolean any() { return output || !inPlace.isEmpty(); }
    }

    /**
     * A tile found no room beside what its node keeps (the room {@link #keep} counted on was short: a tile's buffers
     * beside those it shares with the previous one): the builder drops that walk and keeps the one without keeping.
     */
    static final class KeptTooMuch extends RuntimeException {
        KeptTooMuch(String message) { super(message, null, false, false); }
    }

    /** What node i's tiles keep (row bands, or output boxes: {@link BoxTileTasks}), its sliced inputs being {@code bandedValues}. */
    static Keep keep(BuildState s, int i, int d, Set<String> bandedValues, String out, long need) {
        Residency.Held D = s.res.on(d);
        if (!s.keepBands || D.arena.firstFit) return new Keep(Set.of(), false);
        long cap = D.capacity(), outBytes = s.blockBytes(out);
        boolean readLater = s.res.nextUse(out, i) != Residency.NEVER;
        Set<String> inPlace = new LinkedHashSet<>();
        long extra = 0;
        for (String v : bandedValues) {
            if (D.holds(v) && need + extra + D.get(v).bytes <= cap) { inPlace.add(v); extra += D.get(v).bytes; }
        }
        boolean outA = readLater && need + extra + outBytes <= cap, outB = readLater && need + outBytes <= cap;
        long costA = gatherBytes(s, bandedValues, inPlace) + (outA ? 0 : 2 * outBytes);
        long costB = gatherBytes(s, bandedValues, Set.of()) + (outB ? 0 : 2 * outBytes);
        return costA <= costB ? new Keep(inPlace, outA) : new Keep(Set.of(), outB);
    }

    /** Link bytes the banded values not read in place cost: their gathers, and a copy out first where the host has none. */
    private static long gatherBytes(BuildState s, Set<String> bandedValues, Set<String> inPlace) {
        long b = 0;
        for (String v : bandedValues) {
            if (inPlace.contains(v)) continue;
            b += s.blockBytes(v);
            if (!s.res.hostCopy.containsKey(v)) b += s.blockBytes(v);
        }
        return b;
    }

    /**
     * A band's buffers beside what the node keeps, evicting other resident values: the bytes walk has room for them
     * by {@link #keep}'s choice (whole inputs, kept values and the largest band within the capacity); else
     * {@link KeptTooMuch}.
     */
    private Map<String, DraftBuffer> placeKeeping(int d, Map<String, Long> want, Set<String> pinned) {
        Map<String, DraftBuffer> placed = new LinkedHashMap<>();
        for (var e : want.entrySet()) {
            DraftBuffer b = s.res.allocate(d, e.getKey(), e.getValue(), pinned, true);
            if (b == null) throw new KeptTooMuch(s.node(i).label() + ": a band finds no room beside what the node keeps");
            placed.put(e.getKey(), b);
        }
        return placed;
    }
}
