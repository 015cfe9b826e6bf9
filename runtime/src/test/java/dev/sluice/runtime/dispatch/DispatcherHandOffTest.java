package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.Test;

/**
 * The hand-off between lanes: a task made ready while its lane spins, or while it is on its way to park, is run (no lost
 * wake-up), with the spin on imminent work on and off; and each task sees when it became ready.
 */
class DispatcherHandOffTest {
    /** One compute lane, two copy lanes: the throttled device's shape. */
    static final List<Dispatcher.LaneSlot> DEVICE = List.of(
        new Dispatcher.LaneSlot("compute", 0, false), new Dispatcher.LaneSlot("h2d", 1, true), new Dispatcher.LaneSlot("d2h", 2, true));

    /**
     * A tiled node's shape: per tile an H2D copy, a kernel, a D2H copy; the copy of tile i + 2 waits for tile i's kernel
     * (its buffer), so compute and copy lanes hand work to each other on every task. Bodies take 0 to {@code maxSpin} ns.
     */
    static TaskGraph pingPong(int tiles, long seed, long maxSpin, AtomicLongArray ran) {
        SplittableRandom r = new SplittableRandom(seed);
        TaskGraph g = new TaskGraph();
        int[] kernel = new int[tiles];
        for (int i = 0; i < tiles; i++) {
            int up = add(g, "h2d " + i, 1, r.nextLong(maxSpin + 1), ran);
            kernel[i] = add(g, "kernel " + i, 0, r.nextLong(maxSpin + 1), ran);
            int down = add(g, "d2h " + i, 2, r.nextLong(maxSpin + 1), ran);
            g.edge(up, kernel[i]);
            g.edge(kernel[i], down);
            if (i >= 2) g.edge(kernel[i - 2], up);
        }
        return g;
    }

    private static int add(TaskGraph g, String name, int queue, long spin, AtomicLongArray ran) {
        int id = g.size();
        return g.add(new TaskGraph.Job(name, queue, 0, () -> {
            long until = System.nanoTime() + spin;
            while (System.nanoTime() < until) Thread.onSpinWait();
            ran.incrementAndGet(id);
        }));
    }

    /**
     * Without the parks' timeout a lost wake-up leaves a lane parked with work in its queue for good, and the run hangs:
     * the build's guard against hung test JVMs (surefire's forkedProcessTimeoutInSeconds) turns that into a failure. Every order, spin on imminent work on (50 us) and off (the default),
     * with and without injected delays (which move the moment a lane goes to park against the moment work arrives).
     */
    @Test void aTaskMadeReadyWhileItsLaneGoesToParkIsRun() {
        try (Dispatcher d = new Dispatcher(DEVICE, Dispatcher.Order.DYNAMIC)) {
            Dispatcher strict = d.withoutParkTimeout();
            int runs = 0;
            for (Dispatcher.Order o : Dispatcher.Order.values()) {
                for (long spin : new long[] {50_000, 0}) {
                    Dispatcher x = strict.withOrder(o).withSpinNanos(spin);
                    for (int run = 0; run < 60; run++, runs++) {
                        int tiles = 4 + run % 13;
                        AtomicLongArray ran = new AtomicLongArray(tiles * 3);
                        TaskGraph g = pingPong(tiles, run, run % 3 == 0 ? 0 : 30_000, ran);
                        Dispatcher y = run % 2 == 0 ? x : x.withJitter(run, 60_000);
                        Trace t = y.run(g);
                        assertEquals(g.size(), t.slices().size());
                        for (int i = 0; i < g.size(); i++) assertEquals(1, ran.get(i), o + " spin " + spin + ": " + g.job(i).name() + " ran once");
                    }
                }
            }
            assertEquals(360, runs);
        }
    }

    /** Random DAGs over more lanes than queues (two compute lanes share a queue, and a spin token), parks without timeout. */
    @Test void randomDagsCompleteWithoutTheParkTimeout() {
        try (Dispatcher d = new Dispatcher(DispatcherTest.LANES, Dispatcher.Order.DYNAMIC)) {
            for (int run = 0; run < 300; run++) {
                Dispatcher x = d.withoutParkTimeout().withOrder(Dispatcher.Order.values()[run % 3])
                    .withSpinNanos(run % 2 == 0 ? 50_000 : 0);
                DispatcherTest.RandomDag dag = new DispatcherTest.RandomDag(7_000 + run, 60, 0.25, -1);
                x.withJitter(run, run % 4 == 0 ? 0 : 20_000).run(dag.graph);
                dag.assertValidOrder();
            }
        }
    }

    /**
     * A task's ready time is no earlier than the end of each of its predecessors' bodies and no later than its own start;
     * a task with no predecessors was ready no earlier than the call that started the run. (Checked on the one
     * monotonic clock, so nothing here depends on how fast the host is.)
     */
    @Test void eachTaskSeesWhenItBecameReady() {
        int n = 200;
        long[] bodyStart = new long[n], bodyEnd = new long[n], ready = new long[n];
        SplittableRandom r = new SplittableRandom(3);
        TaskGraph g = new TaskGraph();
        int[][] preds = new int[n][];
        for (int i = 0; i < n; i++) {
            int id = i;
            g.add(new TaskGraph.Job("t" + i, r.nextInt(3), 0, () -> {
                bodyStart[id] = System.nanoTime();
                ready[id] = Dispatcher.taskReadyNanos();
                bodyEnd[id] = System.nanoTime();
            }));
            java.util.List<Integer> p = new java.util.ArrayList<>();
            for (int j = Math.max(0, i - 8); j < i; j++) if (r.nextDouble() < 0.3) { g.edge(j, i); p.add(j); }
            preds[i] = p.stream().mapToInt(Integer::intValue).toArray();
        }
        try (Dispatcher d = new Dispatcher(DEVICE, Dispatcher.Order.DYNAMIC)) {
            for (Dispatcher.Order o : Dispatcher.Order.values()) {
                long before = System.nanoTime();
                d.withOrder(o).run(g);
                for (int i = 0; i < n; i++) {
                    assertTrue(ready[i] - bodyStart[i] <= 0, o + ": t" + i + " ready after it started");
                    if (preds[i].length == 0) assertTrue(ready[i] - before >= 0, o + ": t" + i + " ready before its run began");
                    for (int p : preds[i]) assertTrue(ready[i] - bodyEnd[p] >= 0, o + ": t" + i + " ready before its predecessor t" + p + " ended");
                }
            }
        }
        long before = System.nanoTime();
        long outside = Dispatcher.taskReadyNanos();
        assertTrue(outside - before >= 0 && System.nanoTime() - outside >= 0, "outside a task it is now");
    }
}
