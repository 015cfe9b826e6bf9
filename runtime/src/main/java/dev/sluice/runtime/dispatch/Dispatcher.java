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
 * <p>{@link Order#PRIORITY}: dynamic, but among the ready tasks of a queue an idle lane takes the one earliest
 * in the planned (topological) order, from a lock-free skip list instead of a FIFO queue: a prefetch for a
 * node far ahead no longer takes a copy lane before the transfer the next kernel waits for, while any ready
 * task still fires the moment its lane is idle.
 *
 * <p>{@link Order#FIXED}: the baseline. Each queue issues its tasks strictly in id order (a topological
 * order), waiting for the head to become ready even when a later task could run, like a stream of an
 * accelerator API. Copies still overlap compute, but nothing is reordered.
 *
 * <p>A lane that finishes a task runs next, without queueing it, the first successor it made ready on its own
 * queue (dynamic order): it is ready, its lane kind is idle (this lane), so dynamic order may fire it there;
 * the queue and the wake-up are saved. Task ids are boxed before the run, so the hot path allocates nothing.
 *
 * <p>Lane workers live as long as the dispatcher (a session's runs reuse them): an idle worker spins
 * briefly, then parks, and the task that makes work ready unparks it, so a lane wakes in microseconds
 * rather than after a timed park or a thread start. Copy lanes park at once (no spin): their waits are
 * long, and a spinning copy lane would take a core from the kernels. A worker idle for {@link #KEEP_ALIVE_NANOS} exits by
 * itself and the next run starts a new one, so a dispatcher that is dropped without {@link #close} leaks
 * nothing for long. Handing a run to the workers takes one volatile write and one CAS per lane; no lock is
 * held while tasks run.
 *
 * <p>A task that throws cancels the run: lanes stop taking tasks and {@link #run} throws a
 * {@link DispatchException} naming the task. {@code run} returns only after every worker has left the run,
 * so no task of a finished or failed run can still be touching memory afterwards.
 */
public final class Dispatcher implements AutoCloseable {
    public enum Order { DYNAMIC, PRIORITY, FIXED }

    /** A lane as the dispatcher sees it: its name, the queue it serves, whether it copies. */
    public record LaneSlot(String name, int queue, boolean copy) {}

    private static final int SPINS = 200;
    /** How long a lane worker waits for the next run before its thread exits. */
    static final long KEEP_ALIVE_NANOS = 2_000_000_000L;

    private final List<LaneSlot> lanes;
    private final int queues;
    private final Order order;
    private final Workers workers;
    private final long jitterSeed;
    private final long maxJitterNanos;

    public Dispatcher(List<LaneSlot> lanes, Order order) { this(List.copyOf(lanes), order, null, 0, 0); }

    private Dispatcher(List<LaneSlot> lanes, Order order, Workers workers, long jitterSeed, long maxJitterNanos) {
        this.lanes = lanes;
        this.order = order;
        this.jitterSeed = jitterSeed;
        this.maxJitterNanos = maxJitterNanos;
        this.queues = lanes.stream().mapToInt(LaneSlot::queue).max().orElse(-1) + 1;
        for (int q = 0; q < queues; q++) {
            int qq = q;
            if (lanes.stream().noneMatch(l -> l.queue() == qq)) throw new IllegalArgumentException("queue " + q + " has no lane");
        }
        this.workers = workers != null ? workers : new Workers(lanes);
    }

    /**
     * The same dispatcher (same lane workers) with a random delay of up to {@code maxNanos} injected before
     * every task a lane takes: schedule fuzzing, so tests see many interleavings.
     */
    public Dispatcher withJitter(long seed, long maxNanos) { return new Dispatcher(lanes, order, workers, seed, maxNanos); }

    /** The same lane workers issuing in another order. */
    public Dispatcher withOrder(Order o) { return new Dispatcher(lanes, o, workers, jitterSeed, maxJitterNanos); }

    public Order order() { return order; }

    /** The lanes this dispatcher's workers serve. */
    public List<LaneSlot> lanes() { return lanes; }

    /**
     * Runs every job once, respecting the edges; returns the measured trace. Runs on one dispatcher (and
     * the dispatchers sharing its workers) take turns.
     */
    public Trace run(TaskGraph graph) {
        for (int i = 0; i < graph.size(); i++) {
            int q = graph.job(i).queue();
            if (q < 0 || q >= queues) throw new IllegalArgumentException("job '" + graph.job(i).name() + "' wants queue " + q + " which no lane serves");
        }
        workers.admission.lock();
        try {
            if (workers.closed) throw new IllegalStateException("dispatcher is closed");
            return new Run(graph).execute();
        } finally {
            workers.admission.unlock();
        }
    }

    /** Lets the lane workers exit now rather than after their keep-alive. */
    @Override public void close() {
        workers.closed = true;
        for (int l = 0; l < lanes.size(); l++) {
            Thread t = workers.threads[l];
            if (t != null) LockSupport.unpark(t);
        }
    }

    /**
     * One thread per lane, kept between runs. {@code state}: 0 no thread, 1 idle, 2 handed the current run.
     * A run is handed over by writing {@code current} and then CAS-ing each idle lane 1 -> 2; an idle
     * worker retires only by CAS-ing 1 -> 0, so a lane is either handed the run or known to need a new
     * thread, never both and never neither.
     */
    private static final class Workers {
        final List<LaneSlot> lanes;
        final Thread[] threads;
        final AtomicIntegerArray state;
        /** One run at a time; held by the caller of run, never by a lane. */
        final java.util.concurrent.locks.ReentrantLock admission = new java.util.concurrent.locks.ReentrantLock();
        volatile Dispatcher.Run current;
        volatile boolean closed;

        Workers(List<LaneSlot> lanes) {
            this.lanes = lanes;
            this.threads = new Thread[lanes.size()];
            this.state = new AtomicIntegerArray(lanes.size());
        }

        void start(Dispatcher.Run r) {
            current = r;
            for (int l = 0; l < threads.length; l++) {
                if (state.compareAndSet(l, 1, 2)) {
                    LockSupport.unpark(threads[l]);
                } else {
                    state.set(l, 2); // was 0: its thread has retired (or never started)
                    int lane = l;
                    threads[l] = Thread.ofPlatform().name("sluice-" + lanes.get(l).name()).daemon().unstarted(() -> serve(lane));
                    threads[l].start();
                }
            }
        }

        void serve(int lane) {
            long idleSince = System.nanoTime();
            while (true) {
                if (state.get(lane) == 2) {
                    Dispatcher.Run r = current;
                    try {
                        r.work(lane);
                    } finally {
                        state.set(lane, 1);
                        r.left.countDown();
                    }
                    idleSince = System.nanoTime();
                    continue;
                }
                if ((closed || System.nanoTime() - idleSince > KEEP_ALIVE_NANOS) && state.compareAndSet(lane, 1, 0)) return;
                LockSupport.parkNanos(this, closed ? 1_000 : KEEP_ALIVE_NANOS);
            }
        }
    }

    private final class Run {
        final TaskGraph g;
        final int n;
        final int[][] successors;
        final AtomicIntegerArray remaining;
        final List<MpmcArrayQueue<Integer>> ready = new ArrayList<>();
        /** PRIORITY's ready sets, by queue: lowest task id (earliest in the planned order) first. */
        final List<java.util.concurrent.ConcurrentSkipListSet<Integer>> readyByOrder = new ArrayList<>();
        final int[][] fixedSequence;
        final AtomicInteger[] fixedCursor;
        final AtomicInteger completed = new AtomicInteger();
        /** Tasks queued or running; reaching zero before all completed would be a stall. */
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicReference<DispatchException> failure = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);
        /** Counts lanes out of this run; run returns only when all have left. */
        final CountDownLatch left = new CountDownLatch(lanes.size());
        volatile boolean finished;
        final Thread[] threads = workers.threads;
        final AtomicIntegerArray parked = new AtomicIntegerArray(lanes.size());
        final int[][] lanesOfQueue = new int[queues][];
        final int[] laneOf;
        final long[] start, end;
        /** Task ids boxed once before the run starts, so that queueing a ready task allocates nothing. */
        final Integer[] ids;
        long t0;

        Run(TaskGraph g) {
            this.g = g;
            this.n = g.size();
            successors = new int[n][];
            remaining = new AtomicIntegerArray(n);
            laneOf = new int[n];
            start = new long[n];
            end = new long[n];
            ids = new Integer[n];
            for (int i = 0; i < n; i++) ids[i] = i;
            for (int i = 0; i < n; i++) {
                successors[i] = g.successorsOf(i);
                remaining.set(i, g.predecessorCount(i));
            }
            for (int q = 0; q < queues; q++) {
                int qq = q;
                lanesOfQueue[q] = java.util.stream.IntStream.range(0, lanes.size()).filter(l -> lanes.get(l).queue() == qq).toArray();
                if (order == Order.PRIORITY) readyByOrder.add(new java.util.concurrent.ConcurrentSkipListSet<>());
                else ready.add(new MpmcArrayQueue<>(Math.max(2, n)));
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
            if (order != Order.FIXED) {
                for (int i = 0; i < n; i++) if (remaining.get(i) == 0) push(i);
            }
            workers.start(this);
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fail(null, new DispatchException(null, "interrupted while waiting for the run", e));
            }
            finish();
            boolean interrupted = false;
            while (true) {
                try { left.await(); break; } catch (InterruptedException e) { interrupted = true; }
            }
            workers.current = null;
            if (interrupted) Thread.currentThread().interrupt();
            DispatchException f = failure.get();
            if (f != null) throw f;
            return trace(System.nanoTime() - t0);
        }

        void work(int lane) {
            int q = lanes.get(lane).queue();
            SplittableRandom jitter = maxJitterNanos > 0 ? new SplittableRandom(jitterSeed * 31 + lane) : null;
            // A copy lane never spins while it waits: on a host whose cores all run kernels it would take one from them.
            int spins = lanes.get(lane).copy() ? 0 : SPINS;
            int idle = 0;
            int next = -1;
            while (!finished) {
                int t = next >= 0 ? next : switch (order) {
                    case DYNAMIC -> pollDynamic(q);
                    case PRIORITY -> pollEarliest(q);
                    case FIXED -> pollFixed(q);
                };
                next = -1;
                if (t < 0) {
                    if (++idle < spins) { Thread.onSpinWait(); continue; }
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
                next = runTask(t, lane, q);
            }
        }

        int pollDynamic(int q) {
            Integer t = ready.get(q).poll();
            return t == null ? -1 : t;
        }

        int pollEarliest(int q) {
            Integer t = readyByOrder.get(q).pollFirst();
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
            if (order == Order.PRIORITY) return !readyByOrder.get(q).isEmpty();
            int i = fixedCursor[q].get();
            return i < fixedSequence[q].length && remaining.get(fixedSequence[q][i]) == 0;
        }

        /**
         * Runs task t on the lane; returns a successor it made ready that this lane runs next without queueing it
         * (DYNAMIC only: the first one on the lane's own queue, which any idle lane could have taken anyway), or -1.
         */
        int runTask(int t, int lane, int q) {
            TaskGraph.Job job = g.job(t);
            laneOf[t] = lane;
            start[t] = System.nanoTime() - t0;
            try {
                job.body().run();
            } catch (Throwable e) {
                String why = e instanceof SluiceException ? e.getMessage() : e.toString();
                fail(job.name(), new DispatchException(job.name(), "task " + job.name() + " failed: " + why, e));
                return -1;
            }
            end[t] = System.nanoTime() - t0;
            // Count before releasing successors so that "all done" is observed exactly once.
            boolean last = completed.incrementAndGet() == n;
            int next = -1;
            for (int s : successors[t]) {
                if (remaining.decrementAndGet(s) == 0) {
                    if (order == Order.FIXED) wake(g.job(s).queue());
                    else if (next < 0 && order == Order.DYNAMIC && g.job(s).queue() == q) { next = s; inFlight.incrementAndGet(); }
                    else push(s);
                }
            }
            if (last) { done.countDown(); return -1; }
            if (order != Order.FIXED && inFlight.decrementAndGet() == 0 && completed.get() < n) {
                fail(null, new DispatchException(null, "stalled: no task ready or running with "
                    + (n - completed.get()) + " of " + n + " left (the task graph is inconsistent)", null));
            }
            return next;
        }

        void push(int t) {
            inFlight.incrementAndGet();
            int q = g.job(t).queue();
            if (order == Order.PRIORITY) readyByOrder.get(q).add(t);
            else if (!ready.get(q).offer(ids[t])) throw new IllegalStateException("ready queue overflow"); // capacity >= n
            wake(q);
        }

        /** Unparks one parked lane of the queue; a lane that is not parked will poll again by itself. */
        void wake(int q) {
            for (int l : lanesOfQueue[q]) {
                if (parked.get(l) == 1) { LockSupport.unpark(threads[l]); return; }
            }
        }

        void fail(String task, DispatchException e) {
            if (failure.compareAndSet(null, e)) {
                finished = true;
                done.countDown();
                for (Thread w : threads) if (w != null) LockSupport.unpark(w);
            }
        }

        void finish() {
            finished = true;
            for (Thread w : threads) if (w != null) LockSupport.unpark(w);
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
