package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
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
 * regions after freeing them. Invariant: the output exists only on the host afterwards, written box by box in order.
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

    @Override public List<String> reads() {
        Set<String> r = new LinkedHashSet<>();
        for (int t = 0; t < s.split(i).tiles().size(); t++) r.addAll(tileReads(t));
        return new ArrayList<>(r);
    }

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
        Set<String> sliced = new LinkedHashSet<>();
        for (Tile t : sp.tiles()) sliced.addAll(tiling.boxes(t.box()).keySet());
        sliced.remove(out); // K tiles' partial sums: gathered from the output's own host copy (ReductionCut)
        Set<String> whole = new LinkedHashSet<>();
        for (String v : tileReads(0)) if (!sliced.contains(v)) whole.add(v);
        Set<String> pinned = new HashSet<>();
        res.loadWhole(d, whole, pinned, n.label(), need);
        for (String v : sliced) res.hostCopyOf(v);
        int host = s.out.hostBuffer(out);
        int prevScatter = -1;
        List<DraftBuffer> held = new ArrayList<>();
        long outElem = s.g.typeOf(out).dtype().byteSize();
        String devName = D.name();
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            Node tn = tiling.node(tile.box());
            Map<String, Box> bx = new LinkedHashMap<>(tiling.boxes(tile.box()));
            // a value sliced by other tiles but whole in this one is gathered whole: it is not resident
            for (String v : sliced) if (tn.inputs().contains(v)) bx.putIfAbsent(v, Box.whole(OpTiling.shapeOf(s.g, v)));
            Map<String, Long> want = new LinkedHashMap<>();
            for (var e : bx.entrySet()) {
                want.put(e.getKey() + "#box" + i + "." + t, Tensor.blockBytes(e.getValue().elementCount() * BoxTiles.dtype(s.g, e.getKey()).byteSize()));
            }
            String outBox = out + "#out-box" + i + "." + t; // apart from a K tile's partial sums box (out#box)
            want.put(outBox, Tensor.blockBytes(tiling.outputBox(tile.box()).elementCount() * outElem));
            Map<String, DraftBuffer> placed = held.isEmpty() ? null : res.placeFree(d, want);
            for (DraftBuffer b : held) res.free(d, b);
            held.clear();
            if (placed == null) placed = res.placeBands(d, want, whole, pinned, n.label(), need);
            for (var e : bx.entrySet()) {
                String v = e.getKey();
                DraftBuffer b = placed.get(v + "#box" + i + "." + t);
                int src = v.equals(out) ? host : res.hostCopy.get(v);
                int id = s.out.next();
                s.out.add(new Task.Transfer(id, d, LaneKind.H2D, src, b.id, b.bytes, "h2d " + v + " " + e.getValue() + " to " + devName, e.getValue()));
                s.out.read(src, id);
                s.out.written(b, id);
            }
            int id = s.out.next();
            List<Integer> ins = new ArrayList<>();
            for (String v : tn.inputs()) {
                if (v.isEmpty()) ins.add(-1);
                else if (bx.containsKey(v)) ins.add(placed.get(v + "#box" + i + "." + t).id);
                else ins.add(D.get(v).id);
            }
            DraftBuffer ob = placed.get(outBox);
            s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " " + tile.box() + " (tile " + (t + 1) + "/" + sp.tiles().size() + ")",
                ins, List.of(), List.of(ob.id), tile, -1));
            s.out.readAll(ins, id);
            s.out.written(ob, id);
            for (String v : bx.keySet()) held.add(placed.get(v + "#box" + i + "." + t));
            int sid = s.out.next();
            s.out.add(new Task.Transfer(sid, d, LaneKind.D2H, ob.id, host, ob.bytes, "d2h " + out + " " + tile.box() + " from " + devName, tiling.outputBox(tile.box())));
            s.out.read(ob.id, sid);
            if (prevScatter >= 0) s.out.edge(prevScatter, sid, Edge.Kind.DATA);
            s.out.buffer(host).writer = sid;
            held.add(ob);
            prevScatter = sid;
        }
        for (DraftBuffer b : held) res.free(d, b);
        res.hostCopy.put(out, host);
        s.releaseDead(i, this);
    }
}
