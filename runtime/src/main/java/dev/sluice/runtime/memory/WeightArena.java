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
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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

    /** The model with every initializer copied, in graph order, into one fresh segment; the model itself if already so. */
    public static Model pack(Model m) {
        List<Tensor> all = new ArrayList<>();
        collect(m.graph(), all);
        long total = 0;
        for (Tensor t : all) total += Tensor.blockBytes(t.byteSize());
        if (total == 0 || of(m.graph()).segments() <= 1) return m;
        MemorySegment seg = Arena.ofAuto().allocate(total, Tensor.ALIGNMENT);
        return m.withGraph(repack(m.graph(), seg, new long[1]));
    }

    private static Graph repack(Graph g, MemorySegment seg, long[] off) {
        Map<String, Tensor> packed = new LinkedHashMap<>();
        for (var e : g.initializers().entrySet()) packed.put(e.getKey(), copy(e.getValue(), seg, off));
        List<Node> nodes = new ArrayList<>(g.nodes().size());
        for (Node n : g.nodes()) {
            if (n.subgraphs().isEmpty() && n.attributes().asMap().values().stream().noneMatch(a -> a instanceof Attr.TensorValue)) {
                nodes.add(n);
                continue;
            }
            Map<String, Attr> attrs = new LinkedHashMap<>(n.attributes().asMap());
            for (var e : attrs.entrySet()) {
                if (e.getValue() instanceof Attr.TensorValue(Tensor t)) e.setValue(new Attr.TensorValue(copy(t, seg, off)));
                else if (e.getValue() instanceof Attr.Graph(Graph sg)) e.setValue(new Attr.Graph(repack(sg, seg, off)));
                else if (e.getValue() instanceof Attr.Graphs(List<Subgraph> gs)) {
                    List<Subgraph> r = new ArrayList<>();
                    for (Subgraph s : gs) r.add(s instanceof Graph sg ? repack(sg, seg, off) : s);
                    e.setValue(new Attr.Graphs(r));
                }
            }
            nodes.add(new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(attrs)));
        }
        return g.withNodes(nodes, packed, g.types());
    }

    private static Tensor copy(Tensor t, MemorySegment seg, long[] off) {
        long b = Tensor.blockBytes(t.byteSize());
        Tensor p = Tensor.inBlock(t.dtype(), t.shape(), seg.asSlice(off[0], b));
        MemorySegment.copy(t.withHeader(), 0, p.withHeader(), 0, t.withHeader().byteSize());
        off[0] += b;
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
