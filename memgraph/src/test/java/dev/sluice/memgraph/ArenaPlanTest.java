package dev.sluice.memgraph;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import java.util.ArrayList;
import java.util.List;
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
}
