package dev.sluice.runtime.compile;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.ModelCheck;
import dev.sluice.graph.TypeInference;
import dev.sluice.graph.fusion.PatternFusion;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.memgraph.placement.Strategies;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.memory.MemoryPlans;
import java.util.List;
import java.util.Map;

/**
 * The one compile pipeline every session configuration goes through:
 * {@code Graph -> fusion -> (CostModel -> Placement -> MemGraph) -> Executable}, each stage a value kept in a
 * {@link Compiled}.
 *
 * <ul>
 *   <li>{@link #fuse}: at open, check the operators, infer types, fuse for the backend, pack the weights.
 *   <li>{@link #oneDevice}: the plain CPU run, per input shapes: the placement is the one-device one (every node on
 *       {@code cpu}, strategy {@code all-cpu}); there is nothing to cost or to overlap, so no CostModel and no
 *       MemGraph: the plan is the session's profile-guided memory plan and the executable runs the nodes in order.
 *   <li>{@link #placed}: several devices, per input shapes: a CostModel profiled on the real shapes, a placement
 *       solved (or loaded from a file), its MemGraph under the accelerator's budget, an executable on the lanes.
 *   <li>{@link #dispatched}: one device through the dispatcher ({@code --device cpu|throttled|tornadovm}, a budget on
 *       the throttled one), per input shapes: the placement puts every node on that device (no choice, so no
 *       CostModel), its MemGraph carries the device's budget, the executable runs it on the device's lanes.
 * </ul>
 *
 * No stage reaches back into an earlier one: each takes the previous stage's value.
 */
public final class Pipeline {
    private Pipeline() {}

    /** The device list of the one-device case. */
    public static final List<String> ONE_DEVICE = List.of("cpu");

    /**
     * The first stage: the imported model checked against the kernels (every unsupported operator listed at once),
     * typed, fused for the backend that runs it, typed again where fusion changed it, its weights packed into one
     * segment if asked.
     *
     * @param imported    a model as imported
     * @param registry    the kernels that will run it
     * @param target      what fusion produces
     * @param packWeights whether weights and constants go into one native segment
     * @return the model every later stage starts from
     */
    public static Model fuse(Model imported, OpRegistry registry, PatternFusion.Target target, boolean packWeights) {
        ModelCheck.requireSupported(imported, registry);
        Model typed = TypeInference.run(imported, registry, Map.of(), true);
        Graph fused = PatternFusion.run(typed.graph(), target);
        if (fused != typed.graph()) typed = TypeInference.run(typed.withGraph(fused), registry, Map.of(), true);
        if (packWeights) typed = dev.sluice.runtime.memory.WeightArena.pack(typed);
        return typed;
    }

    /**
     * The one-device placement of a graph: every node on {@code cpu}.
     *
     * @param g the graph
     * @return its {@code all-cpu} placement on the one device
     */
    public static Placement allCpu(Graph g) {
        return Placement.of(g, ONE_DEVICE, new int[g.nodes().size()], "all-cpu", Double.NaN, List.of(0L), 0,
            "one device: every node on the cpu, nothing to place or predict");
    }

    /**
     * The plain CPU run's pipeline for one set of input shapes.
     *
     * @param executor the graph specialised to the shapes (from the fused model)
     * @param registry its kernels
     * @param plans    the session's memory plans, or null with planning off
     * @return the one-device compilation
     */
    public static Compiled oneDevice(GraphExecutor executor, OpRegistry registry, MemoryPlans plans) {
        Model m = executor.model();
        return new Compiled(m, null, allCpu(m.graph()), null, new Executable.OneDevice(executor, registry, plans));
    }

    /**
     * The placed pipeline for one set of input shapes: the model with static shapes ({@code staticModel}, from a
     * measured run), then either the options' placement file checked against it, or a profile, a coarsened problem
     * and the objective's strategy (chrion-latency, or chrion-memory within the SLO); its MemGraph (refused before
     * running, with the bytes needed, when a node cannot fit the budget); an executable on the lanes.
     *
     * @param staticModel the model with the real shapes of {@code inputs}
     * @param registry    the kernels
     * @param inputs      the inputs (profiled with)
     * @param options     devices (the cpu and one accelerator), objective, SLO, placement file, order, bandwidth
     * @param lanes       a dispatcher to share with earlier compilations of the session, or null
     * @return the placed compilation
     */
    public static Compiled placed(Model staticModel, OpRegistry registry, Map<String, Tensor> inputs, SessionOptions options, Dispatcher lanes) {
        Dispatcher.Order order = order(options.order());
        if (options.placementFile() != null) {
            Placement pl = Placement.load(options.placementFile());
            SessionOptions.DeviceRequest accel = options.devices().get(1);
            List<String> names = List.of("cpu", pl.devices().size() > 1 ? pl.devices().get(1) : accel.name());
            int[] nodes = pl.toArray(staticModel.graph(), names);
            long full = MemGraph.fullNeed(staticModel.graph(), PlacementPipeline.executionSpec(accel.name(), 1));
            long budget = Profiler.budgetBytes(accel.budget(), full, full);
            MemGraph mg = PlacedRunner.buildOrRefuse(staticModel, nodes, PlacementPipeline.executionSpec(accel.name(), budget), pl.strategy(), options.tiling());
            MemGraphExecutor ex = new MemGraphExecutor(staticModel, registry, mg, PlacementPipeline.devices(accel.name(), budget,
                options.bandwidthBytesPerSecond(), PlacementPipeline.threadsPerDevice(options.threads())), order, lanes);
            // a placement read from a file was not chosen from costs of this run: no CostModel stage
            return new Compiled(staticModel, null, pl, mg, new Executable.Placed(ex));
        }
        PlacementPipeline.Setup s = PlacementPipeline.prepare(staticModel, registry, inputs, options, 3, PlacementPipeline.COARSEN_FRACTION);
        double slo = PlacementPipeline.sloMillis(s, options.slo());
        String strategy = options.objective() == SessionOptions.Objective.MEMORY ? "chrion-memory" : "chrion-latency";
        Strategies.Result r = PlacementPipeline.solve(s, strategy, options.objective(), slo, 10);
        PlacementPipeline.Outcome o = PlacementPipeline.realize(s, r);
        if (o.refusal() != null) throw new SluiceException(o.refusal());
        MemGraphExecutor ex = PlacementPipeline.executor(s, o, order, lanes);
        return new Compiled(staticModel, s.costs(), o.placement(), ex.plan(), new Executable.Placed(ex));
    }

    /**
     * One device through the dispatcher, for one set of input shapes: every node on {@code device}, its MemGraph under
     * {@code spec}'s budget split as {@code tiling} allows (refused before running, with the bytes needed, when a node
     * cannot fit), and an executable on {@code devices}' lanes. A device with its own memory (throttled) is placed
     * beside the host ({@code [cpu, device]}, strategy {@code all-accel}); one that computes in host memory (the cpu
     * through the dispatcher, TornadoVM) is the placement's only device ({@code all-DEVICE}).
     *
     * @param staticModel the model with the real shapes of the inputs
     * @param registry    the kernels the device runs
     * @param device      the device's name in the placement, e.g. {@code throttled}
     * @param spec        the device as the MemGraph sees it, with its budget ({@link DeviceSpec#host()} for host memory)
     * @param tiling      which splits the MemGraph may use
     * @param devices     the devices whose lanes run it (the host first where the device has its own memory)
     * @param order       how the dispatcher picks among ready tasks
     * @param lanes       a dispatcher to share with earlier compilations of the session, or null
     * @return the dispatched compilation
     */
    public static Compiled dispatched(Model staticModel, OpRegistry registry, String device, DeviceSpec spec, dev.sluice.kernels.TilingOptions tiling,
                                      List<dev.sluice.runtime.device.Device> devices, Dispatcher.Order order, Dispatcher lanes) {
        Graph g = staticModel.graph();
        MemGraph mg = MemGraph.onDevice(g, spec, tiling, staticModel.opset(""));
        boolean host = spec.kind().sharesHostMemory();
        int[] nodes = new int[g.nodes().size()];
        if (!host) java.util.Arrays.fill(nodes, 1);
        Placement pl = Placement.of(g, host ? List.of(device) : List.of("cpu", device), nodes, host ? "all-" + device : "all-accel",
            Double.NaN, mg.plannedPeak(), 0, "one device through the dispatcher: every node on " + device);
        MemGraphExecutor ex = new MemGraphExecutor(staticModel, registry, mg, devices, order, lanes);
        return new Compiled(staticModel, null, pl, mg, new Executable.Placed(ex));
    }

    /** The dispatcher's order for the options' order. */
    static Dispatcher.Order order(SessionOptions.Order o) {
        return switch (o) {
            case DYNAMIC -> Dispatcher.Order.DYNAMIC;
            case PRIORITY -> Dispatcher.Order.PRIORITY;
            case FIXED -> Dispatcher.Order.FIXED;
        };
    }
}
