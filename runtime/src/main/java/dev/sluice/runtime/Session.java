package dev.sluice.runtime;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.TypeInference;
import dev.sluice.graph.Value;
import dev.sluice.graph.fusion.PatternFusion;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.WeightRelease;
import dev.sluice.runtime.memory.PackedOnlyWeights;
import dev.sluice.kernels.TensorType;
import dev.sluice.runtime.compile.Compiled;
import dev.sluice.runtime.compile.Pipeline;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.events.RunEvent;
import dev.sluice.runtime.events.SessionOpenEvent;
import dev.sluice.runtime.memory.MemoryPlans;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The user-facing API, as small as ONNX Runtime's: open a model, look at its inputs and outputs, run it
 * with named tensors, get a {@link Result}, close both. A session specializes the graph to each new set of
 * input shapes (shape inference plus constant folding) and caches the result.
 *
 * <pre>{@code
 * try (Session s = Session.open(Path.of("model.onnx"), SessionOptions.builder().threads(4).build());
 *      Result r = s.run(Map.of("x", Tensor.ofFloats(Shape.of(1, 3), 1f, 2f, 3f)))) {
 *     float[] y = r.get("y").toFloatArray();
 * }
 * }</pre>
 *
 * <p><b>Threads.</b> A session is safe to share: any number of threads may call {@link #run} on one session at
 * once, and each gets the outputs a lone caller would get. On the CPU path every concurrent run takes its own
 * planned arena from the session's pool (see {@link MemoryPlans}), its own tensors for intermediates, and shares
 * only immutable state (the model, the weights, the compiled graphs) and the session's worker pool; on the
 * dispatcher path (other devices, an order or a trace) runs take turns on the session's lanes. Inputs are only
 * read; a caller must not change an input tensor while a run reads it. A {@link Result} and its tensors belong
 * to the calling thread.
 *
 * <p><b>Lifetime.</b> {@link #close()} lets the worker threads, the arenas, the lanes and any device resources
 * go. Calling {@code run} on a closed session throws {@link IllegalStateException}; so does reading a closed
 * tensor or result. Close a session after its runs have returned.
 */
public final class Session implements AutoCloseable {
    static {
        // the runtime's other packages reach what names internal types through SessionInternals, not through here
        dev.sluice.runtime.exec.SessionInternals.install(new dev.sluice.runtime.exec.SessionInternals.Access() {
            // an executor or compiled values carry the model out of the session (tiled and placed runs read weights
            // in place): its released weights are written back first, as for model()
            @Override public GraphExecutor executorFor(Session s, Map<String, Tensor> inputs) {
                s.keepWeights();
                return s.executorFor(inputs);
            }

            @Override public MemoryPlans memoryPlans(Session s) { return s.memoryPlans(); }

            @Override public Map<String, Tensor> run(Session s, Map<String, Tensor> inputs, OutputAllocator alloc, ExecutionListener listener) {
                return s.run(inputs, alloc, listener);
            }

            @Override public Session open(Model imported, SessionOptions options, OpRegistry registry, PatternFusion.Target fusion) {
                return Session.open(imported, options, registry, fusion);
            }

            @Override public Compiled compiled(Session s, Map<String, Tensor> inputs) {
                s.keepWeights();
                return s.compiled(inputs);
            }
        });
    }

    private final Model model;
    private final OpRegistry registry;
    private final Parallelism parallelism;
    /** False for the pruned sessions of {@link #run(Map, Collection)}: they borrow their parent's pool. */
    private final boolean ownsPool;
    private final SessionOptions options;
    private final Map<List<dev.sluice.kernels.Shape>, GraphExecutor> specialized = new ConcurrentHashMap<>();
    /** The one-device pipeline's values per input shapes (cleared when planning is switched). */
    private final Map<List<dev.sluice.kernels.Shape>, Compiled> compiled = new ConcurrentHashMap<>();
    /** Sessions over the graph pruned to a set of outputs (sorted names), made on first use. */
    private final Map<List<String>, Session> pruned = new ConcurrentHashMap<>();
    /** The weights and constants of the model, by identity: outputs that would alias one are copied. */
    private final Set<Tensor> weights = Collections.newSetFromMap(new IdentityHashMap<>());
    private volatile boolean closed;
    private volatile Runner runner;

    /** How {@link #run(Map)} runs a specialized graph: a device dispatcher instead of the one-device executable. */
    public interface Runner {
        /**
         * Runs the session's model once on these (validated by the runner) inputs.
         *
         * @param session the session that runs
         * @param inputs the inputs by name
         * @return every output by name
         */
        Map<String, Tensor> run(Session session, Map<String, Tensor> inputs);

        /** Called when the session closes or the runner is replaced: let go of lane threads and devices. */
        default void close() {}
    }

    /**
     * Routes {@link #run(Map)} through {@code r} (null: the one-device pipeline again); the previous runner is closed.
     *
     * @param r the runner, or null
     * @return this session
     */
    public Session withRunner(Runner r) {
        Runner old = this.runner;
        this.runner = r;
        if (old != null && old != r) old.close();
        return this;
    }

    /** Profile-guided memory plans per input shapes; null when planning is off. */
    private volatile MemoryPlans memoryPlans;

    /** Weights allowed to be released once packed (empty once the model was handed out). */
    private volatile Set<Tensor> releasable = Set.of();

    private Session(Model model, OpRegistry registry, SessionOptions options) {
        this(model, registry, options, Parallelism.of(options.threads()), true);
    }

    private Session(Model model, OpRegistry registry, SessionOptions options, Parallelism parallelism, boolean ownsPool) {
        this.model = model;
        this.registry = registry;
        this.options = options;
        this.parallelism = parallelism;
        this.ownsPool = ownsPool;
        this.memoryPlans = options.memoryPlanning() ? new MemoryPlans() : null;
        weights.addAll(model.graph().initializers().values());
    }

    /**
     * Opens a model file with the {@linkplain SessionOptions#defaults() default options}: the CPU, one thread per core (at most 8).
     *
     * @param modelFile an ONNX model
     * @return an open session; close it when done
     * @throws dev.sluice.kernels.SluiceException naming the problem if the model cannot be read or has unsupported operators
     */
    public static Session open(Path modelFile) {
        return open(modelFile, SessionOptions.defaults());
    }

    /**
     * Opens a model file with these options. Every configuration compiles through one pipeline (see
     * {@code dev.sluice.runtime.compile.Pipeline}): the plain CPU run (the default) is its one-device case (every node
     * on the cpu, nodes in order under the profile-guided memory plan); a placement across the cpu and an accelerator
     * (a placement file, an SLO or the memory objective) its placed case; other device sets, orders or a trace run
     * through the dispatcher.
     *
     * @param modelFile an ONNX model (external data beside it)
     * @param options threads, devices and switches
     * @return an open session; close it when done
     * @throws dev.sluice.kernels.SluiceException naming the problem if the model cannot be read or has unsupported operators
     */
    public static Session open(Path modelFile, SessionOptions options) {
        SessionOpenEvent ev = recorderStarted() ? new SessionOpenEvent() : null;
        if (ev != null) ev.begin();
        Session s = openModel(OnnxImporter.load(modelFile), options);
        if (options.plainCpu()) s.releasePackedWeights();
        s.opened(ev, modelFile.toString());
        return s;
    }

    /**
     * Opens an imported model with these options.
     *
     * @param imported a model from {@link OnnxImporter#load}
     * @param options  threads, devices and switches
     * @return an open session; close it when done
     */
    public static Session open(Model imported, SessionOptions options) {
        SessionOpenEvent ev = recorderStarted() ? new SessionOpenEvent() : null;
        if (ev != null) ev.begin();
        Session s = openModel(imported, options);
        s.opened(ev, imported.source());
        return s;
    }

    private static Session openModel(Model imported, SessionOptions options) {
        if (options.plainCpu()) return open(imported, options, OpRegistry.cpu(options.kernels()), PatternFusion.Target.CPU);
        var quiet = new java.io.PrintStream(java.io.OutputStream.nullOutputStream());
        // a placement file, an SLO or the memory objective asks for a placement across devices
        if (dev.sluice.runtime.compile.PlacedRunner.applies(options)) return dev.sluice.runtime.compile.PlacedRunner.open(imported, options, quiet);
        return dev.sluice.runtime.dispatch.DeviceOptions.of(options).open(imported, quiet);
    }

    /**
     * Whether the JDK Flight Recorder has started in this JVM (a recording, {@code -XX:StartFlightRecording} or
     * {@code jcmd JFR.start}); only then are the open and run events made. The first event object made initializes
     * JFR's Java side (about 150 classes and the annotation proxies of every JDK event: about 3 MiB of a small model's
     * peak), for events that no recording would keep.
     */
    private static boolean recorderStarted() { return jdk.jfr.FlightRecorder.isInitialized(); }

    /** Commits the open event of a public {@code open}, which timed the whole of it (import included). */
    private void opened(SessionOpenEvent ev, String source) {
        if (ev == null || !ev.shouldCommit()) return;
        ev.model = source;
        ev.nodes = model.graph().nodes().size();
        ev.weightBytes = weights.stream().mapToLong(Tensor::byteSize).sum();
        ev.devices = options.devices().toString();
        ev.threads = options.threads();
        ev.commit();
    }

    /**
     * Opens a model file on the CPU with this many threads and otherwise default options.
     *
     * @param modelFile an ONNX model
     * @param threads CPU worker threads, at least 1
     * @return an open session
     */
    public static Session open(Path modelFile, int threads) {
        Session s = open(OnnxImporter.load(modelFile), threads);
        s.releasePackedWeights();
        return s;
    }

    /**
     * Lets the weights that only packing kernels read give their original bytes back once packed (see
     * {@link PackedOnlyWeights}). Only for a session on the plain CPU path whose model it imported itself: no other
     * executor holds these tensors. Handing the model out ({@link #model()}, {@link #graph()}) takes it back.
     */
    private void releasePackedWeights() {
        releasable = PackedOnlyWeights.allow(model.graph(), registry);
    }

    /** The model as the session runs it, released weights left released: for tests of the release. */
    Model modelInPlace() { return model; }

    /** Every weight whole again and never released from now on: the model is about to leave the session. */
    private void keepWeights() {
        Set<Tensor> r = releasable;
        if (r.isEmpty()) return;
        releasable = Set.of();
        for (Tensor t : r) WeightRelease.keep(t);
    }

    /**
     * Opens an imported model; fails listing every unsupported operator before anything runs.
     *
     * @param imported a model from {@link OnnxImporter#load}
     * @param threads CPU worker threads
     * @return an open session
     */
    public static Session open(Model imported, int threads) {
        return open(imported, threads, OpRegistry.cpu());
    }

    /**
     * Opens an imported model with the given kernels.
     *
     * @param imported a model
     * @param threads CPU worker threads
     * @param registry the kernels
     * @return an open session
     */
    public static Session open(Model imported, int threads, OpRegistry registry) {
        return open(imported, threads, registry, PatternFusion.Target.CPU);
    }

    /**
     * Opens an imported model, fusing for the kernels that will run it (an accelerator wants standard ops).
     *
     * @param imported a model
     * @param threads CPU worker threads
     * @param registry the kernels
     * @param fusion what fusion produces
     * @return an open session
     */
    static Session open(Model imported, int threads, OpRegistry registry, PatternFusion.Target fusion) {
        return open(imported, SessionOptions.builder().threads(threads).kernels(registry.options()).build(), registry, fusion);
    }

    /**
     * Opens an imported model with these options' threads and switches, these kernels and this fusion target.
     *
     * @param imported a model
     * @param options threads and switches
     * @param registry the kernels
     * @param fusion what fusion produces
     * @return an open session on the compile pipeline's one-device case
     */
    static Session open(Model imported, SessionOptions options, OpRegistry registry, PatternFusion.Target fusion) {
        return new Session(Pipeline.fuse(imported, registry, fusion, options.packWeights()), registry, options);
    }

    /**
     * The options this session was opened with.
     *
     * @return the options
     */
    public SessionOptions options() { return options; }

    /**
     * The model after load-time inference and folding.
     *
     * @return the model
     */
    public Model model() {
        keepWeights();
        return model;
    }

    /**
     * The inputs a run needs, in the model's order, with their declared types.
     *
     * @return the graph inputs
     */
    public List<Value> inputs() { return model.graph().inputs(); }

    /**
     * The outputs a run gives, in the model's order, with their types.
     *
     * @return the graph outputs
     */
    public List<Value> outputs() { return model.graph().outputs(); }

    /**
     * The kernels this session runs with.
     *
     * @return the registry
     */
    public OpRegistry registry() { return registry; }

    /**
     * The session's CPU worker pool (closed with the session).
     *
     * @return the pool
     */
    public Parallelism parallelism() { return parallelism; }

    /**
     * Runs the model once and returns every output, in the model's order. Every model input must be given, with
     * the dtype and shape the model declares (symbolic dimensions bind to one size across inputs). With memory
     * planning on (the default), the first run with a set of input shapes profiles tensor lifetimes and later
     * runs with those shapes take every intermediate from a planned arena. Outputs are always fresh tensors the
     * caller owns: close the result to recycle their memory at once. Safe to call from many threads at once.
     *
     * @param inputs a tensor for each model input, by name; read, never changed
     * @return the outputs; close it when done with them
     * @throws InputException naming the input, if one is missing, unknown, or of the wrong dtype or shape
     * @throws IllegalStateException if the session is closed
     */
    public Result run(Map<String, Tensor> inputs) {
        ensureOpen();
        RunEvent ev = recorderStarted() ? new RunEvent() : null;
        if (ev != null) ev.begin();
        Map<String, Tensor> out = ownOutputs(runAll(inputs), inputs);
        return finish(ev, out);
    }

    /**
     * Runs only what the named outputs need: the graph pruned to their ancestors (computed once per set of
     * names), so nodes that feed only other outputs do not run. Every model input must still be given.
     *
     * @param inputs      a tensor for each model input, by name
     * @param outputNames the outputs wanted, in the order the result gives them; duplicates count once
     * @return the named outputs
     * @throws InputException if a name is not an output of the model, or none is given, or an input is bad
     * @throws IllegalStateException if the session is closed
     */
    public Result run(Map<String, Tensor> inputs, Collection<String> outputNames) {
        ensureOpen();
        List<String> wanted = List.copyOf(new LinkedHashSet<>(outputNames));
        List<String> all = model.graph().outputNames();
        if (wanted.isEmpty()) throw new InputException("no outputs asked for; the model's outputs are " + all);
        for (String n : wanted) {
            if (!all.contains(n)) throw new InputException("unknown output '" + n + "'; the model's outputs are " + all);
        }
        RunEvent ev = recorderStarted() ? new RunEvent() : null;
        if (ev != null) ev.begin();
        Map<String, Tensor> got;
        if (new HashSet<>(wanted).size() == all.size()) {
            got = runAll(inputs);
        } else if (runner != null && options.plainCpu()) {
            // a runner attached from outside (the command line) cannot be copied onto a pruned graph: run it all and
            // leave the other outputs to the collector (one may be a weight, or the same tensor as a wanted one)
            got = runAll(inputs);
        } else {
            List<String> key = wanted.stream().sorted().toList();
            got = pruned.computeIfAbsent(key, this::prunedTo).runAll(inputs);
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String n : wanted) out.put(n, got.get(n));
        return finish(ev, ownOutputs(out, inputs));
    }

    /**
     * Every output of one run, by name: through the runner if one is attached (a placed run compiles through the same
     * pipeline, see PlacedRunner), else the one-device pipeline's executable for these shapes.
     */
    private Map<String, Tensor> runAll(Map<String, Tensor> inputs) {
        ensureOpen();
        Runner r = runner;
        if (r != null) return r.run(this, unwrapped(inputs));
        return oneDevice(inputs).executable().run(inputs);
    }

    /** The one-device pipeline's values for these inputs' shapes (validated first), compiled on first use. */
    private Compiled oneDevice(Map<String, Tensor> inputs) {
        ensureOpen();
        List<dev.sluice.kernels.Shape> key = validate(inputs);
        Compiled c = compiled.get(key);
        if (c != null) return c;
        GraphExecutor exec = specialized(key, inputs);
        MemoryPlans plans = memoryPlans;
        return compiled.computeIfAbsent(key, k -> Pipeline.oneDevice(exec, registry, plans));
    }

    /** The pipeline's values this session runs these inputs with: a placed runner's, else the one-device ones. */
    private Compiled compiled(Map<String, Tensor> inputs) {
        if (runner instanceof dev.sluice.runtime.compile.PipelineRunner p) return p.compiled(this, unwrapped(inputs));
        if (runner != null) throw new IllegalStateException("this session runs on " + options.devices() + " through the dispatcher, not the pipeline");
        return oneDevice(inputs);
    }

    /** Wrapped caller memory has no header slot for an accelerator: the dispatcher path gets a copy (documented on Tensor.wrap). */
    private static Map<String, Tensor> unwrapped(Map<String, Tensor> inputs) {
        if (inputs.values().stream().noneMatch(t -> t != null && t.isWrapped())) return inputs;
        Map<String, Tensor> m = new LinkedHashMap<>();
        inputs.forEach((k, t) -> m.put(k, t != null && t.isWrapped() ? t.copy() : t));
        return m;
    }

    /**
     * The caller will own (and may close) every output: one that is an input tensor or a weight itself (an
     * output wired straight to an input or a constant) is replaced by a copy, so closing a result never breaks
     * the caller's inputs or the session's weights.
     */
    private Map<String, Tensor> ownOutputs(Map<String, Tensor> out, Map<String, Tensor> inputs) {
        Set<Tensor> given = Collections.newSetFromMap(new IdentityHashMap<>());
        given.addAll(inputs.values());
        Map<Tensor, Tensor> copies = new IdentityHashMap<>();
        Map<String, Tensor> r = new LinkedHashMap<>();
        for (var e : out.entrySet()) {
            Tensor t = e.getValue();
            if (given.contains(t) || weights.contains(t) || isSpecializedConstant(t)) t = copies.computeIfAbsent(t, Tensor::copy);
            r.put(e.getKey(), t);
        }
        return r;
    }

    /** A constant folded when the graph was specialized to input shapes (an output like {@code Shape(x)}). */
    private boolean isSpecializedConstant(Tensor t) {
        for (GraphExecutor e : specialized.values()) if (e.model().graph().initializers().containsValue(t)) return true;
        for (Session p : pruned.values()) if (p.isSpecializedConstant(t)) return true;
        return false;
    }

    private Result finish(RunEvent ev, Map<String, Tensor> out) {
        if (ev != null && ev.shouldCommit()) {
            ev.model = model.source();
            ev.path = runner != null ? "dispatcher" : memoryPlans != null ? "planned" : "fresh";
            ev.outputs = out.size();
            ev.outputBytes = out.values().stream().mapToLong(Tensor::byteSize).sum();
            ev.commit();
        }
        return new Result(out);
    }

    /** A session over this model's graph cut down to the ancestors of {@code outputs}, sharing this one's pool. */
    private Session prunedTo(List<String> outputs) {
        Session sub = new Session(model.withGraph(prune(model.graph(), outputs)), registry, options, parallelism, false);
        sub.memoryPlanning(memoryPlans != null);
        // the same tensors: handing the pruned model out must take them back as handing this one out does
        sub.releasable = releasable;
        if (runner != null) dev.sluice.runtime.dispatch.DeviceOptions.of(options).attach(sub, new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        return sub;
    }

    /**
     * The nodes some wanted output depends on (through inputs, and through the names a node's subgraphs read from
     * the enclosing scope), in their order; the initializers they read; the graph inputs unchanged.
     */
    static Graph prune(Graph g, List<String> outputs) {
        Set<String> needed = new HashSet<>(outputs);
        List<Node> nodes = g.nodes();
        boolean[] keep = new boolean[nodes.size()];
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node n = nodes.get(i);
            if (n.outputs().stream().noneMatch(needed::contains)) continue;
            keep[i] = true;
            needed.addAll(n.inputs());
            for (Graph sg : n.subgraphs()) needed.addAll(sg.capturedNames());
        }
        List<Node> kept = new ArrayList<>();
        for (int i = 0; i < nodes.size(); i++) if (keep[i]) kept.add(nodes.get(i));
        Map<String, Tensor> inits = new LinkedHashMap<>();
        g.initializers().forEach((k, v) -> { if (needed.contains(k)) inits.put(k, v); });
        List<Value> outs = new ArrayList<>();
        for (String o : outputs) for (Value v : g.outputs()) if (v.name().equals(o)) outs.add(v);
        return g.withNodes(kept, inits, g.types()).withOutputs(outs);
    }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("session is closed (" + model.source() + ")");
    }

    /**
     * Turns profile-guided memory planning on or off for later runs.
     *
     * @param on true to plan
     * @return this session
     */
    public Session memoryPlanning(boolean on) {
        memoryPlans = on ? (memoryPlans != null ? memoryPlans : new MemoryPlans()) : null;
        compiled.clear(); // the one-device executables hold the plans they were compiled with
        return this;
    }

    /**
     * The session's memory plans, or null when planning is off.
     *
     * @return the plans, or null
     */
    MemoryPlans memoryPlans() { return memoryPlans; }

    /**
     * Runs once on the reference executor with this allocator and listener (for profiling and tools); the caller
     *
     * owns the outputs.
     * 
     * @param inputs the inputs by name
     * @param alloc where intermediates live
     * @param listener sees each node run
     * @return every output by name
     */
    Map<String, Tensor> run(Map<String, Tensor> inputs, OutputAllocator alloc, ExecutionListener listener) {
        return executorFor(inputs).run(inputs, alloc, listener);
    }

    /**
     * The executor of the graph specialized to these inputs' shapes (validated first).
     *
     * @param inputs the inputs by name
     * @return the executor, cached per shapes
     */
    GraphExecutor executorFor(Map<String, Tensor> inputs) {
        ensureOpen();
        return specialized(validate(inputs), inputs);
    }

    /** The executor specialized to {@code key}, the shapes of these (validated) inputs. */
    private GraphExecutor specialized(List<dev.sluice.kernels.Shape> key, Map<String, Tensor> inputs) {
        return specialized.computeIfAbsent(key, k -> {
            Map<String, TensorType> types = new HashMap<>();
            for (Value v : inputs()) types.put(v.name(), inputs.get(v.name()).type());
            Model m = TypeInference.run(model, registry, types, true);
            return new GraphExecutor(m, registry, parallelism);
        });
    }

    /** Checks names, dtypes and shapes against the model; binds symbolic dims consistently. */
    private List<dev.sluice.kernels.Shape> validate(Map<String, Tensor> inputs) {
        Map<String, Value> byName = new LinkedHashMap<>();
        for (Value v : inputs()) byName.put(v.name(), v);
        for (String name : inputs.keySet()) {
            if (!byName.containsKey(name)) {
                throw new InputException("unknown input '" + name + "'; the model's inputs are " + byName.keySet());
            }
        }
        Map<String, Long> symbols = new HashMap<>();
        List<dev.sluice.kernels.Shape> key = new ArrayList<>();
        for (Value v : byName.values()) {
            Tensor t = inputs.get(v.name());
            if (t == null) throw new InputException("input '" + v.name() + "' (" + v.type() + ") is missing");
            TensorType want = v.type();
            if (want.dtype() != null && want.dtype() != t.dtype()) {
                throw new InputException("input '" + v.name() + "' must be " + want.dtype() + " but is " + t.dtype());
            }
            SymShape s = want.shape();
            if (s.hasRank()) {
                if (s.rank() != t.rank()) {
                    throw new InputException("input '" + v.name() + "' must have rank " + s.rank() + " " + s + " but has shape " + t.shape());
                }
                for (int i = 0; i < s.rank(); i++) {
                    Dim d = s.dim(i);
                    long got = t.shape().dim(i);
                    if (d instanceof Dim.Known k && k.value() != got) {
                        throw new InputException("input '" + v.name() + "' must have shape " + s + " but has " + t.shape()
                            + " (dimension " + i + " is " + got + ", expected " + k.value() + ")");
                    }
                    if (d instanceof Dim.Symbol sym) {
                        Long prev = symbols.putIfAbsent(sym.name(), got);
                        if (prev != null && prev != got) {
                            throw new InputException("input '" + v.name() + "' dimension " + i + " ('" + sym.name() + "') is " + got
                                + " but another input bound '" + sym.name() + "' to " + prev);
                        }
                    }
                }
            }
            key.add(t.shape());
        }
        return key;
    }

    /**
     * Lets go of everything the session holds: its worker threads, its planned arenas, its dispatcher lanes and
     * device resources, and the pruned sessions of {@link #run(Map, Collection)}. Later calls to {@code run}
     * throw {@link IllegalStateException}; results already returned stay readable. A second call does nothing.
     */
    @Override public void close() {
        if (closed) return;
        closed = true;
        Runner r = runner;
        if (r != null) r.close();
        for (Session s : pruned.values()) s.close();
        pruned.clear();
        specialized.clear();
        compiled.clear();
        MemoryPlans plans = memoryPlans;
        if (plans != null) plans.clear();
        if (ownsPool) parallelism.close();
    }

    /**
     * Whether {@link #close()} was called.
     *
     * @return true once closed
     */
    public boolean isClosed() { return closed; }

    /**
     * Main graph of the model (for reports).
     *
     * @return the graph
     */
    public Graph graph() {
        keepWeights();
        return model.graph();
    }
}
