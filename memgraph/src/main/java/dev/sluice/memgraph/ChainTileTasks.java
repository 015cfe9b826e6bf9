package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A node of a {@link BandChains.Chain}: the chain's first node emits the whole chain, band index by band index; the
 * others emit nothing of their own and only release what they read once nobody reads it again. Per band index t, in
 * chain order, each node gathers its bands of values from outside the chain (H2D from their host copies, or local from a
 * resident copy where {@link BandTileTasks#keep} says so) and runs its kernel on them and on the previous node's output
 * band, which stays on the device; the last node's output band is scattered into its host copy (D2H) or into its whole
 * block kept resident (local). Every node's whole inputs are loaded and pinned for the whole chain. A band index's
 * buffers are freed once the next one's are placed (beside them when there is room, as for a single node's bands).
 * Invariant: a value inside the chain has no whole copy anywhere, on the device or the host; its only reader is the next
 * node of the chain, whose band t reads exactly the band t its maker wrote (bands of a maker read with a halo overlap:
 * each holds the rows its reader's band reads, recomputed rather than carried over from the band before, so no buffer
 * lives beyond its band index).
 */
record ChainTileTasks(BuildState s, BandChains.Chain c, int i) implements NodeTasks {

    private boolean head() { return i == c.head(); }

    /** The chain's largest band index (on its first node; the others hold nothing of their own). */
    @Override public long need() { return head() ? c.need() : 0; }

    @Override public List<String> reads() { return BuildState.distinctInputs(s.node(i)); }

    @Override public List<String> prefetched() { return List.of(); }

    @Override public String splitNote() {
        return ", run band by band with nodes " + s.node(c.head()).label() + " to " + s.node(c.last()).label() + " in " + c.bands() + " bands";
    }

    /** The value node k of the chain (0-based) reads from the node before it, or null for the first. */
    private String inner(int k) { return k == 0 ? null : s.node(c.nodes().get(k - 1)).outputs().getFirst(); }

    @Override public void emit() {
        if (!head()) {
            s.releaseDead(i, this);
            return;
        }
        int d = s.placement[i];
        Residency res = s.res;
        List<Integer> ns = c.nodes();
        int m = ns.size();
        Node lastNode = s.node(c.last());
        String out = lastNode.outputs().getFirst();
        String label = s.node(c.head()).label() + ".." + lastNode.label();
        long need = c.need();
        List<RowBands.Form> forms = new ArrayList<>();
        Set<String> whole = new LinkedHashSet<>();
        // per node, its banded values from outside the chain
        List<Set<String>> outside = new ArrayList<>();
        Set<String> allOutside = new LinkedHashSet<>();
        for (int k = 0; k < m; k++) {
            Node n = s.node(ns.get(k));
            RowBands.Form f = RowBands.form(s.g, n);
            forms.add(f);
            for (int w : f.whole()) whole.add(n.inputs().get(w));
            Set<String> o = new LinkedHashSet<>();
            for (RowBands.Band b : f.bands()) if (!b.value().equals(inner(k))) o.add(b.value());
            outside.add(o);
            allOutside.addAll(o);
        }
        Set<String> pinned = new HashSet<>();
        res.loadWhole(d, whole, pinned, label, need);
        BandTileTasks.Keep keep = BandTileTasks.keep(s, c.last(), d, allOutside, out, need);
        pinned.addAll(keep.inPlace());
        for (String v : allOutside) if (!keep.inPlace().contains(v)) res.hostCopyOf(v);
        DraftBuffer kept = keep.output() ? res.allocate(d, out, s.blockBytes(out), pinned, true) : null;
        if (keep.output() && kept == null) throw new BandTileTasks.KeptTooMuch(label + ": no room for its output kept resident");
        int host = kept == null ? s.out.hostBuffer(out) : -1;
        int prevScatter = -1;
        List<DraftBuffer> held = new ArrayList<>();
        String devName = res.on(d).name();
        for (int t = 0; t < c.bands(); t++) {
            Map<String, Long> want = new LinkedHashMap<>();
            for (int k = 0; k < m; k++) {
                long[] e = c.rows().get(k)[t];
                for (var b : RowBands.bandBlocks(forms.get(k), e[0], e[1]).entrySet()) {
                    if (outside.get(k).contains(b.getKey())) want.put(b.getKey() + "#rows" + ns.get(k) + "." + t, b.getValue());
                }
                want.put(s.node(ns.get(k)).outputs().getFirst() + "#rows" + ns.get(k) + "." + t, RowBands.outBandBlock(forms.get(k), e[0], e[1]));
            }
            Map<String, DraftBuffer> placed = held.isEmpty() ? null : res.placeFree(d, want);
            for (DraftBuffer b : held) res.free(d, b);
            held.clear();
            if (placed == null) placed = keep.any() ? placeKeeping(d, want, pinned, label) : res.placeBands(d, want, whole, pinned, label, need);
            DraftBuffer prevOut = null;
            for (int k = 0; k < m; k++) {
                int node = ns.get(k);
                Node n = s.node(node);
                Tile tile = s.split(node).tiles().get(t);
                for (String v : outside.get(k)) {
                    RowBands.Band b = BandChains.band(forms.get(k), v);
                    long[] ab = b.rowsFor(tile.start(), tile.end());
                    DraftBuffer buf = placed.get(v + "#rows" + node + "." + t);
                    boolean local = keep.inPlace().contains(v);
                    int src = local ? res.on(d).get(v).id : res.hostCopy.get(v);
                    int id = s.out.next();
                    s.out.add(new Task.Transfer(id, d, local ? LaneKind.COMPUTE : LaneKind.H2D, src, buf.id, buf.bytes,
                        (local ? "copy " : "h2d ") + v + " rows [" + ab[0] + ":" + ab[1] + "] " + (local ? "on " : "to ") + devName, ab[0], ab[1], true));
                    s.out.read(src, id);
                    s.out.written(buf, id);
                }
                List<Integer> ins = new ArrayList<>();
                for (String v : n.inputs()) {
                    if (v.isEmpty()) ins.add(-1);
                    else if (v.equals(inner(k))) ins.add(prevOut.id);
                    else if (outside.get(k).contains(v)) ins.add(placed.get(v + "#rows" + node + "." + t).id);
                    else ins.add(res.on(d).get(v).id);
                }
                DraftBuffer ob = placed.get(n.outputs().getFirst() + "#rows" + node + "." + t);
                int id = s.out.next();
                s.out.add(new Task.Kernel(id, d, node, "kernel " + n.label() + " rows [" + tile.start() + ":" + tile.end() + "] (band "
                    + (t + 1) + "/" + c.bands() + " of a chain)", ins, List.of(), List.of(ob.id), tile, -1));
                s.out.readAll(ins, id);
                s.out.written(ob, id);
                prevOut = ob;
            }
            held.addAll(placed.values());
            Tile tile = s.split(c.last()).tiles().get(t);
            int sid = s.out.next();
            if (kept != null) {
                s.out.add(Task.Transfer.localScatter(sid, d, prevOut.id, kept.id, prevOut.bytes,
                    "copy " + out + " rows [" + tile.start() + ":" + tile.end() + "] on " + devName, tile.start(), tile.end(), true, null));
                s.out.read(prevOut.id, sid);
                s.out.continued(kept, prevScatter, sid);
            } else {
                s.out.add(new Task.Transfer(sid, d, LaneKind.D2H, prevOut.id, host, prevOut.bytes,
                    "d2h " + out + " rows [" + tile.start() + ":" + tile.end() + "] from " + devName, tile.start(), tile.end(), true));
                s.out.read(prevOut.id, sid);
                if (prevScatter >= 0) s.out.edge(prevScatter, sid, Edge.Kind.DATA);
                s.out.buffer(host).writer = sid;
            }
            prevScatter = sid;
        }
        for (DraftBuffer b : held) res.free(d, b);
        if (kept != null) res.publish(d, out, kept);
        else res.hostCopy.put(out, host);
        s.releaseDead(i, this);
    }

    /** A band index's buffers beside what the chain keeps, evicting other resident values; else {@link BandTileTasks.KeptTooMuch}. */
    private Map<String, DraftBuffer> placeKeeping(int d, Map<String, Long> want, Set<String> pinned, String label) {
        Map<String, DraftBuffer> placed = new LinkedHashMap<>();
        for (var e : want.entrySet()) {
            DraftBuffer b = s.res.allocate(d, e.getKey(), e.getValue(), pinned, true);
            if (b == null) throw new BandTileTasks.KeptTooMuch(label + ": a band finds no room beside what the chain keeps");
            placed.put(e.getKey(), b);
        }
        return placed;
    }
}
