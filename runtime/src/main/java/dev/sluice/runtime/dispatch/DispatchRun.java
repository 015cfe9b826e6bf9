package dev.sluice.runtime.dispatch;

import static dev.sluice.runtime.dispatch.Dispatcher.*;

import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.device.LinkCompletion;
import dev.sluice.runtime.device.PreciseTimers;
import dev.sluice.runtime.dispatch.Dispatcher.LaneSlot;
import dev.sluice.runtime.dispatch.Dispatcher.LaneThread;
import dev.sluice.runtime.dispatch.Dispatcher.Order;
import dev.sluice.runtime.dispatch.Dispatcher.Workers;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.jctools.queues.MpmcArrayQueue;
import org.jctools.queues.MpscArrayQueue;

/**
 * One execution of a graph by a {@link Dispatcher}'s lane workers (the dispatcher holds the settings and the workers; a run
 * holds the per-task state of one execution). Invariants the hot path relies on:
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
final class DispatchRun {
    // the dispatcher's settings this run reads, copied once
    private final List<LaneSlot> lanes;
    private final int queues;
    private final Order order;
    private final Workers workers;
    private final long jitterSeed, maxJitterNanos, spinNanos, parkNanos, inlineCopyBytes;
    private final boolean deferEnds;

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
    final CountDownLatch left;
    volatile boolean finished;
    final LaneThread[] threads;
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
    final boolean[] copyQueue;
    /** Per lane, the task it is running, or -1 (release-stored by the lane; read by idle lanes, {@link #imminent}). */
    final AtomicIntegerArray running;
    /** Per task, the queues of its successors as bits ({@link TaskGraph#queueBit}). */
    final long[] feeds;
    /**
     * Per compute queue, and one (index {@code queues}) for all copy queues: 1 while a lane of it spins beyond its base
     * spin. So at most one copy lane spins at a time, whatever the number of links, and it never takes the core of
     * the compute lane; and of a queue with several lanes only one spins on.
     */
    final AtomicIntegerArray spinToken;
    final AtomicIntegerArray parked;
    final int[][] lanesOfQueue;
    final int[] laneQueue;
    final int[] laneOf;
    final long[] start, end;
    /** Task ids boxed once before the run starts, so that queueing a ready task allocates nothing. */
    final Integer[] ids;
    long t0;

    @SuppressWarnings("unchecked")
    DispatchRun(Dispatcher d, TaskGraph g) {
        lanes = d.lanes;
        queues = d.queues;
        order = d.order;
        workers = d.workers;
        jitterSeed = d.jitterSeed;
        maxJitterNanos = d.maxJitterNanos;
        spinNanos = d.spinNanos;
        parkNanos = d.parkNanos;
        inlineCopyBytes = d.inlineCopyBytes;
        deferEnds = d.deferEnds;
        left = new CountDownLatch(lanes.size());
        threads = workers.threads;
        copyQueue = new boolean[queues];
        spinToken = new AtomicIntegerArray(queues + 1);
        parked = new AtomicIntegerArray(lanes.size());
        lanesOfQueue = new int[queues][];
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
     * than {@link Dispatcher#DUE_SPIN_NANOS} is left, with precise timers, then spinning, so the task starts when its copies'
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
