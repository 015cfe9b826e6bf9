package dev.sluice.runtime;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.ModelCheck;
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
import dev.sluice.kernels.TensorType;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.memory.MemoryPlans;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The user-facing API, as small as ONNX Runtime's: open a model, look at its inputs and outputs, run it
 * with named tensors, close it. A session specializes the graph to each new set of input shapes (shape
 * inference plus constant folding) and caches the result.
 */
public final class Session implements AutoCloseable {
    private final Model model;
    private final OpRegistry registry;
    private final Parallelism parallelism;
    private final SessionOptions options;
    private final Map<List<dev.sluice.kernels.Shape>, GraphExecutor> specialized = new ConcurrentHashMap<>();
    private volatile boolean closed;
    private volatile Runner runner;

    /** How {@link #run(Map)} runs a specialized graph: a device dispatcher instead of the reference executor. */
    public interface Runner {
        Map<String, Tensor> run(Session session, Map<String, Tensor> inputs);

        /** Called when the session closes or the runner is replaced: let go of lane threads and devices. */
        default void close() {}
    }

    /** Routes {@link #run(Map)} through {@code r} (null: the reference executor again); returns this session. */
    public Session withRunner(Runner r) {
        Runner old = this.runner;
        this.runner = r;
        if (old != null && old != r) old.close();
        return this;
    }

    /** Profile-guided memory plans per input shapes; null when planning is off. */
    private volatile MemoryPlans memoryPlans;

    private Session(Model model, OpRegistry registry, SessionOptions options) {
        this.model = model;
        this.registry = registry;
        this.options = options;
        this.parallelism = Parallelism.of(options.threads());
        this.memoryPlans = options.memoryPlanning() ? new MemoryPlans() : null;
    }

    /** Opens a model file with the {@linkplain SessionOptions#defaults() default options}: the CPU, one thread per core (at most 8). */
    public static Session open(Path modelFile) {
        return open(modelFile, SessionOptions.defaults());
    }

    /**
     * Opens a model file with these options. The plain CPU run (the default) runs on the reference executor with
     * profile-guided memory planning; any other device set, order or trace runs through the dispatcher.
     */
    public static Session open(Path modelFile, SessionOptions options) {
        return open(OnnxImporter.load(modelFile), options);
    }

    /** Opens an imported model with these options. */
    public static Session open(Model imported, SessionOptions options) {
        if (options.plainCpu()) return open(imported, options, OpRegistry.cpu(), PatternFusion.Target.CPU);
        if (dev.sluice.runtime.compile.PlacedRunner.applies(options)) {
            return dev.sluice.runtime.compile.PlacedRunner.open(imported, options, new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        }
        return dev.sluice.runtime.dispatch.DeviceOptions.of(options).open(imported, new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
    }

    public static Session open(Path modelFile, int threads) {
        return open(OnnxImporter.load(modelFile), threads);
    }

    /** Opens an imported model; fails listing every unsupported operator before anything runs. */
    public static Session open(Model imported, int threads) {
        return open(imported, threads, OpRegistry.cpu());
    }

    /** Opens an imported model with the given kernels. */
    public static Session open(Model imported, int threads, OpRegistry registry) {
        return open(imported, threads, registry, PatternFusion.Target.CPU);
    }

    /** Opens an imported model, fusing for the kernels that will run it (an accelerator wants standard ops). */
    public static Session open(Model imported, int threads, OpRegistry registry, PatternFusion.Target fusion) {
        return open(imported, SessionOptions.builder().threads(threads).build(), registry, fusion);
    }

    /** Opens an imported model with these options' threads and switches, these kernels and this fusion target. */
    public static Session open(Model imported, SessionOptions options, OpRegistry registry, PatternFusion.Target fusion) {
        ModelCheck.requireSupported(imported, registry);
        Model typed = TypeInference.run(imported, registry, Map.of(), true);
        Graph fused = PatternFusion.run(typed.graph(), fusion);
        if (fused != typed.graph()) typed = TypeInference.run(typed.withGraph(fused), registry, Map.of(), true);
        if (options.packWeights()) typed = dev.sluice.runtime.memory.WeightArena.pack(typed);
        return new Session(typed, registry, options);
    }

    /** The options this session was opened with. */
    public SessionOptions options() { return options; }

    /** The model after load-time inference and folding. */
    public Model model() { return model; }

    public List<Value> inputs() { return model.graph().inputs(); }

    public List<Value> outputs() { return model.graph().outputs(); }

    public OpRegistry registry() { return registry; }

    public Parallelism parallelism() { return parallelism; }

    /**
     * Runs the model once; every model input must be given. With memory planning on (the default), the
     * first run with a set of input shapes profiles tensor lifetimes and later runs with those shapes take
     * every intermediate from one planned arena; outputs are always fresh tensors the caller owns.
     */
    public Map<String, Tensor> run(Map<String, Tensor> inputs) {
        Runner r = runner;
        if (r != null) return r.run(this, inputs);
        GraphExecutor exec = executorFor(inputs);
        MemoryPlans plans = memoryPlans;
        return plans != null ? plans.run(exec, registry, inputs) : exec.run(inputs, OutputAllocator.FRESH, ExecutionListener.NONE);
    }

    /** Turns profile-guided memory planning on or off for later runs; returns this session. */
    public Session memoryPlanning(boolean on) {
        memoryPlans = on ? (memoryPlans != null ? memoryPlans : new MemoryPlans()) : null;
        return this;
    }

    /** The session's memory plans, or null when planning is off. */
    public MemoryPlans memoryPlans() { return memoryPlans; }

    public Map<String, Tensor> run(Map<String, Tensor> inputs, OutputAllocator alloc, ExecutionListener listener) {
        return executorFor(inputs).run(inputs, alloc, listener);
    }

    /** The executor of the graph specialized to these inputs' shapes (validated first). */
    public GraphExecutor executorFor(Map<String, Tensor> inputs) {
        if (closed) throw new SluiceException("session is closed");
        List<dev.sluice.kernels.Shape> key = validate(inputs);
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

    @Override public void close() {
        closed = true;
        Runner r = runner;
        if (r != null) r.close();
        specialized.clear();
        MemoryPlans plans = memoryPlans;
        if (plans != null) plans.clear();
    }

    /** Main graph of the model (for reports). */
    public Graph graph() { return model.graph(); }
}
