package dev.sluice.runtime.device;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Asks the host to end a thread's timed parks when asked. Linux lets every timed sleep of a thread end up to its
 * "timer slack" late (50 µs by default) so that wake-ups can be batched; for a lane that paces a link by parking, that
 * slack is added to every copy (measured on the 2-core host: a 2 µs park took 65 µs; 15 µs with 1 ns of slack). So
 * the threads that pace links set their own slack to 1 ns ({@code prctl(PR_SET_TIMERSLACK)}, which affects only the
 * calling thread). Elsewhere, or when the call is not available, nothing changes: parks are as precise as the host
 * makes them, and the pacing stays honest either way (a late wake-up only makes the link look slower).
 *
 * <p>Thread-confined: each thread records in a thread-local that it has asked, so the call is made once per thread.
 */
public final class PreciseTimers {
    private static final int PR_SET_TIMERSLACK = 29, PR_GET_TIMERSLACK = 30;
    private static final MethodHandle PRCTL = find();
    private static final ThreadLocal<Boolean> ASKED = ThreadLocal.withInitial(() -> Boolean.FALSE);

    private PreciseTimers() {}

    private static MethodHandle find() {
        if (!System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) return null;
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("prctl").map(f -> linker.downcallHandle(f,
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG),
                Linker.Option.firstVariadicArg(1))).orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null; // native access not granted, or no such symbol: keep the host's default slack
        }
    }

    /** This thread's timer slack in ns, or -1 where it cannot be read. */
    static long slackNanos() {
        if (PRCTL == null) return -1;
        try {
            return (int) PRCTL.invokeExact(PR_GET_TIMERSLACK, 0L);
        } catch (Throwable e) {
            return -1;
        }
    }

    /**
     * Parks the calling thread until {@code deadlineNanos} ({@link System#nanoTime()}), having asked for precise timers
     * for it: never spins, so the wait takes no core.
     */
    public static void parkUntil(long deadlineNanos) {
        forThisThread();
        for (long left; (left = deadlineNanos - System.nanoTime()) > 0; ) java.util.concurrent.locks.LockSupport.parkNanos(left);
    }

    /** Sets this thread's timer slack to 1 ns (asked once per thread); true if the call is available and took it. */
    public static boolean forThisThread() {
        if (ASKED.get()) return PRCTL != null;
        ASKED.set(Boolean.TRUE);
        if (PRCTL == null) return false;
        try {
            return (int) PRCTL.invokeExact(PR_SET_TIMERSLACK, 1L) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
