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
 * A node split into output boxes ({@link Tile.Kind#OUTPUT_BOX}, by its op family's {@link OpTiling}). As for row
 * bands: the inputs no tile slices are loaded whole and pinned; per tile, an H2D box transfer per sliced value (from
 * its host copy, copied out first if the device holds its only copy) into a buffer of the box's extents, the kernel
 * of {@link OpTiling#node} into an output box buffer, and a chained D2H box transfer of that into the output's host
 * copy. A tile's buffers are placed beside the previous tile's when there is room (double buffering), else in their
 * regions after freeing them. In the builder's walk with the box cache ({@link BuildState#boxCache}), an input box that
 * a later tile of the node reads again stays on the device until then, while there is room: when a tile's buffers do not
 * fit, the cached box whose next read is furthest ahead is freed first (Belady's rule, exact here: the node's tile
 * sequence is known). A grid that cuts both a weight's and an activation's axes then moves each box once instead of
 * once per block of the other cut. Invariant: the output exists only on the host afterwards, written box by box in
 * order; a cached box is a copy of its value's bytes that no task writes again (the node reads only its inputs).
 */
record BoxTileTasks(BuildState s, int i) implements NodeTasks {
    @Override public long need() { return s.split(i).box().need(); }

    /** What tile t's node reads (its boxes and whole inputs), each once. */
    private List<String> tileReads(int t) {
        Tiling.Split sp = s.split(i);
        List<String> r = new ArrayList<>(BuildState.distinctInputs(sp.box().tiling().node(sp.tiles().get(t).box())));
        // a K tile's partial sums are the node's own output (ReductionCut), gathered by emit from its host copy
        r.remove(s.node(i).outputs().getFirst());
        return r;
    }

    @Override public List<String> reads() { return NodeTasks.readsOfTiles(s.split(i).tiles().size(), this::tileReads); }

    /** Nothing: its sliced inputs are gathered box by box. */
    @Override public List<String> prefetched() { return List.of(); }

    @Override public String splitNote() {
        Tiling.Split sp = s.split(i);
        return ", split into " + sp.tiles().size() + " tiles of its output, the largest " + sp.tiles().getFirst().box().extents();
    }

    @Override public void emit() {
        Node n = s.node(i);
        Tiling.Split sp = s.split(i);
        OpTiling tiling = sp.box().tiling();
        int d = s.placement[i];
        Residency res = s.res;
        Residency.Held D = res.on(d);
        String out = n.outputs().getFirst();
        long need = need();
        // K tiles' partial sums (the previous K tile's output box, ReductionCut) are not among the sliced inputs
        Set<String> sliced = BoxTiles.sliced(tiling, out, sp.tiles().stream().map(Tile::box).toList());
        Set<String> whole = BoxTiles.wholeInputs(tiling, out, sp.tiles().getFirst().box(), sliced);
        Set<String> pinned = new HashSet<>();
        res.loadWhole(d, whole, pinned, n.label(), need);
        BandTileTasks.Keep keep = BandTileTasks.keep(s, i, d, sliced, out, need);
        pinned.addAll(keep.inPlace());
        for (String v : sliced) if (!keep.inPlace().contains(v)) res.hostCopyOf(v);
        // the output kept resident: one whole block that the tiles scatter into (and K tiles gather partial sums from) on the device
        DraftBuffer keptOut = keep.output() ? res.allocate(d, out, s.blockBytes(out), pinned, true) : null;
        if (keep.output() && keptOut == null) throw new BandTileTasks.KeptTooMuch(n.label() + ": no room for its output kept resident");
        int host = keptOut != null ? keptOut.id : s.out.hostBuffer(out);
        String devName = D.name();
        // Input boxes a later tile reads again stay on the device while there is room (a tile whose box of a value is
        // cached reads that buffer: no second H2D); when a tile's buffers do not fit, the cached box read again
        // furthest ahead goes first (Belady's rule over the node's known tile sequence). The output box stays while it
        // is not yet scattered (a K tile's partial sums, read in place by the next K tile of the same output box when
        // the budget allows, else scattered and gathered back).
        List<BoxTiles.Footprint> fps = new ArrayList<>();
        Map<BoxKey, List<Integer>> usesOf = new HashMap<>();
        for (int t = 0; t < sp.tiles().size(); t++) {
            BoxTiles.Footprint f = BoxTiles.footprint(s.g, tiling, out, sp.tiles().get(t).box(), sliced);
            fps.add(f);
            for (var e : f.gathered().entrySet()) {
                if (!e.getKey().equals(out)) usesOf.computeIfAbsent(new BoxKey(e.getKey(), e.getValue()), k -> new ArrayList<>()).add(t);
            }
        }
        Map<BoxKey, DraftBuffer> cache = new LinkedHashMap<>();
        List<DraftBuffer> held = new ArrayList<>(); // the previous tile's buffers not cached, freed once this tile's are placed
        DraftBuffer pendingOb = null;
        Box pendingBox = null;
        int prevScatter = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            Node tn = tiling.node(tile.box());
            // its buffers as sizing counted them (a value sliced by other tiles but whole in this one is gathered whole)
            BoxTiles.Footprint fp = fps.get(t);
            Box obx = fp.output();
            Map<String, Box> bx = fp.gathered();
            if (pendingOb != null && !(bx.containsKey(out) && bx.get(out).equals(pendingBox))) {
                prevScatter = scatter(d, pendingOb, pendingBox, keptOut, host, prevScatter, devName, out);
                held.add(pendingOb);
                pendingOb = null;
            }
            Map<String, DraftBuffer> kept = new LinkedHashMap<>();
            for (var e : bx.entrySet()) {
                String v = e.getKey();
                if (v.equals(out)) { if (pendingOb != null) kept.put(v, pendingOb); }
                else if (cache.containsKey(new BoxKey(v, e.getValue()))) kept.put(v, cache.get(new BoxKey(v, e.getValue())));
            }
            String outBox = out + "#out-box" + i + "." + t; // apart from a K tile's partial sums box (out#box)
            // beside everything the previous tile left (double buffering), else beside what this tile keeps of it,
            // evicting resident values the node does not pin, else (kept buffers in the way) as the first tile
            Map<String, DraftBuffer> placed = held.isEmpty() && kept.isEmpty() && cache.isEmpty() ? null : res.placeFree(d, want(fp, kept, t, outBox));
            for (DraftBuffer b : held) if (!kept.containsValue(b)) res.free(d, b);
            held.clear();
            if (placed == null && !cache.isEmpty()) {
                // room for this tile's new boxes: first what freeing the previous tile's gave, then cached boxes, read
                // again furthest ahead first
                placed = res.placeFree(d, want(fp, kept, t, outBox));
                while (placed == null) {
                    BoxKey victim = null;
                    int far = -1;
                    for (BoxKey k : cache.keySet()) {
                        if (kept.containsValue(cache.get(k))) continue;
                        int next = nextUse(usesOf.get(k), t - 1);
                        if (next > far) { far = next; victim = k; }
                    }
                    if (victim == null) break;
                    res.free(d, cache.remove(victim));
                    placed = res.placeFree(d, want(fp, kept, t, outBox));
                }
            }
            if (placed == null && (!kept.isEmpty() || keep.any())) placed = placeEvicting(d, want(fp, kept, t, outBox), pinned);
            if (placed == null && keep.any()) throw new BandTileTasks.KeptTooMuch(n.label() + ": a tile finds no room beside what the node keeps");
            if (placed == null) {
                if (pendingOb != null) {
                    prevScatter = scatter(d, pendingOb, pendingBox, keptOut, host, prevScatter, devName, out);
                    pendingOb = null;
                }
                for (DraftBuffer b : new LinkedHashSet<>(kept.values())) res.free(d, b);
                cache.values().removeAll(kept.values());
                kept.clear();
                placed = res.placeBands(d, want(fp, kept, t, outBox), whole, pinned, n.label(), need);
            }
            pendingOb = null;
            Map<String, Integer> inBuf = new LinkedHashMap<>();
            for (var e : bx.entrySet()) {
                String v = e.getKey();
                if (kept.containsKey(v)) { inBuf.put(v, kept.get(v).id); continue; }
                DraftBuffer b = placed.get(v + "#box" + i + "." + t);
                boolean local = v.equals(out) ? keptOut != null : keep.inPlace().contains(v);
                int src = v.equals(out) ? host : local ? D.get(v).id : res.hostCopy.get(v);
                int id = s.out.next();
                s.out.add(new Task.Transfer(id, d, local ? LaneKind.COMPUTE : LaneKind.H2D, src, b.id, b.bytes,
                    (local ? "copy " : "h2d ") + v + " " + e.getValue() + (local ? " on " : " to ") + devName, e.getValue()));
                s.out.read(src, id);
                s.out.written(b, id);
                inBuf.put(v, b.id);
            }
            int id = s.out.next();
            List<Integer> ins = new ArrayList<>();
            for (String v : tn.inputs()) {
                if (v.isEmpty()) ins.add(-1);
                else if (bx.containsKey(v)) ins.add(inBuf.get(v));
                else ins.add(D.get(v).id);
            }
            DraftBuffer ob = placed.get(outBox);
            s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " " + tile.box() + " (tile " + (t + 1) + "/" + sp.tiles().size() + ")",
                ins, List.of(), List.of(ob.id), tile, -1));
            s.out.readAll(ins, id);
            s.out.written(ob, id);
            for (var e : bx.entrySet()) {
                DraftBuffer b = s.out.buffer(inBuf.get(e.getKey()));
                BoxKey k = new BoxKey(e.getKey(), e.getValue());
                // an input box a later tile reads again stays cached; the rest (and partial sums read in place) are freed
                // once the next tile's buffers are placed
                // (without the cache, only a box the very next tile reads again: what the walk without it shares)
                int next = nextUse(usesOf.get(k), t);
                if (!e.getKey().equals(out) && (s.boxCache ? next != Integer.MAX_VALUE : next == t + 1)) {
                    cache.put(k, b);
                    continue;
                }
                cache.remove(k);
                if (!held.contains(b)) held.add(b);
            }
            boolean continued = t + 1 < sp.tiles().size() && tiling.boxes(sp.tiles().get(t + 1).box()).containsKey(out)
                && obx.equals(tiling.outputBox(sp.tiles().get(t + 1).box()));
            // A K tile's partial sums stay on the device for the next K tile of the same output box, unless the
            // build's keepPartials switch is off (then they are scattered and gathered, for comparisons).
            if (continued && s.tiling.keepPartials()) {
                pendingOb = ob;
                pendingBox = obx;
            } else {
                prevScatter = scatter(d, ob, obx, keptOut, host, prevScatter, devName, out);
                held.add(ob);
            }
        }
        if (pendingOb != null) throw new IllegalStateException("node " + n.label() + ": a partial output box was never scattered");
        for (DraftBuffer b : held) res.free(d, b);
        for (DraftBuffer b : cache.values()) res.free(d, b);
        if (keptOut != null) res.publish(d, out, keptOut);
        else res.hostCopy.put(out, host);
        s.releaseDead(i, this);
    }

    /** A box of a value, the key of the node's cache of input boxes. */
    private record BoxKey(String value, Box box) {}

    /** The first of a box's tiles (ascending) after tile {@code t}; {@link Integer#MAX_VALUE} if none. */
    private static int nextUse(List<Integer> tiles, int t) {
        if (tiles == null) return Integer.MAX_VALUE;
        for (int u : tiles) if (u > t) return u;
        return Integer.MAX_VALUE;
    }

    /** The buffers tile t still needs beside those it reads from the cache: its footprint's other blocks. */
    private Map<String, Long> want(BoxTiles.Footprint fp, Map<String, DraftBuffer> kept, int t, String outBox) {
        Map<String, Long> want = new LinkedHashMap<>();
        for (var e : fp.blocks().entrySet()) if (!kept.containsKey(e.getKey())) want.put(e.getKey() + "#box" + i + "." + t, e.getValue());
        want.put(outBox, fp.outputBlock());
        return want;
    }

    /** Regions for a tile's new buffers, evicting resident values the node does not pin; null, having placed none, if they do not fit. */
    private Map<String, DraftBuffer> placeEvicting(int d, Map<String, Long> want, Set<String> pinned) {
        Map<String, DraftBuffer> placed = new LinkedHashMap<>();
        for (var e : want.entrySet()) {
            DraftBuffer b = s.res.allocate(d, e.getKey(), e.getValue(), pinned, true);
            if (b == null) {
                for (DraftBuffer x : placed.values()) s.res.free(d, x);
                return null;
            }
            placed.put(e.getKey(), b);
        }
        return placed;
    }

    /**
     * The copy of an output box into the output's host copy (D2H), or into its whole block kept resident (local),
     * after the previous one (the whole is written in order).
     */
    private int scatter(int d, DraftBuffer ob, Box box, DraftBuffer keptOut, int host, int prevScatter, String devName, String out) {
        int sid = s.out.next();
        if (keptOut != null) {
            s.out.add(Task.Transfer.localScatter(sid, d, ob.id, keptOut.id, ob.bytes, "copy " + out + " " + box + " on " + devName, 0, 0, false, box));
            s.out.read(ob.id, sid);
            s.out.continued(keptOut, prevScatter, sid);
            return sid;
        }
        s.out.add(new Task.Transfer(sid, d, LaneKind.D2H, ob.id, host, ob.bytes, "d2h " + out + " " + box + " from " + devName, box));
        s.out.read(ob.id, sid);
        if (prevScatter >= 0) s.out.edge(prevScatter, sid, Edge.Kind.DATA);
        s.out.buffer(host).writer = sid;
        return sid;
    }
}
