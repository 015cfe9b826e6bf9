package dev.sluice.memgraph;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The tasks, buffers and edges of a memory graph as the builder emits them. Invariants: task ids are their
 * positions (emission order is a topological order); every edge goes forward ({@code from < to}) and is emitted
 * once; a read depends on its buffer's current writer (DATA). Every write and read extends the buffer's lifetime;
 * the MEMORY edges (a first write waits for the region's previous occupants) come from the planned offsets, after
 * the walk ({@link ArenaPlan}).
 */
final class TaskEmitter {
    final List<DraftBuffer> buffers = new ArrayList<>();
    final List<Task> tasks = new ArrayList<>();
    final List<Edge> edges = new ArrayList<>();
    private final Set<Long> edgeKeys = new HashSet<>();

    /** The id the next task gets. */
    int next() { return tasks.size(); }

    void add(Task t) {
        if (t.id() != tasks.size()) throw new IllegalStateException("task " + t.id() + " emitted at " + tasks.size());
        tasks.add(t);
    }

    DraftBuffer buffer(int id) { return buffers.get(id); }

    /** A fresh host buffer for {@code v} (its own memory, no region), returning its id. */
    int hostBuffer(String v) {
        DraftBuffer b = new DraftBuffer(buffers.size(), v, 0, -1, 0);
        buffers.add(b);
        return b.id;
    }

    /** A fresh device buffer at {@code offset} of device {@code d}'s arena. */
    DraftBuffer deviceBuffer(String v, int d, long offset, long bytes) {
        DraftBuffer b = new DraftBuffer(buffers.size(), v, d, offset, bytes);
        buffers.add(b);
        return b;
    }

    /** {@code task} writes {@code b} first (its lifetime starts). */
    void written(DraftBuffer b, int task) {
        b.writer = task;
        b.touch(task);
    }

    /** {@code task} takes over writing {@code b} from its previous writer, which it follows by a data edge of its own. */
    void rewritten(DraftBuffer b, int task) {
        b.writer = task;
        b.touch(task);
    }

    void read(int buffer, int task) {
        DraftBuffer b = buffers.get(buffer);
        if (b.writer >= 0) edge(b.writer, task, Edge.Kind.DATA);
        b.readers.add(task);
        b.touch(task);
    }

    /** {@code task} reads each of these buffers once (-1: an absent input). */
    void readAll(List<Integer> ids, int task) {
        for (int b : new LinkedHashSet<>(ids)) if (b >= 0) read(b, task);
    }

    /**
     * Tile {@code task} of a split node goes on writing {@code b}: the first tile writes it (waiting for the region),
     * each later one follows the previous tile.
     */
    void continued(DraftBuffer b, int prev, int task) {
        if (prev < 0) written(b, task);
        else { edge(prev, task, Edge.Kind.DATA); rewritten(b, task); }
    }

    void edge(int from, int to, Edge.Kind kind) {
        if (from == to) return;
        if (from > to) throw new IllegalStateException("edge " + from + " -> " + to + " goes backwards");
        if (edgeKeys.add(((long) from << 32) | to)) edges.add(new Edge(from, to, kind));
    }

    List<Buffer> finished() { return buffers.stream().map(DraftBuffer::toBuffer).toList(); }
}
