package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
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
 * only copy). Per band: an H2D rows transfer per banded value into a band buffer, the kernel into an output band
 * buffer, a D2H rows transfer of that into the output's host copy. A band's buffers are freed once the next band's
 * are placed (beside them when there is room, so that copies and kernels of neighbouring bands overlap; else in their
 * regions, memory edges ordering the reuse). Invariant: the D2H transfers are chained, so the last one stands for
 * the whole output, which exists only on the host afterwards.
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
        for (String v : banded.keySet()) res.hostCopyOf(v);
        int host = s.out.hostBuffer(out);
        int prevScatter = -1;
        List<DraftBuffer> held = new ArrayList<>();
        String devName = res.on(d).name();
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            // this band's buffers: one per banded value, then the output band
            Map<String, Long> want = new LinkedHashMap<>();
            Map<String, long[]> rowsOf = new HashMap<>();
            for (var e : banded.entrySet()) {
                long[] ab = e.getValue().rowsFor(tile.start(), tile.end());
                rowsOf.put(e.getKey(), ab);
                want.put(e.getKey() + "#rows" + i + "." + t, Tensor.blockBytes((ab[1] - ab[0]) * e.getValue().rowBytes()));
            }
            String outBand = out + "#rows" + i + "." + t;
            want.put(outBand, Tensor.blockBytes((tile.end() - tile.start()) * f.outRowBytes()));
            // Double buffering: this band's buffers in free memory beside the previous band's, so that its gathers
            // overlap the previous kernel and its kernel the previous scatter; else after freeing those.
            Map<String, DraftBuffer> placed = held.isEmpty() ? null : res.placeFree(d, want);
            for (DraftBuffer b : held) res.free(d, b);
            held.clear();
            if (placed == null) placed = res.placeBands(d, want, whole, pinned, n.label(), need);
            for (var e : banded.entrySet()) {
                String v = e.getKey();
                long[] ab = rowsOf.get(v);
                DraftBuffer b = placed.get(v + "#rows" + i + "." + t);
                int src = res.hostCopy.get(v);
                int id = s.out.next();
                s.out.add(new Task.Transfer(id, d, LaneKind.H2D, src, b.id, b.bytes,
                    "h2d " + v + " rows [" + ab[0] + ":" + ab[1] + "] to " + devName, ab[0], ab[1], true));
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
            s.out.add(new Task.Transfer(sid, d, LaneKind.D2H, ob.id, host, ob.bytes,
                "d2h " + out + " rows [" + tile.start() + ":" + tile.end() + "] from " + devName, tile.start(), tile.end(), true));
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
