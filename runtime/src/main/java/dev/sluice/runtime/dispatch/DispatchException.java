package dev.sluice.runtime.dispatch;

import dev.sluice.kernels.SluiceException;

/** A run that did not complete: a task failed (named here) or, were the graph ever inconsistent, a stall. */
public final class DispatchException extends SluiceException {
    private final String task;

    DispatchException(String task, String message, Throwable cause) {
        super(message, cause);
        this.task = task;
    }

    /** The failed task's name, or null for a stall. */
    public String task() { return task; }
}
