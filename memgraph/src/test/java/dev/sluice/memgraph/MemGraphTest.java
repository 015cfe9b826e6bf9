package dev.sluice.memgraph;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.device.DeviceKind;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class MemGraphTest {
    /**
     * A U-Net-like stack: depth layers down (MatMul with one of three shared weights, Relu), then depth
     * layers up, each adding the down activation of the same level. Every down activation stays needed
     * until the way back up, so memory peaks at the bottom while each node alone needs little.
     */
    static Graph unet(int depth, int batch, int width) {
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> init = new LinkedHashMap<>();
        Map<String, TensorType> types = new HashMap<>();
        TensorType act = TensorType.of(DType.FLOAT32, Shape.of(batch, width));
        for (int w = 0; w < 3; w++) init.put("w" + w, Tensor.allocate(DType.FLOAT32, Shape.of(width, width)));
        types.put("h0", act);
        for (int i = 0; i < depth; i++) {
            nodes.add(new Node("down" + i, "MatMul", "", List.of("h" + i, "w" + (i % 3)), List.of("dm" + i), Attributes.EMPTY));
            nodes.add(new Node("relu" + i, "Relu", "", List.of("dm" + i), List.of("h" + (i + 1)), Attributes.EMPTY));
            types.put("dm" + i, act);
            types.put("h" + (i + 1), act);
        }
        String u = "h" + depth;
        for (int k = 0; k < depth; k++) {
            nodes.add(new Node("up" + k, "MatMul", "", List.of(u, "w" + (k % 3)), List.of("um" + k), Attributes.EMPTY));
            nodes.add(new Node("add" + k, "Add", "", List.of("um" + k, "h" + (depth - 1 - k)), List.of("u" + (k + 1)), Attributes.EMPTY));
            types.put("um" + k, act);
            types.put("u" + (k + 1), act);
            u = "u" + (k + 1);
        }
        return new Graph("unet", nodes, List.of(new Value("h0", act)), List.of(new Value(u, act)), init, types);
    }

    static DeviceSpec throttled(long budget) { return new DeviceSpec("throttled", DeviceKind.THROTTLED, budget); }

    @Test void cpuPlacementIsJustKernels() {
        MemGraph m = MemGraph.onDevice(unet(3, 2, 8), DeviceSpec.host());
        assertTrue(m.tasks().stream().allMatch(t -> t instanceof Task.Kernel));
        assertEquals(12, m.tasks().size());
    }

    @Test void fullBudgetLoadsEachWeightOnceAndNeverOffloads() {
        Graph g = unet(6, 4, 32);
        long full = MemGraph.fullNeed(g, throttled(1));
        MemGraph m = MemGraph.onDevice(g, throttled(full));
        assertTrue(m.tasks().stream().noneMatch(t -> t instanceof Task.Offload || t instanceof Task.Reload), m.summary());
        // Each weight (or, where a MatMul is split by columns, each of its per-node blocks) and x go in once, y out once.
        List<Task.Transfer> in = m.tasks().stream().filter(t -> t instanceof Task.Transfer x && x.lane() == dev.sluice.kernels.device.LaneKind.H2D)
            .map(t -> (Task.Transfer) t).toList();
        assertEquals(in.size(), in.stream().map(x -> m.buffers().get(x.src()).value()).distinct().count(), m.summary());
        assertEquals(1, m.tasks().stream().filter(t -> t instanceof Task.Transfer x && x.lane() == dev.sluice.kernels.device.LaneKind.D2H).count(), "y out");
    }

    @Test void smallBudgetsOffloadAndReload() {
        Graph g = unet(16, 64, 32);
        long full = MemGraph.fullNeed(g, throttled(1));
        MemGraph m = MemGraph.onDevice(g, throttled(full / 4));
        assertTrue(m.plannedPeak().get(1) <= full / 4);
        // h1 exists only on the device and is needed last: the natural victim.
        assertTrue(m.tasks().stream().anyMatch(t -> t instanceof Task.Offload o && o.label().contains("offload h1 ")), m.summary());
        // Its reader, an Add split by element ranges, takes it back whole or range by range from the host copy.
        assertTrue(m.tasks().stream().anyMatch(t -> t instanceof Task.Reload r && r.label().contains("reload h1 ")
            || t instanceof Task.Transfer x && x.ranged() && x.label().startsWith("h2d h1[")), m.summary());
    }

    @Test void aBudgetBelowTheLargestTaskIsRefusedWithTheNumberItNeeds() {
        Graph g = unet(2, 16, 64);
        long min = MemGraph.minimumBudget(g, throttled(1));
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, throttled(min - 64)));
        assertEquals(min, e.neededBytes());
        assertTrue(e.getMessage().contains(Long.toString(min)), e.getMessage());
        assertDoesNotThrow(() -> MemGraph.onDevice(g, throttled(min)));
    }

    /**
     * The central promise: in every order the edges allow, no two live device blocks overlap and live bytes
     * never pass the budget. Checked on random topological orders of the task graph (a task is atomic here;
     * a block is live from its writer to its last reader).
     */
    @Test void everyOrderTheEdgesAllowStaysWithinBudgetAndNeverOverlaps() {
        Graph g = unet(16, 64, 32);
        long full = MemGraph.fullNeed(g, throttled(1));
        for (int pct : new int[] {100, 50, 30, 25}) {
            long budget = full * pct / 100;
            MemGraph m = MemGraph.onDevice(g, throttled(budget));
            for (int seed = 0; seed < 200; seed++) checkOrder(m, budget, new SplittableRandom(seed));
        }
    }

    static void checkOrder(MemGraph m, long budget, SplittableRandom r) {
        int n = m.tasks().size();
        int[] preds = new int[n];
        List<List<Integer>> succ = new ArrayList<>();
        for (int i = 0; i < n; i++) succ.add(new ArrayList<>());
        for (Edge e : m.edges()) { preds[e.to()]++; succ.get(e.from()).add(e.to()); }
        int[] readersLeft = m.readerCounts();
        boolean[] live = new boolean[m.buffers().size()];
        List<Integer> ready = new ArrayList<>();
        for (int i = 0; i < n; i++) if (preds[i] == 0) ready.add(i);
        int done = 0;
        while (!ready.isEmpty()) {
            int t = ready.remove(r.nextInt(ready.size()));
            Task task = m.tasks().get(t);
            List<Integer> writes = new ArrayList<>(), reads = new ArrayList<>();
            switch (task) {
                case Task.Kernel k -> {
                    // A tile after the first writes into the output its first tile placed; a tile's scratch
                    // is written and dead within the task. A band of output rows (a box) writes a band (a box) of its own.
                    if (k.tile() == null || k.tile().index() == 0 || k.tile().kind() == Tile.Kind.OUTPUT_ROWS
                        || k.tile().kind() == Tile.Kind.OUTPUT_BOX) k.outputs().forEach(writes::add);
                    if (k.scratch() >= 0) writes.add(k.scratch());
                    k.inputs().forEach(reads::add);
                    k.captured().forEach(reads::add);
                }
                case Task.Transfer x -> {
                    // a band scattered on the device into its output's whole block: the first places the block, later
                    // ones (chained after it) write into it while it is live
                    if (!(x.local() && live[x.dst()] && m.buffers().get(x.dst()).bytes() > m.buffers().get(x.src()).bytes())) writes.add(x.dst());
                    reads.add(x.src());
                }
                case Task.Offload x -> { writes.add(x.dst()); reads.add(x.src()); }
                case Task.Reload x -> { writes.add(x.dst()); reads.add(x.src()); }
            }
            for (int b : reads) if (b >= 0) assertTrue(live[b] || m.buffers().get(b).onHost(), "task " + task.label() + " reads a dead block");
            for (int w : writes) {
                if (w < 0) continue;
                Buffer bw = m.buffers().get(w);
                if (!bw.onHost()) {
                    for (int o = 0; o < live.length; o++) {
                        Buffer bo = m.buffers().get(o);
                        if (live[o] && bo.device() == bw.device() && bo.offset() < bw.offset() + bw.bytes() && bw.offset() < bo.offset() + bo.bytes()) {
                            fail(task.label() + " writes " + bw + " over live " + bo);
                        }
                    }
                }
                live[w] = true;
            }
            long sum = 0;
            for (int o = 0; o < live.length; o++) if (live[o] && !m.buffers().get(o).onHost()) sum += m.buffers().get(o).bytes();
            assertTrue(sum <= budget, sum + " live bytes over the budget of " + budget);
            java.util.Set<Integer> seen = new java.util.HashSet<>();
            for (int b : reads) if (b >= 0 && seen.add(b) && --readersLeft[b] == 0 && !m.buffers().get(b).onHost()) live[b] = false;
            for (int w : writes) if (w >= 0 && readersLeft[w] == 0 && !m.buffers().get(w).onHost()) live[w] = false;
            done++;
            for (int s : succ.get(t)) if (--preds[s] == 0) ready.add(s);
        }
        assertEquals(n, done, "every task ran");
    }
}
