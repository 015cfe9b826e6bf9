package dev.sluice.memgraph.placement;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.graph.cost.FlopCount;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The scheduling problem every strategy solves: tasks (nodes, or groups of nodes after {@link Coarsening}) in
 * topological order, each with a time per device; arcs carrying bytes between tasks; devices with a link to the
 * host and a memory capacity. Device 0 is the host CPU.
 *
 * <p>The model (shared by the heuristics, the MILP and the brute force of the tests): each device runs one task
 * at a time; a task starts when its predecessors have ended and their results crossed the link (a transfer
 * between two devices costs {@link #transferMillis}; transfers are delays, they do not queue); a task on an
 * accelerator first waits for the graph inputs it reads to cross the link, and its graph outputs cross back
 * before the run ends. Accelerator memory is modelled statically as the weights of every task placed there
 * plus the largest working set (activations in and out) of one of them ({@link #acceleratorBytes}); the exact
 * peak of a placement comes from its MemGraph.
 *
 * <p>Invariants: arcs go from a lower task index to a higher one; {@code members} partition the graph's nodes.
 */
public record PlacementProblem(List<String> names, int[][] members, double[][] millis, long[] weightBytes, long[] workBytes,
                               long[] hostInBytes, long[] hostOutBytes, List<Arc> arcs, CostModel costs) {
    /** {@code from} must end, and its {@code bytes} reach {@code to}'s device, before {@code to} starts. */
    public record Arc(int from, int to, long bytes) {}

    public PlacementProblem {
        names = List.copyOf(names);
        arcs = List.copyOf(arcs);
        for (Arc a : arcs) if (a.from() >= a.to()) throw new IllegalArgumentException("arc " + a + " is not forward");
    }

    public int size() { return names.size(); }

    public int devices() { return costs.devices().size(); }

    /** Milliseconds to move {@code bytes} from device a to device b (through the host when neither is it). */
    public double transferMillis(long bytes, int a, int b) {
        if (a == b) return 0;
        return costs.devices().get(a).transferMillis(bytes) + costs.devices().get(b).transferMillis(bytes);
    }

    /** The capacity of device d in the model (its budget), or Long.MAX_VALUE for the host or no budget. */
    public long capacity(int d) {
        long m = costs.devices().get(d).memoryBytes();
        return d == 0 || m <= 0 ? Long.MAX_VALUE : m;
    }

    /** The static memory model of device d under an assignment: weights placed there plus the largest working set. */
    public long acceleratorBytes(int[] assign, int d) {
        long w = 0, most = 0;
        for (int t = 0; t < size(); t++) {
            if (assign[t] != d) continue;
            w += weightBytes[t];
            most = Math.max(most, workBytes[t]);
        }
        return w + most;
    }

    /** True when the assignment fits every device's capacity in the static model. */
    public boolean fits(int[] assign) {
        for (int d = 1; d < devices(); d++) if (acceleratorBytes(assign, d) > capacity(d)) return false;
        return true;
    }

    /** Predecessor arcs of each task. */
    public List<List<Arc>> predecessors() {
        List<List<Arc>> p = new ArrayList<>();
        for (int i = 0; i < size(); i++) p.add(new ArrayList<>());
        for (Arc a : arcs) p.get(a.to()).add(a);
        return p;
    }

    /** Successor arcs of each task. */
    public List<List<Arc>> successors() {
        List<List<Arc>> s = new ArrayList<>();
        for (int i = 0; i < size(); i++) s.add(new ArrayList<>());
        for (Arc a : arcs) s.get(a.from()).add(a);
        return s;
    }

    /** Expands a task assignment to one device per graph node. */
    public int[] nodeAssignment(int[] assign, int nodes) {
        int[] r = new int[nodes];
        for (int t = 0; t < size(); t++) for (int n : members[t]) r[n] = assign[t];
        return r;
    }

    /**
     * One task per node of {@code g}, timed by {@code costs} (made for this graph). On a device that does not keep
     * weights between runs (kind {@code throttled}: its arena is fresh each run), a node's time includes copying
     * its weights over the link; a described device is assumed to hold them from the start.
     */
    public static PlacementProblem of(Graph g, CostModel costs) {
        costs.requireFor(g);
        List<Node> nodes = g.nodes();
        int n = nodes.size(), nd = costs.devices().size();
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < n; i++) for (String o : nodes.get(i).outputs()) if (!o.isEmpty()) producer.put(o, i);
        Set<String> graphInputs = new HashSet<>();
        for (Value v : g.inputs()) graphInputs.add(v.name());
        Set<String> graphOutputs = new HashSet<>();
        for (Value v : g.outputs()) graphOutputs.add(v.name());
        List<String> names = CostModel.nodeKeys(g);
        int[][] members = new int[n][];
        double[][] millis = new double[n][nd];
        long[] w = new long[n], work = new long[n], hin = new long[n], hout = new long[n];
        Map<Long, Long> arcBytes = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            Node node = nodes.get(i);
            members[i] = new int[] {i};
            Set<String> seen = new HashSet<>();
            for (String v : readsOf(g, node)) {
                if (v.isEmpty() || !seen.add(v)) continue;
                long b = Tensor.blockBytes(FlopCount.bytes(g, v));
                if (g.initializers().containsKey(v)) { w[i] += b; continue; }
                work[i] += b;
                Integer p = producer.get(v);
                if (p != null && p < i) arcBytes.merge(((long) p << 32) | i, b, Long::sum);
                else if (graphInputs.contains(v)) hin[i] += b;
            }
            for (String o : node.outputs()) {
                if (o.isEmpty()) continue;
                long b = Tensor.blockBytes(FlopCount.bytes(g, o));
                work[i] += b;
                if (graphOutputs.contains(o)) hout[i] += b;
            }
            for (int d = 0; d < nd; d++) {
                millis[i][d] = costs.nodes().get(i).millis(d);
                if (costs.devices().get(d).kind().equals("throttled") || costs.devices().get(d).kind().equals("tornadovm")) millis[i][d] += costs.devices().get(d).transferMillis(w[i]) * (w[i] > 0 ? 1 : 0);
            }
        }
        List<Arc> arcs = new ArrayList<>();
        arcBytes.forEach((k, b) -> arcs.add(new Arc((int) (k >>> 32), (int) (long) k, b)));
        arcs.sort(java.util.Comparator.comparingInt(Arc::to).thenComparingInt(Arc::from));
        return new PlacementProblem(names, members, millis, w, work, hin, hout, arcs, costs);
    }

    /** Inputs of a node and the names its subgraphs capture from the graph. */
    private static List<String> readsOf(Graph g, Node node) {
        List<String> r = new ArrayList<>(node.inputs());
        for (Graph sg : node.subgraphs()) r.addAll(sg.capturedNames());
        return r;
    }

    /** A problem from raw figures (tests, benchmarks): no graph behind it. */
    public static PlacementProblem raw(double[][] millis, long[] weightBytes, long[] workBytes, List<Arc> arcs, CostModel costs) {
        int n = millis.length;
        List<String> names = new ArrayList<>();
        int[][] members = new int[n][];
        for (int i = 0; i < n; i++) { names.add("t" + i); members[i] = new int[] {i}; }
        return new PlacementProblem(names, members, millis, weightBytes, workBytes, new long[n], new long[n], arcs, costs);
    }

    /** Refuses a problem whose cost model has no device besides the host. */
    void requireAccelerator() {
        if (devices() < 2) throw new SluiceException("placement needs the cpu and at least one accelerator, got " + costs.devices());
    }
}
