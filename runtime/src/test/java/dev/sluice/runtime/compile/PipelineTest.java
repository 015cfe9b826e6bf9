package dev.sluice.runtime.compile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Model;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The plain CPU session is the one-device case of the one compile pipeline: its compiled values are an
 * {@code all-cpu} placement of every node on the cpu and a one-device executable, and its outputs equal, bit for
 * bit, those of the explicit placed run of the all-cpu placement (a placement file, run by the dispatcher on the
 * cpu lane with the throttled device idle). That both agree with ONNX Runtime is RealModelTest's and
 * PlacedRunTest's business; here the reference is the placed path, a different executor over a MemGraph.
 */
class PipelineTest {
    @TempDir Path dir;

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"silero-vad", "ppocr-cls"})
    void theDefaultSessionIsTheOneDeviceCaseAndEqualsTheExplicitAllCpuPlacedRunBitForBit(String name) {
        Zoo.Model z = Zoo.find(name);
        Map<String, Tensor> in = z.sampleInputs(3);
        Map<String, Tensor> plain;
        Path file = dir.resolve(name + "-all-cpu.json");
        try (Session s = Session.open(z.path())) {
            plain = s.run(in).asMap();
            Compiled c = SessionInternals.compiled(s, in);
            assertTrue(c.oneDevice(), c.toString());
            assertNull(c.memGraph());
            assertNull(c.costs());
            assertEquals(List.of("cpu"), c.placement().devices());
            assertEquals("all-cpu", c.placement().strategy());
            int n = c.model().graph().nodes().size();
            assertEquals(Map.of("cpu", n), c.placement().counts(), "every node on the one device");
            assertArrayEquals(new int[n], c.placement().toArray(c.model().graph(), List.of("cpu")));
            assertTrue(c.toString().contains("all-cpu") && c.toString().contains("one device"), c.toString());
            // the same values for the same shapes: compiled once
            assertTrue(c == SessionInternals.compiled(s, in));

            // the explicit placed run: every node of the static-shape graph on the cpu, written as a placement file
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
            Placement.of(m.graph(), List.of("cpu", "throttled"), new int[m.graph().nodes().size()], "all-cpu", 0, List.of(0L, 0L), 0, "")
                .save(file);
        }
        SessionOptions placedOptions = SessionOptions.builder().devices("cpu", "throttled").placementFile(file).build();
        try (Session placed = Session.open(z.path(), placedOptions)) {
            Map<String, Tensor> got = placed.run(in).asMap();
            assertEquals(plain.keySet(), got.keySet());
            for (String k : plain.keySet()) assertTrue(PlacedRunTest.sameBits(plain.get(k), got.get(k)), name + ": output " + k + " differs");
            Compiled c = SessionInternals.compiled(placed, in);
            assertFalse(c.oneDevice());
            assertNotNull(c.memGraph());
            assertEquals(Placement.load(file), c.placement());
            assertEquals(0, (int) c.placement().counts().get("throttled"));
        }
    }
}
