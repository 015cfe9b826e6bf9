package dev.sluice.runtime.memory;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Weights and constants, planned apart from the intermediates: they live for the whole session, so their
 * plan is trivial (every block side by side) and they never share the activation arena. {@link #pack}
 * places the initializers and Constant values of a model (its subgraphs' included) one after another in one segment: one
 * allocation, one address range a device or an upload can take whole, instead of one allocation each.
 * {@link #of} measures a graph's constants: block bytes, tensors and the contiguous segments they occupy.
 */
public final class WeightArena {
    private WeightArena() {}

    /** A graph's weights and constants: block bytes, tensor count, and contiguous address ranges they form. */
    public record Figures(long bytes, int tensors, int segments) {
        @Override public String toString() {
            return bytes + " bytes in " + tensors + " tensors, " + segments + (segments == 1 ? " segment" : " segments");
        }
    }

    /**
     * The model with its initializers and constants side by side in one fresh segment; the model itself if
     * they already are. Weights the importer already placed in one segment of their own (a contiguous run of
     * several tensors holding at least half the bytes) stay where they are and only the others (values folded
     * or fused since) are copied, into a second segment: copying the imported weights again would hold two
     * copies of every weight until the collector frees the first (for a 90 MB encoder, 90 MB more peak RSS).
     */
    public static Model pack(Model m) {
        List<Tensor> all = new ArrayList<>();
        collect(m.graph(), all);
        long total = 0;
        for (Tensor t : all) total += Tensor.blockBytes(t.byteSize());
        if (total == 0 || of(m.graph()).segments() <= 1) return m;
        Set<Tensor> keep = importedRun(all, total);
        long rest = 0;
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Tensor t : all) if (!keep.contains(t) && seen.add(t)) rest += Tensor.blockBytes(t.byteSize());
        if (rest == 0) return m;
        MemorySegment seg = Arena.ofAuto().allocate(rest, Tensor.ALIGNMENT);
        return m.withGraph(repack(m.graph(), seg, new long[1], keep, new IdentityHashMap<>()));
    }

    /**
     * The tensors of the largest contiguous address range that holds at least two tensors and half of
     * {@code total}: the segment the importer read the weights into. Empty if there is none.
     */
    private static Set<Tensor> importedRun(List<Tensor> all, long total) {
        List<Tensor> sorted = new ArrayList<>();
        for (Tensor t : all) if (t.withHeader().isNative()) sorted.add(t);
        sorted.sort(Comparator.comparingLong(WeightArena::blockStart));
        Set<Tensor> best = Set.of();
        long bestBytes = 0;
        List<Tensor> run = new ArrayList<>();
        long runBytes = 0, end = Long.MIN_VALUE;
        for (int i = 0; i <= sorted.size(); i++) {
            Tensor t = i < sorted.size() ? sorted.get(i) : null;
            if (t == null || blockStart(t) > end) {
                if (run.size() >= 2 && runBytes > bestBytes && 2 * runBytes >= total) {
                    best = Collections.newSetFromMap(new IdentityHashMap<>());
                    best.addAll(run);
                    bestBytes = runBytes;
                }
                run.clear();
                runBytes = 0;
                end = Long.MIN_VALUE;
            }
            if (t == null) break;
            long b = Tensor.blockBytes(t.byteSize());
            if (blockStart(t) + b > end) {
                runBytes += b;
                end = blockStart(t) + b;
            }
            run.add(t);
        }
        return best;
    }

    private static long blockStart(Tensor t) { return t.withHeader().address() - (Tensor.BLOCK_PREFIX - Tensor.HEADER_BYTES); }

    private static Graph repack(Graph g, MemorySegment seg, long[] off, Set<Tensor> keep, Map<Tensor, Tensor> copied) {
        Map<String, Tensor> packed = new LinkedHashMap<>();
        for (var e : g.initializers().entrySet()) packed.put(e.getKey(), copy(e.getValue(), seg, off, keep, copied));
        List<Node> nodes = new ArrayList<>(g.nodes().size());
        for (Node n : g.nodes()) {
            if (n.subgraphs().isEmpty() && n.attributes().asMap().values().stream().noneMatch(a -> a instanceof Attr.TensorValue)) {
                nodes.add(n);
                continue;
            }
            Map<String, Attr> attrs = new LinkedHashMap<>(n.attributes().asMap());
            for (var e : attrs.entrySet()) {
                if (e.getValue() instanceof Attr.TensorValue(Tensor t)) e.setValue(new Attr.TensorValue(copy(t, seg, off, keep, copied)));
                else if (e.getValue() instanceof Attr.Graph(Graph sg)) e.setValue(new Attr.Graph(repack(sg, seg, off, keep, copied)));
                else if (e.getValue() instanceof Attr.Graphs(List<Subgraph> gs)) {
                    List<Subgraph> r = new ArrayList<>();
                    for (Subgraph s : gs) r.add(s instanceof Graph sg ? repack(sg, seg, off, keep, copied) : s);
                    e.setValue(new Attr.Graphs(r));
                }
            }
            nodes.add(new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(attrs)));
        }
        return g.withNodes(nodes, packed, g.types());
    }

    /** {@code t} itself if kept, else its copy in {@code seg} (one per tensor, however often it is used). */
    private static Tensor copy(Tensor t, MemorySegment seg, long[] off, Set<Tensor> keep, Map<Tensor, Tensor> copied) {
        if (keep.contains(t)) return t;
        Tensor done = copied.get(t);
        if (done != null) return done;
        long b = Tensor.blockBytes(t.byteSize());
        Tensor p = Tensor.inBlock(t.dtype(), t.shape(), seg.asSlice(off[0], b));
        MemorySegment.copy(t.withHeader(), 0, p.withHeader(), 0, t.withHeader().byteSize());
        off[0] += b;
        copied.put(t, p);
        return p;
    }

    /** Initializers and tensor attributes (Constant values: subgraphs keep theirs as nodes), in repack's order. */
    private static void collect(Graph g, List<Tensor> out) {
        out.addAll(g.initializers().values());
        for (Node n : g.nodes()) {
            for (Attr a : n.attributes().asMap().values()) if (a instanceof Attr.TensorValue(Tensor t)) out.add(t);
            for (Graph sg : n.subgraphs()) collect(sg, out);
        }
    }

    /** Bytes, tensors and contiguous segments of a graph's initializers and tensor attributes, its subgraphs' included. */
    public static Figures of(Graph g) {
        List<Tensor> all = new ArrayList<>();
        collect(g, all);
        List<long[]> ranges = new ArrayList<>();
        long bytes = 0;
        for (Tensor t : all) {
            MemorySegment h = t.withHeader();
            long b = Tensor.blockBytes(t.byteSize());
            bytes += b;
            ranges.add(new long[] {h.isNative() ? h.address() - (Tensor.BLOCK_PREFIX - Tensor.HEADER_BYTES) : -1, b});
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        int segments = 0;
        long end = Long.MIN_VALUE;
        for (long[] r : ranges) {
            if (r[0] < 0 || r[0] > end) segments++;
            end = r[0] < 0 ? Long.MIN_VALUE : Math.max(end, r[0] + r[1]);
        }
        return new Figures(bytes, ranges.size(), segments);
    }
}
