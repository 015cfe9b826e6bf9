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
 * D2H at least once. (3) At the cut between node i and node i + 1 two kinds of values must be somewhere. The
 * intermediates live across it, I(i): made at or before i, read after i, neither graph inputs nor graph outputs
 * (so neither term above paid for them); they are made on the device. The host-born values re-read across it,
 * K(i): graph inputs and constants read by some node at or before i and by some node after i; each of their bytes
 * was on the device before the cut (it was read there) and must be there again after it. At most {@code budget}
 * bytes of I(i) and K(i) are on the device at the cut, so at least {@code e(i) = |I(i)| + |K(i)| - budget} of their
 * bytes are off it. A byte of I(i) off the device exists only on the host: it was copied down after it was made
 * and must be copied up before its reader runs, 2 bytes moved, none of them counted by (1) or (2). A byte of K(i)
 * off the device was dropped and must be copied up again: 1 byte moved beyond the one H2D that (1) counts. The
 * cheapest way to leave e(i) bytes off the device drops K(i) first: {@code x(i) = e(i)} when {@code e(i) <= |K(i)|},
 * else {@code |K(i)| + 2 (e(i) - |K(i)|)}. The bytes of (3) at different cuts may be the same bytes, so only the
 * largest cut counts: bound = (1) + (2) + max_i max(0, x(i)). It ignores the device room a node's own inputs and
 * outputs take at the cut and the re-reads that tiling forces (a product's A per block of columns), so it is loose
 * at small budgets (a plan that streams a node's input and output band by band need not hold either whole, so no
 * term is claimed for them), but no plan moves less. Sizes are the values' raw bytes (no block rounding), which
 * the device's blocks only exceed.
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
        return "inputs and constants " + p[0] + " + outputs " + p[1] + " + round trips at the fullest cut " + p[2];
    }

    private static long[] parts(Graph g, long budget) {
        Set<String> inputs = new HashSet<>(g.inputNames()), outputs = new HashSet<>(g.outputNames());
        Set<String> read = new LinkedHashSet<>();
        Map<String, Integer> firstUse = new HashMap<>(), lastUse = new HashMap<>(), made = new HashMap<>();
        for (int i = 0; i < g.nodes().size(); i++) {
            Node n = g.nodes().get(i);
            for (String v : n.inputs()) {
                if (v.isEmpty()) continue;
                read.add(v);
                firstUse.putIfAbsent(v, i);
                lastUse.put(v, i);
            }
            for (String v : n.outputs()) if (!v.isEmpty()) made.put(v, i);
        }
        long up = 0, down = 0;
        for (String v : read) if (inputs.contains(v) || g.initializers().containsKey(v)) up += bytes(g, v);
        for (String v : outputs) if (g.typeOf(v) != null && g.typeOf(v).isStatic()) down += bytes(g, v);
        // |I(i)| and |K(i)| for every cut, by sweeps: + a value's bytes after the node that makes (first reads) it,
        // - after its last reader
        int n = g.nodes().size();
        long[] dI = new long[n + 1], dK = new long[n + 1];
        for (var e : made.entrySet()) {
            String v = e.getKey();
            Integer last = lastUse.get(v);
            if (last == null || last <= e.getValue() || inputs.contains(v) || outputs.contains(v)) continue;
            long b = bytes(g, v);
            dI[e.getValue()] += b;
            dI[last] -= b;
        }
        for (String v : read) {
            if (!inputs.contains(v) && !g.initializers().containsKey(v)) continue;
            int first = firstUse.get(v), last = lastUse.get(v);
            if (last <= first) continue;
            long b = bytes(g, v);
            dK[first] += b;
            dK[last] -= b;
        }
        long liveI = 0, liveK = 0, trips = 0;
        for (int i = 0; i < n; i++) {
            liveI += dI[i];
            liveK += dK[i];
            long excess = liveI + liveK - budget;
            if (excess <= 0) continue;
            trips = Math.max(trips, excess <= liveK ? excess : liveK + 2 * (excess - liveK));
        }
        return new long[] {up, down, trips};
    }

    private static long bytes(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return c.byteSize();
        TensorType t = g.typeOf(v);
        return t == null || !t.isStatic() ? 0 : Tensor.byteSize(t.dtype(), t.shape().toShape());
    }
}
