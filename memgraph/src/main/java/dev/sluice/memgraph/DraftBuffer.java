package dev.sluice.memgraph;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A buffer while the builder emits tasks: the value it holds, where, its writer and readers so far, and the tasks
 * its writer must wait for (every task that used an overlapping region before it). Becomes a {@link Buffer} when
 * the graph is built. Invariants: one writer (a tiled node's later tiles take over the write through a data chain
 * from the first); a host buffer ({@code offset} -1) has no arena region and no waits.
 */
final class DraftBuffer {
    final int id;
    final String value;
    final int device;
    long offset;
    final long bytes;
    int writer = -1;
    final List<Integer> readers = new ArrayList<>();
    final Set<Integer> waits = new LinkedHashSet<>();

    DraftBuffer(int id, String value, int device, long offset, long bytes) {
        this.id = id;
        this.value = value;
        this.device = device;
        this.offset = offset;
        this.bytes = bytes;
    }

    Buffer toBuffer() { return new Buffer(id, value, device, offset, bytes); }
}
