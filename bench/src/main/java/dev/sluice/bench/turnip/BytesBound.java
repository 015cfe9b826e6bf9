package dev.sluice.bench.turnip;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A lower bound on the bytes any plan must move over the link to run a graph wholly on a device of {@code budget}
 * bytes, in the graph's node order (the order a MemGraph keeps: its dispatcher reorders tasks, never what a node
 * reads), for {@code turnip-bench}'s bytes lines.
 *
 * <p>Derivation. (1) Every graph input and every constant a node reads starts on the host and is read on the
 * device: each crosses H2D at least once, whole (its bytes). (2) Every graph output ends on the host: each crosses
 * D2H at least once. (3) At the cut between node i and node i + 1, every intermediate value produced at or before
 * i and read after i (neither a graph input nor a graph output, so neither term above paid for it) exists somewhere;
 * at most {@code budget} bytes of them are on the device, so at least {@code live(i) - budget} of their bytes are
 * on the host only: each such byte was copied down (D2H) after it was made and must be copied up (H2D) again before
 * its reader runs, 2 bytes moved per byte. The bytes of (3) at different cuts may be the same bytes, so only the
 * largest cut counts: bound = (1) + (2) + 2 max_i max(0, live(i) - budget). It ignores the device room a node's
 * own inputs and outputs take at the cut and the re-reads that tiling forces (a product's A per block of
 * columns), so it is loose at small budgets, but no plan moves less. Sizes are the values' raw bytes (no block
 * rounding).
 */
final class BytesBound {
    private BytesBound() {}

    static long of(Graph g, long budget) {
        long[] p = parts(g, budget);
        return p[0] + p[1] + p[2];
    }

    /** The three terms, for the line that prints the bound. */
    static String explain(Graph g, long budget) {
        long[] p = parts(g, budget);
        return "inputs and constants " + p[0] + " + outputs " + p[1] + " + offload round trips " + p[2];
    }

    private static long[] parts(Graph g, long budget) {
        Set<String> inputs = new HashSet<>(g.inputNames()), outputs = new HashSet<>(g.outputNames());
        Set<String> read = new LinkedHashSet<>();
        Map<String, Integer> lastUse = new HashMap<>(), made = new HashMap<>();
        for (int i = 0; i < g.nodes().size(); i++) {
            Node n = g.nodes().get(i);
            for (String v : n.inputs()) {
                if (v.isEmpty()) continue;
                read.add(v);
                lastUse.put(v, i);
            }
            for (String v : n.outputs()) if (!v.isEmpty()) made.put(v, i);
        }
        long up = 0, down = 0;
        for (String v : read) if (inputs.contains(v) || g.initializers().containsKey(v)) up += bytes(g, v);
        for (String v : outputs) if (g.typeOf(v) != null && g.typeOf(v).isStatic()) down += bytes(g, v);
        // live(i) for every cut, by a sweep: + a value's bytes after the node that makes it, - after its last reader
        long[] delta = new long[g.nodes().size() + 1];
        for (var e : made.entrySet()) {
            String v = e.getKey();
            Integer last = lastUse.get(v);
            if (last == null || last <= e.getValue() || inputs.contains(v) || outputs.contains(v)) continue;
            TensorType t = g.typeOf(v);
            if (t == null || !t.isStatic()) continue;
            long b = bytes(g, v);
            delta[e.getValue()] += b;
            delta[last] -= b;
        }
        long live = 0, over = 0;
        for (int i = 0; i < g.nodes().size(); i++) {
            live += delta[i];
            over = Math.max(over, live - budget);
        }
        return new long[] {up, down, 2 * over};
    }

    private static long bytes(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return c.byteSize();
        TensorType t = g.typeOf(v);
        return t == null || !t.isStatic() ? 0 : Tensor.byteSize(t.dtype(), t.shape().toShape());
    }
}
