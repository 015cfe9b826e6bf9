package dev.sluice.runtime.compile;

import dev.sluice.runtime.exec.SessionInternals;
import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.graph.cost.FlopCount;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.memgraph.placement.Strategies;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.zoo.Zoo;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every strategy's placement of real zoo models, run across the cpu lane and the throttled lane at once with
 * cross-device values copied over copy lanes, gives the one-device run's outputs bit for bit (both devices run
 * the CPU's kernels); the one-device run is checked against ONNX Runtime here too. The cost model is a fixture
 * (made from FLOP counts so that the accelerator is faster on heavy nodes and the strategies split the graph),
 * not a measurement: this test is about execution, not timing.
 */
class PlacedRunTest {
    /** A cost model of g: cpu at 2 GFLOP/s, the accelerator at 6 GFLOP/s plus 20 us a node, a 2 GB/s link. */
    static CostModel fixtureCosts(Graph g, long accelBytes) {
        List<CostModel.NodeCost> ns = new ArrayList<>();
        List<String> keys = CostModel.nodeKeys(g);
        for (int i = 0; i < keys.size(); i++) {
            double f = FlopCount.flops(g, g.nodes().get(i));
            ns.add(new CostModel.NodeCost(keys.get(i), g.nodes().get(i).opType(), f, 0, 0, 0, List.of(
                new CostModel.Timing(f / 2e9 * 1e3 + 0.002, CostModel.Source.MEASURED),
                new CostModel.Timing(f / 6e9 * 1e3 + 0.02, CostModel.Source.MEASURED))));
        }
        return new CostModel(g.name(), CostModel.fingerprint(g), List.of(
            new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0),
            new CostModel.DeviceCost("throttled", "throttled", CostModel.Source.MEASURED, 2e9, 0.01, CostModel.Source.MEASURED, accelBytes)), ns);
    }

    static boolean sameBits(Tensor a, Tensor b) {
        return Arrays.equals(a.shape().dims(), b.shape().dims()) && a.dtype() == b.dtype()
            && MemorySegment.mismatch(a.data(), 0, a.byteSize(), b.data(), 0, b.byteSize()) < 0;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"ppocr-cls", "silero-vad", "all-minilm-l6-v2"})
    void everyStrategyRunsAcrossBothDevicesBitForBit(String name) {
        Zoo.Model z = Zoo.find(name);
        try (Session s = Session.open(z.path(), SessionOptions.builder().threads(2).memoryPlanning(false).build())) {
            Map<String, Tensor> in = z.sampleInputs(7);
            GraphExecutor ref = SessionInternals.executorFor(s, in);
            Map<String, Tensor> want = ref.run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
            Model m = MeasuredShapes.of(ref, in);
            long full = MemGraph.fullNeed(m.graph(), new DeviceSpec("throttled", DeviceKind.THROTTLED, 1));
            int mixed = 0;
            for (long budget : new long[] {full, full / 2}) {
                PlacementPipeline.Setup setup = PlacementPipeline.fromCosts(m, s.registry(), fixtureCosts(m.graph(), budget),
                    SessionOptions.builder().threads(2).build(), 0.02);
                assertTrue(setup.coarse().after() <= setup.coarse().before());
                double slo = PlacementPipeline.sloMillis(setup, SessionOptions.Slo.parse("1.2x"));
                for (String strategy : Strategies.NAMES) {
                    Strategies.Result r = PlacementPipeline.solve(setup, strategy, SessionOptions.Objective.LATENCY, slo, 5);
                    PlacementPipeline.Outcome o = PlacementPipeline.realize(setup, r);
                    if (o.refusal() != null) {
                        assertTrue(o.refusal().contains("needs at least"), o.refusal());
                        continue;
                    }
                    Map<String, Integer> counts = o.placement().counts();
                    if (counts.get("cpu") > 0 && counts.get("throttled") > 0) mixed++;
                    assertEquals(m.graph().nodes().size(), o.placement().assignment().size(), "every node placed once");
                    MemGraphExecutor ex = PlacementPipeline.executor(setup, o, budget == full ? Dispatcher.Order.DYNAMIC : Dispatcher.Order.FIXED, null);
                    try {
                        MemGraphExecutor.Result got = ex.run(in);
                        assertTrue(got.peakBytes().get(1) <= budget, strategy + ": arena over its budget");
                        for (String k : want.keySet()) {
                            assertTrue(sameBits(want.get(k), got.outputs().get(k)), name + " " + strategy + " at " + budget + " B: output " + k + " differs");
                        }
                    } finally {
                        ex.dispatcher().close();
                    }
                }
            }
            assertTrue(mixed >= 2, name + ": the strategies must split the graph across both devices at least twice, did " + mixed);
        }
    }

    @Test
    void theOneDeviceRunMatchesOnnxRuntime() throws Exception {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = z.sampleInputs(7);
        Map<String, Tensor> ort = OrtReference.run(z.path(), in);
        try (Session s = Session.open(z.path(), SessionOptions.builder().threads(2).build())) {
            Map<String, Tensor> got = s.run(in).asMap();
            for (var e : ort.entrySet()) {
                float[] a = e.getValue().toFloatArray(), b = got.get(e.getKey()).toFloatArray();
                for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-4 + 1e-3 * Math.abs(a[i]), e.getKey() + "[" + i + "]");
            }
        }
    }

    /** A placement file of ppocr-cls with every node on the accelerator (made by hand, not solved). */
    static Path allAccel(Path dir, Session s, Map<String, Tensor> in) throws Exception {
        Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
        int[] nodes = new int[m.graph().nodes().size()];
        Arrays.fill(nodes, 1);
        Placement p = Placement.of(m.graph(), List.of("cpu", "throttled"), nodes, "by-hand", 0, List.of(0L, 0L), 0, "");
        Path f = dir.resolve("cls.json");
        p.save(f);
        assertEquals(p, Placement.load(f));
        return f;
    }

    @Test
    void aPlacementThatCannotFitItsBudgetIsRefusedBeforeRunningWithTheBytesNeeded(@TempDir Path dir) throws Exception {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = z.sampleInputs(7);
        Path file;
        try (Session s = Session.open(z.path(), SessionOptions.builder().threads(2).build())) { file = allAccel(dir, s, in); }
        SessionOptions o = SessionOptions.builder().threads(2).devices("cpu", "throttled:4096").placementFile(file).build();
        try (Session placed = Session.open(z.path(), o)) {
            var e = assertThrows(SluiceException.class, () -> placed.run(in));
            // at least ppocr-cls's minimum (4,800 B since products and pointwise convs are cut along K too), above 4096
            var needed = java.util.regex.Pattern.compile("budget of 4096 bytes: it needs at least (\\d+) bytes").matcher(e.getMessage());
            assertTrue(needed.find() && Long.parseLong(needed.group(1)) > 4096, e.getMessage());
        }
        // and with room it runs, bit for bit the plain run
        SessionOptions roomy = SessionOptions.builder().threads(2).devices("cpu", "throttled").placementFile(file).build();
        try (Session plain = Session.open(z.path(), SessionOptions.builder().threads(2).build()); Session placed = Session.open(z.path(), roomy)) {
            Map<String, Tensor> a = plain.run(in).asMap(), b = placed.run(in).asMap();
            for (String k : a.keySet()) assertTrue(sameBits(a.get(k), b.get(k)), k);
        }
    }

    @Test
    void aPlacementForAnotherModelOrWithUnknownNodesIsRefusedNamingThem(@TempDir Path dir) throws Exception {
        Zoo.Model cls = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = cls.sampleInputs(7);
        Path file;
        try (Session s = Session.open(cls.path(), SessionOptions.builder().threads(2).build())) { file = allAccel(dir, s, in); }
        Placement p = Placement.load(file);
        String someNode = p.assignment().keySet().iterator().next();
        Zoo.Model vad = Zoo.find("silero-vad");
        SessionOptions o = SessionOptions.builder().threads(2).devices("cpu", "throttled").placementFile(file).build();
        try (Session other = Session.open(vad.path(), o)) {
            var e = assertThrows(SluiceException.class, () -> other.run(vad.sampleInputs(7)));
            assertTrue(e.getMessage().contains("nodes it names that the model lacks") && e.getMessage().contains(someNode), e.getMessage());
        }
        Path edited = dir.resolve("edited.json");
        Files.writeString(edited, Files.readString(file).replace("\"" + someNode + "\":", "\"no_such_node\":"));
        SessionOptions o2 = SessionOptions.builder().threads(2).devices("cpu", "throttled").placementFile(edited).build();
        try (Session same = Session.open(cls.path(), o2)) {
            var e = assertThrows(SluiceException.class, () -> same.run(in));
            assertTrue(e.getMessage().contains("no_such_node") && e.getMessage().contains(someNode), e.getMessage());
        }
    }
}
