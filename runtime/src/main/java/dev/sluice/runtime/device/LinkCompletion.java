package dev.sluice.runtime.device;

/**
 * A thread that runs copies as tasks of a run whose scheduler can take a copy's end from its link interval rather than
 * from when the call returns (a lane of the dispatcher). Where {@link #endsAt} says yes, a {@link CopyLane} returns right
 * after its memcpy, as an asynchronous copy on an accelerator returns once queued, and the scheduler counts the task as
 * ended at the interval's end: nothing that waits for it starts sooner. Where it says no (any other thread), the copy
 * waits its interval out itself.
 *
 * <p>The contract that keeps the link honest: the caller's task is taken to end no sooner than {@code endNanos}, and
 * every task ordered after it starts no sooner than that (a copy after it occupies the link no sooner than that). The
 * bytes themselves are in place when the copy returns, so nothing that physically follows it can see stale data.
 */
public interface LinkCompletion {
    /**
     * The calling task's copy occupies the link over {@code [startNanos, endNanos)} ({@link System#nanoTime()}); true if
     * the task is now taken to end at {@code endNanos} (or later, with the other copies it made), so the copy need not
     * wait; false if the copy must wait its interval out.
     */
    boolean endsAt(long startNanos, long endNanos);
}
