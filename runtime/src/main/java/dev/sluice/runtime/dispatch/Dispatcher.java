package dev.sluice.runtime.dispatch;

import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.device.LinkCompletion;
import dev.sluice.runtime.device.PreciseTimers;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
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
 * <p>Lane workers live as long as the dispatcher (a session's runs reuse them). An idle lane does not always park at
 * once, since a hand-off through park and unpark costs the woken lane tens of microseconds on a loaded host (about a
 * small kernel's or a small copy's time, so a plan whose kernels and copies wait on each other in turn paid it on every
 * task). An idle compute lane polls {@link #SPINS} times (its own core: no kernel of its is waiting). Then a lane, compute
 * or copy, may spin on only while work for it is <em>imminent</em>: another lane is running a task with a successor on
 * its queue that started less than {@link #withSpinNanos spinNanos} ago; never longer than that; only while it holds
 * its queue's spin token (one for all copy queues), so at most one copy lane spins at a time and it never takes the
 * compute lane's core on a host with one core to spare; and not while it is backing off after finding itself
 * preempted mid-spin ({@code LaneThread}). That spin is off by default ({@link #SPIN_NANOS}: measured, it did not pay on
 * the oversubscribed 2-core host). Otherwise the lane parks, and the task that makes work ready unparks it, so a lane
 * wakes in microseconds rather than after a timed park or a thread start. A copy lane spins (at most
 * {@link #COPY_SPIN_NANOS}) only while its previous wait for work was that short, i.e. while copies come in a burst;
 * waiting for a kernel, or for work that comes slowly as paced copies do, it parks at once and takes no core from the
 * kernels. A worker idle for {@link #KEEP_ALIVE_NANOS} exits by itself and the next run starts a new one, so
 * a dispatcher that is dropped without {@link #close} leaks nothing for long. Handing a run to the workers takes one
 * volatile write and one CAS per lane; no lock is held while tasks run.
 *
 * <p>Each task's ready time (the moment its last predecessor released it, after every predecessor's end) is kept, and
 * a task body reads its own through {@link #taskReadyNanos()}: a copy lane's link starts a copy from then, not from
 * when its thread got to it.
 *
 * <p>A copy ends when its link is done, not when its lane's thread is ({@link LinkCompletion}, on unless
 * {@link #DEFER_ENDS} is off): the copy returns after its memcpy, handing over the end of its link interval, and the
 * lane releases its successors at once with that end as their due time ({@code notBefore}). A task off the link waits
 * until its due time before it starts (parked, then spinning its last {@link #DUE_SPIN_NANOS} on its own core); a copy
 * takes its link no sooner than it. So the kernel that waits for a copy is woken while the link is still busy and starts
 * when it is done, instead of after two wake-ups in turn (the copy lane's from its paced wait, then the kernel's), and
 * the copy lane's thread is free for the next copy meanwhile. A task's trace slice ends at its end as its successors see
 * it (a copy's: its link interval's), and a run returns only after its last copy is off the link. Nothing physical moves
 * earlier: a task is still released only after its predecessors' bodies returned, so their bytes are in place. A lane off
 * the link that releases a small copy ({@link #INLINE_COPY_BYTES}) whose lane is parked with nothing queued, and has no
 * task of its own to run next, runs that copy itself: the memcpy is shorter than the wake-up it saves, the link clock
 * still serializes the copy with its lane's others, and the trace shows it on its own lane.
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

    /** How many times an idle compute lane polls its queue before it looks at whether work is imminent. */
    private static final int SPINS = 200;

    /**
     * Longest a copy lane spins waiting for work, and only while its previous wait was that short (work arriving in a
     * burst, where a park and unpark per copy would cost the lane that readies it more than the spin): see {@link Run#work}.
     */
    static final long COPY_SPIN_NANOS = 20_000;
    /**
     * Longest an idle lane spins while work for it is imminent (see {@link Run#imminent}), and the longest a task that
     * feeds it may have been running for that to count; the default of {@link #withSpinNanos}. Off (0) unless the
     * system property {@code sluice.dispatch.spinNanos} sets it (50000 is the value tried): on the shared 2-core host
     * (load average 11-14) spinning made hand-offs slower, not faster (turnip-bench (d): empty tasks alternating
     * between the compute and a copy lane, 14.8 us a task spinning against 7.7 us parking; the zoo models' wall times
     * no better), since a spinner is one more runnable thread on oversubscribed cores and delays the lane it waits
     * for. On a host with a core to spare a spin of about a small task's time should save the wake-up (tens of
     * microseconds); measure there before turning it on.
     */
    static final long SPIN_NANOS = Long.getLong("sluice.dispatch.spinNanos", 0);
    /** A gap this long between two looks of a spinning lane means its thread was off its core (see {@code LaneThread}). */
    static final long PREEMPTED_NANOS = 10_000;
    /** Longest a parked lane sleeps before it looks at its queue again by itself (a safety net: see {@link Run}). */
    static final long PARK_NANOS = 1_000_000;
    /**
     * Whether a copy's task may end at its link interval's end rather than wait it out on its lane ({@link LinkCompletion}):
     * on (the default) unless {@code sluice.dispatch.deferEnds=false}, kept for comparisons. Off, the copy lane parks for
     * each copy's link time and its successors wait for it to wake; on, its successors are released (and their lanes
     * woken) as soon as its bytes are copied, and start when the link is done.
     */
    static final boolean DEFER_ENDS = !"false".equals(System.getProperty("sluice.dispatch.deferEnds"));
    /** How long before a due time a lane waiting for it stops parking and spins (a timed park may end this late). */
    static final long DUE_SPIN_NANOS = 30_000;

    /**
     * Largest copy (its job's bytes; only a {@link TaskGraph.Job#quick} one, whose body does not wait) that a lane off the link runs itself when it releases it and the copy's lane is parked
     * with nothing queued ({@code sluice.dispatch.inlineCopyBytes}; 0: never): its memcpy takes the releasing lane about a
     * microsecond, less than waking the copy lane, and the lane is idle anyway, since it does so only when it has no task
     * of its own to run next. The copy still takes its own link's interval (the link clock serializes it with that lane's
     * copies), and is traced on its own lane. Only with deferred ends ({@link #DEFER_ENDS}), so the releasing lane never
     * waits out a link.
     */
    static final long INLINE_COPY_BYTES = Long.getLong("sluice.dispatch.inlineCopyBytes", 16_384);

    /** How long a lane worker waits for the next run before its thread exits. */
    static final long KEEP_ALIVE_NANOS = 2_000_000_000L;

    private final List<LaneSlot> lanes;
    private final int queues;
    private final Order order;
    private final Workers workers;
    private final long jitterSeed;
    private final long maxJitterNanos;
    private final long spinNanos;
    private final long parkNanos;
    private final boolean deferEnds;
    private final long inlineCopyBytes;

    public Dispatcher(List<LaneSlot> lanes, Order order) { this(List.copyOf(lanes), order, null, 0, 0, SPIN_NANOS, PARK_NANOS, DEFER_ENDS, INLINE_COPY_BYTES); }

    private Dispatcher(List<LaneSlot> lanes, Order order, Workers workers, long jitterSeed, long maxJitterNanos, long spinNanos,
                       long parkNanos, boolean deferEnds, long inlineCopyBytes) {
        this.lanes = lanes;
        this.deferEnds = deferEnds;
        this.inlineCopyBytes = inlineCopyBytes;
        this.order = order;
        this.jitterSeed = jitterSeed;
        this.maxJitterNanos = maxJitterNanos;
        this.spinNanos = spinNanos;
        this.parkNanos = parkNanos;
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
    public Dispatcher withJitter(long seed, long maxNanos) {
        return new Dispatcher(lanes, order, workers, seed, maxNanos, spinNanos, parkNanos, deferEnds, inlineCopyBytes);
    }

    /** The same lane workers issuing in another order. */
    public Dispatcher withOrder(Order o) { return new Dispatcher(lanes, o, workers, jitterSeed, maxJitterNanos, spinNanos, parkNanos, deferEnds, inlineCopyBytes); }

    /**
     * The same lane workers with another bound on the spin on imminent work ({@link #SPIN_NANOS} by default; 0: an idle
     * lane parks after its base spin), for comparisons.
     */
    public Dispatcher withSpinNanos(long nanos) {
        if (nanos < 0) throw new IllegalArgumentException("spin must be >= 0 ns");
        return new Dispatcher(lanes, order, workers, jitterSeed, maxJitterNanos, nanos, parkNanos, deferEnds, inlineCopyBytes);
    }

    /**
     * The same lane workers with parked lanes that wake only when unparked (no timed look at their queue): a lost
     * wake-up then hangs the run instead of costing a millisecond, so that tests can see one.
     */
    Dispatcher withoutParkTimeout() { return new Dispatcher(lanes, order, workers, jitterSeed, maxJitterNanos, spinNanos, 0, deferEnds, inlineCopyBytes); }

    /**
     * The same lane workers running copies of up to {@code bytes} on the lane that released them where the copy's lane
     * sleeps ({@link #INLINE_COPY_BYTES} by default; 0: never), for comparisons.
     */
    public Dispatcher withInlineCopyBytes(long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("inline copy bytes must be >= 0");
        return new Dispatcher(lanes, order, workers, jitterSeed, maxJitterNanos, spinNanos, parkNanos, deferEnds, bytes);
    }

    /**
     * The same lane workers with copies ending at their link interval's end ({@code true}, the default: see
     * {@link #DEFER_ENDS}) or waiting it out on their lane ({@code false}), for comparisons.
     */
    public Dispatcher withDeferredEnds(boolean on) {
        return new Dispatcher(lanes, order, workers, jitterSeed, maxJitterNanos, spinNanos, parkNanos, on, inlineCopyBytes);
    }

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
        final LaneThread[] threads;
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
            this.threads = new LaneThread[lanes.size()];
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
                    threads[l] = new LaneThread("sluice-" + lanes.get(l).name(), () -> serve(lane));
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
     *       either the lane sees the task or the producer sees the flag and unparks it. Spinning changes nothing here:
     *       a spinning lane is not parked and polls by itself, and it announces before it parks like any other. Parks
     *       are also bounded (1 ms), a second safety net ({@code DispatcherHandOffTest} runs without it, so that a lost
     *       wake-up would hang).</li>
     *   <li>{@code running[l]} is the task lane l runs (or -1), release-stored after {@code start[t]} and reset only after
     *       t's successors are released: a lane that sees it may read {@code start[t]}, and it is only a hint (a lane
     *       spins on it for at most {@code spinNanos}; correctness never depends on it).</li>
     *   <li>{@code spinToken[k]} is 1 while exactly one lane of compute queue k (or, k = {@code queues}, of any copy
     *       queue) spins on imminent work; the lane that set it clears it before it parks, runs a task or leaves the
     *       run.</li>
     *   <li>{@code readyAt[t]} (t on a copy queue) is written (release) by the lane whose release made t ready, before it
     *       pushes t; the lane that runs t reads it after polling t, so it sees the value (in FIXED order it may see 0,
     *       read as "now": later than the truth, never earlier).</li>
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
        final LaneThread[] threads = workers.threads;
        /**
         * When each task became ready ({@link System#nanoTime()}): read right after the decrement that released it (so
         * after every predecessor's end; kept for tasks on copy queues only), or the run's start. 0 until written (a
         * FIXED lane may take a task an instant before its releaser writes this), or never written: read as "now",
         * never earlier than the truth.
         */
        final AtomicLongArray readyAt;
        /**
         * Per task, the latest end of a predecessor whose end was deferred to its link interval's end (a copy that returned
         * before the link would have delivered it, see {@link LinkCompletion}), or 0: written (an atomic max) by each such
         * predecessor before its decrement of {@code remaining}, so read after polling the task it is complete. A task
         * starts (a copy: occupies its link) no sooner than this.
         */
        final AtomicLongArray notBefore;
        /** Whether a queue's lanes are copy lanes (only their tasks' ready times are kept after the run's start). */
        final boolean[] copyQueue = new boolean[queues];
        /** Per lane, the task it is running, or -1 (release-stored by the lane; read by idle lanes, {@link #imminent}). */
        final AtomicIntegerArray running;
        /** Per task, the queues of its successors as bits ({@link TaskGraph#queueBit}). */
        final long[] feeds;
        /**
         * Per compute queue, and one (index {@code queues}) for all copy queues: 1 while a lane of it spins beyond its base
         * spin. So at most one copy lane spins at a time, whatever the number of links, and it never takes the core of
         * the compute lane; and of a queue with several lanes only one spins on.
         */
        final AtomicIntegerArray spinToken = new AtomicIntegerArray(queues + 1);
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
            readyAt = new AtomicLongArray(n);
            notBefore = new AtomicLongArray(n);
            feeds = f.successorQueues();
            for (LaneSlot l : lanes) if (l.copy()) copyQueue[l.queue()] = true;
            running = new AtomicIntegerArray(lanes.size());
            for (int l = 0; l < lanes.size(); l++) running.set(l, -1);
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
            for (int i = 0; i < n; i++) {
                if (remaining.get(i) != 0) continue;
                readyAt.lazySet(i, t0);
                if (order != Order.FIXED) push(i);
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
            long qbit = TaskGraph.queueBit(q);
            int token = copy ? queues : q; // the spin token this lane needs to spin on after its base spin
            int idle = 0; // polls that found nothing since the lane last ran a task or woke from a park
            int next = -1;
            long idleStart = 0, lastLook = 0; // when the spin on imminent work began, and its last look (valid while idle > SPINS)
            boolean spinning = false; // holds spinToken[token]
            // a copy lane's current wait for work (when it began; -1 while not waiting, parks included) and its previous one
            long waitStart = -1, lastWait = Long.MAX_VALUE;
            LaneThread self = (LaneThread) Thread.currentThread();
            try {
                while (!finished) {
                    int t = next >= 0 ? next : poll(q);
                    next = -1;
                    if (t < 0) {
                        // A compute lane spins SPINS times at once (its own core: no kernel of its is waiting); then it, and a
                        // copy lane at once, spin on only while work for them is imminent and they hold their spin token.
                        if (!copy && idle < SPINS) { idle++; Thread.onSpinWait(); continue; }
                        long now = System.nanoTime();
                        if (copy) {
                            if (waitStart < 0) waitStart = now;
                            // work has been coming within COPY_SPIN_NANOS: wait that long spinning, then park as below
                            if (lastWait <= COPY_SPIN_NANOS && now - waitStart < COPY_SPIN_NANOS) { Thread.onSpinWait(); continue; }
                        }
                        if (idle <= SPINS) { idle = SPINS + 1; idleStart = lastLook = now; }
                        if (spinning && now - lastLook > PREEMPTED_NANOS) self.preempted();
                        lastLook = now;
                        if (now - idleStart < spinNanos && self.spinPause == 0 && imminent(lane, qbit, now - t0)
                                && (spinning || (spinning = spinToken.compareAndSet(token, 0, 1)))) {
                            Thread.onSpinWait();
                            continue;
                        }
                        if (spinning) { spinToken.set(token, 0); spinning = false; }
                        else if (self.spinPause > 0) self.spinPause--;
                        parked.set(lane, 1);
                        // Re-check after announcing: a pusher that missed the flag must have offered before we look.
                        if (!finished && !hasWork(q)) {
                            if (parkNanos > 0) LockSupport.parkNanos(this, parkNanos); else LockSupport.park(this);
                        }
                        parked.set(lane, 0);
                        idle = 0;
                        continue;
                    }
                    if (spinning) { spinToken.set(token, 0); spinning = false; self.spunInTime(); }
                    if (waitStart >= 0) { lastWait = System.nanoTime() - waitStart; waitStart = -1; }
                    idle = 0;
                    if (jitter != null) delay(jitter.nextLong(maxJitterNanos + 1));
                    if (finished) return;
                    next = runTask(t, lane, q, lane);
                }
            } finally {
                if (spinning) spinToken.set(token, 0);
                running.lazySet(lane, -1);
            }
        }

        /**
         * Whether work for this lane's queue is imminent: another lane is running a task with a successor on it, and that
         * task started less than {@code spinNanos} ago (a task running longer is likely long: the lane parks rather than
         * spin through it). {@code start} of a running task is visible here: written before {@code running} publishes it.
         */
        boolean imminent(int lane, long qbit, long nowInRun) {
            for (int l = 0; l < running.length(); l++) {
                if (l == lane) continue;
                int t = running.get(l);
                if (t >= 0 && (feeds[t] & qbit) != 0 && nowInRun - start[t] < spinNanos) return true;
            }
            return false;
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
        int runTask(int t, int lane, int q, int traceLane) {
            laneOf[t] = traceLane;
            LaneThread self = (LaneThread) Thread.currentThread();
            long ready = readyAt.get(t);
            long due = notBefore.get(t); // 0, or the latest link end of a copy it waits for
            long now = System.nanoTime();
            // A task off the link waits out the copies it waits for (their bytes are in, the link is not done); a copy
            // does not: its own link interval starts no sooner than them (its ready time), and its memcpy may go ahead.
            if (due != 0 && due - now > 0 && !copyQueue[q]) now = awaitDue(due);
            start[t] = now - t0;
            if (ready == 0) ready = now;
            self.taskReady = due != 0 && due - ready > 0 ? due : ready;
            self.linkStart = self.linkEnd = 0;
            self.deferring = deferEnds;
            running.lazySet(lane, t); // after start[t]: an idle lane reading t sees when it started
            try {
                body[t].run();
            } catch (Throwable e) {
                String name = g.job(t).name();
                String why = e instanceof SluiceException ? e.getMessage() : e.toString();
                fail(name, new DispatchException(name, "task " + name + " failed: " + why, e));
                return -1;
            } finally {
                self.taskReady = 0;
                self.deferring = false;
            }
            long ended = System.nanoTime();
            // Its end as its successors see it: a copy that handed its link interval over ends with it (the interval
            // starts where its slice starts, if its thread got there first); a copy lane's task that started before
            // the copies it waits for ended (without a link interval of its own) ends no sooner than they did.
            long upTo = ended;
            if (self.linkEnd != 0) {
                if (self.linkEnd - upTo > 0) upTo = self.linkEnd;
                if (self.linkStart - (now) > 0) start[t] = self.linkStart - t0;
            }
            if (due != 0 && due - upTo > 0) upTo = due;
            end[t] = upTo - t0;
            boolean deferred = upTo - ended > 0;
            int from = succStart[t], to = succStart[t + 1];
            if (from == to) {
                running.lazySet(lane, -1);
                if (deferred) PreciseTimers.parkUntil(upTo); // the run ends when its last copy is off the link
                if (sinksLeft.decrementAndGet() == 0) done.countDown();
                return -1;
            }
            int next = -1, inline = -1;
            boolean offLink = deferEnds && !copyQueue[q] && lane == traceLane;
            for (int i = from; i < to; i++) {
                int s = succ[i];
                // Before the decrement: the lane that releases s (maybe another) then sees every predecessor's due time.
                if (deferred) raiseDue(s, upTo);
                if (remaining.decrementAndGet(s) != 0) continue;
                int qs = queueOf[s];
                // Read after the decrement that released s: every predecessor decremented after its body ended, so this is
                // after all their ends (this lane's end may not be: another predecessor may have ended after it, then
                // decremented first). Published by the push (in FIXED order possibly read as 0: "now"). Only copies read it
                // (a link starts from it); any other task is taken as ready at its start, saving a clock read per task.
                if (copyQueue[qs]) readyAt.lazySet(s, System.nanoTime());
                if (order == Order.FIXED) {
                    // Only the head of a queue's sequence can start; a lane that takes the head polls the next itself.
                    int c = fixedCursor[qs].get();
                    if (c < fixedSequence[qs].length && fixedSequence[qs][c] == s) wake(qs);
                } else if (next < 0 && order == Order.DYNAMIC && qs == q && lane == traceLane) {
                    next = s;
                } else if (inline < 0 && offLink && copyQueue[qs] && g.job(s).quick() && g.job(s).bytes() <= inlineCopyBytes && idleLane(qs) >= 0) {
                    inline = s;
                } else {
                    push(s);
                }
            }
            if (inline >= 0) {
                // A small copy whose lane sleeps: run it here (its memcpy, its link interval) rather than pay that lane's
                // wake-up, unless this lane has a kernel of its own to run next, or meanwhile someone woke the copy lane.
                int copyLane = idleLane(queueOf[inline]);
                if (next >= 0 || copyLane < 0 || finished) push(inline);
                else {
                    running.lazySet(lane, -1);
                    runTask(inline, lane, queueOf[inline], copyLane);
                    return -1;
                }
            }
            // Still "running" t while releasing: a lane spinning on t's work does not park just before its push.
            if (next < 0) running.lazySet(lane, -1);
            return next;
        }

        /** The copy queue's only lane if it is parked with nothing queued (so a task for it would cost a wake-up), or -1. */
        int idleLane(int q) {
            int[] ls = lanesOfQueue[q];
            if (ls.length != 1 || parked.get(ls[0]) != 1 || hasWork(q)) return -1;
            return ls[0];
        }

        /** Raises s's due time to at least {@code at} (the largest of its predecessors' deferred ends wins). */
        void raiseDue(int s, long at) {
            while (true) {
                long d = notBefore.get(s);
                if (d != 0 && d - at >= 0) return;
                if (notBefore.compareAndSet(s, d, at)) return;
            }
        }

        /**
         * Waits until {@code due} on a lane off the link (its own core: no kernel of its is waiting): parked while more
         * than {@link #DUE_SPIN_NANOS} is left, with precise timers, then spinning, so the task starts when its copies'
         * link time ends rather than a wake-up later. Returns the time it stopped waiting.
         */
        long awaitDue(long due) {
            long now;
            while ((now = System.nanoTime()) - due < 0) {
                if (due - now > DUE_SPIN_NANOS) PreciseTimers.parkUntil(due - DUE_SPIN_NANOS);
                else Thread.onSpinWait();
            }
            return now;
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

    /**
     * When the task the calling thread runs became ready, on the {@link System#nanoTime()} clock: the moment its last
     * predecessor released it, after every predecessor's end (or its run's start), for a task on a copy lane; for any
     * other task its start (no earlier than the truth either); now, where the caller is not a lane running a task. A copy lane's link starts a copy no earlier than this ({@link dev.sluice.runtime.device.CopyLane}).
     */
    public static long taskReadyNanos() {
        return Thread.currentThread() instanceof LaneThread l && l.taskReady != 0 ? l.taskReady : System.nanoTime();
    }

    /**
     * A lane's worker. Its fields are written and read only by the thread itself: {@code taskReady} (see
     * {@link #taskReadyNanos}), and its spin back-off: a spinning lane that finds it was off its core for more than
     * {@link #PREEMPTED_NANOS} between two looks (the host has more runnable threads than cores, and a spinner then
     * delays the very lane it waits for, which must wait for a core) stops spinning for its next {@code spinPause} idle
     * periods, a pause that doubles on each such finding (to 4096) and halves after each spin that ended with work.
     */
    private static final class LaneThread extends Thread implements LinkCompletion {
        long taskReady;
        int spinPause, spinPauseLength;
        /** While a task runs whose end may be deferred: the span of the link intervals its copies handed over, or 0. */
        boolean deferring;
        long linkStart, linkEnd;

        @Override public boolean endsAt(long startNanos, long endNanos) {
            if (!deferring) return false;
            if (linkStart == 0 || startNanos - linkStart < 0) linkStart = startNanos;
            if (linkEnd == 0 || endNanos - linkEnd > 0) linkEnd = endNanos;
            return true;
        }

        void preempted() {
            spinPauseLength = Math.min(4096, Math.max(16, spinPauseLength * 2));
            spinPause = spinPauseLength;
        }

        void spunInTime() { spinPauseLength /= 2; }

        LaneThread(String name, Runnable serve) {
            super(null, serve, name, 0, false);
            setDaemon(true);
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
