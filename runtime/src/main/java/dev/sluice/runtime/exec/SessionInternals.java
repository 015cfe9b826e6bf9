package dev.sluice.runtime.exec;

import dev.sluice.graph.Model;
import dev.sluice.graph.fusion.PatternFusion;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.memory.MemoryPlans;
import java.lang.invoke.MethodHandles;
import java.util.Map;

/**
 * The runtime's own way into a {@link Session}'s internals: its executor per input shapes, its memory plans, a run
 * with a chosen output allocator and listener, and opening with a chosen fusion target. These name types of
 * packages the module does not export, so they are not methods of the public {@code Session}; the session hands
 * this class an {@link Access} when it is initialised (the "shared secrets" pattern), and the runtime's other
 * packages (dispatch, compile, serve, cli, memory) and the bench go through the static methods here.
 *
 * <p>Invariant: {@link #access()} never returns null once {@code Session} is initialised, and it initialises
 * {@code Session} first if it has not been.
 */
public final class SessionInternals {
    private SessionInternals() {}

    /** What a session lets the runtime do; implemented by {@code Session} alone. */
    public interface Access {
        GraphExecutor executorFor(Session s, Map<String, Tensor> inputs);

        MemoryPlans memoryPlans(Session s);

        Map<String, Tensor> run(Session s, Map<String, Tensor> inputs, OutputAllocator alloc, ExecutionListener listener);

        Session open(Model imported, SessionOptions options, OpRegistry registry, PatternFusion.Target fusion);

        dev.sluice.runtime.compile.Compiled compiled(Session s, Map<String, Tensor> inputs);
    }

    private static volatile Access access;

    /** Called once, by {@code Session}'s static initialiser. */
    public static void install(Access a) {
        if (access != null) throw new IllegalStateException("session internals are installed already");
        access = a;
    }

    private static Access access() {
        Access a = access;
        if (a == null) {
            try {
                MethodHandles.lookup().ensureInitialized(Session.class);
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
            a = access;
        }
        return a;
    }

    /** The executor of the session's graph specialized to these inputs' shapes (validated first). */
    public static GraphExecutor executorFor(Session s, Map<String, Tensor> inputs) { return access().executorFor(s, inputs); }

    /** The session's profile-guided memory plans, or null when planning is off. */
    public static MemoryPlans memoryPlans(Session s) { return access().memoryPlans(s); }

    /** One run of the specialized graph with this output allocator and listener (no memory plan, no runner). */
    public static Map<String, Tensor> run(Session s, Map<String, Tensor> inputs, OutputAllocator alloc, ExecutionListener listener) {
        return access().run(s, inputs, alloc, listener);
    }

    /** Opens an imported model with these options' threads and switches, these kernels and this fusion target. */
    public static Session open(Model imported, SessionOptions options, OpRegistry registry, PatternFusion.Target fusion) {
        return access().open(imported, options, registry, fusion);
    }

    /**
     * The compile pipeline's values the session runs these inputs with (compiled now if they were not yet): the
     * one-device ones for a plain CPU session, the placed ones for a placed session; refused for a session on the
     * dispatcher's other device options.
     */
    public static dev.sluice.runtime.compile.Compiled compiled(Session s, Map<String, Tensor> inputs) { return access().compiled(s, inputs); }

    /** As {@link #open(Model, SessionOptions, OpRegistry, PatternFusion.Target)} with only a thread count. */
    public static Session open(Model imported, int threads, OpRegistry registry, PatternFusion.Target fusion) {
        return open(imported, SessionOptions.builder().threads(threads).build(), registry, fusion);
    }
}
