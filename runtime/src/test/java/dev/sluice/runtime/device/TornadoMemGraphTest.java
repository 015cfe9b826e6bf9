package dev.sluice.runtime.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.graph.Model;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.AcceleratorBackend;
import dev.sluice.kernels.device.Accelerators;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.compile.PlacedRunner;
import dev.sluice.runtime.compile.PlacementPipeline;
import dev.sluice.runtime.dispatch.Dispatcher;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.dispatch.MemGraphExecutor;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import dev.sluice.runtime.zoo.Zoo;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * TornadoVM's device in the MemGraph: a device arena of the budget, copies as copy tasks, TornadoVM's kernels on its
 * compute lane. Zoo models at 100/50/25% of what they need, and placed across the cpu and tornadovm, give ONNX
 * Runtime's outputs within the conformance tolerance (other kernels than the CPU's: not bit for bit), the arena
 * never holds more than the budget, and a budget under the minimum is refused before running with the bytes needed.
 * Runs only where TORNADOVM_HOME is set and the backend starts (PoCL's OpenCL CPU device where there is no GPU).
 */
class TornadoMemGraphTest {
    static AcceleratorBackend backend;
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());
    static final Pattern NEEDS = Pattern.compile("needs at least (\\d+) bytes");

    @BeforeAll static void open() {
        String home = System.getenv("TORNADOVM_HOME");
        assumeTrue(home != null && !home.isBlank(), "TORNADOVM_HOME is not set");
        backend = Accelerators.tornadovm().orElse(null);
        assumeTrue(backend != null, () -> "TornadoVM backend absent: " + Accelerators.tornadovmUnavailableReason());
    }

    static void assertWithinOrt(String what, Path file, Map<String, Tensor> inputs, Map<String, Tensor> ours) throws Exception {
        Map<String, Tensor> ref = OrtReference.run(file, inputs);
        assertEquals(ref.keySet(), ours.keySet(), what + ": output names");
        for (var e : ref.entrySet()) {
            String m = Tolerance.DEFAULT.mismatch(ours.get(e.getKey()), e.getValue());
            assertNull(m, what + " output '" + e.getKey() + "': " + m);
        }
    }

    /** The report lines of a budgeted run (what DeviceOptions prints), to read the arena's measured peak from. */
    static long measuredPeak(String report) {
        Matcher m = Pattern.compile("measured peak on the tornadovm device arena: (\\d+) B of (\\d+) B").matcher(report);
        assertTrue(m.find(), report);
        long peak = Long.parseLong(m.group(1)), budget = Long.parseLong(m.group(2));
        assertTrue(peak > 0 && peak <= budget, "arena peak " + peak + " over its budget " + budget);
        return peak;
    }

    @ParameterizedTest(name = "{0} at {1}")
    @CsvSource({"silero-vad, 100%", "silero-vad, 50%", "silero-vad, 25%", "ppocr-cls, 100%", "ppocr-cls, 50%"})
    void budgetedRunMatchesOnnxRuntime(String name, String budget) throws Exception {
        Zoo.Model z = Zoo.find(name);
        var bytes = new java.io.ByteArrayOutputStream();
        var report = new PrintStream(bytes, true);
        SessionOptions o = SessionOptions.builder().threads(2).devices("cpu", "tornadovm:" + budget).build();
        try (Session s = dev.sluice.runtime.dispatch.DeviceOptions.of(o).open(OnnxImporter.load(z.path()), report)) {
            for (long seed : new long[] {1, 2}) {
                Map<String, Tensor> in = z.sampleInputs(seed);
                backend.resetUsage();
                assertWithinOrt(name + " at " + budget + " seed " + seed, z.path(), in, s.run(in).asMap());
                long onDevice = backend.usage().ran().values().stream().mapToLong(Long::longValue).sum();
                assertTrue(onDevice > 0, name + ": no kernel ran on TornadoVM's device");
            }
        }
        long peak = measuredPeak(bytes.toString());
        System.out.printf("TORNADO-MEMGRAPH %-10s %4s arena peak %d B%n", name, budget, peak);
    }

    @Test void budgetUnderTheMinimumIsRefusedBeforeRunningAndTheMinimumRuns() throws Exception {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = z.sampleInputs(1);
        SessionOptions tiny = SessionOptions.builder().threads(2).devices("cpu", "tornadovm:4096").build();
        long needed;
        try (Session s = dev.sluice.runtime.dispatch.DeviceOptions.of(tiny).open(OnnxImporter.load(z.path()), QUIET)) {
            backend.resetUsage();
            SluiceException e = assertThrows(SluiceException.class, () -> s.run(in));
            Matcher m = NEEDS.matcher(e.getMessage());
            assertTrue(m.find() && e.getMessage().contains("tornadovm"), e.getMessage());
            needed = Long.parseLong(m.group(1));
            assertTrue(needed > 4096, e.getMessage());
            assertEquals(0, backend.usage().ran().size() + backend.usage().fellBack().size(), "refused before any kernel ran");
        }
        var bytes = new java.io.ByteArrayOutputStream();
        SessionOptions atMin = SessionOptions.builder().threads(2).devices("cpu", "tornadovm:" + needed).build();
        try (Session s = dev.sluice.runtime.dispatch.DeviceOptions.of(atMin).open(OnnxImporter.load(z.path()), new PrintStream(bytes, true))) {
            assertWithinOrt("ppocr-cls at its minimum budget " + needed, z.path(), in, s.run(in).asMap());
        }
        assertTrue(measuredPeak(bytes.toString()) <= needed);
    }

    /**
     * A placement across the cpu and tornadovm: measured costs with a TornadoVM column, the strategies' placements and
     * one that alternates nodes between the devices (so that both lanes and the copy lanes surely work), each run with
     * CPU-lane and tornadovm-lane tasks at once, within ONNX Runtime's tolerance and the arena's budget; and a session
     * placed by the latency objective end to end.
     */
    @Test void placementAcrossCpuAndTornadoMatchesOnnxRuntime() throws Exception {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = z.sampleInputs(1);
        SessionOptions o = SessionOptions.builder().threads(2).devices("cpu", "tornadovm:50%").profileWarmupMillis(200).slo("3x").build();
        try (Session s = PlacedRunner.open(OnnxImporter.load(z.path()), o, QUIET)) {
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
            PlacementPipeline.Setup setup = PlacementPipeline.prepare(m, s.registry(), in, o, 1, PlacementPipeline.COARSEN_FRACTION);
            CostModel.DeviceCost tv = setup.costs().devices().get(1);
            assertEquals("tornadovm", tv.name());
            assertEquals(CostModel.Source.MEASURED, tv.timeSource());
            int n = m.graph().nodes().size();
            int[] alternate = new int[n];
            for (int i = 0; i < n; i++) alternate[i] = i % 2;
            Placement alt = Placement.of(m.graph(), setup.deviceNames(), alternate, "alternate", Double.NaN, List.of(0L, 0L), 0, "");
            List<PlacementPipeline.Outcome> outcomes = new java.util.ArrayList<>();
            outcomes.add(PlacementPipeline.realize(setup, alt));
            for (String st : List.of("heft", "chrion-latency")) {
                outcomes.add(PlacementPipeline.realize(setup, PlacementPipeline.solve(setup, st, SessionOptions.Objective.LATENCY, 1e9, 5)));
            }
            for (PlacementPipeline.Outcome oc : outcomes) {
                assertNull(oc.refusal(), oc.refusal());
                MemGraphExecutor ex = PlacementPipeline.executor(setup, oc, Dispatcher.Order.DYNAMIC, null);
                try {
                    MemGraphExecutor.Result r = ex.run(in);
                    assertWithinOrt("ppocr-cls placed by " + oc.placement().strategy(), z.path(), in, r.outputs());
                    assertTrue(r.peakBytes().get(1) <= setup.accelBudget(), "arena peak " + r.peakBytes().get(1) + " over " + setup.accelBudget());
                    System.out.printf("TORNADO-PLACED ppocr-cls %-16s %s arena peak %d B of %d B, %.1f ms%n", oc.placement().strategy(),
                        oc.placement().counts(), r.peakBytes().get(1), setup.accelBudget(), r.trace().wallNanos() / 1e6);
                } finally {
                    PlacementPipeline.close(ex, false);
                }
            }
            assertTrue(outcomes.getFirst().placement().counts().values().stream().allMatch(c -> c > 0), "the alternating placement uses both devices");
            // the session's own placed run (chrion-latency on a fresh profile), end to end
            assertWithinOrt("ppocr-cls placed session", z.path(), in, s.run(in).asMap());
        }
    }
}
