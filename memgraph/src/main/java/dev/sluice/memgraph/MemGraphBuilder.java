package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Builds a {@link MemGraph} by simulating the graph's node order once. The simulation decides residency
 * (what is on which device when), picks victims when a device is full, and records for every region of a
 * device arena who used it, so that each new occupant can be made to wait for all uses of the previous one.
 * The order of the simulation only fixes those choices; the edges it emits allow any other order.
 */
final class MemGraphBuilder {
    /** How many nodes ahead weights and offloaded values are fetched into free memory (never by evicting). */
    private static final int PREFETCH_NODES = 4;
    private static final int NEVER = Integer.MAX_VALUE;

    private final Graph g;
    private final Map<Integer, Tiling.Split> splits;
    private final List<DeviceSpec> devices;
    private final int[] placement;
    private final List<Node> nodes;
    private final Map<String, int[]> uses = new HashMap<>();
    private final Set<String> graphOutputs = new HashSet<>();

    private final List<Buf> bufs = new ArrayList<>();
    private final List<Task> tasks = new ArrayList<>();
    private final List<Edge> edges = new ArrayList<>();
    private final Set<Long> edgeKeys = new HashSet<>();
    private final Map<String, Integer> hostCopy = new HashMap<>();
    private final Map<String, Integer> sources = new LinkedHashMap<>();
    private final Map<String, Integer> results = new LinkedHashMap<>();
    private final Dev[] dev;
    private int now;

    /** A buffer under construction: its writer, readers, and the tasks its writer must wait for. */
    private static final class Buf {
        final int id; final String value; final int device; final long offset, bytes;
        int writer = -1;
        final List<Integer> readers = new ArrayList<>();
        final Set<Integer> waits = new LinkedHashSet<>();
        Buf(int id, String value, int device, long offset, long bytes) {
            this.id = id; this.value = value; this.device = device; this.offset = offset; this.bytes = bytes;
        }
    }

    /** A freed region and every task that touched its last occupant. */
    private record Tenancy(long start, long end, int[] tasks) {}

    /** Simulation state of one device with its own memory. */
    private static final class Dev {
        final DeviceSpec spec;
        final long capacity;
        final TreeMap<Long, Long> holes = new TreeMap<>();
        final Map<String, Buf> resident = new LinkedHashMap<>();
        final List<Tenancy> freed = new ArrayList<>();
        final Set<String> everResident = new HashSet<>();
        long used, peak;
        Dev(DeviceSpec spec) {
            this.spec = spec;
            this.capacity = spec.budgetBytes() / Tensor.ALIGNMENT * Tensor.ALIGNMENT;
            holes.put(0L, capacity);
        }

        long firstFit(long bytes) {
            for (var h : holes.entrySet()) if (h.getValue() >= bytes) return h.getKey();
            return -1;
        }

        void take(long off, long bytes) {
            long size = holes.remove(off);
            if (size > bytes) holes.put(off + bytes, size - bytes);
            used += bytes;
            peak = Math.max(peak, used);
        }

        void give(long off, long bytes) {
            long start = off, size = bytes;
            var before = holes.floorEntry(off);
            if (before != null && before.getKey() + before.getValue() == off) {
                start = before.getKey(); size += before.getValue(); holes.remove(before.getKey());
            }
            Long after = holes.get(off + bytes);
            if (after != null) { size += after; holes.remove(off + bytes); }
            holes.put(start, size);
            used -= bytes;
        }
    }

    MemGraphBuilder(Graph g, List<DeviceSpec> devices, int[] placement) {
        if (devices.isEmpty() || !devices.get(0).kind().sharesHostMemory()) {
            throw new IllegalArgumentException("device 0 of a memory graph must be the host CPU");
        }
        if (placement.length != g.nodes().size()) {
            throw new IllegalArgumentException("placement has " + placement.length + " entries for " + g.nodes().size() + " nodes");
        }
        Map<String, Long> whole = new HashMap<>();
        for (int i = 0; i < g.nodes().size(); i++) {
            if (!devices.get(placement[i]).kind().sharesHostMemory()) whole.put(g.nodes().get(i).label(), nodeNeed(g, g.nodes().get(i)));
        }
        Map<String, Tensor> inits = new LinkedHashMap<>(g.initializers());
        this.splits = Tiling.plan(g, placement, devices, whole, inits);
        this.g = splits.isEmpty() ? g : g.withNodes(g.nodes(), inits, g.types());
        this.devices = List.copyOf(devices);
        this.placement = placement.clone();
        this.nodes = g.nodes();
        this.dev = new Dev[devices.size()];
        for (int d = 0; d < devices.size(); d++) {
            if (placement.length > 0 && (Arrays.stream(placement).anyMatch(p -> p < 0 || p >= devices.size()))) {
                throw new IllegalArgumentException("placement names a device that is not in the list");
            }
            if (!devices.get(d).kind().sharesHostMemory()) dev[d] = new Dev(devices.get(d));
        }
        Map<String, List<Integer>> u = new HashMap<>();
        for (int i = 0; i < nodes.size(); i++) {
            for (String v : needed(i)) u.computeIfAbsent(v, k -> new ArrayList<>()).add(i);
        }
        u.forEach((k, v) -> uses.put(k, v.stream().mapToInt(Integer::intValue).toArray()));
        for (Value v : g.outputs()) graphOutputs.add(v.name());
    }

    /** The largest need of any node, split into tiles as finely as allowed where it can be. */
    static long minimumBudget(Graph g, boolean withBoxes) {
        long m = 0;
        for (Node n : g.nodes()) {
            long whole = nodeNeed(g, n);
            m = Math.max(m, withBoxes ? Tiling.smallestNeedOf(g, n, whole) : Tiling.withoutBoxes(g, n, whole));
        }
        return m;
    }

    /** What node i needs at once as planned: its largest tile when it is split. */
    private long plannedNeed(int i) {
        Tiling.Split sp = splits.get(i);
        if (sp == null) return nodeNeed(g, nodes.get(i));
        if (boxes(sp)) return sp.box().need();
        if (units(sp)) return unitNeed(i);
        if (steps(sp)) return stepNeed(i);
        if (rows(sp)) return rowNeed(i);
        if (elements(sp)) {
            // The whole output, the constants, and one range of each activation input not kept resident.
            Node n = nodes.get(i);
            long widest = sp.tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0);
            long s = blockBytes(g, n.outputs().getFirst());
            Set<String> seen = new HashSet<>();
            for (int k = 0; k < n.inputs().size(); k++) {
                String v = n.inputs().get(k);
                if (v.isEmpty() || !seen.add(v)) continue;
                s += sp.rangedInputs().contains(k) ? Tensor.blockBytes(widest * Float.BYTES) : blockBytes(g, v);
            }
            return s;
        }
        long most = 0;
        for (int t = 0; t < sp.tiles().size(); t++) {
            long s = sp.scratchBytes();
            for (String v : tileNeeded(i, t)) s += blockBytes(g, v);
            for (String o : nodes.get(i).outputs()) if (!o.isEmpty()) s += blockBytes(g, o);
            most = Math.max(most, s);
        }
        return most;
    }

    private static boolean elements(Tiling.Split sp) { return sp.tiles().getFirst().kind() == Tile.Kind.ELEMENTS; }

    private static boolean boxes(Tiling.Split sp) { return sp.box() != null; }

    private static boolean rows(Tiling.Split sp) { return sp.tiles().getFirst().kind() == Tile.Kind.OUTPUT_ROWS; }

    /** What row-split node i needs at once: its whole inputs, and its largest band's input and output bands. */
    private long rowNeed(int i) {
        RowBands.Form f = RowBands.form(g, nodes.get(i));
        long most = 0;
        for (Tile t : splits.get(i).tiles()) most = Math.max(most, RowBands.tileNeed(f, t.start(), t.end()));
        return most;
    }

    private static boolean steps(Tiling.Split sp) { return sp.tiles().getFirst().kind() == Tile.Kind.TIME_STEPS; }

    private static boolean units(Tiling.Split sp) { return sp.tiles().getFirst().kind() == Tile.Kind.HIDDEN_UNITS; }

    /** Values tile t of split node i reads: the node's other inputs and the tile's blocks (an elementwise tile: its inputs). */
    private List<String> tileNeeded(int i, int t) {
        Tiling.Split sp = splits.get(i);
        Node n = nodes.get(i);
        if (units(sp)) return unitTileNeeded(i, t);
        if (boxes(sp)) {
            Set<String> r = new LinkedHashSet<>();
            // a K tile's partial sums are the node's own output (ReductionCut), gathered by boxNode, not needed
            for (String v : sp.box().tiling().node(sp.tiles().get(t).box()).inputs()) if (!v.isEmpty() && !v.equals(n.outputs().getFirst())) r.add(v);
            return new ArrayList<>(r);
        }
        if (elements(sp) || rows(sp)) {
            Set<String> r = new LinkedHashSet<>();
            for (String v : n.inputs()) if (!v.isEmpty()) r.add(v);
            return new ArrayList<>(r);
        }
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

    private static long nodeNeed(Graph g, Node n) {
        long s = 0;
        Set<String> in = new LinkedHashSet<>();
        for (String v : n.inputs()) if (!v.isEmpty()) in.add(v);
        for (Graph sg : n.subgraphs()) in.addAll(sg.capturedNames());
        for (String v : in) s += blockBytes(g, v);
        for (String o : n.outputs()) if (!o.isEmpty()) s += blockBytes(g, o);
        return s;
    }

    private static long blockBytes(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return Tensor.blockBytes(c.byteSize());
        TensorType t = g.typeOf(v);
        if (!t.isStatic()) {
            throw new MemGraphException("value '" + v + "' has type " + t + ", not a static shape: a device with its own memory"
                + " needs every size before running (run through a session, which specializes shapes to the inputs)", -1);
        }
        return Tensor.blockBytes(Tensor.byteSize(t.dtype(), t.shape().toShape()));
    }

    /** Values node i reads: its inputs and what its subgraphs capture, each once. */
    private List<String> needed(int i) {
        Tiling.Split sp = splits.get(i);
        if (sp != null) {
            Set<String> r = new LinkedHashSet<>();
            for (int t = 0; t < sp.tiles().size(); t++) r.addAll(tileNeeded(i, t));
            return new ArrayList<>(r);
        }
        Node n = nodes.get(i);
        Set<String> r = new LinkedHashSet<>();
        for (String v : n.inputs()) if (!v.isEmpty()) r.add(v);
        r.addAll(MemGraph.capturedNames(n, g));
        return new ArrayList<>(r);
    }

    private int nextUse(String v, int after) {
        int[] u = uses.get(v);
        if (u == null) return NEVER;
        int k = Arrays.binarySearch(u, after + 1);
        if (k < 0) k = -k - 1;
        return k < u.length ? u[k] : NEVER;
    }

    MemGraph build() {
        for (Value v : g.inputs()) sources.put(v.name(), hostBuf(v.name(), -1));
        for (String w : g.initializers().keySet()) if (!sources.containsKey(w)) sources.put(w, hostBuf(w, -1));
        sources.forEach(hostCopy::put);
        for (int d = 0; d < dev.length; d++) {
            if (dev[d] == null) continue;
            for (int i = 0; i < nodes.size(); i++) {
                if (placement[i] != d) continue;
                long need = plannedNeed(i);
                if (need > dev[d].capacity) {
                    long min = 0;
                    for (int j = 0; j < nodes.size(); j++) {
                        if (placement[j] == d) min = Math.max(min, Tiling.smallestNeedOf(g, nodes.get(j), nodeNeed(g, nodes.get(j))));
                    }
                    throw new MemGraphException("a budget of " + devices.get(d).budgetBytes() + " bytes on '" + devices.get(d).name()
                        + "' is too small: node " + nodes.get(i).label() + " needs " + need + " bytes at once (its inputs and outputs"
                        + (splits.containsKey(i) ? (boxes(splits.get(i)) ? ", split into " + splits.get(i).tiles().size() + " tiles of its output, the largest "
                            + splits.get(i).tiles().getFirst().box().extents() : rows(splits.get(i)) ? ", split into " + splits.get(i).tiles().size() + " bands of output rows"
                            : ", its weight split into " + splits.get(i).tiles().size() + " tiles") : "")
                        + "); this graph needs at least " + min + " bytes, with large weights split into tiles", min);
                }
            }
        }
        for (int i = 0; i < nodes.size(); i++) {
            now = i;
            if (dev[placement[i]] == null) hostNode(i);
            else if (splits.containsKey(i) && boxes(splits.get(i))) boxNode(i);
            else if (splits.containsKey(i) && units(splits.get(i))) unitNode(i);
            else if (splits.containsKey(i) && steps(splits.get(i))) timeStepNode(i);
            else if (splits.containsKey(i) && elements(splits.get(i))) elementNode(i);
            else if (splits.containsKey(i) && rows(splits.get(i))) rowNode(i);
            else if (splits.containsKey(i)) tiledNode(i);
            else deviceNode(i);
            prefetch(i);
        }
        for (Value v : g.outputs()) {
            Integer h = hostCopy.get(v.name());
            if (h == null) throw new MemGraphException("graph output '" + v.name() + "' is never produced", -1);
            results.put(v.name(), h);
        }
        List<Buffer> buffers = bufs.stream().map(b -> new Buffer(b.id, b.value, b.device, b.offset, b.bytes)).toList();
        List<Long> peaks = new ArrayList<>();
        for (Dev d : dev) peaks.add(d == null ? 0L : d.peak);
        return new MemGraph(g, devices, buffers, tasks, edges, sources, results, peaks);
    }

    // ---- nodes ----

    private void hostNode(int i) {
        Node n = nodes.get(i);
        for (String v : needed(i)) if (!hostCopy.containsKey(v)) copyToHost(v, LaneKind.D2H, false);
        int id = tasks.size();
        List<Integer> ins = new ArrayList<>(), outs = new ArrayList<>(), cap = new ArrayList<>();
        for (String v : n.inputs()) ins.add(v.isEmpty() ? -1 : hostCopy.get(v));
        for (String v : MemGraph.capturedNames(n, g)) cap.add(hostCopy.getOrDefault(v, -1));
        for (String o : n.outputs()) {
            if (o.isEmpty()) { outs.add(-1); continue; }
            int b = hostBuf(o, 0);
            bufs.get(b).writer = id;
            hostCopy.put(o, b);
            outs.add(b);
        }
        tasks.add(new Task.Kernel(id, 0, i, "kernel " + n.label(), ins, cap, outs, null, -1));
        for (String v : needed(i)) read(hostCopy.get(v), id);
        releaseDead(i, n);
    }

    private void deviceNode(int i) {
        Node n = nodes.get(i);
        int d = placement[i];
        Dev D = dev[d];
        List<String> need = needed(i);
        Map<String, Buf> outBufs = placeNode(i, d, need, false);
        if (outBufs == null) {
            // Fragmentation: the free bytes suffice but not in one piece. Empty the device and place again;
            // the node's need was checked against the budget, so an empty arena always fits it.
            for (String v : new ArrayList<>(D.resident.keySet())) evict(d, v);
            outBufs = placeNode(i, d, need, true);
            if (outBufs == null) throw new IllegalStateException("node " + n.label() + " does not fit an empty arena");
        }
        int id = tasks.size();
        List<Integer> ins = new ArrayList<>(), outs = new ArrayList<>(), cap = new ArrayList<>();
        for (String v : n.inputs()) ins.add(v.isEmpty() ? -1 : D.resident.get(v).id);
        for (String v : MemGraph.capturedNames(n, g)) cap.add(D.resident.containsKey(v) ? D.resident.get(v).id : -1);
        for (String o : n.outputs()) {
            if (o.isEmpty()) { outs.add(-1); continue; }
            Buf b = outBufs.get(o);
            outs.add(b.id);
        }
        tasks.add(new Task.Kernel(id, d, i, "kernel " + n.label(), ins, cap, outs, null, -1));
        for (String v : need) read(D.resident.get(v).id, id);
        for (Buf b : outBufs.values()) written(b, id);
        for (String o : n.outputs()) {
            if (o.isEmpty()) continue;
            D.resident.put(o, outBufs.get(o));
            D.everResident.add(o);
            if (graphOutputs.contains(o)) copyToHost(o, LaneKind.D2H, false);
        }
        releaseDead(i, n);
    }

    /**
     * A split node: one kernel task per tile, chained. Each tile loads its weight block (evicting others'
     * values if it must, never the node's shared inputs or its partly written output), runs, and frees the
     * block, so the node's need is that of its largest tile, not of the whole weight.
     */
    private void tiledNode(int i) {
        Node n = nodes.get(i);
        Tiling.Split sp = splits.get(i);
        int d = placement[i];
        Dev D = dev[d];
        String out = n.outputs().getFirst();
        Set<String> pinned = new HashSet<>();
        Buf outBuf = null;
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            List<String> need = tileNeeded(i, t);
            for (String v : need) if (D.resident.containsKey(v)) pinned.add(v);
            for (String v : need) {
                if (D.resident.containsKey(v)) continue;
                if (!load(d, v, pinned, true)) {
                    // Fragmentation: evict everything this node does not hold and try once more.
                    for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r)) evict(d, r);
                    if (!load(d, v, pinned, true)) throw new MemGraphException("tile " + t + " of node " + n.label()
                        + " does not fit the arena of '" + D.spec.name() + "' next to its output", plannedNeed(i));
                }
                pinned.add(v);
            }
            List<String> blocks = need;
            if (outBuf == null) {
                outBuf = allocateBeside(d, out, blockBytes(g, out), pinned, blocks);
                if (outBuf == null) throw new MemGraphException("node " + n.label() + ": no room for its output on '" + D.spec.name() + "'", plannedNeed(i));
                pinned.add(out);
            }
            Buf scratch = null;
            if (sp.scratchBytes() > 0) {
                scratch = allocateBeside(d, out + "#scratch", sp.scratchBytes(), pinned, blocks);
                if (scratch == null) throw new MemGraphException("node " + n.label() + ": no room for a tile's scratch on '" + D.spec.name() + "'", plannedNeed(i));
            }
            int id = tasks.size();
            List<Integer> ins = new ArrayList<>();
            for (int k = 0; k < n.inputs().size(); k++) {
                String v = n.inputs().get(k);
                if (v.isEmpty()) { ins.add(-1); continue; }
                String actual = k == sp.weightInput() ? sp.weightBlocks().get(t) : k == sp.biasInput() ? sp.biasBlocks().get(t) : v;
                ins.add(D.resident.get(actual).id);
            }
            Tile tile = sp.tiles().get(t);
            tasks.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " tile " + (t + 1) + "/" + sp.tiles().size(), ins, List.of(),
                List.of(outBuf.id), tile, scratch == null ? -1 : scratch.id));
            for (String v : need) read(D.resident.get(v).id, id);
            if (prev < 0) written(outBuf, id); else { edge(prev, id, Edge.Kind.DATA); outBuf.writer = id; }
            if (scratch != null) { written(scratch, id); free(D, scratch); }
            // The block is this tile's alone: its region is free for the next block at once.
            String block = sp.weightBlocks().get(t);
            free(D, D.resident.remove(block));
            pinned.remove(block);
            if (sp.biasInput() >= 0) { free(D, D.resident.remove(sp.biasBlocks().get(t))); pinned.remove(sp.biasBlocks().get(t)); }
            prev = id;
            if (t + 1 < sp.tiles().size()) prefetchBlock(d, sp, t + 1, pinned);
        }
        D.resident.put(out, outBuf);
        D.everResident.add(out);
        if (graphOutputs.contains(out)) copyToHost(out, LaneKind.D2H, false);
        releaseDead(i, n);
    }

    /**
     * A same-shape elementwise node split by element ranges ({@link Tile.Kind#ELEMENTS}). Its activation inputs
     * stay resident (each tile reads a view of its range) as long as they fit beside the whole output; the
     * largest are evicted (offloaded if the device held their only copy) until they do. An input that is not
     * resident is read range by range: each tile copies its range from the host copy into a block of its own,
     * freed right after the tile. Every tile writes its range of the output in place.
     */
    private void elementNode(int i) {
        Node n = nodes.get(i);
        Tiling.Split sp = splits.get(i);
        int d = placement[i];
        Dev D = dev[d];
        String out = n.outputs().getFirst();
        String devName = D.spec.name();
        Set<String> ranged = new LinkedHashSet<>(), consts = new LinkedHashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty()) continue;
            (sp.rangedInputs().contains(k) ? ranged : consts).add(v);
        }
        long widest = sp.tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0);
        long slice = Tensor.blockBytes(widest * Float.BYTES);
        Set<String> pinned = new HashSet<>();
        for (String v : consts) {
            if (D.resident.containsKey(v)) { pinned.add(v); continue; }
            if (!load(d, v, pinned, true)) {
                for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r) && !ranged.contains(r)) evict(d, r);
                if (!load(d, v, pinned, true)) throw new MemGraphException("node " + n.label() + ": no room for " + v, plannedNeed(i));
            }
            pinned.add(v);
        }
        long need = blockBytes(g, out);
        for (String v : consts) need += D.resident.get(v).bytes;
        List<String> kept = new ArrayList<>();
        for (String v : ranged) {
            if (D.resident.containsKey(v)) { kept.add(v); need += D.resident.get(v).bytes; } else need += slice;
        }
        kept.sort((a, b) -> Long.compare(D.resident.get(b).bytes, D.resident.get(a).bytes));
        while (need > D.capacity && !kept.isEmpty()) {
            String v = kept.removeFirst();
            need += slice - D.resident.get(v).bytes;
            evict(d, v);
        }
        pinned.addAll(kept);
        Buf outBuf = allocate(d, out, blockBytes(g, out), pinned, true);
        if (outBuf == null) {
            for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r)) evict(d, r);
            outBuf = allocate(d, out, blockBytes(g, out), pinned, true);
            while (outBuf == null && !kept.isEmpty()) {
                String v = kept.removeFirst();
                pinned.remove(v);
                evict(d, v);
                outBuf = allocate(d, out, blockBytes(g, out), pinned, true);
            }
            if (outBuf == null) throw new MemGraphException("node " + n.label() + ": no room for its output on '" + devName + "'", plannedNeed(i));
        }
        pinned.add(out);
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            long len = tile.end() - tile.start();
            Map<String, Buf> ranges = new LinkedHashMap<>();
            List<String> todo = new ArrayList<>();
            for (String v : ranged) if (!kept.contains(v)) todo.add(v);
            for (int q = 0; q < todo.size(); q++) {
                String v = todo.get(q);
                if (!hostCopy.containsKey(v)) copyToHost(v, LaneKind.D2H, false);
                String rn = v + "#range" + i + "." + t;
                Buf b = allocate(d, rn, Tensor.blockBytes(len * Float.BYTES), pinned, true);
                if (b == null) {
                    for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r)) evict(d, r);
                    b = allocate(d, rn, Tensor.blockBytes(len * Float.BYTES), pinned, true);
                    while (b == null && !kept.isEmpty()) {
                        String k = kept.removeFirst();
                        pinned.remove(k);
                        evict(d, k); // from now on read range by range from its host copy
                        todo.add(k);
                        b = allocate(d, rn, Tensor.blockBytes(len * Float.BYTES), pinned, true);
                    }
                    if (b == null) throw new MemGraphException("tile " + t + " of node " + n.label() + " does not fit the arena of '"
                        + devName + "' next to its output", plannedNeed(i));
                }
                int src = hostCopy.get(v);
                int id = tasks.size();
                tasks.add(new Task.Transfer(id, d, LaneKind.H2D, src, b.id, b.bytes,
                    "h2d " + v + "[" + tile.start() + ":" + tile.end() + "] to " + devName, tile.start(), tile.end()));
                read(src, id);
                written(b, id);
                ranges.put(v, b);
            }
            int id = tasks.size();
            List<Integer> ins = new ArrayList<>();
            for (String v : n.inputs()) {
                if (v.isEmpty()) ins.add(-1);
                else if (ranges.containsKey(v)) ins.add(ranges.get(v).id);
                else ins.add(D.resident.get(v).id);
            }
            tasks.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " tile " + (t + 1) + "/" + sp.tiles().size(), ins, List.of(),
                List.of(outBuf.id), tile, -1));
            for (int b : new LinkedHashSet<>(ins)) if (b >= 0) read(b, id);
            if (prev < 0) written(outBuf, id); else { edge(prev, id, Edge.Kind.DATA); outBuf.writer = id; }
            for (Buf b : ranges.values()) free(D, b);
            prev = id;
        }
        D.resident.put(out, outBuf);
        D.everResident.add(out);
        if (graphOutputs.contains(out)) copyToHost(out, LaneKind.D2H, false);
        releaseDead(i, n);
    }

    /**
     * What a recurrent node split by time steps needs at once: its whole Y, every input but X whole, the
     * widest tile's range of X, and a state buffer in and out per state tensor (the last tile's "out" is the
     * node's Y_h / Y_c).
     */
    private long stepNeed(int i) {
        Tiling.Split sp = splits.get(i);
        Node n = nodes.get(i);
        long widest = sp.tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0);
        long s = 2L * Tile.stateCount(n) * stateBytes(n);
        if (!n.outputs().getFirst().isEmpty()) s += blockBytes(g, n.outputs().getFirst());
        Set<String> seen = new HashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty() || !seen.add(v)) continue;
            s += k == 0 ? Tensor.blockBytes(widest * xStepBytes(n)) : blockBytes(g, v);
        }
        return s;
    }

    /** Bytes of one time step of a recurrent node's X (layout 0: batch x input size floats). */
    private long xStepBytes(Node n) {
        var xs = g.typeOf(n.inputs().getFirst()).shape().toShape();
        return xs.dim(1) * xs.dim(2) * Float.BYTES;
    }

    /** Bytes of one state buffer of a recurrent node ([1, batch, hidden] floats). */
    private long stateBytes(Node n) {
        long batch = g.typeOf(n.inputs().getFirst()).shape().toShape().dim(1);
        long hidden = g.typeOf(n.inputs().get(2)).shape().toShape().dim(2);
        return Tensor.blockBytes(batch * hidden * Float.BYTES);
    }

    /**
     * A recurrent node split by time steps ({@link Tile.Kind#TIME_STEPS}): one kernel task per step range, in
     * the order the steps run (a reverse node from the last range). X stays resident while it fits beside the
     * rest (each tile reads a view of its range), else each tile copies its range from X's host copy. The
     * other inputs are loaded whole and pinned; Y is placed whole and each tile writes its steps in place.
     * Tile t hands its state to tile t + 1 in buffers of their own (a data edge), freed once read; the last
     * tile writes the node's Y_h / Y_c.
     */
    private void timeStepNode(int i) {
        Node n = nodes.get(i);
        Node tn = Tile.stepNode(n);
        Tiling.Split sp = splits.get(i);
        int d = placement[i];
        Dev D = dev[d];
        String devName = D.spec.name();
        String x = n.inputs().getFirst();
        String y = n.outputs().getFirst();
        int states = Tile.stateCount(n);
        long xStep = xStepBytes(n), stateBytes = stateBytes(n);
        Set<String> consts = new LinkedHashSet<>();
        for (int k = 1; k < n.inputs().size(); k++) if (!n.inputs().get(k).isEmpty() && !n.inputs().get(k).equals(x)) consts.add(n.inputs().get(k));
        long widest = sp.tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0);
        // Every range buffer is the widest range's size, so that each fits the hole the previous one left.
        long slice = Tensor.blockBytes(widest * xStep);
        long perTile = slice + 2L * states * stateBytes;
        long need = 2L * states * stateBytes + (y.isEmpty() ? 0 : blockBytes(g, y));
        for (String v : consts) need += blockBytes(g, v);
        Placed placed = placeRecurrent(i, true, need, consts, perTile, slice);
        boolean kept = placed.xKept();
        Buf yBuf = placed.y();
        Set<String> pinned = placed.pinned();
        // The state each tile reads: the node's initial state for the first, then the previous tile's.
        int[] stateIn = new int[states];
        Buf[] handed = new Buf[states];
        for (int s = 0; s < states; s++) {
            String v = n.inputs().size() > Tile.STATE_INPUT + s ? n.inputs().get(Tile.STATE_INPUT + s) : "";
            stateIn[s] = v.isEmpty() ? -1 : D.resident.get(v).id;
        }
        Map<String, Buf> finals = new LinkedHashMap<>();
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            boolean last = t == sp.tiles().size() - 1;
            Buf range = null;
            if (!kept) {
                if (!hostCopy.containsKey(x)) copyToHost(x, LaneKind.D2H, false);
                String rn = x + "#range" + i + "." + t;
                long start = tile.start() * (xStep / Float.BYTES), end = tile.end() * (xStep / Float.BYTES);
                range = allocateOrFree(d, rn, slice, pinned, n, t);
                int src = hostCopy.get(x);
                int id = tasks.size();
                tasks.add(new Task.Transfer(id, d, LaneKind.H2D, src, range.id, range.bytes,
                    "h2d " + x + "[" + start + ":" + end + "] to " + devName, start, end));
                read(src, id);
                written(range, id);
                pinned.add(rn);
            }
            Buf[] out = new Buf[states];
            for (int s = 0; s < states; s++) {
                String o = n.outputs().size() > 1 + s ? n.outputs().get(1 + s) : "";
                if (last && o.isEmpty()) continue; // nobody reads the final state
                String name = last ? o : (y.isEmpty() ? n.label() : y) + "#state" + i + "." + t + "." + s;
                out[s] = allocateOrFree(d, name, last ? blockBytes(g, o) : stateBytes, pinned, n, t);
                pinned.add(name);
                if (last) finals.put(o, out[s]);
            }
            int id = tasks.size();
            List<Integer> ins = new ArrayList<>();
            for (int k = 0; k < tn.inputs().size(); k++) {
                String v = tn.inputs().get(k);
                if (k == 0) ins.add(kept ? D.resident.get(x).id : range.id);
                else if (k >= Tile.STATE_INPUT && k < Tile.STATE_INPUT + states) ins.add(stateIn[k - Tile.STATE_INPUT]);
                else ins.add(v.isEmpty() ? -1 : D.resident.get(v).id);
            }
            List<Integer> outs = new ArrayList<>();
            outs.add(yBuf == null ? -1 : yBuf.id);
            for (Buf b : out) outs.add(b == null ? -1 : b.id);
            tasks.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " steps " + tile.start() + ":" + tile.end() + " (" + (t + 1) + "/"
                + sp.tiles().size() + ")", ins, List.of(), outs, tile, -1));
            for (int b : new LinkedHashSet<>(ins)) if (b >= 0) read(b, id);
            if (yBuf != null) {
                if (prev < 0) written(yBuf, id); else { edge(prev, id, Edge.Kind.DATA); yBuf.writer = id; }
            } else if (prev >= 0) edge(prev, id, Edge.Kind.DATA);
            for (Buf b : out) if (b != null) written(b, id);
            if (range != null) { free(D, range); pinned.remove(range.value); }
            for (int s = 0; s < states; s++) {
                if (handed[s] != null) { free(D, handed[s]); pinned.remove(handed[s].value); }
                handed[s] = last ? null : out[s];
                stateIn[s] = out[s] == null ? -1 : out[s].id;
            }
            prev = id;
        }
        if (yBuf != null) {
            D.resident.put(y, yBuf);
            D.everResident.add(y);
            if (graphOutputs.contains(y)) copyToHost(y, LaneKind.D2H, false);
        }
        for (var e : finals.entrySet()) {
            D.resident.put(e.getKey(), e.getValue());
            D.everResident.add(e.getKey());
            if (graphOutputs.contains(e.getKey())) copyToHost(e.getKey(), LaneKind.D2H, false);
        }
        releaseDead(i, n);
    }

    /** The bytes a recurrent node split by hidden units needs at once (see {@link Tiling#unitNeed}). */
    private long unitNeed(int i) {
        Node n = nodes.get(i);
        Tiling.Units u = Tiling.units(g, n);
        long widest = splits.get(i).tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0);
        return Tiling.unitNeed(g, n, u, widest);
    }

    /** Values hidden-unit tile t of node i reads: X, the constants, and the blocks of its units' gate rows. */
    private List<String> unitTileNeeded(int i, int t) {
        Node n = nodes.get(i);
        Tile tile = splits.get(i).tiles().get(t);
        long j0 = Tile.unitStart(tile, Tile.hidden(g, n));
        Set<String> r = new LinkedHashSet<>();
        r.add(n.inputs().getFirst());
        r.addAll(Tiling.unitConstants(n));
        r.addAll(unitBlocks(n, i, j0));
        return new ArrayList<>(r);
    }

    /** The names of the W / R / B / P blocks of node i's units from j0, each once. */
    private static List<String> unitBlocks(Node n, int i, long j0) {
        Set<String> r = new LinkedHashSet<>();
        for (int k : Tile.GATE_INPUTS) {
            if (k >= n.inputs().size() || n.inputs().get(k).isEmpty() || (k == 7 && !n.opType().equals("LSTM"))) continue;
            r.add(Tile.unitBlock(n.inputs().get(k), i, j0));
        }
        return new ArrayList<>(r);
    }

    /**
     * A recurrent node split by steps and blocks of hidden units ({@link Tile.Kind#HIDDEN_UNITS}). Y is placed
     * whole and the constants (sequence_lens, initial states) loaded whole and pinned, as for time-step tiles; X
     * stays resident while it fits (tiles view their step), else each step copies its step of X from the host
     * copy. At a step's first block the step's state buffers are placed; every block of the step writes its
     * columns of them (the tiles chained by data edges), and the next step's tiles read them whole, after which
     * they are freed. Each tile loads its blocks of gate rows (the next block of the same step is fetched into
     * free memory behind it) and frees them after its kernel, so the node's need is one block's, not the weights'.
     */
    private void unitNode(int i) {
        Node n = nodes.get(i);
        Tiling.Split sp = splits.get(i);
        Tiling.Units u = Tiling.units(g, n);
        int d = placement[i];
        Dev D = dev[d];
        String devName = D.spec.name();
        String x = n.inputs().getFirst();
        String y = n.outputs().getFirst();
        Node tn = Tile.stepNode(n);
        int states = Tile.stateCount(n);
        long hidden = u.hidden(), xRow = u.batch() * u.in();
        long stateBytes = Tensor.blockBytes(u.batch() * hidden * Float.BYTES);
        long slice = Tensor.blockBytes(xRow * Float.BYTES);
        long widest = sp.tiles().stream().mapToLong(t -> t.end() - t.start()).max().orElse(0);
        long perTile = Tiling.unitVariableBytes(g, n, u, widest);
        Set<String> consts = Tiling.unitConstants(n);
        long need = perTile - slice + (y.isEmpty() ? 0 : blockBytes(g, y));
        for (String v : consts) need += blockBytes(g, v);
        // A resident X is read in place when each step's view starts on 64 bytes.
        boolean aligned = u.seq() == 1 || xRow % 16 == 0;
        Placed placed = placeRecurrent(i, aligned, need, consts, perTile, slice);
        boolean kept = placed.xKept();
        Buf yBuf = placed.y();
        Set<String> pinned = placed.pinned();
        int[] stateIn = new int[states];
        for (int s = 0; s < states; s++) {
            String v = n.inputs().size() > Tile.STATE_INPUT + s ? n.inputs().get(Tile.STATE_INPUT + s) : "";
            stateIn[s] = v.isEmpty() ? -1 : D.resident.get(v).id;
        }
        Buf[] handed = new Buf[states], out = new Buf[states];
        Map<String, Buf> finals = new LinkedHashMap<>();
        long lastStep = Tile.unitStep(sp.tiles().getLast(), hidden);
        Buf range = null;
        int prev = -1;
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            long step = Tile.unitStep(tile, hidden), j0 = Tile.unitStart(tile, hidden);
            boolean first = j0 == 0, endOfStep = j0 + tile.end() - tile.start() == hidden, last = step == lastStep;
            if (first) {
                if (!kept) {
                    if (!hostCopy.containsKey(x)) copyToHost(x, LaneKind.D2H, false);
                    String rn = x + "#range" + i + "." + step;
                    range = allocateOrFree(d, rn, slice, pinned, n, t);
                    int src = hostCopy.get(x);
                    int id = tasks.size();
                    tasks.add(new Task.Transfer(id, d, LaneKind.H2D, src, range.id, range.bytes,
                        "h2d " + x + "[" + step * xRow + ":" + (step + 1) * xRow + "] to " + devName, step * xRow, (step + 1) * xRow));
                    read(src, id);
                    written(range, id);
                    pinned.add(rn);
                }
                for (int s = 0; s < states; s++) {
                    String o = n.outputs().size() > 1 + s ? n.outputs().get(1 + s) : "";
                    out[s] = null;
                    if (last && o.isEmpty()) continue; // nobody reads the final state
                    String name = last ? o : (y.isEmpty() ? n.label() : y) + "#state" + i + "." + step + "." + s;
                    out[s] = allocateOrFree(d, name, last ? blockBytes(g, o) : stateBytes, pinned, n, t);
                    pinned.add(name);
                    if (last) finals.put(o, out[s]);
                }
            }
            List<String> blocks = unitBlocks(n, i, j0);
            for (String v : blocks) {
                if (D.resident.containsKey(v)) { pinned.add(v); continue; }
                if (!load(d, v, pinned, true)) {
                    for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r)) evict(d, r);
                    if (!load(d, v, pinned, true)) throw new MemGraphException("tile " + t + " of node " + n.label()
                        + " does not fit the arena of '" + devName + "' next to its output", plannedNeed(i));
                }
                pinned.add(v);
            }
            int id = tasks.size();
            List<Integer> ins = new ArrayList<>();
            for (int k = 0; k < tn.inputs().size(); k++) {
                String v = tn.inputs().get(k);
                if (k == 0) ins.add(kept ? D.resident.get(x).id : range.id);
                else if (k >= Tile.STATE_INPUT && k < Tile.STATE_INPUT + states) ins.add(stateIn[k - Tile.STATE_INPUT]);
                else if (v.isEmpty()) ins.add(-1);
                else if (Tile.GATE_INPUTS.contains(k) && !(k == 7 && !n.opType().equals("LSTM"))) ins.add(D.resident.get(Tile.unitBlock(v, i, j0)).id);
                else ins.add(D.resident.get(v).id);
            }
            List<Integer> outs = new ArrayList<>();
            outs.add(yBuf == null ? -1 : yBuf.id);
            for (Buf b : out) outs.add(b == null ? -1 : b.id);
            tasks.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " step " + step + " units " + j0 + ":" + (j0 + tile.end() - tile.start())
                + " (" + (t + 1) + "/" + sp.tiles().size() + ")", ins, List.of(), outs, tile, -1));
            for (int b : new LinkedHashSet<>(ins)) if (b >= 0) read(b, id);
            if (prev >= 0) edge(prev, id, Edge.Kind.DATA);
            if (yBuf != null) { if (prev < 0) written(yBuf, id); else yBuf.writer = id; }
            for (Buf b : out) if (b != null) { if (first) written(b, id); else b.writer = id; }
            // The blocks are this tile's alone: free them at once for the next block.
            for (String v : blocks) { free(D, D.resident.remove(v)); pinned.remove(v); }
            if (endOfStep) {
                if (range != null) { free(D, range); pinned.remove(range.value); range = null; }
                for (int s = 0; s < states; s++) {
                    if (handed[s] != null) { free(D, handed[s]); pinned.remove(handed[s].value); }
                    handed[s] = last ? null : out[s];
                    stateIn[s] = out[s] == null ? -1 : out[s].id;
                }
            } else {
                // Fetch the next block of this step into free memory, so that its copy overlaps this kernel.
                List<String> next = unitBlocks(n, i, Tile.unitStart(sp.tiles().get(t + 1), hidden));
                long bytes = 0;
                for (String v : next) bytes += blockBytes(g, v);
                if (D.used + bytes <= D.capacity) {
                    for (String v : next) {
                        if (D.resident.containsKey(v) || !load(d, v, pinned, false)) break;
                        pinned.add(v);
                    }
                }
            }
            prev = id;
        }
        if (yBuf != null) {
            D.resident.put(y, yBuf);
            D.everResident.add(y);
            if (graphOutputs.contains(y)) copyToHost(y, LaneKind.D2H, false);
        }
        for (var e : finals.entrySet()) {
            D.resident.put(e.getKey(), e.getValue());
            D.everResident.add(e.getKey());
            if (graphOutputs.contains(e.getKey())) copyToHost(e.getKey(), LaneKind.D2H, false);
        }
        releaseDead(i, n);
    }

    /**
     * Where a recurrent node's Y went (null when the graph does not want it), whether X stays resident, and what
     * is pinned on the device for the node's tiles (its constants, X when kept).
     */
    private record Placed(Buf y, boolean xKept, Set<String> pinned) {}

    /**
     * Places recurrent node i's Y and constants for its tiles (time steps or hidden units). X stays resident,
     * read in place by the tiles, when {@code mayKeepX} and it fits beside {@code need}; then the tiles need no
     * range buffers ({@code slice} less per tile). If that leaves no room, X is evicted; if fragmentation still
     * stands in the way, the device is emptied and Y, the inputs and one free run for the tiles are placed in
     * that order (the node's need was checked against the budget, so an empty arena always fits it).
     */
    private Placed placeRecurrent(int i, boolean mayKeepX, long need, Set<String> consts, long perTile, long slice) {
        Node n = nodes.get(i);
        int d = placement[i];
        Dev D = dev[d];
        String x = n.inputs().getFirst(), y = n.outputs().getFirst();
        Set<String> pinned = new HashSet<>();
        boolean kept = mayKeepX && D.resident.containsKey(x) && need + D.resident.get(x).bytes <= D.capacity;
        if (kept) pinned.add(x);
        else if (D.resident.containsKey(x)) evict(d, x);
        Buf yBuf = placeSteps(d, consts, y, pinned, kept ? perTile - slice : perTile);
        if (yBuf == null && kept) {
            pinned.remove(x);
            evict(d, x);
            kept = false;
            yBuf = placeSteps(d, consts, y, pinned, perTile);
        }
        if (yBuf == null) {
            pinned.clear();
            for (String r : new ArrayList<>(D.resident.keySet())) evict(d, r);
            yBuf = placeSteps(d, consts, y, pinned, perTile);
            if (yBuf == null) {
                throw new MemGraphException("node " + n.label() + " does not fit an empty arena of '" + D.spec.name() + "'", plannedNeed(i));
            }
        }
        return new Placed(yBuf == STEPS_NO_Y ? null : yBuf, kept, pinned);
    }

    /**
     * Places a time-step node's output Y (when wanted), then loads its whole inputs, and checks that one free run
     * of {@code perTile} bytes is left for the tiles' range and state buffers (so that their allocations, tile
     * after tile, reuse each other's holes), evicting what the node does not hold if it must. Null (having
     * released Y) when fragmentation leaves no such run.
     */
    private Buf placeSteps(int d, Set<String> consts, String y, Set<String> pinned, long perTile) {
        Dev D = dev[d];
        for (String v : consts) if (D.resident.containsKey(v)) pinned.add(v);
        Buf yBuf = null;
        if (!y.isEmpty()) {
            yBuf = allocate(d, y, blockBytes(g, y), pinned, true);
            if (yBuf == null) return null;
            pinned.add(y);
        }
        for (String v : consts) {
            if (D.resident.containsKey(v)) continue;
            if (!load(d, v, pinned, true)) { if (yBuf != null) { pinned.remove(y); abandon(d, yBuf); } return null; }
            pinned.add(v);
        }
        while (D.firstFit(perTile) < 0) {
            String victim = null;
            for (String r : D.resident.keySet()) if (!pinned.contains(r)) { victim = r; break; }
            if (victim == null) { if (yBuf != null) { pinned.remove(y); abandon(d, yBuf); } return null; }
            evict(d, victim);
        }
        return yBuf == null ? STEPS_NO_Y : yBuf;
    }

    /** placeSteps' answer when the node has no Y to place. */
    private static final Buf STEPS_NO_Y = new Buf(-1, "", 0, 0, 0);

    /** A region for a time-step tile's range or state buffer, evicting what the node does not hold if it must. */
    private Buf allocateOrFree(int d, String v, long bytes, Set<String> pinned, Node n, int t) {
        Dev D = dev[d];
        Buf b = allocate(d, v, bytes, pinned, true);
        if (b != null) return b;
        for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r)) evict(d, r);
        b = allocate(d, v, bytes, pinned, true);
        if (b == null) throw new MemGraphException("tile " + t + " of node " + n.label() + " does not fit the arena of '"
            + D.spec.name() + "' next to its output", plannedNeed(nodes.indexOf(n)));
        return b;
    }

    /**
     * A node split into bands of output rows ({@link Tile.Kind#OUTPUT_ROWS}, see {@link RowBands}). Its whole
     * inputs are loaded and pinned; its banded inputs are read from their host copies (copied out first if the
     * device holds their only copy). Per band: an H2D rows transfer per banded value into a band buffer, the
     * kernel into an output band buffer, a D2H rows transfer of that into the output's host copy. A band's
     * buffers are freed once the next band's are placed (beside them when there is room, so that copies and
     * kernels of neighbouring bands overlap; else in their regions, memory edges ordering the reuse). The D2H
     * transfers are chained, so the last one stands for the whole output.
     */
    private void rowNode(int i) {
        Node n = nodes.get(i);
        Tiling.Split sp = splits.get(i);
        RowBands.Form f = RowBands.form(g, n);
        int d = placement[i];
        Dev D = dev[d];
        String out = n.outputs().getFirst();
        Set<String> whole = new LinkedHashSet<>();
        for (int k : f.whole()) whole.add(n.inputs().get(k));
        Map<String, RowBands.Band> banded = new LinkedHashMap<>();
        for (RowBands.Band b : f.bands()) banded.putIfAbsent(b.value(), b);
        Set<String> pinned = new HashSet<>();
        loadWhole(i, d, whole, pinned);
        for (String v : banded.keySet()) if (!hostCopy.containsKey(v)) copyToHost(v, LaneKind.D2H, false);
        int host = hostBuf(out, 0);
        int prevScatter = -1;
        List<Buf> held = new ArrayList<>();
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
            Map<String, Buf> placed = held.isEmpty() ? null : placeFree(d, want);
            for (Buf b : held) free(D, b);
            held.clear();
            if (placed == null) placed = placeBands(i, d, want, whole, pinned);
            String devName = D.spec.name();
            for (var e : banded.entrySet()) {
                String v = e.getKey();
                long[] ab = rowsOf.get(v);
                Buf b = placed.get(v + "#rows" + i + "." + t);
                int src = hostCopy.get(v);
                int id = tasks.size();
                tasks.add(new Task.Transfer(id, d, LaneKind.H2D, src, b.id, b.bytes,
                    "h2d " + v + " rows [" + ab[0] + ":" + ab[1] + "] to " + devName, ab[0], ab[1], true));
                read(src, id);
                written(b, id);
            }
            int id = tasks.size();
            List<Integer> ins = new ArrayList<>();
            for (String v : n.inputs()) {
                if (v.isEmpty()) ins.add(-1);
                else if (banded.containsKey(v)) ins.add(placed.get(v + "#rows" + i + "." + t).id);
                else ins.add(D.resident.get(v).id);
            }
            Buf ob = placed.get(outBand);
            tasks.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " rows [" + tile.start() + ":" + tile.end() + "] (band "
                + (t + 1) + "/" + sp.tiles().size() + ")", ins, List.of(), List.of(ob.id), tile, -1));
            for (int b : new LinkedHashSet<>(ins)) if (b >= 0) read(b, id);
            written(ob, id);
            for (String v : banded.keySet()) held.add(placed.get(v + "#rows" + i + "." + t));
            int sid = tasks.size();
            tasks.add(new Task.Transfer(sid, d, LaneKind.D2H, ob.id, host, ob.bytes,
                "d2h " + out + " rows [" + tile.start() + ":" + tile.end() + "] from " + devName, tile.start(), tile.end(), true));
            read(ob.id, sid);
            if (prevScatter >= 0) edge(prevScatter, sid, Edge.Kind.DATA);
            bufs.get(host).writer = sid;
            held.add(ob);
            prevScatter = sid;
        }
        for (Buf b : held) free(D, b);
        hostCopy.put(out, host);
        releaseDead(i, n);
    }

    /**
     * A node split into output boxes ({@link Tile.Kind#OUTPUT_BOX}, by its op family's {@link OpTiling}). As for row
     * bands: the inputs no tile slices are loaded whole and pinned; per tile, an H2D box transfer per sliced value
     * (from its host copy, copied out first if the device holds its only copy) into a buffer of the box's extents,
     * the kernel of {@link OpTiling#node} into an output box buffer, and a chained D2H box transfer of that into the
     * output's host copy. A tile's buffers are placed beside the previous tile's when there is room (double
     * buffering), else in their regions after freeing them.
     */
    private void boxNode(int i) {
        Node n = nodes.get(i);
        Tiling.Split sp = splits.get(i);
        OpTiling tiling = sp.box().tiling();
        int d = placement[i];
        Dev D = dev[d];
        String out = n.outputs().getFirst();
        Set<String> sliced = new LinkedHashSet<>();
        for (Tile t : sp.tiles()) sliced.addAll(tiling.boxes(t.box()).keySet());
        sliced.remove(out); // K tiles' partial sums: gathered from the output's own host copy (ReductionCut)
        Set<String> whole = new LinkedHashSet<>();
        for (String v : tileNeeded(i, 0)) if (!sliced.contains(v)) whole.add(v);
        Set<String> pinned = new HashSet<>();
        loadWhole(i, d, whole, pinned);
        for (String v : sliced) if (!hostCopy.containsKey(v)) copyToHost(v, LaneKind.D2H, false);
        int host = hostBuf(out, 0);
        int prevScatter = -1;
        List<Buf> held = new ArrayList<>();
        long outElem = g.typeOf(out).dtype().byteSize();
        String devName = D.spec.name();
        for (int t = 0; t < sp.tiles().size(); t++) {
            Tile tile = sp.tiles().get(t);
            Node tn = tiling.node(tile.box());
            Map<String, Box> bx = new LinkedHashMap<>(tiling.boxes(tile.box()));
            // a value sliced by other tiles but whole in this one is gathered whole: it is not resident
            for (String v : sliced) if (tn.inputs().contains(v)) bx.putIfAbsent(v, Box.whole(OpTiling.shapeOf(g, v)));
            Map<String, Long> want = new LinkedHashMap<>();
            for (var e : bx.entrySet()) {
                want.put(e.getKey() + "#box" + i + "." + t, Tensor.blockBytes(e.getValue().elementCount() * BoxTiles.dtype(g, e.getKey()).byteSize()));
            }
            String outBox = out + "#out-box" + i + "." + t; // apart from a K tile's partial sums box (out#box)
            want.put(outBox, Tensor.blockBytes(tiling.outputBox(tile.box()).elementCount() * outElem));
            Map<String, Buf> placed = held.isEmpty() ? null : placeFree(d, want);
            for (Buf b : held) free(D, b);
            held.clear();
            if (placed == null) placed = placeBands(i, d, want, whole, pinned);
            for (var e : bx.entrySet()) {
                String v = e.getKey();
                Buf b = placed.get(v + "#box" + i + "." + t);
                int src = v.equals(out) ? host : hostCopy.get(v);
                int id = tasks.size();
                tasks.add(new Task.Transfer(id, d, LaneKind.H2D, src, b.id, b.bytes, "h2d " + v + " " + e.getValue() + " to " + devName, e.getValue()));
                read(src, id);
                written(b, id);
            }
            int id = tasks.size();
            List<Integer> ins = new ArrayList<>();
            for (String v : tn.inputs()) {
                if (v.isEmpty()) ins.add(-1);
                else if (bx.containsKey(v)) ins.add(placed.get(v + "#box" + i + "." + t).id);
                else ins.add(D.resident.get(v).id);
            }
            Buf ob = placed.get(outBox);
            tasks.add(new Task.Kernel(id, d, i, "kernel " + n.label() + " " + tile.box() + " (tile " + (t + 1) + "/" + sp.tiles().size() + ")",
                ins, List.of(), List.of(ob.id), tile, -1));
            for (int b : new LinkedHashSet<>(ins)) if (b >= 0) read(b, id);
            written(ob, id);
            for (String v : bx.keySet()) held.add(placed.get(v + "#box" + i + "." + t));
            int sid = tasks.size();
            tasks.add(new Task.Transfer(sid, d, LaneKind.D2H, ob.id, host, ob.bytes, "d2h " + out + " " + tile.box() + " from " + devName, tiling.outputBox(tile.box())));
            read(ob.id, sid);
            if (prevScatter >= 0) edge(prevScatter, sid, Edge.Kind.DATA);
            bufs.get(host).writer = sid;
            held.add(ob);
            prevScatter = sid;
        }
        for (Buf b : held) free(D, b);
        hostCopy.put(out, host);
        releaseDead(i, n);
    }

    /** Loads node i's whole inputs onto device d and pins them, emptying the device of everything else if it must. */
    private void loadWhole(int i, int d, Set<String> whole, Set<String> pinned) {
        Dev D = dev[d];
        for (String v : whole) if (D.resident.containsKey(v)) pinned.add(v);
        for (String v : whole) {
            if (D.resident.containsKey(v)) continue;
            if (!load(d, v, pinned, true)) {
                for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r)) evict(d, r);
                if (!load(d, v, pinned, true)) throw new MemGraphException("node " + nodes.get(i).label() + ": no room for " + v, plannedNeed(i));
            }
            pinned.add(v);
        }
    }

    /** Regions for one band's buffers in memory free now (evicting nothing); null, having placed none, if they do not fit. */
    private Map<String, Buf> placeFree(int d, Map<String, Long> want) {
        Map<String, Buf> placed = new LinkedHashMap<>();
        for (var e : want.entrySet()) {
            Buf b = allocate(d, e.getKey(), e.getValue(), Set.of(), false);
            if (b == null) {
                for (Buf x : placed.values()) abandon(d, x);
                return null;
            }
            placed.put(e.getKey(), b);
        }
        return placed;
    }

    /**
     * Regions for one band's buffers next to the node's pinned whole inputs, evicting other values as needed.
     * When the free bytes suffice but not in pieces that fit, the device is emptied (the whole inputs too) and
     * the bands placed first into the empty arena, the whole inputs loaded again behind them: the node's need
     * was checked against the budget, so that always fits.
     */
    private Map<String, Buf> placeBands(int i, int d, Map<String, Long> want, Set<String> whole, Set<String> pinned) {
        Dev D = dev[d];
        Map<String, Buf> placed = new LinkedHashMap<>();
        for (var e : want.entrySet()) {
            Buf b = allocate(d, e.getKey(), e.getValue(), pinned, true);
            if (b == null) break;
            placed.put(e.getKey(), b);
        }
        if (placed.size() == want.size()) return placed;
        for (Buf b : placed.values()) abandon(d, b);
        placed.clear();
        for (String r : new ArrayList<>(D.resident.keySet())) evict(d, r);
        pinned.clear();
        for (var e : want.entrySet()) {
            Buf b = allocate(d, e.getKey(), e.getValue(), pinned, false);
            if (b == null) throw new MemGraphException("a band of node " + nodes.get(i).label() + " does not fit the arena of '"
                + D.spec.name() + "'", plannedNeed(i));
            placed.put(e.getKey(), b);
        }
        loadWhole(i, d, whole, pinned);
        return placed;
    }

    /**
     * A region for a split node's output or scratch next to what the tile reads, when fragmentation stands in
     * the way: after evicting everything the node does not hold, the tile's own inputs (its blocks, and its
     * activation, offloaded if the device held its only copy) make room and are copied in again behind it.
     * Null if even that does not fit.
     */
    private Buf allocateBeside(int d, String v, long bytes, Set<String> pinned, List<String> blocks) {
        Dev D = dev[d];
        Buf b = allocate(d, v, bytes, pinned, true);
        if (b != null) return b;
        for (String r : new ArrayList<>(D.resident.keySet())) if (!pinned.contains(r)) evict(d, r);
        b = allocate(d, v, bytes, pinned, true);
        if (b != null) return b;
        for (String k : blocks) if (D.resident.containsKey(k)) { pinned.remove(k); evict(d, k); }
        b = allocate(d, v, bytes, pinned, true);
        if (b == null) return null;
        pinned.add(v);
        for (String k : blocks) {
            if (!load(d, k, pinned, true)) return null;
            pinned.add(k);
        }
        pinned.remove(v);
        return b;
    }

    /** Loads the next tile's block into free memory now, so that its copy overlaps this tile's kernel. */
    private void prefetchBlock(int d, Tiling.Split sp, int t, Set<String> pinned) {
        String b = sp.weightBlocks().get(t);
        Dev D = dev[d];
        if (D.resident.containsKey(b) || D.used + blockBytes(g, b) + sp.scratchBytes() > D.capacity) return;
        if (load(d, b, pinned, false)) pinned.add(b);
    }

    /**
     * Makes node i's inputs resident on device d and places its outputs; null if the arena is too fragmented.
     * Inputs already resident are pinned first so that eviction never removes what this node reads.
     */
    private Map<String, Buf> placeNode(int i, int d, List<String> need, boolean mustFit) {
        Dev D = dev[d];
        Set<String> pinned = new HashSet<>();
        for (String v : need) if (D.resident.containsKey(v)) pinned.add(v);
        for (String v : need) {
            if (D.resident.containsKey(v)) continue;
            if (!load(d, v, pinned, true)) return null;
            pinned.add(v);
        }
        Map<String, Buf> outs = new LinkedHashMap<>();
        Node n = nodes.get(i);
        for (String o : n.outputs()) {
            if (o.isEmpty() || outs.containsKey(o)) continue;
            Buf b = allocate(d, o, blockBytes(g, o), pinned, true);
            if (b == null) {
                for (Buf x : outs.values()) abandon(d, x);
                return null;
            }
            outs.put(o, b);
        }
        return outs;
    }

    /** Copies v onto device d (a transfer the first time, a reload after an eviction); false if it cannot fit. */
    private boolean load(int d, String v, Set<String> pinned, boolean mayEvict) {
        if (!hostCopy.containsKey(v)) copyToHost(v, LaneKind.D2H, false);
        Integer src = hostCopy.get(v);
        Buf b = allocate(d, v, blockBytes(g, v), pinned, mayEvict);
        if (b == null) return false;
        int id = tasks.size();
        Dev D = dev[d];
        String name = D.spec.name();
        tasks.add(D.everResident.contains(v)
            ? new Task.Reload(id, d, src, b.id, b.bytes, "reload " + v + " to " + name)
            : new Task.Transfer(id, d, LaneKind.H2D, src, b.id, b.bytes, "h2d " + v + " to " + name));
        read(src, id);
        written(b, id);
        D.resident.put(v, b);
        D.everResident.add(v);
        return true;
    }

    /** Gives v a valid host copy, copied from the device that holds it. */
    private void copyToHost(String v, LaneKind lane, boolean offload) {
        int d = -1;
        for (int k = 0; k < dev.length; k++) if (dev[k] != null && dev[k].resident.containsKey(v)) { d = k; break; }
        if (d < 0) throw new MemGraphException("value '" + v + "' is read before any node produces it", -1);
        Buf src = dev[d].resident.get(v);
        int h = hostBuf(v, 0);
        int id = tasks.size();
        tasks.add(offload
            ? new Task.Offload(id, d, src.id, h, src.bytes, "offload " + v + " from " + dev[d].spec.name())
            : new Task.Transfer(id, d, lane, src.id, h, src.bytes, "d2h " + v + " from " + dev[d].spec.name()));
        read(src.id, id);
        bufs.get(h).writer = id;
        hostCopy.put(v, h);
    }

    /**
     * A region for v on device d. When the device is full, evicts the resident value with the largest
     * (distance to next use) x (size): the one whose absence costs the least soon and frees the most.
     */
    private Buf allocate(int d, String v, long bytes, Set<String> pinned, boolean mayEvict) {
        Dev D = dev[d];
        while (true) {
            long off = D.firstFit(bytes);
            if (off >= 0) {
                D.take(off, bytes);
                Buf b = new Buf(bufs.size(), v, d, off, bytes);
                bufs.add(b);
                collectWaits(D, b);
                return b;
            }
            if (!mayEvict) return null;
            String victim = null;
            double best = -1;
            for (Buf r : D.resident.values()) {
                if (pinned.contains(r.value)) continue;
                int next = nextUse(r.value, now);
                double score = (next == NEVER ? 1e12 : next - now) * (double) r.bytes;
                if (score > best) { best = score; victim = r.value; }
            }
            if (victim == null) return null;
            evict(d, victim);
        }
    }

    /** Removes v from device d, offloading it first if the device holds its only copy. */
    private void evict(int d, String v) {
        Dev D = dev[d];
        if (!hostCopy.containsKey(v) && nextUse(v, now - 1) != NEVER) copyToHost(v, LaneKind.D2H, true);
        Buf b = D.resident.remove(v);
        free(D, b);
    }

    private void free(Dev D, Buf b) {
        D.give(b.offset, b.bytes);
        Set<Integer> t = new LinkedHashSet<>(b.readers);
        if (b.writer >= 0) t.add(b.writer); else t.addAll(b.waits);
        D.freed.add(new Tenancy(b.offset, b.offset + b.bytes, t.stream().mapToInt(Integer::intValue).toArray()));
    }

    /** Releases a region placed for an output that will not be written after all. */
    private void abandon(int d, Buf b) { free(dev[d], b); }

    /** The new occupant's writer waits for every task that touched an overlapping freed region. */
    private void collectWaits(Dev D, Buf b) {
        long s = b.offset, e = b.offset + b.bytes;
        List<Tenancy> keep = new ArrayList<>();
        for (Iterator<Tenancy> it = D.freed.iterator(); it.hasNext(); ) {
            Tenancy t = it.next();
            if (t.end() <= s || t.start() >= e) continue;
            for (int x : t.tasks()) b.waits.add(x);
            it.remove();
            if (t.start() < s) keep.add(new Tenancy(t.start(), s, t.tasks()));
            if (t.end() > e) keep.add(new Tenancy(e, t.end(), t.tasks()));
        }
        D.freed.addAll(keep);
    }

    private void written(Buf b, int task) {
        b.writer = task;
        for (int w : b.waits) edge(w, task, Edge.Kind.MEMORY);
    }

    private void read(int buffer, int task) {
        Buf b = bufs.get(buffer);
        if (b.writer >= 0) edge(b.writer, task, Edge.Kind.DATA);
        b.readers.add(task);
    }

    /** Frees device copies of values node i was the last to read, and outputs nobody reads. */
    private void releaseDead(int i, Node n) {
        List<String> touched = new ArrayList<>(needed(i));
        for (String o : n.outputs()) if (!o.isEmpty()) touched.add(o);
        for (String v : touched) {
            if (nextUse(v, i) != NEVER) continue;
            for (Dev D : dev) {
                if (D == null || !D.resident.containsKey(v)) continue;
                free(D, D.resident.remove(v));
            }
        }
    }

    /**
     * Loads what the next few nodes read into memory that is free now, so that the copies are emitted (and
     * their memory edges point) early and the dispatcher can overlap them with the kernels in between.
     */
    private void prefetch(int i) {
        for (int j = i + 1; j < Math.min(nodes.size(), i + 1 + PREFETCH_NODES); j++) {
            int d = placement[j];
            if (dev[d] == null) continue;
            long nextNeed = placement[i + 1] == d ? plannedNeed(i + 1) : 0;
            // Of a split node, only the first tile's blocks: the others stream in behind its tiles.
            // Of an elementwise split, nothing: its inputs are read range by range.
            if (splits.containsKey(j) && (elements(splits.get(j)) || rows(splits.get(j)) || boxes(splits.get(j)))) continue;
            for (String v : splits.containsKey(j) ? tileNeeded(j, 0) : needed(j)) {
                Dev D = dev[d];
                if (D.resident.containsKey(v)) continue;
                long bytes = blockBytes(g, v);
                // Keep room for the next node's own outputs so that a prefetch never forces an eviction there.
                if (D.used + bytes + nextNeed > D.capacity) return;
                if (!hostCopy.containsKey(v)) continue;
                if (!load(d, v, Set.of(), false)) return;
            }
        }
    }

    private int hostBuf(String v, int unused) {
        Buf b = new Buf(bufs.size(), v, 0, -1, 0);
        bufs.add(b);
        return b.id;
    }

    private void edge(int from, int to, Edge.Kind kind) {
        if (from == to) return;
        if (from > to) throw new IllegalStateException("edge " + from + " -> " + to + " goes backwards");
        if (edgeKeys.add(((long) from << 32) | to)) edges.add(new Edge(from, to, kind));
    }
}
