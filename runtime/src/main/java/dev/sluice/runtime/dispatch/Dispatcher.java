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
import java.util.Queue;
import org.jctools.queues.MpmcArrayQueue;
import org.jctools.queues.MpscArrayQueue;

/**
 * Runs a {@link TaskGraph} on lanes. Each lane has one worker thread that serves one queue (a lane kind of
 * a device: its compute lanes, its H2D lane, ...).
 *
 * <p>{@link Order#DYNAMIC}: every task has a dependency counter; the task that finishes last among a task's
 * predecessors brings the counter to zero and pushes it onto its queue, and the first idle lane of that
 * queue polls it. So whatever order the edges allow is the order the machine picks, with no global lock:
 * the hot path is one atomic decrement per edge and one lock-free queue offer/poll per task (a single-consumer
 * queue where the queue has one lane), and one atomic decrement per sink to detect the end.
 *
 * <p>{@link Order#PRIORITY}: dynamic, but among the ready tasks of a queue an idle lane takes the most urgent: a
 * kernel by its planned position, a copy by the planned position of the first kernel it feeds (see
 * {@code urgencyOrder}), from a lock-free bitmap ({@link ReadyBitmap}) instead of a FIFO queue: a prefetch for a
 * node far ahead no longer takes a copy lane before the transfer the next kernel waits for, while any ready task
 * still fires the moment its lane is idle.
 *
 * <p>{@link Order#FIXED}: the baseline. Each queue issues its tasks strictly in id order (a topological
 * order), waiting for the head to become ready even when a later task could run, like a stream of an
 * accelerator API. Copies still overlap compute, but nothing is reordered.
 *
 * <p>A lane that finishes a task runs next, without queueing it, the first successor it made ready on its own
 * queue (dynamic order): it is ready, its lane kind is idle (this lane), so dynamic order may fire it there;
 * the queue and the wake-up are saved. Task ids are boxed before the run, so the hot path allocates nothing.
 *
 * <p>Lane workers live as long as the dispatcher (a session's runs reuse them): an idle compute lane spins
 * briefly, then parks, and the task that makes work ready unparks it, so a lane wakes in microseconds
 * rather than after a timed park or a thread start. A copy lane spins only while its work has been arriving
 * within {@link #COPY_SPIN_NANOS} (then a wake-up would cost the lane that readies the copy more than the spin
 * costs), and for no longer than that; a copy lane whose work comes slowly, as paced copies do, parks at once,
 * so it never holds a core the kernels could use while it waits. A worker idle for {@link #KEEP_ALIVE_NANOS} exits by
 * itself and the next run starts a new one, so a dispatcher that is dropped without {@link #close} leaks
 * nothing for long. Handing a run to the workers takes one volatile write and one CAS per lane; no lock is
 * held while tasks run.
 *
 * <p>A task that throws cancels the run: lanes stop taking tasks and {@link #run} throws a
 * {@link DispatchException} naming the task, only after every worker has left the run, so no task of a failed run
 * can still be touching memory afterwards. A successful run returns once its last task has finished (so no task
 * body is running either); its lane workers may still be on their way out, touching only the run's own
 * bookkeeping, and the next run waits for them before it starts, so a run's latency does not include waking
 * every parked lane just to let it leave.
 */
public final class Dispatcher implements AutoCloseable {
    public enum Order { DYNAMIC, PRIORITY, FIXED }

    /** A lane as the dispatcher sees it: its name, the queue it serves, whether it copies. */
    public record LaneSlot(String name, int queue, boolean copy) {}

    private static final int SPINS = 200;
    /** Longest a copy lane spins waiting for work, and only while its recent waits were that short (see {@link Run#work}). */
    static final long COPY_SPIN_NANOS = 20_000;
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
            workers.joinLeaving();
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
        /** The last run, if it succeeded and its lanes may still be leaving it; joined before the next run starts. */
        Dispatcher.Run leaving;

        /** Waits until every lane has left the previous run (under {@code admission}). */
        void joinLeaving() {
            Dispatcher.Run r = leaving;
            if (r == null) return;
            boolean interrupted = false;
            while (true) {
                try { r.left.await(); break; } catch (InterruptedException e) { interrupted = true; }
            }
            leaving = null;
            current = null;
            if (interrupted) Thread.currentThread().interrupt();
        }

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

    /**
     * One execution of a graph. Invariants the hot path relies on:
     * <ul>
     *   <li>{@code remaining[t]} starts at t's predecessor count and only decreases, once per incoming edge, by the
     *       lane that finished the predecessor; the lane whose decrement reaches zero owns t's release (it pushes
     *       t, or runs it itself next): so every task is released exactly once.</li>
     *   <li>A ready FIFO of a queue with one lane ({@link MpscArrayQueue}) has exactly one consumer, that lane's
     *       worker (a lane is served by one worker per run); queues with several lanes use {@link MpmcArrayQueue}.
     *       Producers are any lanes and the caller (the initial ready set, pushed before any worker starts).</li>
     *   <li>The run is complete when every sink (a task without successors) has finished: each other task is an
     *       ancestor of a sink, and a task starts only after its predecessors finished and released it, so the
     *       last sink's end is after every task's end and every edge's release. One atomic count of sinks replaces
     *       a count of all tasks that every lane would contend on.</li>
     *   <li>No stall is possible: ids are a topological order and the counts match the edges ({@link TaskGraph}),
     *       so some unfinished task always has all its predecessors finished and has been released.</li>
     *   <li>A lane parks only after announcing it ({@code parked[lane] = 1}) and then finding its queue empty; a
     *       producer makes a task visible first (a full-fence atomic in the queue) and then reads the flags, so
     *       either the lane sees the task or the producer sees the flag and unparks it. Parks are also bounded
     *       (1 ms), a second safety net.</li>
     *   <li>Trace arrays ({@code laneOf}, {@code start}, {@code end}) of task t are written only by the lane that
     *       runs t, before t releases its successors; the caller reads them after the done latch.</li>
     * </ul>
     */
    private final class Run {
        final TaskGraph g;
        final int n;
        final Runnable[] body;
        final int[] queueOf, succStart, succ;
        final AtomicIntegerArray remaining;
        /** DYNAMIC's ready FIFOs, by queue. */
        final Queue<Integer>[] fifo;
        /** PRIORITY's ready sets, by queue, over ranks; rank[t] orders the tasks of one queue by urgency. */
        final ReadyBitmap[] byRank;
        final int[] rank, taskOfRank;
        final int[][] fixedSequence;
        final AtomicInteger[] fixedCursor;
        final AtomicInteger sinksLeft = new AtomicInteger();
        final AtomicReference<DispatchException> failure = new AtomicReference<>();
        final CountDownLatch done = new CountDownLatch(1);
        /** Counts lanes out of this run; run returns only when all have left. */
        final CountDownLatch left = new CountDownLatch(lanes.size());
        volatile boolean finished;
        final Thread[] threads = workers.threads;
        final AtomicIntegerArray parked = new AtomicIntegerArray(lanes.size());
        final int[][] lanesOfQueue = new int[queues][];
        final int[] laneQueue;
        final int[] laneOf;
        final long[] start, end;
        /** Task ids boxed once before the run starts, so that queueing a ready task allocates nothing. */
        final Integer[] ids;
        long t0;

        @SuppressWarnings("unchecked")
        Run(TaskGraph g) {
            this.g = g;
            TaskGraph.Frozen f = g.frozen();
            this.n = g.size();
            body = f.body();
            queueOf = f.queue();
            succStart = f.succStart();
            succ = f.succ();
            remaining = new AtomicIntegerArray(f.predecessors());
            laneOf = new int[n];
            start = new long[n];
            end = new long[n];
            int sinks = 0;
            for (int i = 0; i < n; i++) if (succStart[i] == succStart[i + 1]) sinks++;
            sinksLeft.set(sinks);
            laneQueue = new int[lanes.size()];
            for (int l = 0; l < lanes.size(); l++) laneQueue[l] = lanes.get(l).queue();
            for (int q = 0; q < queues; q++) {
                int qq = q;
                lanesOfQueue[q] = java.util.stream.IntStream.range(0, lanes.size()).filter(l -> lanes.get(l).queue() == qq).toArray();
            }
            fifo = new Queue[queues];
            byRank = new ReadyBitmap[queues];
            fixedSequence = new int[queues][];
            fixedCursor = new AtomicInteger[queues];
            int[] rk = null, tor = null;
            Integer[] box = null;
            switch (order) {
                case DYNAMIC -> {
                    box = boxes(n);
                    int[] count = new int[queues];
                    for (int i = 0; i < n; i++) count[queueOf[i]]++;
                    for (int q = 0; q < queues; q++) {
                        int cap = Math.max(2, count[q]); // a queue never holds more than its own tasks
                        fifo[q] = lanesOfQueue[q].length == 1 ? new MpscArrayQueue<>(cap) : new MpmcArrayQueue<>(cap);
                    }
                }
                case PRIORITY -> {
                    rk = new int[n];
                    tor = urgencyOrder();
                    for (int r = 0; r < n; r++) rk[tor[r]] = r;
                    for (int q = 0; q < queues; q++) byRank[q] = new ReadyBitmap(n);
                }
                case FIXED -> {
                    int[] count = new int[queues];
                    for (int i = 0; i < n; i++) count[queueOf[i]]++;
                    for (int q = 0; q < queues; q++) { fixedSequence[q] = new int[count[q]]; fixedCursor[q] = new AtomicInteger(); count[q] = 0; }
                    for (int i = 0; i < n; i++) fixedSequence[queueOf[i]][count[queueOf[i]]++] = i;
                }
            }
            ids = box;
            rank = rk;
            taskOfRank = tor;
        }

        /**
         * PRIORITY's order: tasks by the planned position of the first kernel they lead to. A kernel's key is its own
         * id; a copy's is the least key among its successors (the kernel it feeds, or the copy feeding one), so among
         * ready copies the one the next kernel waits for goes first and a prefetch for a kernel far ahead waits, even
         * where the plan emitted it earlier. Ties (and copies that feed nothing) keep the planned order.
         */
        int[] urgencyOrder() {
            boolean[] copyQueue = new boolean[queues];
            for (int q = 0; q < queues; q++) copyQueue[q] = lanes.get(lanesOfQueue[q][0]).copy();
            int[] key = new int[n];
            for (int t = n - 1; t >= 0; t--) {
                int k = t;
                if (copyQueue[queueOf[t]] && succStart[t] < succStart[t + 1]) {
                    k = Integer.MAX_VALUE;
                    for (int i = succStart[t]; i < succStart[t + 1]; i++) k = Math.min(k, key[succ[i]]);
                }
                key[t] = k;
            }
            long[] sorted = new long[n];
            for (int t = 0; t < n; t++) sorted[t] = ((long) key[t] << 32) | t;
            java.util.Arrays.sort(sorted);
            int[] order = new int[n];
            for (int r = 0; r < n; r++) order[r] = (int) sorted[r];
            return order;
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
            if (failure.get() == null) {
                // Every task has finished (done counts sinks, see the class invariants): the lanes are only leaving, touching
                // nothing but this run's bookkeeping. Joining them is left to the next run, off this one's latency.
                long wall = System.nanoTime() - t0;
                workers.leaving = this;
                return trace(wall);
            }
            workers.leaving = this;
            workers.joinLeaving(); // a failed run may still have tasks running: wait until every lane is out
            throw failure.get();
        }

        void work(int lane) {
            int q = laneQueue[lane];
            SplittableRandom jitter = maxJitterNanos > 0 ? new SplittableRandom(jitterSeed * 31 + lane) : null;
            boolean copy = lanes.get(lane).copy();
            int idle = 0;
            int next = -1;
            // A copy lane's last wait for work, in ns: it spins (at most COPY_SPIN_NANOS) only while work has been arriving
            // that quickly; a copy lane whose work comes slowly parks at once and takes no core from the kernels.
            long idleStart = 0, lastIdle = Long.MAX_VALUE;
            while (!finished) {
                int t = next >= 0 ? next : poll(q);
                next = -1;
                if (t < 0) {
                    if (copy) {
                        long now = System.nanoTime();
                        if (idle++ == 0) idleStart = now;
                        if (lastIdle <= COPY_SPIN_NANOS && now - idleStart < COPY_SPIN_NANOS) { Thread.onSpinWait(); continue; }
                    } else if (++idle < SPINS) {
                        Thread.onSpinWait();
                        continue;
                    }
                    parked.set(lane, 1);
                    // Re-check after announcing: a pusher that missed the flag must have offered before we look.
                    if (!finished && !hasWork(q)) LockSupport.parkNanos(this, 1_000_000);
                    parked.set(lane, 0);
                    if (!copy) idle = 0;
                    continue;
                }
                if (copy && idle > 0) lastIdle = System.nanoTime() - idleStart;
                idle = 0;
                if (jitter != null) delay(jitter.nextLong(maxJitterNanos + 1));
                if (finished) return;
                next = runTask(t, lane, q);
            }
        }

        int poll(int q) {
            return switch (order) {
                case DYNAMIC -> { Integer t = fifo[q].poll(); yield t == null ? -1 : t; }
                case PRIORITY -> { int r = byRank[q].pollLowest(); yield r < 0 ? -1 : taskOfRank[r]; }
                case FIXED -> pollFixed(q);
            };
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
            return switch (order) {
                case DYNAMIC -> !fifo[q].isEmpty();
                case PRIORITY -> !byRank[q].isEmpty();
                case FIXED -> {
                    int i = fixedCursor[q].get();
                    yield i < fixedSequence[q].length && remaining.get(fixedSequence[q][i]) == 0;
                }
            };
        }

        /**
         * Runs task t on the lane; returns a successor it made ready that this lane runs next without queueing it
         * (DYNAMIC only: the first one on the lane's own queue, which any idle lane could have taken anyway), or -1.
         */
        int runTask(int t, int lane, int q) {
            laneOf[t] = lane;
            start[t] = System.nanoTime() - t0;
            try {
                body[t].run();
            } catch (Throwable e) {
                String name = g.job(t).name();
                String why = e instanceof SluiceException ? e.getMessage() : e.toString();
                fail(name, new DispatchException(name, "task " + name + " failed: " + why, e));
                return -1;
            }
            end[t] = System.nanoTime() - t0;
            int from = succStart[t], to = succStart[t + 1];
            if (from == to) {
                if (sinksLeft.decrementAndGet() == 0) done.countDown();
                return -1;
            }
            int next = -1;
            for (int i = from; i < to; i++) {
                int s = succ[i];
                if (remaining.decrementAndGet(s) != 0) continue;
                int qs = queueOf[s];
                if (order == Order.FIXED) {
                    // Only the head of a queue's sequence can start; a lane that takes the head polls the next itself.
                    int c = fixedCursor[qs].get();
                    if (c < fixedSequence[qs].length && fixedSequence[qs][c] == s) wake(qs);
                } else if (next < 0 && order == Order.DYNAMIC && qs == q) {
                    next = s;
                } else {
                    push(s);
                }
            }
            return next;
        }

        void push(int t) {
            int q = queueOf[t];
            if (order == Order.PRIORITY) byRank[q].add(rank[t]);
            else if (!fifo[q].offer(ids[t])) throw new IllegalStateException("ready queue overflow"); // capacity >= the queue's tasks
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

    /** Boxed task ids 0..n-1, shared by every run (boxes are immutable), so a run boxes nothing it ran before. */
    private static volatile Integer[] boxes = new Integer[0];

    private static Integer[] boxes(int n) {
        Integer[] b = boxes;
        if (b.length >= n) return b;
        Integer[] grown = java.util.Arrays.copyOf(b, Math.max(n, b.length * 2));
        for (int i = b.length; i < grown.length; i++) grown[i] = i;
        boxes = grown;
        return grown;
    }

    private static void delay(long nanos) {
        if (nanos <= 0) return;
        if (nanos > 50_000) { LockSupport.parkNanos(nanos); return; }
        long until = System.nanoTime() + nanos;
        while (System.nanoTime() < until) Thread.onSpinWait();
    }
}
