package dev.sluice.runtime.compile;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.Model;
import dev.sluice.graph.fusion.PatternFusion;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Runs a session across the cpu and one accelerator (throttled; tornadovm, in a device arena of its budget; a
 * described accelerator's share runs on a throttled device under its budget) through {@link Pipeline#placed}: per input shapes, once, it takes the placement from the options' file or
 * solves one (chrion-latency for the latency objective, chrion-memory within the SLO for the memory objective,
 * on a fresh profile), builds its MemGraph (refused before running, with the bytes needed, when a node cannot fit
 * the budget), and then runs it with CPU-lane and accelerator-lane tasks at once. Outputs are bit-identical to the
 * one-device run where both devices run the CPU's kernels (cpu + throttled); with tornadovm the accelerator's share
 * runs TornadoVM's kernels (its graph fused into standard ops), so outputs agree with ONNX Runtime's within tolerance,
 * not bit for bit.
 */
public final class PlacedRunner implements PipelineRunner {
    private final SessionOptions options;
    private final PrintStream out;
    private final Map<List<Object>, Compiled> compiled = new ConcurrentHashMap<>();
    private volatile Dispatcher lanes;
    private volatile Placement last;

    private PlacedRunner(SessionOptions options, PrintStream out) {
        this.options = options;
        this.out = out;
    }

    /** Whether these options ask for a placement across devices (a placement file, an SLO or the memory objective). */
    public static boolean applies(SessionOptions o) {
        return o.placementFile() != null || o.slo() != null || o.objective() == SessionOptions.Objective.MEMORY;
    }

    /** Opens a model for a placed run; {@code out} gets one report line per run. */
    public static Session open(Model imported, SessionOptions o, PrintStream out) {
        List<SessionOptions.DeviceRequest> ds = o.devices();
        if (ds.size() != 2 || !ds.get(0).name().equals("cpu")) {
            throw new SluiceException("a placed run takes the cpu and one accelerator (throttled, tornadovm or a description FILE.json), got " + ds);
        }
        // TornadoVM's kernels know the standard ops only: with tornadovm both devices run a graph fused into standard ops
        boolean tornado = ds.get(1).name().equals("tornadovm");
        if (tornado) dev.sluice.runtime.device.TornadoDevice.backendOrThrow(); // says why it is absent before anything runs
        return SessionInternals.open(imported, o, OpRegistry.cpu(o.kernels()), tornado ? PatternFusion.Target.STANDARD_OPS : PatternFusion.Target.CPU)
            .withRunner(new PlacedRunner(o, out));
    }

    /** The placement the last run used (for reports), or null before the first run. */
    public Placement lastPlacement() { return last; }

    @Override public Map<String, Tensor> run(Session session, Map<String, Tensor> inputs) {
        Compiled c = compiled(session, inputs);
        MemGraphExecutor ex = ((Executable.Placed) c.executable()).executor();
        if (lanes == null) lanes = ex.dispatcher();
        last = c.placement();
        MemGraphExecutor.Result r = ex.run(inputs);
        out.printf("placed run (%s): %s; measured peak on the %s arena %d B of %d B; %.3f ms%n", c.placement().strategy(),
            c.placement().counts(), ex.plan().devices().get(1).name(), r.peakBytes().get(1), ex.plan().devices().get(1).budgetBytes(),
            r.trace().wallNanos() / 1e6);
        return r.outputs();
    }

    /**
     * The pipeline's values for these inputs' shapes (and the values of integer scalars, which can steer shapes):
     * compiled on first use, then kept.
     *
     * @param session the session that runs
     * @param inputs  the inputs by name
     * @return the placed compilation
     */
    public Compiled compiled(Session session, Map<String, Tensor> inputs) {
        List<Object> key = new ArrayList<>();
        for (var e : new TreeMap<>(inputs).entrySet()) {
            Tensor t = e.getValue();
            key.add(t.shape());
            if (t.elementCount() == 1 && !t.dtype().isFloatingPoint()) key.add(t.getLong(0));
        }
        return compiled.computeIfAbsent(key, k -> {
            Model m = MeasuredShapes.of(SessionInternals.executorFor(session, inputs), inputs);
            return Pipeline.placed(m, session.registry(), inputs, options, lanes);
        });
    }

    /** The MemGraph of a placement under the budget, split as {@code tiling} allows, or the refusal naming the bytes it needs. */
    static MemGraph buildOrRefuse(Model m, int[] nodes, DeviceSpec accel, String what, dev.sluice.kernels.TilingOptions tiling) {
        long budget = accel.budgetBytes();
        try {
            return MemGraph.placed(m.graph(), List.of(DeviceSpec.host(), accel), nodes, tiling, m.opset(""));
        } catch (MemGraphException e) {
            throw new SluiceException("placement " + what + " cannot run within the " + accel.name() + " device's budget of " + budget
                + " bytes: it needs at least " + e.neededBytes() + " bytes (" + e.getMessage() + ")");
        }
    }

    @Override public void close() {
        Dispatcher d = lanes;
        if (d != null) d.close();
        compiled.clear();
    }
}
