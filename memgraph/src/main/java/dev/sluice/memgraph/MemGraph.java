package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.TilingOptions;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.plan.OffsetPlan;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A graph placed on devices, turned into tasks (kernels, transfers, offloads, reloads) whose edges make any
 * order they allow safe: every read follows its write, and every write into a device region follows every
 * use of the region's previous occupant, so no device ever holds more than its budget, whatever order a
 * dispatcher picks.
 *
 * @param devices    device 0 is the host
 * @param sources    host buffers filled before the run: graph inputs and initializers, by value name
 * @param results    host buffers holding the graph outputs after the run
 * @param plannedPeak per device, the most bytes live at once under the simulated order (the device buffers' offsets,
 *                    from the memory planner, may reach higher: the arena top is at least this, at most the budget)
 * @param offsetPlans by device index, the memory planner's plan of that device's arena: each buffer a task touched,
 *                    named {@code id:value}, with its lifetime in task ids and its offset (which the buffer carries);
 *                    the heuristic kept, the sizes the others reached, and the lower bound. Devices that share
 *                    host memory, and devices no task used, have none.
 */
public record MemGraph(Graph graph, List<DeviceSpec> devices, List<Buffer> buffers, List<Task> tasks,
                       List<Edge> edges, Map<String, Integer> sources, Map<String, Integer> results,
                       List<Long> plannedPeak, Map<Integer, OffsetPlan> offsetPlans) {
    public MemGraph {
        devices = List.copyOf(devices);
        buffers = List.copyOf(buffers);
        tasks = List.copyOf(tasks);
        edges = List.copyOf(edges);
        sources = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(sources));
        results = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(results));
        plannedPeak = List.copyOf(plannedPeak);
        offsetPlans = java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(offsetPlans));
    }

    /** The plan of {@code device}'s arena, if it has one (see {@link #offsetPlans}). */
    public java.util.Optional<OffsetPlan> offsetPlan(int device) { return java.util.Optional.ofNullable(offsetPlans.get(device)); }

    /** The name a device buffer has in its device's offset plan. */
    public static String planName(Buffer b) { return b.id() + ":" + b.value(); }

    /** Every node on {@code device} (device 0 of the result is the host, so a CPU device yields only kernels), tiled as {@link TilingOptions#defaults()} allow. */
    public static MemGraph onDevice(Graph graph, DeviceSpec device) { return onDevice(graph, device, TilingOptions.defaults()); }

    /** Every node on {@code device}, split only as {@code tiling} allows. */
    public static MemGraph onDevice(Graph graph, DeviceSpec device, TilingOptions tiling) { return onDevice(graph, device, tiling, 0); }

    /**
     * The same for a graph of ONNX opset {@code onnxOpset} (0: unknown), which tells a Softmax's semantics: from 13 on
     * it normalizes its axis alone, so its tiles may cut the axes after it too ({@link PlanRewrite}).
     */
    public static MemGraph onDevice(Graph graph, DeviceSpec device, TilingOptions tiling, int onnxOpset) {
        if (device.kind() == DeviceKind.CPU) return build(graph, List.of(device), new int[graph.nodes().size()], tiling);
        // Splits, full-sizes Resizes and Softmaxes too large for a quarter of the budget, as nodes the tilings split (PlanRewrite)
        if (tiling.tiles() && tiling.boxes()) graph = PlanRewrite.of(graph, device.budgetBytes() / 4, onnxOpset);
        int[] placement = new int[graph.nodes().size()];
        Arrays.fill(placement, 1);
        return build(graph, List.of(DeviceSpec.host(), device), placement, tiling);
    }

    /** Each node on {@code devices[placement[node]]}; devices[0] must be the host; tiled as {@link TilingOptions#defaults()} allow. */
    public static MemGraph build(Graph graph, List<DeviceSpec> devices, int[] placement) {
        return build(graph, devices, placement, TilingOptions.defaults());
    }

    /** Each node on {@code devices[placement[node]]}; devices[0] must be the host; nodes split only as {@code tiling} allows. */
    public static MemGraph build(Graph graph, List<DeviceSpec> devices, int[] placement, TilingOptions tiling) {
        return new MemGraphBuilder(graph, devices, placement, tiling).build();
    }

    /**
     * A placed graph as its MemGraph is built: the nodes {@link PlanRewrite} rewrites for the budget of the device each is
     * placed on (as {@link #onDevice} does for one device), the placement carried over to the rewritten nodes, and for
     * each of them the index of the node of the original graph it stands for (to read that node's costs).
     */
    public record Placed(Graph graph, int[] placement, int[] origin) {}

    /**
     * The graph of a placement rewritten as {@link #onDevice} rewrites a one-device graph: nodes on a device with its
     * own memory that need more than a quarter of its budget, when {@code tiling} cuts boxes; nodes on the host never.
     */
    public static Placed rewriteFor(Graph graph, List<DeviceSpec> devices, int[] placement, TilingOptions tiling, int onnxOpset) {
        if (!(tiling.tiles() && tiling.boxes())) return new Placed(graph, placement.clone(), java.util.stream.IntStream.range(0, placement.length).toArray());
        PlanRewrite.Rewritten r = PlanRewrite.of(graph, i -> {
            DeviceSpec d = devices.get(placement[i]);
            return d.kind().sharesHostMemory() ? Long.MAX_VALUE : d.budgetBytes() / 4;
        }, onnxOpset);
        return new Placed(r.graph(), r.placement(placement), r.origin());
    }

    /**
     * Each node on {@code devices[placement[node]]}, split as {@code tiling} allows, after the rewrites a budget calls for
     * ({@link #rewriteFor}): the placed pipeline's MemGraph, whose graph may have more nodes than {@code graph}.
     */
    public static MemGraph placed(Graph graph, List<DeviceSpec> devices, int[] placement, TilingOptions tiling, int onnxOpset) {
        Placed p = rewriteFor(graph, devices, placement, tiling, onnxOpset);
        return build(p.graph(), devices, p.placement(), tiling);
    }

    /**
     * The arena a device needs to run the graph with nothing offloaded: 100% for budgets given as a
     * percentage. Weights stay resident once loaded; activations die after their last reader; the offsets are the
     * memory planner's packing of those lifetimes. (No node is split under an unlimited budget, so no tiling switch
     * changes it.)
     */
    public static long fullNeed(Graph graph, DeviceSpec device) {
        MemGraph m = onDevice(graph, device.withBudget(Long.MAX_VALUE / 4));
        return m.buffers.stream().filter(b -> !b.onHost()).mapToLong(b -> b.offset() + b.bytes()).max().orElse(0);
    }

    /** The smallest budget with which every node's inputs and outputs fit on the device at once, tiled as {@link TilingOptions#defaults()} allow. */
    public static long minimumBudget(Graph graph, DeviceSpec device) {
        return minimumBudget(graph, device, TilingOptions.defaults());
    }

    /** The same with nodes split only as {@code tiling} allows. */
    public static long minimumBudget(Graph graph, DeviceSpec device, TilingOptions tiling) {
        if (tiling.tiles() && tiling.boxes()) graph = PlanRewrite.of(graph, 0, 0);
        return MemGraphBuilder.minimumBudget(graph, true, tiling);
    }

    /**
     * The same, counting output boxes ({@link Tile.Kind#OUTPUT_BOX}) only if {@code withBoxes}: without them, the
     * least budget at which the weight, element, step and row splits alone place every node (boxes are the last
     * resort, used only for nodes those do not bring within the budget).
     */
    public static long minimumBudget(Graph graph, DeviceSpec device, boolean withBoxes) {
        if (withBoxes) graph = PlanRewrite.of(graph, 0, 0);
        return MemGraphBuilder.minimumBudget(graph, withBoxes, TilingOptions.defaults());
    }

    /** Names a node's subgraphs read from the enclosing graph, in a fixed order (its kernel's {@code captured}). */
    public static List<String> capturedNames(Node n, Graph g) {
        Set<String> r = new LinkedHashSet<>();
        for (Graph sg : n.subgraphs()) r.addAll(sg.capturedNames());
        return new ArrayList<>(r);
    }

    /** Tasks that read each buffer (data edges out of it), counted: when they are all done the buffer is dead. */
    public int[] readerCounts() {
        int[] c = new int[buffers.size()];
        for (Task t : tasks) {
            switch (t) {
                case Task.Kernel k -> {
                    Set<Integer> seen = new java.util.HashSet<>();
                    for (int b : k.inputs()) if (b >= 0 && seen.add(b)) c[b]++;
                    for (int b : k.captured()) if (b >= 0 && seen.add(b)) c[b]++;
                }
                case Task.Transfer x -> c[x.src()]++;
                case Task.Offload x -> c[x.src()]++;
                case Task.Reload x -> c[x.src()]++;
            }
        }
        return c;
    }

    /** Counts and bytes by task kind, for reports. */
    public String summary() {
        Map<String, long[]> by = new LinkedHashMap<>();
        for (String k : List.of("kernel", "transfer", "offload", "reload")) by.put(k, new long[2]);
        for (Task t : tasks) {
            String k = switch (t) {
                case Task.Kernel x -> "kernel";
                case Task.Transfer x when x.local() -> "local copy";
                case Task.Transfer x -> "transfer";
                case Task.Offload x -> "offload";
                case Task.Reload x -> "reload";
            };
            by.computeIfAbsent(k, x -> new long[2])[0]++;
            by.get(k)[1] += t.bytes();
        }
        long mem = edges.stream().filter(e -> e.kind() == Edge.Kind.MEMORY).count();
        StringBuilder b = new StringBuilder();
        for (var e : by.entrySet()) {
            String k = e.getKey();
            b.append(e.getValue()[0]).append(' ').append(e.getValue()[0] == 1 ? k : k.endsWith("y") ? k.substring(0, k.length() - 1) + "ies" : k + "s");
            if (!e.getKey().equals("kernel")) b.append(" (").append(e.getValue()[1]).append(" B)");
            b.append(", ");
        }
        b.append(edges.size() - mem).append(" data edges, ").append(mem).append(" memory edges");
        return b.toString();
    }

    /**
     * The JSON form (see {@link MemGraphJson}): everything but the graph, which is named by a fingerprint of its
     * nodes and initializers; {@link #fromJson} reads it back given that graph.
     */
    public String toJson() { return MemGraphJson.write(this); }

    /**
     * Reads a memory graph saved by {@link #toJson} for {@code graph} (the graph it was built on: {@link #graph()},
     * weights split into blocks included). Strict: an unknown, missing or mistyped field, a dangling reference or
     * another graph is refused with the field's path; {@code source} names the text in errors.
     */
    public static MemGraph fromJson(String text, Graph graph, String source) { return MemGraphJson.read(text, graph, source); }

    public void save(java.nio.file.Path file) {
        try {
            java.nio.file.Files.writeString(file, toJson());
        } catch (java.io.IOException e) {
            throw new dev.sluice.kernels.SluiceException(file + ": cannot write: " + e.getMessage());
        }
    }

    public static MemGraph load(java.nio.file.Path file, Graph graph) {
        try {
            return fromJson(java.nio.file.Files.readString(file), graph, file.toString());
        } catch (java.io.IOException e) {
            throw new dev.sluice.kernels.SluiceException(file + ": cannot read: " + e.getMessage());
        }
    }

    /** A readable summary: the graph, each device with its budget and planned peak, and the tasks by kind. */
    @Override public String toString() {
        StringBuilder b = new StringBuilder();
        b.append("MemGraph of '").append(graph.name()).append("' (").append(graph.nodes().size()).append(" nodes): ")
            .append(tasks.size()).append(" tasks, ").append(buffers.size()).append(" buffers\n");
        for (int d = 0; d < devices.size(); d++) {
            DeviceSpec s = devices.get(d);
            int dd = d;
            long top = buffers.stream().filter(x -> x.device() == dd && !x.onHost()).mapToLong(x -> x.offset() + x.bytes()).max().orElse(0);
            long count = tasks.stream().filter(t -> t.device() == dd).count();
            b.append("  device ").append(d).append(' ').append(s.name()).append(" (").append(s.kind()).append(")");
            if (s.kind().sharesHostMemory()) b.append(": host memory");
            else b.append(": budget ").append(s.budgetBytes()).append(" B, planned peak ").append(plannedPeak.get(d)).append(" B, arena top ").append(top).append(" B");
            OffsetPlan p = offsetPlans.get(d);
            if (p != null) b.append(" (offsets: ").append(p.heuristic()).append(", ").append(p.lifetimes().size()).append(" buffers, bound ").append(p.bound()).append(" B)");
            b.append(", ").append(count).append(" tasks\n");
        }
        b.append("  ").append(summary());
        return b.toString();
    }

    /** Task counts by lane kind. */
    public Map<dev.sluice.kernels.device.LaneKind, Integer> tasksByLane() {
        Map<dev.sluice.kernels.device.LaneKind, Integer> m = new EnumMap<>(dev.sluice.kernels.device.LaneKind.class);
        for (Task t : tasks) m.merge(t.lane(), 1, Integer::sum);
        return m;
    }
}
