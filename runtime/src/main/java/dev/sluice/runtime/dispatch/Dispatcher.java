package dev.sluice.runtime.dispatch;

import dev.sluice.kernels.SluiceException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.jctools.queues.MpmcArrayQueue;

/**
 * Runs a {@link TaskGraph} on lanes. Each lane has one worker thread that serves one queue (a lane kind of
 * a device: its compute lanes, its H2D lane, ...).
 *
 * <p>{@link Order#DYNAMIC}: every task has a dependency counter; the task that finishes last among a task's
 * predecessors brings the counter to zero and pushes it onto its queue, and the first idle lane of that
 * queue polls it. So whatever order the edges allow is the order the machine picks, with no global lock:
 * the hot path is one atomic decrement per edge and one lock-free queue offer/poll per task.
 *
 * <p>{@link Order#FIXED}: the baseline. Each queue issues its tasks strictly in id order (a topological
 * order), waiting for the head to become ready even when a later task could run, like a stream of an
 * accelerator API. Copies still overlap compute, but nothing is reordered.
 *
 * <p>A task that throws cancels the run: lanes stop taking tasks, workers are joined, and {@link #run}
 * throws a {@link DispatchException} naming the task. Workers are started per run and joined before
 * {@code run} returns, so no task of a failed run can still be touching memory afterwards.
 */
public final class Dispatcher {
    public enum Order { DYNAMIC, FIXED }

    /** A lane as the dispatcher sees it: its name, the queue it serves, whether it copies. */
    public record LaneSlot(String name, int queue, boolean copy) {}

    private static final int SPINS = 200;

    private final List<LaneSlot> lanes;
    private final int queues;
    private final Order order;
    private final long jitterSeed;
    private final long maxJitterNanos;

    public Dispatcher(List<LaneSlot> lanes, Order order) { this(lanes, order, 0, 0); }

    private Dispatcher(List<LaneSlot> lanes, Order order, long jitterSeed, long maxJitterNanos) {
        this.lanes = List.copyOf(lanes);
        this.order = order;
        this.jitterSeed = jitterSeed;
        this.maxJitterNanos = maxJitterNanos;
        this.queues = lanes.stream().mapToInt(LaneSlot::queue).max().orElse(-1) + 1;
        for (int q = 0; q < queues; q++) {
            int qq = q;
            if (lanes.stream().noneMatch(l -> l.queue() == qq)) throw new IllegalArgumentException("queue " + q + " has no lane");
        }
    }

    /**
     * The same dispatcher with a random delay of up to {@code maxNanos} injected before every task a lane
     * takes: schedule fuzzing, so tests see many interleavings.
     */
    public Dispatcher withJitter(long seed, long maxNanos) { return new Dispatcher(lanes, order, seed, maxNanos); }

    public Order order() { return order; }

    /** Runs every job once, respecting the edges; returns the measured trace. */
    public Trace run(TaskGraph graph) {
        for (int i = 0; i < graph.size(); i++) {
            int q = graph.job(i).queue();
            if (q < 0 || q >= queues) throw new IllegalArgumentException("job '" + graph.job(i).name() + "' wants queue " + q + " which no lane serves");
        }
        Run r = new Run(graph);
        return r.execute();
    }

    private final class Run {
        final TaskGraph g;
        final int n;
        final int[][] successors;
        final AtomicIntegerArray remaining;
        final List<MpmcArrayQueue<Integer>> ready = new ArrayList<>();
        final int[][] fixedSequence;
        final AtomicInteger[] fixedCursor;
        final AtomicInteger completed = new AtomicInteger();
        /** Tasks queued or running; reaching zero before all completed would be a stall. */
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicReference<DispatchException> failure = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);
        volatile boolean finished;
        final Thread[] workers = new Thread[lanes.size()];
        final AtomicIntegerArray parked = new AtomicIntegerArray(lanes.size());
        final int[][] lanesOfQueue = new int[queues][];
        final int[] laneOf;
        final long[] start, end;
        long t0;

        Run(TaskGraph g) {
            this.g = g;
            this.n = g.size();
            successors = new int[n][];
            remaining = new AtomicIntegerArray(n);
            laneOf = new int[n];
            start = new long[n];
            end = new long[n];
            for (int i = 0; i < n; i++) {
                successors[i] = g.successorsOf(i);
                remaining.set(i, g.predecessorCount(i));
            }
            for (int q = 0; q < queues; q++) {
                int qq = q;
                lanesOfQueue[q] = java.util.stream.IntStream.range(0, lanes.size()).filter(l -> lanes.get(l).queue() == qq).toArray();
                ready.add(new MpmcArrayQueue<>(Math.max(2, n)));
            }
            fixedSequence = new int[queues][];
            fixedCursor = new AtomicInteger[queues];
            if (order == Order.FIXED) {
                for (int q = 0; q < queues; q++) {
                    int qq = q;
                    fixedSequence[q] = java.util.stream.IntStream.range(0, n).filter(i -> g.job(i).queue() == qq).toArray();
                    fixedCursor[q] = new AtomicInteger();
                }
            }
        }

        Trace execute() {
            t0 = System.nanoTime();
            if (n == 0) return trace(0);
            if (order == Order.DYNAMIC) {
                for (int i = 0; i < n; i++) if (remaining.get(i) == 0) push(i);
            }
            for (int l = 0; l < workers.length; l++) {
                int lane = l;
                workers[l] = Thread.ofPlatform().name("sluice-" + lanes.get(l).name()).daemon().unstarted(() -> work(lane));
            }
            for (Thread w : workers) w.start();
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail(null, new DispatchException(null, "interrupted while waiting for the run", e));
            }
            finish();
            for (Thread w : workers) {
                boolean interrupted = false;
                while (true) {
                    try { w.join(); break; } catch (InterruptedException e) { interrupted = true; }
                }
                if (interrupted) Thread.currentThread().interrupt();
            }
            DispatchException f = failure.get();
            if (f != null) throw f;
            return trace(System.nanoTime() - t0);
        }

        void work(int lane) {
            int q = lanes.get(lane).queue();
            SplittableRandom jitter = maxJitterNanos > 0 ? new SplittableRandom(jitterSeed * 31 + lane) : null;
            int idle = 0;
            while (!finished) {
                int t = order == Order.DYNAMIC ? pollDynamic(q) : pollFixed(q);
                if (t < 0) {
                    if (++idle < SPINS) { Thread.onSpinWait(); continue; }
                    idle = 0;
                    parked.set(lane, 1);
                    // Re-check after announcing: a pusher that missed the flag must have offered before we look.
                    if (!finished && !hasWork(q)) LockSupport.parkNanos(this, 1_000_000);
                    parked.set(lane, 0);
                    continue;
                }
                idle = 0;
                if (jitter != null) delay(jitter.nextLong(maxJitterNanos + 1));
                if (finished) return;
                runTask(t, lane);
            }
        }

        int pollDynamic(int q) {
            Integer t = ready.get(q).poll();
            return t == null ? -1 : t;
        }

        /** In-order issue: only the head of the queue's sequence may start, and only once it is ready. */
        int pollFixed(int q) {
            AtomicInteger cursor = fixedCursor[q];
            int[] seq = fixedSequence[q];
            while (true) {
                int i = cursor.get();
                if (i >= seq.length || remaining.get(seq[i]) != 0) return -1;
                if (cursor.compareAndSet(i, i + 1)) return seq[i];
            }
        }

        boolean hasWork(int q) {
            if (order == Order.DYNAMIC) return !ready.get(q).isEmpty();
            int i = fixedCursor[q].get();
            return i < fixedSequence[q].length && remaining.get(fixedSequence[q][i]) == 0;
        }

        void runTask(int t, int lane) {
            TaskGraph.Job job = g.job(t);
            laneOf[t] = lane;
            start[t] = System.nanoTime() - t0;
            try {
                job.body().run();
            } catch (Throwable e) {
                String why = e instanceof SluiceException ? e.getMessage() : e.toString();
                fail(job.name(), new DispatchException(job.name(), "task " + job.name() + " failed: " + why, e));
                return;
            }
            end[t] = System.nanoTime() - t0;
            // Count before releasing successors so that "all done" is observed exactly once.
            boolean last = completed.incrementAndGet() == n;
            for (int s : successors[t]) {
                if (remaining.decrementAndGet(s) == 0) {
                    if (order == Order.DYNAMIC) push(s); else wake(g.job(s).queue());
                }
            }
            if (last) { done.countDown(); return; }
            if (order == Order.DYNAMIC && inFlight.decrementAndGet() == 0 && completed.get() < n) {
                fail(null, new DispatchException(null, "stalled: no task ready or running with "
                    + (n - completed.get()) + " of " + n + " left (the task graph is inconsistent)", null));
            }
        }

        void push(int t) {
            inFlight.incrementAndGet();
            int q = g.job(t).queue();
            if (!ready.get(q).offer(t)) throw new IllegalStateException("ready queue overflow"); // capacity >= n
            wake(q);
        }

        /** Unparks one parked lane of the queue; a lane that is not parked will poll again by itself. */
        void wake(int q) {
            for (int l : lanesOfQueue[q]) {
                if (parked.get(l) == 1) { LockSupport.unpark(workers[l]); return; }
            }
        }

        void fail(String task, DispatchException e) {
            if (failure.compareAndSet(null, e)) {
                finished = true;
                done.countDown();
                for (Thread w : workers) if (w != null) LockSupport.unpark(w);
            }
        }

        void finish() {
            finished = true;
            for (Thread w : workers) LockSupport.unpark(w);
        }

        Trace trace(long wall) {
            List<Trace.Track> tracks = lanes.stream().map(l -> new Trace.Track(l.name(), l.copy())).toList();
            List<Trace.Slice> slices = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                TaskGraph.Job j = g.job(i);
                slices.add(new Trace.Slice(j.name(), laneOf[i], start[i], end[i], j.bytes()));
            }
            return new Trace(tracks, slices, wall);
        }
    }

    private static void delay(long nanos) {
        if (nanos <= 0) return;
        if (nanos > 50_000) { LockSupport.parkNanos(nanos); return; }
        long until = System.nanoTime() + nanos;
        while (System.nanoTime() < until) Thread.onSpinWait();
    }
}
