package dev.sluice.memgraph;

import dev.sluice.kernels.SluiceException;

/** A graph that cannot run within a budget (refused before running, with the bytes it needs) or cannot be planned. */
public final class MemGraphException extends SluiceException {
    private final long neededBytes;

    MemGraphException(String message, long neededBytes) {
        super(message);
        this.neededBytes = neededBytes;
    }

    /** The smallest budget that would have worked, or -1 when the problem is not the budget. */
    public long neededBytes() { return neededBytes; }
}
