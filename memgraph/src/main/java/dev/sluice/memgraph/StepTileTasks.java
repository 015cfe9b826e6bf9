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
 * A recurrent node split by time steps ({@link Tile.Kind#TIME_STEPS}): one kernel task per step range, in the order
 * the steps run (a reverse node from the last range). X stays resident while it fits beside the rest (each tile
 * reads a view of its range), else each tile copies its range from X's host copy. The other inputs are loaded whole
 * and pinned; Y is placed whole and each tile writes its steps in place. Tile t hands its state to tile t + 1 in
 * buffers of their own (a data edge), freed once read; the last tile writes the node's Y_h / Y_c. Invariant: every
 * range buffer has the widest range's size, so each fits the hole the previous one left.
 */
record StepTileTasks(BuildState s, int i) implements NodeTasks {
    /**
     * Its whole Y, every input but X whole, the widest tile's range of X, and a state buffer in and out per state
     * tensor (the last tile's "out" is the node's Y_h / Y_c).
     */
    @Override public long need() {
        Node n = s.node(i);
        long b = 2L * Tile.stateCount(n) * stateBytes(n);
        if (!n.outputs().getFirst().isEmpty()) b += s.blockBytes(n.outputs().getFirst());
        Set<String> seen = new HashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty() || !seen.add(v)) continue;
            b += k == 0 ? Tensor.blockBytes(widest() * xStepBytes(n)) : s.blockBytes(v);
        }
        return b;
    }

    private long widest() { return s.split(i).tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0); }

    /** Bytes of one time step of a recurrent node's X (layout 0: batch x input size floats). */
    private long xStepBytes(Node n) {
        var xs = s.g.typeOf(n.inputs().getFirst()).shape().toShape();
        return xs.dim(1) * xs.dim(2) * Float.BYTES;
    }

    /** Bytes of one state buffer of a recurrent node ([1, batch, hidden] floats). */
    private long stateBytes(Node n) {
        long batch = s.g.typeOf(n.inputs().getFirst()).shape().toShape().dim(1);
        long hidden = s.g.typeOf(n.inputs().get(2)).shape().toShape().dim(2);
        return Tensor.blockBytes(batch * hidden * Float.BYTES);
    }

    @Override public List<String> reads() { return BuildState.distinctInputs(s.node(i)); }

    @Override public List<String> prefetched() { return reads(); }

    @Override public String splitNote() { return ", its weight split into " + s.split(i).tiles().size() + " tiles"; }

    @Override public void emit() {
        Node n = s.node(i);
        Node tn = Tile.stepNode(n);
        Tiling.Split sp = s.split(i);
        int d = s.placement[i];
        Residency res = s.res;
        Residency.Held D = res.on(d);
        String devName = D.name();
        String x = n.inputs().getFirst();
        String y = n.outputs().getFirst();
        int states = Tile.stateCount(n);
        long xStep = xStepBytes(n), stateBytes = stateBytes(n);
        Set<String> consts = new LinkedHashSet<>();
        for (int k = 1; k < n.inputs().size(); k++) if (!n.inputs().get(k).isEmpty() && !n.inputs().get(k).equals(x)) consts.add(n.inputs().get(k));
        long slice = Tensor.blockBytes(widest() * xStep);
        long perTile = slice + 2L * states * stateBytes;
        long need = 2L * states * stateBytes + (y.isEmpty() ? 0 : s.blockBytes(y));
        for (String v : consts) need += s.blockBytes(v);
        RecurrentPlacement placed = RecurrentPlacement.place(s, i, true, need, consts, perTile, slice, need());
        boolean kept = placed.xKept();
        DraftBuffer yBuf = placed.y();
        Set<String> pinned = placed.pinned();
        // The state each tile reads: the node's initial state for the first, then the previous tile's.
        int[] stateIn = new int[states];
        DraftBuffer[] handed = new DraftBuffer[states];
        for (int st = 0; st < states; st++) {
            String v = n.inputs().size() > Tile.STATE_INPUT + st ? n.inputs().get(Tile.STATE_INPUT + st) : "";
            stateIn[st] = v.isEmpty() ? -1 : D.get(v).id;
        }
        Map<String, DraftBuffer> finals = new LinkedHashMap<>();
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            boolean last = t == sp.tiles().size() - 1;
            DraftBuffer range = null;
            if (!kept) {
                res.hostCopyOf(x);
                String rn = x + "#range" + i + "." + t;
                long start = tile.start() * (xStep / Float.BYTES), end = tile.end() * (xStep / Float.BYTES);
                range = res.allocateOrFree(d, rn, slice, pinned, n.label(), t, need());
                int src = res.hostCopy.get(x);
                int id = s.out.next();
                s.out.add(new Task.Transfer(id, d, LaneKind.H2D, src, range.id, range.bytes,
                    "h2d " + x + "[" + start + ":" + end + "] to " + devName, start, end));
                s.out.read(src, id);
                s.out.written(range, id);
                pinned.add(rn);
            }
            DraftBuffer[] out = new DraftBuffer[states];
            for (int st = 0; st < states; st++) {
                String o = n.outputs().size() > 1 + st ? n.outputs().get(1 + st) : "";
                if (last && o.isEmpty()) continue; // nobody reads the final state
                String name = last ? o : (y.isEmpty() ? n.label() : y) + "#state" + i + "." + t + "." + st;
                out[st] = res.allocateOrFree(d, name, last ? s.blockBytes(o) : stateBytes, pinned, n.label(), t, need());
                pinned.add(name);
                if (last) finals.put(o, out[st]);
            }
            int id = s.out.next();
            List<Integer> ins = new ArrayList<>();
            for (int k = 0; k < tn.inputs().size(); k++) {
                String v = tn.inputs().get(k);
                if (k == 0) ins.add(kept ? D.get(x).id : range.id);
                else if (k >= Tile.STATE_INPUT && k < Tile.STATE_INPUT + states) ins.add(stateIn[k - Tile.STATE_INPUT]);
                else ins.add(v.isEmpty() ? -1 : D.get(v).id);
            }
            List<Integer> outs = new ArrayList<>();
            outs.add(yBuf == null ? -1 : yBuf.id);
            for (DraftBuffer b : out) outs.add(b == null ? -1 : b.id);
            s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " steps " + tile.start() + ":" + tile.end() + " (" + (t + 1) + "/"
                + sp.tiles().size() + ")", ins, List.of(), outs, tile, -1));
            s.out.readAll(ins, id);
            if (yBuf != null) s.out.continued(yBuf, prev, id);
            else if (prev >= 0) s.out.edge(prev, id, Edge.Kind.DATA);
            for (DraftBuffer b : out) if (b != null) s.out.written(b, id);
            if (range != null) { res.free(d, range); pinned.remove(range.value); }
            for (int st = 0; st < states; st++) {
                if (handed[st] != null) { res.free(d, handed[st]); pinned.remove(handed[st].value); }
                handed[st] = last ? null : out[st];
                stateIn[st] = out[st] == null ? -1 : out[st].id;
            }
            prev = id;
        }
        RecurrentPlacement.publish(s, d, y, yBuf, finals);
        s.releaseDead(i, this);
    }
}
