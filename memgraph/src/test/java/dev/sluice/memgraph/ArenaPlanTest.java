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
import dev.sluice.kernels.device.LaneKind;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The planner's offsets with the memory edges derived from them, checked by brute force and independently of the
 * builder: in random orders that the edges allow, no two device buffers that are live at once share a byte, every
 * buffer lies inside the budget, and the live bytes never pass it. A buffer is live from the first task that touches
 * it (reads or writes it) to the last.
 */
class ArenaPlanTest {
    /** Per buffer, the tasks that touch it, from the tasks themselves. */
    static List<List<Integer>> touching(MemGraph m) {
        List<List<Integer>> r = new ArrayList<>();
        for (int b = 0; b < m.buffers().size(); b++) r.add(new ArrayList<>());
        for (Task t : m.tasks()) {
            List<Integer> bs = new ArrayList<>();
            switch (t) {
                case Task.Kernel k -> { bs.addAll(k.inputs()); bs.addAll(k.captured()); bs.addAll(k.outputs()); bs.add(k.scratch()); }
                case Task.Transfer x -> { bs.add(x.src()); bs.add(x.dst()); }
                case Task.Offload x -> { bs.add(x.src()); bs.add(x.dst()); }
                case Task.Reload x -> { bs.add(x.src()); bs.add(x.dst()); }
            }
            for (int b : bs) if (b >= 0 && !r.get(b).contains(t.id())) r.get(b).add(t.id());
        }
        return r;
    }

    /** A random order the edges allow (Kahn's algorithm, picking a ready task at random). */
    static int[] randomOrder(MemGraph m, SplittableRandom rnd) {
        int n = m.tasks().size();
        int[] indeg = new int[n];
        List<List<Integer>> succ = new ArrayList<>();
        for (int i = 0; i < n; i++) succ.add(new ArrayList<>());
        for (Edge e : m.edges()) { succ.get(e.from()).add(e.to()); indeg[e.to()]++; }
        List<Integer> ready = new ArrayList<>();
        for (int i = 0; i < n; i++) if (indeg[i] == 0) ready.add(i);
        int[] order = new int[n];
        for (int k = 0; k < n; k++) {
            int t = ready.remove(rnd.nextInt(ready.size()));
            order[k] = t;
            for (int s : succ.get(t)) if (--indeg[s] == 0) ready.add(s);
        }
        return order;
    }

    static void check(MemGraph m, long budget, int orders) {
        List<List<Integer>> touch = touching(m);
        for (Buffer b : m.buffers()) {
            if (!b.onHost() && !touch.get(b.id()).isEmpty()) assertTrue(b.offset() >= 0 && b.offset() + b.bytes() <= budget, b + " outside " + budget);
        }
        SplittableRandom rnd = new SplittableRandom(budget);
        for (int o = 0; o < orders; o++) {
            int[] order = randomOrder(m, rnd);
            int[] pos = new int[order.length];
            for (int k = 0; k < order.length; k++) pos[order[k]] = k;
            // each device buffer's live span in this order
            List<int[]> spans = new ArrayList<>();
            for (Buffer b : m.buffers()) {
                if (b.onHost() || touch.get(b.id()).isEmpty()) continue;
                int first = Integer.MAX_VALUE, last = -1;
                for (int t : touch.get(b.id())) { first = Math.min(first, pos[t]); last = Math.max(last, pos[t]); }
                spans.add(new int[] {b.id(), first, last});
            }
            for (int step = 0; step < order.length; step++) {
                List<Buffer> live = new ArrayList<>();
                for (int[] s : spans) if (s[1] <= step && step <= s[2]) live.add(m.buffers().get(s[0]));
                long bytes = live.stream().mapToLong(Buffer::bytes).sum();
                assertTrue(bytes <= budget, bytes + " bytes live over " + budget + " at step " + step + " of order " + o);
                live.sort(java.util.Comparator.comparingLong(Buffer::offset));
                for (int i = 1; i < live.size(); i++) {
                    Buffer a = live.get(i - 1), b = live.get(i);
                    assertTrue(a.offset() + a.bytes() <= b.offset(), a + " and " + b + " are live together and overlap (order " + o + ", step " + step + ")");
                }
            }
        }
    }

    @Test void noOrderTheEdgesAllowOverlapsOrOverfills() {
        Graph g = MemGraphTest.unet(16, 64, 32);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        long min = MemGraph.minimumBudget(g, MemGraphTest.throttled(1));
        for (long b : new long[] {full, full / 2, full / 4, full / 10, min}) {
            long budget = Math.max(b, min);
            check(MemGraph.onDevice(g, MemGraphTest.throttled(budget)), budget / 64 * 64, 20);
        }
    }

    @Test void unconstrainedNeedIsThePlannersPackingNotMore() {
        // The full need is the planned arena of the run with nothing offloaded; at exactly that budget the graph runs
        // with no offload and no reload (the walk keeps everything, the planner packs it the same way).
        Graph g = MemGraphTest.unet(6, 4, 32);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        MemGraph m = MemGraph.onDevice(g, MemGraphTest.throttled(full));
        assertTrue(m.tasks().stream().noneMatch(t -> t instanceof Task.Offload || t instanceof Task.Reload), m.summary());
        check(m, full, 20);
    }

    /** x[1, k] times a weight [k, n] with bias, then Relu: at a quarter of its need the weight streams through in column tiles. */
    static Graph streamed(int k, int n) {
        TensorType x = TensorType.of(DType.FLOAT32, Shape.of(1, k)), y = TensorType.of(DType.FLOAT32, Shape.of(1, n));
        Map<String, Tensor> init = Map.of("w", Tensor.allocate(DType.FLOAT32, Shape.of(k, n)), "b", Tensor.allocate(DType.FLOAT32, Shape.of(n)));
        List<Node> nodes = List.of(
            new Node("gemm", "Gemm", "", List.of("x", "w", "b"), List.of("g"), Attributes.EMPTY),
            new Node("relu", "Relu", "", List.of("g"), List.of("y"), Attributes.EMPTY));
        return new Graph("streamed", nodes, List.of(new Value("x", x)), List.of(new Value("y", y)), init, Map.of("x", x, "g", y, "y", y));
    }

    /**
     * Double buffering where the budget has room: no copy over the link into the device waits (a MEMORY edge) for the
     * kernel right before it, so a tile's weights come in while the previous tile computes, instead of copies and
     * kernels taking turns; and the plan still keeps every order within the budget, without overlaps.
     */
    @Test void aTilesCopyDoesNotWaitForTheKernelBeforeItWhereTheBudgetHasRoom() {
        Graph g = streamed(64, 4096);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        long budget = full / 4;
        MemGraph m = MemGraph.onDevice(g, MemGraphTest.throttled(budget));
        long tiles = m.tasks().stream().filter(t -> t instanceof Task.Kernel k && k.tile() != null).count();
        assertTrue(tiles >= 4, "the weight is split into column tiles: " + m.summary());
        int[] kernelBefore = new int[m.tasks().size()];
        int last = -1;
        for (Task t : m.tasks()) { kernelBefore[t.id()] = last; if (t instanceof Task.Kernel) last = t.id(); }
        int waits = 0;
        for (Edge e : m.edges()) {
            if (e.kind() == Edge.Kind.MEMORY && m.tasks().get(e.to()).lane() == LaneKind.H2D && e.from() == kernelBefore[e.to()]) waits++;
        }
        assertEquals(0, waits, "copies that wait for the kernel right before them, of " + m.summary());
        check(m, budget / 64 * 64, 50);
    }
}
