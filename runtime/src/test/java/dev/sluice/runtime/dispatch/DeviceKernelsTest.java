package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.AcceleratorOptions;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.device.AcceleratorBackend;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.device.ComputeLane;
import dev.sluice.runtime.device.CopyLane;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.TornadoDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A task runs its device's kernels: on a TornadoVM-kind device, the backend's registry, not the host's. The backend
 * here is a stand-in that runs the CPU's kernels but, as TornadoVM's arrays do, writes the header slot in front of
 * every tensor it is handed. Elementwise tiles read and write views into the middle of a resident block, whose header
 * slot is other elements of that block; the executor must stage those views, so the outputs stay bit-identical to the
 * whole graph on the CPU (without staging, the scribbled headers corrupt neighbouring elements). Runs without TornadoVM.
 */
class DeviceKernelsTest {
    /** Runs the CPU's kernels, scribbling over the header slot of each input and output as TornadoVM does. */
    static final class HeaderWritingBackend implements AcceleratorBackend {
        final AtomicLong calls = new AtomicLong();

        @Override public String name() { return "tornadovm"; }
        @Override public List<String> devices() { return List.of("stand-in"); }
        @Override public String device() { return "stand-in that writes tensor headers"; }
        @Override public long memoryBytes() { return 1L << 30; }
        @Override public Set<String> opTypes() { return Set.of(); }
        @Override public Usage usage() { return new Usage(Map.of(), Map.of()); }
        @Override public void resetUsage() {}

        @Override public OpRegistry registry(OpRegistry cpu, AcceleratorOptions options) {
            OpRegistry r = new OpRegistry();
            for (String key : cpu.opTypes()) {
                int colon = key.lastIndexOf(':');
                String domain = colon < 0 ? "" : key.substring(0, colon), op = colon < 0 ? key : key.substring(colon + 1);
                OpKernel k = cpu.find(domain, op);
                r.register(domain, op, new OpKernel() {
                    @Override public List<TensorType> infer(InferContext ctx) { return k.infer(ctx); }
                    @Override public void execute(ExecContext ctx) {
                        calls.incrementAndGet();
                        k.execute(new Scribbling(ctx));
                    }
                });
            }
            return r;
        }
    }

    static Tensor scribble(Tensor t) {
        try {
            var h = t.withHeader();
            h.setAtIndex(ValueLayout.JAVA_INT, 0, 0x7fc00001); // a NaN's bits, where a neighbour's element may live
            h.setAtIndex(ValueLayout.JAVA_INT, 1, 0x7fc00001);
            h.setAtIndex(ValueLayout.JAVA_INT, 2, 0x7fc00001);
            h.setAtIndex(ValueLayout.JAVA_INT, 3, 0x7fc00001);
        } catch (IllegalStateException noHeaderSlot) {
            // caller memory: TornadoVM's kernel would refuse it and the CPU's run
        }
        return t;
    }

    record Scribbling(ExecContext c) implements ExecContext {
        @Override public Tensor input(int i) { return scribble(c.input(i)); }
        @Override public Tensor output(int i, DType dtype, Shape shape) { return scribble(c.output(i, dtype, shape)); }
        @Override public String nodeName() { return c.nodeName(); }
        @Override public String opType() { return c.opType(); }
        @Override public int opset() { return c.opset(); }
        @Override public Attributes attributes() { return c.attributes(); }
        @Override public int inputCount() { return c.inputCount(); }
        @Override public boolean hasInput(int i) { return c.hasInput(i); }
        @Override public int outputCount() { return c.outputCount(); }
        @Override public List<Tensor> runSubgraph(Subgraph g, List<Tensor> in) { return c.runSubgraph(g, in); }
        @Override public Parallelism parallelism() { return c.parallelism(); }
        @Override public boolean inputIsInitializer(int i) { return c.inputIsInitializer(i); }
    }

    /** r = Relu(x); z = Add(r, y) over 997 x 13 floats, at the minimum budget, half and all of what it needs. */
    @ParameterizedTest(name = "budget {0}")
    @ValueSource(strings = {"min", "half", "full"})
    void tornadoTasksRunTheDeviceKernelsAndViewsAreStaged(String which) {
        Shape shape = Shape.of(1, 1, 997, 13);
        TensorType t = TensorType.of(DType.FLOAT32, shape);
        Node relu = new Node("relu", "Relu", "", List.of("x"), List.of("r"), new Attributes(Map.<String, Attr>of()));
        Node add = new Node("add", "Add", "", List.of("r", "y"), List.of("z"), new Attributes(Map.<String, Attr>of()));
        Graph g = new Graph("t", List.of(relu, add), List.of(new Value("x", t), new Value("y", t)), List.of(new Value("z", t)), Map.of(),
            new HashMap<>(Map.of("x", t, "y", t, "r", t, "z", t)));
        Model model = new Model(g, 8, Map.of("", 17L), "test", "test");
        SplittableRandom rnd = new SplittableRandom(7);
        Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(rnd, shape), "y", ColumnTilingTest.random(rnd, shape));
        OpRegistry cpu = OpRegistry.cpu();
        Tensor ref = new GraphExecutor(model, cpu, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE).get("z");

        DeviceSpec spec = new DeviceSpec("tornadovm", DeviceKind.ACCELERATOR, 1);
        long full = MemGraph.fullNeed(g, spec);
        long budget = switch (which) {
            case "min" -> MemGraph.minimumBudget(g, spec, false);
            case "half" -> full / 2;
            default -> full;
        };
        MemGraph plan = MemGraph.onDevice(g, spec.withBudget(budget));
        assertTrue(plan.tasks().stream().anyMatch(x -> x instanceof Task.Kernel k && k.tile() != null), "tiled: " + plan.summary());
        HeaderWritingBackend backend = new HeaderWritingBackend();
        TornadoDevice dev = new TornadoDevice("tornadovm", backend, AcceleratorOptions.defaults(), budget, List.of(new ComputeLane("tornadovm.compute", Parallelism.SEQUENTIAL),
            new CopyLane("tornadovm.h2d", LaneKind.H2D, 0), new CopyLane("tornadovm.d2h", LaneKind.D2H, 0)));
        for (Dispatcher.Order order : Dispatcher.Order.values()) {
            MemGraphExecutor ex = new MemGraphExecutor(model, cpu, plan, List.of(CpuDevice.withWorkers(1), dev), order);
            try {
                long before = backend.calls.get();
                MemGraphExecutor.Result r = ex.run(in);
                long kernels = plan.tasks().stream().filter(x -> x instanceof Task.Kernel).count();
                assertEquals(kernels, backend.calls.get() - before, "every kernel task ran the device's registry");
                assertTrue(ref.sameBits(r.outputs().get("z")), "z at " + budget + " B (" + order + "; " + plan.summary() + ")");
                assertTrue(r.peakBytes().get(1) <= budget, r.peakBytes() + " over " + budget);
            } finally {
                ex.dispatcher().close();
            }
        }
    }
}
