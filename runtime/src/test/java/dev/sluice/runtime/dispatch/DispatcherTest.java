package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class DispatcherTest {
    /** Three queues like a device: 2 compute lanes, one H2D, one D2H. */
    static final List<Dispatcher.LaneSlot> LANES = List.of(
        new Dispatcher.LaneSlot("compute0", 0, false), new Dispatcher.LaneSlot("compute1", 0, false),
        new Dispatcher.LaneSlot("h2d", 1, true), new Dispatcher.LaneSlot("d2h", 2, true));

    /** A random DAG whose jobs record when they started and ended on one global clock. */
    static final class RandomDag {
        final TaskGraph graph = new TaskGraph();
        final List<int[]> preds = new ArrayList<>();
        final AtomicInteger clock = new AtomicInteger();
        final AtomicIntegerArray started, ended, runs;

        RandomDag(long seed, int n, double density, int failAt) { this(seed, n, density, failAt, 3); }

        RandomDag(long seed, int n, double density, int failAt, int queues) {
            SplittableRandom r = new SplittableRandom(seed);
            started = new AtomicIntegerArray(n);
            ended = new AtomicIntegerArray(n);
            runs = new AtomicIntegerArray(n);
            for (int i = 0; i < n; i++) {
                int id = i;
                graph.add(new TaskGraph.Job("t" + i, r.nextInt(queues), r.nextInt(100), () -> {
                    started.set(id, clock.incrementAndGet());
                    runs.incrementAndGet(id);
                    if (id == failAt) throw new IllegalStateException("boom in t" + id);
                    ended.set(id, clock.incrementAndGet());
                }));
                List<Integer> p = new ArrayList<>();
                for (int j = Math.max(0, i - 12); j < i; j++) if (r.nextDouble() < density) { graph.edge(j, i); p.add(j); }
                preds.add(p.stream().mapToInt(Integer::intValue).toArray());
            }
        }

        void assertValidOrder() {
            for (int i = 0; i < preds.size(); i++) {
                assertEquals(1, runs.get(i), "t" + i + " ran once");
                for (int p : preds.get(i)) {
                    assertTrue(ended.get(p) < started.get(i), "t" + p + " ended before its successor t" + i + " started");
                }
            }
        }
    }

    @Test void randomDagsRunToCompletionInValidOrders() {
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            for (int seed = 0; seed < 50; seed++) {
                RandomDag d = new RandomDag(seed, 1 + seed * 7, 0.3, -1);
                Trace t = new Dispatcher(LANES, order).run(d.graph);
                d.assertValidOrder();
                assertEquals(d.graph.size(), t.slices().size());
            }
        }
    }

    @Test void scheduleFuzzingNeverDeadlocks() {
        try (Dispatcher dynamic = new Dispatcher(LANES, Dispatcher.Order.DYNAMIC)) {
            Dispatcher fixed = dynamic.withOrder(Dispatcher.Order.FIXED);
            for (int run = 0; run < 1200; run++) {
                Dispatcher base = run % 3 == 2 ? fixed : dynamic;
                RandomDag d = new RandomDag(1000 + run, 40, 0.25, -1);
                base.withJitter(run, 20_000).run(d.graph);
                d.assertValidOrder();
            }
        }
    }

    /**
     * Many lanes on queues of one lane (one consumer: the single-consumer ready queue) and of several, big random
     * DAGs with many sinks, every order, with and without injected delays: every task runs exactly once, after all
     * its predecessors ended, and all have ended when run returns (completion is counted on sinks only).
     */
    @Test void manyLanesBigGraphsEveryTaskOnceInOrder() {
        List<Dispatcher.LaneSlot> lanes = List.of(
            new Dispatcher.LaneSlot("c0", 0, false), new Dispatcher.LaneSlot("c1", 0, false), new Dispatcher.LaneSlot("c2", 0, false),
            new Dispatcher.LaneSlot("c3", 0, false), new Dispatcher.LaneSlot("h2d", 1, true), new Dispatcher.LaneSlot("d2h", 2, true),
            new Dispatcher.LaneSlot("x0", 3, false), new Dispatcher.LaneSlot("x1", 3, true), new Dispatcher.LaneSlot("y", 4, true));
        try (Dispatcher base = new Dispatcher(lanes, Dispatcher.Order.DYNAMIC)) {
            for (int run = 0; run < 60; run++) {
                Dispatcher.Order order = Dispatcher.Order.values()[run % 3];
                SplittableRandom r = new SplittableRandom(run);
                int n = 500 + r.nextInt(4000);
                RandomDag d = new RandomDag(5000 + run, n, 0.08 + r.nextDouble() * 0.2, -1, 5);
                Dispatcher disp = base.withOrder(order);
                if (run % 4 == 3) disp = disp.withJitter(run, 2_000);
                Trace t = disp.run(d.graph);
                d.assertValidOrder();
                for (int i = 0; i < n; i++) assertTrue(d.ended.get(i) > 0, order + ": t" + i + " had not ended when run returned");
                assertEquals(n, t.slices().size());
            }
        }
    }

    /** A session's runs reuse the lane threads instead of starting new ones each time. */
    @Test void laneWorkersAreKeptBetweenRuns() {
        try (Dispatcher disp = new Dispatcher(LANES, Dispatcher.Order.DYNAMIC)) {
            java.util.Set<Thread> seen = java.util.concurrent.ConcurrentHashMap.newKeySet();
            for (int run = 0; run < 20; run++) {
                TaskGraph g = new TaskGraph();
                for (int i = 0; i < 40; i++) g.add(new TaskGraph.Job("t" + i, i % 3, 0, () -> seen.add(Thread.currentThread())));
                disp.run(g);
            }
            assertTrue(seen.size() <= LANES.size(), "20 runs used " + seen.size() + " threads for " + LANES.size() + " lanes: " + seen);
        }
    }

    @Test void aClosedDispatcherRefusesRuns() {
        Dispatcher d = new Dispatcher(LANES, Dispatcher.Order.DYNAMIC);
        d.run(new RandomDag(1, 10, 0.3, -1).graph);
        d.close();
        assertThrows(IllegalStateException.class, () -> d.run(new RandomDag(2, 10, 0.3, -1).graph));
    }

    @Test void fixedOrderIssuesEachQueueInIdOrder() {
        RandomDag d = new RandomDag(7, 200, 0.2, -1);
        Trace t = new Dispatcher(LANES, Dispatcher.Order.FIXED).withJitter(3, 10_000).run(d.graph);
        for (int q = 0; q < 3; q++) {
            int last = -1;
            for (int i = 0; i < d.graph.size(); i++) {
                if (d.graph.job(i).queue() != q) continue;
                // Lanes of one queue may finish out of order, but a later id never starts before an earlier one was taken.
                assertTrue(d.started.get(i) > last || q == 0, "queue " + q + " issued t" + i + " out of order");
                last = d.started.get(i);
            }
        }
        d.assertValidOrder();
        assertTrue(t.wallNanos() > 0);
    }

    @Test void anExceptionFailsTheRunCleanlyAndNamesTheTask() {
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            RandomDag d = new RandomDag(11, 300, 0.3, 150);
            DispatchException e = assertThrows(DispatchException.class, () -> new Dispatcher(LANES, order).run(d.graph));
            assertEquals("t150", e.task());
            assertTrue(e.getMessage().contains("t150") && e.getMessage().contains("boom"), e.getMessage());
            // Workers were joined: nothing runs after run() returned, and nothing that depends on t150 ran at all.
            int before = d.clock.get();
            Thread.onSpinWait();
            assertEquals(before, d.clock.get());
            for (int i = 151; i < 300; i++) {
                for (int p : d.preds.get(i)) if (p == 150) assertEquals(0, d.runs.get(i), "t" + i + " depends on the failed task");
            }
        }
    }

    @Test void traceMeasuresBusyOverlapAndBytes() {
        TaskGraph g = new TaskGraph();
        g.add(new TaskGraph.Job("copy", 1, 1000, () -> {}));
        g.add(new TaskGraph.Job("compute", 0, 0, () -> {}));
        Trace t = new Dispatcher(LANES, Dispatcher.Order.DYNAMIC).run(g);
        assertEquals(1000, t.bytesMoved());
        assertTrue(t.overlapNanos() >= 0 && t.overlapNanos() <= t.wallNanos());
        String json = t.toChromeJson();
        assertTrue(json.contains("\"thread_name\"") && json.contains("\"name\":\"copy\"") && json.contains("\"ph\":\"X\""));
    }

    @Test void backwardEdgesAreRejected() {
        TaskGraph g = new TaskGraph();
        g.add(new TaskGraph.Job("a", 0, 0, () -> {}));
        g.add(new TaskGraph.Job("b", 0, 0, () -> {}));
        assertThrows(IllegalArgumentException.class, () -> g.edge(1, 0));
    }
}
