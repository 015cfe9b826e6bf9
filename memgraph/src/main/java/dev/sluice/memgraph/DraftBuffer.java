package dev.sluice.memgraph;

import java.util.ArrayList;
import java.util.List;

/**
 * A buffer while the builder emits tasks: the value it holds, where, its writer and readers so far, and its lifetime:
 * the first and last task that touched it. Becomes a {@link Buffer} when the graph is built, at the offset the memory
 * planner gives it ({@link ArenaPlan}; until then {@code offset} is the walk's first-fit place, or 0 when the walk
 * counts bytes only). Invariants: one writer (a tiled node's later tiles take over the write through a data chain
 * from the first), which is its first task; a host buffer ({@code offset} -1) has no arena region.
 */
final class DraftBuffer {
    final int id;
    final String value;
    final int device;
    long offset;
    final long bytes;
    int writer = -1;
    final List<Integer> readers = new ArrayList<>();
    /** First and last task touching it (-1: none yet). */
    int first = -1, last = -1;

    DraftBuffer(int id, String value, int device, long offset, long bytes) {
        this.id = id;
        this.value = value;
        this.device = device;
        this.offset = offset;
        this.bytes = bytes;
    }

    void touch(int task) {
        if (first < 0 || task < first) first = task;
        last = Math.max(last, task);
    }

    Buffer toBuffer() { return new Buffer(id, value, device, offset, bytes); }
}
