package dev.sluice.runtime.dispatch;

import java.util.ArrayList;
import java.util.List;

/**
 * Jobs and the edges between them, numbered so that every edge goes from a lower id to a higher one. The
 * numbering is then itself a topological order: it proves the graph acyclic (so the dispatcher can never
 * wait on a cycle) and it is the one order the fixed-order baseline runs.
 */
public final class TaskGraph {
    /** A unit of work: runs on any lane of {@code queue}; {@code bytes} is what it copies (0 for compute). */
    public record Job(String name, int queue, long bytes, Runnable body) {}

    private final List<Job> jobs = new ArrayList<>();
    private final List<int[]> successors = new ArrayList<>();
    private final List<Integer> successorCounts = new ArrayList<>();
    private int[] predecessors = new int[16];

    /** Adds a job; returns its id. */
    public int add(Job job) {
        jobs.add(job);
        successors.add(new int[2]);
        successorCounts.add(0);
        if (jobs.size() > predecessors.length) predecessors = java.util.Arrays.copyOf(predecessors, predecessors.length * 2);
        return jobs.size() - 1;
    }

    /** {@code to} may start only after {@code from} finished. Duplicate edges are harmless but counted. */
    public void edge(int from, int to) {
        if (from < 0 || to >= jobs.size() || from >= to) {
            throw new IllegalArgumentException("edge " + from + " -> " + to + " does not go forward among " + jobs.size() + " jobs");
        }
        int c = successorCounts.get(from);
        int[] s = successors.get(from);
        if (c == s.length) { s = java.util.Arrays.copyOf(s, s.length * 2); successors.set(from, s); }
        s[c] = to;
        successorCounts.set(from, c + 1);
        predecessors[to]++;
    }

    public int size() { return jobs.size(); }

    public Job job(int id) { return jobs.get(id); }

    int predecessorCount(int id) { return predecessors[id]; }

    int[] successorsOf(int id) { return java.util.Arrays.copyOf(successors.get(id), successorCounts.get(id)); }
}
