package dev.sluice.memgraph;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A same-shape elementwise node split by element ranges ({@link Tile.Kind#ELEMENTS}). Its activation inputs stay
 * resident (each tile reads a view of its range) as long as they fit beside the whole output; the largest are
 * evicted (offloaded if the device held their only copy) until they do. An input that is not resident is read
 * range by range: each tile copies its range from the host copy into a block of its own, freed right after the
 * tile. Every tile writes its range of the output in place. Invariant: the constants (inputs not ranged) and the
 * output stay pinned for all tiles.
 */
record ElementTileTasks(BuildState s, int i) implements NodeTasks {
    /** The whole output, the constants, and one range of each activation input not kept resident. */
    @Override public long need() {
        Tiling.Split sp = s.split(i);
        Node n = s.node(i);
        long widest = widest(sp);
        long b = s.blockBytes(n.outputs().getFirst());
        Set<String> seen = new HashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty() || !seen.add(v)) continue;
            b += sp.rangedInputs().contains(k) ? Tensor.blockBytes(widest * elementBytes()) : s.blockBytes(v);
        }
        return b;
    }

    /** Bytes of one element of the ranges: the output's type, which every ranged input has (Tiling's element form). */
    private long elementBytes() { return s.g.typeOf(s.node(i).outputs().getFirst()).dtype().byteSize(); }

    private static long widest(Tiling.Split sp) { return sp.tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0); }

    @Override public List<String> reads() { return BuildState.distinctInputs(s.node(i)); }

    /** Nothing: its inputs are read range by range. */
    @Override public List<String> prefetched() { return List.of(); }

    @Override public String splitNote() { return ", its weight split into " + s.split(i).tiles().size() + " tiles"; }

    @Override public void emit() {
        Node n = s.node(i);
        Tiling.Split sp = s.split(i);
        int d = s.placement[i];
        Residency res = s.res;
        Residency.Held D = res.on(d);
        String out = n.outputs().getFirst();
        String devName = D.name();
        Set<String> ranged = new LinkedHashSet<>(), consts = new LinkedHashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty()) continue;
            (sp.rangedInputs().contains(k) ? ranged : consts).add(v);
        }
        long es = elementBytes();
        long slice = Tensor.blockBytes(widest(sp) * es);
        Set<String> pinned = new HashSet<>();
        for (String v : consts) {
            if (D.holds(v)) { pinned.add(v); continue; }
            if (!res.load(d, v, pinned, true)) {
                res.evictUnless(d, r -> pinned.contains(r) || ranged.contains(r));
                if (!res.load(d, v, pinned, true)) throw new MemGraphException("node " + n.label() + ": no room for " + v, need());
            }
            pinned.add(v);
        }
        long need = s.blockBytes(out);
        for (String v : consts) need += D.get(v).bytes;
        List<String> kept = new ArrayList<>();
        for (String v : ranged) {
            if (D.holds(v)) { kept.add(v); need += D.get(v).bytes; } else need += slice;
        }
        kept.sort((a, b) -> Long.compare(D.get(b).bytes, D.get(a).bytes));
        while (need > D.capacity() && !kept.isEmpty()) {
            String v = kept.removeFirst();
            need += slice - D.get(v).bytes;
            res.evict(d, v);
        }
        pinned.addAll(kept);
        DraftBuffer outBuf = res.allocate(d, out, s.blockBytes(out), pinned, true);
        if (outBuf == null) {
            res.evictUnless(d, pinned::contains);
            outBuf = res.allocate(d, out, s.blockBytes(out), pinned, true);
            while (outBuf == null && !kept.isEmpty()) {
                String v = kept.removeFirst();
                pinned.remove(v);
                res.evict(d, v);
                outBuf = res.allocate(d, out, s.blockBytes(out), pinned, true);
            }
            // Free bytes enough but split by a pinned constant (a scalar left mid-arena by earlier nodes): the
            // constants make room and are loaded again behind the output.
            if (outBuf == null) outBuf = res.allocateBeside(d, out, s.blockBytes(out), pinned, List.copyOf(consts));
            if (outBuf == null) throw new MemGraphException("node " + n.label() + ": no room for its output on '" + devName + "'", need());
        }
        pinned.add(out);
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            long len = tile.end() - tile.start();
            Map<String, DraftBuffer> ranges = new LinkedHashMap<>();
            List<String> todo = new ArrayList<>();
            for (String v : ranged) if (!kept.contains(v)) todo.add(v);
            for (int q = 0; q < todo.size(); q++) {
                String v = todo.get(q);
                res.hostCopyOf(v);
                String rn = v + "#range" + i + "." + t;
                DraftBuffer b = res.allocate(d, rn, Tensor.blockBytes(len * es), pinned, true);
                if (b == null) {
                    res.evictUnless(d, pinned::contains);
                    b = res.allocate(d, rn, Tensor.blockBytes(len * es), pinned, true);
                    while (b == null && !kept.isEmpty()) {
                        String k = kept.removeFirst();
                        pinned.remove(k);
                        res.evict(d, k); // from now on read range by range from its host copy
                        todo.add(k);
                        b = res.allocate(d, rn, Tensor.blockBytes(len * es), pinned, true);
                    }
                    if (b == null) throw new MemGraphException("tile " + t + " of node " + n.label() + " does not fit the arena of '"
                        + devName + "' next to its output", need());
                }
                int src = res.hostCopy.get(v);
                int id = s.out.next();
                s.out.add(new Task.Transfer(id, d, dev.sluice.kernels.device.LaneKind.H2D, src, b.id, b.bytes,
                    "h2d " + v + "[" + tile.start() + ":" + tile.end() + "] to " + devName, tile.start(), tile.end()));
                s.out.read(src, id);
                s.out.written(b, id);
                ranges.put(v, b);
            }
            int id = s.out.next();
            List<Integer> ins = new ArrayList<>();
            for (String v : n.inputs()) {
                if (v.isEmpty()) ins.add(-1);
                else if (ranges.containsKey(v)) ins.add(ranges.get(v).id);
                else ins.add(D.get(v).id);
            }
            s.out.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " tile " + (t + 1) + "/" + sp.tiles().size(), ins, List.of(),
                List.of(outBuf.id), tile, -1));
            s.out.readAll(ins, id);
            s.out.continued(outBuf, prev, id);
            for (DraftBuffer b : ranges.values()) res.free(d, b);
            prev = id;
        }
        res.publish(d, out, outBuf);
        s.releaseDead(i, this);
    }
}
