package dev.sluice.runtime.dispatch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Jobs and the edges between them, numbered so that every edge goes from a lower id to a higher one. The
 * numbering is then itself a topological order: it proves the graph acyclic (so the dispatcher can never
 * wait on a cycle) and it is the one order the fixed-order baseline runs.
 *
 * <p>Not thread-safe while it is built; a run reads a frozen copy ({@link Frozen}: flat arrays, successors in
 * one compressed-row array), made once per change and shared by every run of the unchanged graph.
 */
public final class TaskGraph {
    /**
     * A unit of work: runs on any lane of {@code queue}; {@code bytes} is what it copies (0 for compute). {@code quick}: a
     * copy whose body returns right after its memcpy, handing its link time to the dispatcher ({@link
     * dev.sluice.runtime.device.LinkCompletion}), so that another lane may run it (see {@link Dispatcher#INLINE_COPY_BYTES});
     * a body that waits (parks, blocks on a device) must not say so, or it would hold the lane that runs it.
     */
    public record Job(String name, int queue, long bytes, Runnable body, boolean quick) {
        /** A job no other lane may run for its own. */
        public Job(String name, int queue, long bytes, Runnable body) { this(name, queue, bytes, body, false); }
    }

    private final List<Job> jobs = new ArrayList<>();
    private int[][] successors = new int[16][];
    private int[] successorCounts = new int[16];
    private int[] predecessors = new int[16];
    private int edges;
    private Frozen frozen;

    /** Adds a job; returns its id. */
    public int add(Job job) {
        int id = jobs.size();
        jobs.add(job);
        if (id == predecessors.length) {
            int cap = id * 2;
            successors = Arrays.copyOf(successors, cap);
            successorCounts = Arrays.copyOf(successorCounts, cap);
            predecessors = Arrays.copyOf(predecessors, cap);
        }
        frozen = null;
        return id;
    }

    /** {@code to} may start only after {@code from} finished. Duplicate edges are harmless but counted. */
    public void edge(int from, int to) {
        if (from < 0 || to >= jobs.size() || from >= to) {
            throw new IllegalArgumentException("edge " + from + " -> " + to + " does not go forward among " + jobs.size() + " jobs");
        }
        int c = successorCounts[from];
        int[] s = successors[from];
        if (s == null) successors[from] = s = new int[2];
        else if (c == s.length) successors[from] = s = Arrays.copyOf(s, c * 2);
        s[c] = to;
        successorCounts[from] = c + 1;
        predecessors[to]++;
        edges++;
        frozen = null;
    }

    public int size() { return jobs.size(); }

    public Job job(int id) { return jobs.get(id); }

    /** Edges added (duplicates counted). */
    public int edgeCount() { return edges; }

    int predecessorCount(int id) { return predecessors[id]; }

    int[] successorsOf(int id) {
        return successorCounts[id] == 0 ? new int[0] : Arrays.copyOf(successors[id], successorCounts[id]);
    }

    /**
     * The graph as a run reads it: job {@code i}'s successors are {@code succ[succStart[i] .. succStart[i+1])};
     * immutable once made (a run never writes these arrays). {@code successorQueues[i]}: the queues of job i's successors
     * as bits ({@link #queueBit}).
     */
    record Frozen(Runnable[] body, int[] queue, int[] predecessors, int[] succStart, int[] succ, long[] successorQueues) {}

    /** A queue as a bit of a {@code long}: queue q < 63 is bit q; every queue from 63 on shares bit 63 (so a test may err only towards "yes"). */
    static long queueBit(int q) { return 1L << Math.min(q, 63); }

    Frozen frozen() {
        Frozen f = frozen;
        if (f != null) return f;
        int n = jobs.size();
        Runnable[] body = new Runnable[n];
        int[] queue = new int[n];
        int[] start = new int[n + 1];
        int[] succ = new int[edges];
        for (int i = 0, at = 0; i < n; i++) {
            Job j = jobs.get(i);
            body[i] = j.body();
            queue[i] = j.queue();
            start[i] = at;
            if (successorCounts[i] > 0) System.arraycopy(successors[i], 0, succ, at, successorCounts[i]);
            at += successorCounts[i];
            start[i + 1] = at;
        }
        long[] successorQueues = new long[n];
        for (int i = 0; i < n; i++) for (int k = start[i]; k < start[i + 1]; k++) successorQueues[i] |= queueBit(queue[succ[k]]);
        return frozen = new Frozen(body, queue, Arrays.copyOf(predecessors, n), start, succ, successorQueues);
    }
}
