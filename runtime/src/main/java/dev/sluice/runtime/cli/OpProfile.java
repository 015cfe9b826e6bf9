package dev.sluice.runtime.cli;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.OutputAllocator;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code sluice run --profile}: warms the model up, then times every top-level node over a few runs and
 * prints nanoseconds per op type (median run's share), largest first. Nodes inside subgraphs count
 * towards their If/Loop node and are itemized again, per op type, below the top-level rows.
 */
final class OpProfile implements ExecutionListener {
    private final Map<String, long[]> byType = new HashMap<>(); // type -> {nanos, count}
    private Map<String, Tensor> weights;
    /** Whether per-node rows are wanted (--profile-nodes): only then is each node's time, shape and work kept. */
    private boolean perNode;
    private final Map<String, long[]> innerByType = new HashMap<>(); // same, for nodes inside subgraphs
    private final Map<Node, long[]> byNode = new java.util.IdentityHashMap<>(); // node -> {nanos, step}
    private final Map<Node, String> shapes = new java.util.IdentityHashMap<>();
    private final Map<Node, Long> flops = new java.util.IdentityHashMap<>(); // convolutions: 2 * multiply-adds

    @Override public void afterNode(int step, Node node, List<Tensor> outputs, long nanos) {
        add(byType, node, nanos);
        if (!perNode) return;
        long[] a = byNode.computeIfAbsent(node, n -> new long[] {0, step});
        a[0] += nanos;
        shapes.computeIfAbsent(node, n -> outputs.isEmpty() || outputs.get(0) == null ? "-" : outputs.get(0).shape().toString());
        if (weights != null && node.opType().endsWith("Conv") && node.inputs().size() > 1 && !outputs.isEmpty() && outputs.get(0) != null) {
            Tensor w = weights.get(node.inputs().get(1));
            if (w != null && w.rank() >= 3) flops.computeIfAbsent(node, n -> 2 * outputs.get(0).elementCount() * (w.elementCount() / w.shape().dim(0)));
        }
    }

    @Override public void afterInnerNode(Node node, long nanos) {
        add(innerByType, node, nanos);
    }

    private static void add(Map<String, long[]> to, Node node, long nanos) {
        String key = node.domain() == null || node.domain().isEmpty() ? node.opType() : node.domain() + "." + node.opType();
        long[] a = to.computeIfAbsent(key, k -> new long[2]);
        a[0] += nanos;
        a[1]++;
    }

    /** As {@link #run(Session, Map, int, int, PrintStream)} without the per-node rows. */
    static void run(Session s, Map<String, Tensor> inputs, int runs, PrintStream out) { run(s, inputs, runs, 0, out); }

    /** Default warm-up before the profiled runs; on a loaded host the JIT may need longer ({@code --warmup-ms}). */
    static final long DEFAULT_WARMUP_MS = 3_000;

    /** As {@link #run(Session, Map, int, int, long, PrintStream)} with the default warm-up. */
    static void run(Session s, Map<String, Tensor> inputs, int runs, int topNodes, PrintStream out) {
        run(s, inputs, runs, topNodes, DEFAULT_WARMUP_MS, out);
    }

    /**
     * Profiles {@code runs} runs after a warm-up; with {@code topNodes > 0} also lists that many of the slowest
     * top-level nodes (step, op, name, first output's shape), which is where fusion and kernel work pays. The
     * warm-up runs the model at least 5 times and for at least {@code warmupMs} milliseconds, so that the hot
     * kernels are compiled before they are timed.
     */
    static void run(Session s, Map<String, Tensor> inputs, int runs, int topNodes, long warmupMs, PrintStream out) {
        if (warmupMs < 0) throw new IllegalArgumentException("warm-up must be >= 0 ms, got " + warmupMs);
        long warmEnd = System.nanoTime() + warmupMs * 1_000_000L;
        int w = 0;
        while (w < 5 || System.nanoTime() < warmEnd) { s.run(inputs).close(); w++; }
        OpProfile p = new OpProfile();
        p.weights = s.graph().initializers();
        p.perNode = topNodes > 0;
        List<Long> totals = new ArrayList<>();
        for (int r = 0; r < runs; r++) {
            long t0 = System.nanoTime();
            // Time the runs as the session makes them: from its planned arena where planning is on (the
            // default), so that op times do not include allocating and zeroing fresh outputs.
            if (SessionInternals.memoryPlans(s) != null) closeAll(SessionInternals.memoryPlans(s).run(SessionInternals.executorFor(s, inputs), s.registry(), inputs, p));
            else closeAll(SessionInternals.run(s, inputs, OutputAllocator.FRESH, p));
            totals.add(System.nanoTime() - t0);
        }
        totals.sort(null);
        long sum = 0;
        for (long[] a : p.byType.values()) sum += a[0];
        out.printf("profile: %d warm-up runs, %d profiled runs, median run %.3f ms, kernels %.3f ms/run%n",
            w, runs, totals.get(runs / 2) / 1e6, sum / 1e6 / runs);
        print(p.byType, "", sum, runs, out);
        if (!p.innerByType.isEmpty()) {
            long inner = 0;
            for (long[] a : p.innerByType.values()) inner += a[0];
            out.printf("profile: inside subgraphs (part of the rows above; %% of all kernel time), kernels %.3f ms/run%n", inner / 1e6 / runs);
            print(p.innerByType, "  ", sum, runs, out);
        }
        if (topNodes > 0) {
            List<Map.Entry<Node, long[]>> nodes = new ArrayList<>(p.byNode.entrySet());
            nodes.sort((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]));
            out.printf("profile: the %d slowest nodes (step, op, name, first output)%n", Math.min(topNodes, nodes.size()));
            for (var e : nodes.subList(0, Math.min(topNodes, nodes.size()))) {
                Node n = e.getKey();
                Long f = p.flops.get(n);
                String rate = f == null ? "" : String.format("  %.1f GFLOP/s", f / (e.getValue()[0] / (double) runs));
                out.printf("profile: %9.3f ms/run  #%-4d %-24s %-32s %s%s%n", e.getValue()[0] / 1e6 / runs, e.getValue()[1],
                    n.opType(), n.name(), p.shapes.get(n), rate);
            }
        }
    }

    /** Done with a run's outputs: their memory goes back for the next run (see Tensor#allocateOwned). */
    private static void closeAll(Map<String, Tensor> outputs) {
        for (Tensor t : outputs.values()) t.close();
    }

    private static void print(Map<String, long[]> byType, String indent, long sum, int runs, PrintStream out) {
        List<Map.Entry<String, long[]>> rows = new ArrayList<>(byType.entrySet());
        rows.sort((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]));
        for (var e : rows) {
            long[] a = e.getValue();
            out.printf("profile: %-28s %9.3f ms/run %5.1f%% %5d nodes/run%n", indent + e.getKey(), a[0] / 1e6 / runs,
                100.0 * a[0] / Math.max(1, sum), a[1] / runs);
        }
    }
}
