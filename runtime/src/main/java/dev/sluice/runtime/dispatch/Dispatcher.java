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
    static final int SPINS = 200;

    /**
     * Longest a copy lane spins waiting for work, and only while its previous wait was that short (work arriving in a
     * burst, where a park and unpark per copy would cost the lane that readies it more than the spin): see {@link DispatchRun#work}.
     */
    static final long COPY_SPIN_NANOS = 20_000;
    /**
     * Longest an idle lane spins while work for it is imminent (see {@link DispatchRun#imminent}), and the longest a task that
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
    /** Longest a parked lane sleeps before it looks at its queue again by itself (a safety net: see {@link DispatchRun}). */
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

    final List<LaneSlot> lanes;
    final int queues;
    final Order order;
    final Workers workers;
    final long jitterSeed;
    final long maxJitterNanos;
    final long spinNanos;
    final long parkNanos;
    final boolean deferEnds;
    final long inlineCopyBytes;

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
            return new DispatchRun(this, graph).execute();
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
    static final class Workers {
        final List<LaneSlot> lanes;
        final LaneThread[] threads;
        final AtomicIntegerArray state;
        /** One run at a time; held by the caller of run, never by a lane. */
        final java.util.concurrent.locks.ReentrantLock admission = new java.util.concurrent.locks.ReentrantLock();
        volatile DispatchRun current;
        volatile boolean closed;
        /** The last run, if it succeeded and its lanes may still be leaving it; joined before the next run starts. */
        DispatchRun leaving;

        /** Waits until every lane has left the previous run (under {@code admission}). */
        void joinLeaving() {
            DispatchRun r = leaving;
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

        void start(DispatchRun r) {
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
                    DispatchRun r = current;
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
    static final class LaneThread extends Thread implements LinkCompletion {
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

    static Integer[] boxes(int n) {
        Integer[] b = boxes;
        if (b.length >= n) return b;
        Integer[] grown = java.util.Arrays.copyOf(b, Math.max(n, b.length * 2));
        for (int i = b.length; i < grown.length; i++) grown[i] = i;
        boxes = grown;
        return grown;
    }

    static void delay(long nanos) {
        if (nanos <= 0) return;
        if (nanos > 50_000) { LockSupport.parkNanos(nanos); return; }
        long until = System.nanoTime() + nanos;
        while (System.nanoTime() < until) Thread.onSpinWait();
    }
}
