package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An unsplit node on a device with its own memory: its inputs (and what its subgraphs capture) made resident and
 * pinned, its outputs placed beside them, one kernel task. When the arena is too fragmented for the pieces, the
 * device is emptied and the node placed again: its need was checked against the budget, so an empty arena fits it.
 */
record WholeNodeTasks(BuildState s, int i) implements NodeTasks {
    @Override public long need() { return BuildState.nodeNeed(s.g, s.node(i)); }

    @Override public List<String> reads() {
        Node n = s.node(i);
        Set<String> r = new LinkedHashSet<>(BuildState.distinctInputs(n));
        r.addAll(MemGraph.capturedNames(n, s.g));
        return new ArrayList<>(r);
    }

    @Override public List<String> prefetched() { return reads(); }

    @Override public String splitNote() { return ""; }

    @Override public void emit() {
        Node n = s.node(i);
        int d = s.placement[i];
        Residency.Held D = s.res.on(d);
        List<String> need = reads();
        Map<String, DraftBuffer> outBufs = place(d, need);
        if (outBufs == null) {
            // Fragmentation: the free bytes suffice but not in one piece. Empty the device and place again.
            s.res.evictUnless(d, v -> false);
            outBufs = place(d, need);
            if (outBufs == null) throw new IllegalStateException("node " + n.label() + " does not fit an empty arena");
        }
        int id = s.out.next();
        List<Integer> ins = new ArrayList<>(), outs = new ArrayList<>(), cap = new ArrayList<>();
        for (String v : n.inputs()) ins.add(v.isEmpty() ? -1 : D.get(v).id);
        for (String v : MemGraph.capturedNames(n, s.g)) cap.add(D.holds(v) ? D.get(v).id : -1);
        for (String o : n.outputs()) outs.add(o.isEmpty() ? -1 : outBufs.get(o).id);
        s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label(), ins, cap, outs, null, -1));
        for (String v : need) s.out.read(D.get(v).id, id);
        for (DraftBuffer b : outBufs.values()) s.out.written(b, id);
        for (String o : n.outputs()) if (!o.isEmpty()) s.res.publish(d, o, outBufs.get(o));
        s.releaseDead(i, this);
    }

    /**
     * Makes the node's inputs resident on device d and places its outputs; null if the arena is too fragmented.
     * Inputs already resident are pinned first so that eviction never removes what this node reads.
     */
    private Map<String, DraftBuffer> place(int d, List<String> need) {
        Residency.Held D = s.res.on(d);
        Set<String> pinned = new HashSet<>();
        for (String v : need) if (D.holds(v)) pinned.add(v);
        for (String v : need) {
            if (D.holds(v)) continue;
            if (!s.res.load(d, v, pinned, true)) return null;
            pinned.add(v);
        }
        Map<String, DraftBuffer> outs = new LinkedHashMap<>();
        for (String o : s.node(i).outputs()) {
            if (o.isEmpty() || outs.containsKey(o)) continue;
            DraftBuffer b = s.res.allocate(d, o, s.blockBytes(o), pinned, true);
            if (b == null) {
                for (DraftBuffer x : outs.values()) s.res.free(d, x);
                return null;
            }
            outs.put(o, b);
        }
        return outs;
    }
}
