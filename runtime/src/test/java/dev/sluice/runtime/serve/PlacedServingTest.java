package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Model;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.fixtures.OrtReference;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model whose config.json places it across the CPU and the throttled accelerator ({@code "session"}) is served
 * placed: its nodes run where the placement file says, and its answers match ONNX Runtime and, bit for bit, the
 * plain one-device run. Bad session settings are refused at load, naming the file and the key.
 */
class PlacedServingTest {
    @TempDir Path repo;

    @Test void configPlacesTheModelAcrossDevices() throws Exception {
        Path model = TestRepo.deep(repo, "deep", 6, 11);
        float[] x = {0.5f, -1f, 2f, 0.25f, 3f, -0.75f, 1.5f, -2f};
        Map<String, Tensor> in = Map.of("x", Tensor.ofFloats(Shape.of(2, 4), x));

        // a placement by hand for these shapes: the first half of the nodes on the cpu, the rest on the accelerator
        float[] plain;
        try (Session s = Session.open(model, SessionOptions.builder().threads(1).build())) {
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
            int n = m.graph().nodes().size();
            int[] nodes = new int[n];
            for (int i = n / 2; i < n; i++) nodes[i] = 1;
            Placement.of(m.graph(), List.of("cpu", "throttled"), nodes, "by-hand", 0, List.of(0L, 0L), 0, "")
                .save(repo.resolve("deep").resolve("half.json"));
            try (var r = s.run(in)) { plain = r.get("y").toFloatArray(); }
        }
        TestRepo.config(repo, "deep", "{\"session\": {\"devices\": \"cpu,throttled\", \"placement\": \"half.json\"}}");

        try (Engine e = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, msg -> {}), new Metrics(), Residency.NONE)) {
            e.load("deep");
            InferResponse r = e.infer(EngineTest.request4("deep", x)).result().get(60, TimeUnit.SECONDS);
            float[] served = EngineTest.floats(r.outputs().getFirst());
            assertArrayEquals(plain, served, "the placed run is bit for bit the one-device run");
            float[] ort = OrtReference.run(model, in).get("y").toFloatArray();
            for (int i = 0; i < ort.length; i++) assertEquals(ort[i], served[i], 1e-5f + 1e-5f * Math.abs(ort[i]), "y[" + i + "] vs ONNX Runtime");

            Session s = e.instance("deep", null).session;
            assertTrue(!s.options().plainCpu(), "the served session is placed");
            Map<String, Integer> counts = SessionInternals.compiled(s, in).placement().counts();
            assertEquals("by-hand", SessionInternals.compiled(s, in).placement().strategy());
            assertTrue(counts.getOrDefault("throttled", 0) > 0 && counts.getOrDefault("cpu", 0) > 0, counts.toString());
        }
    }

    @Test void badSessionSettingsAreRefusedNamingFileAndKey() throws Exception {
        TestRepo.deep(repo, "deep", 2, 3);
        try (Engine e = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, msg -> {}), new Metrics(), Residency.NONE)) {
            for (String[] c : new String[][] {
                {"{\"session\": {\"placement\": \"../../elsewhere.json\"}}", "'session.placement'", "outside"},
                {"{\"session\": {\"objective\": \"fastest\"}}", "'session.objective'", "fastest"},
                {"{\"session\": {\"devices\": \"cpu,warp-drive\"}}", "'session.devices'", "warp-drive"},
                {"{\"session\": {\"nope\": 1}}", "'session.nope'", "known keys"},
                {"{\"session\": [\"devices\"]}", "'session'", "object"},
            }) {
                TestRepo.config(repo, "deep", c[0]);
                SluiceException x = assertThrows(SluiceException.class, () -> e.load("deep"), c[0]);
                String msg = x.getMessage();
                assertTrue(msg.contains("config.json") && msg.contains(c[1]) && msg.contains(c[2]), c[0] + " -> " + msg);
            }
        }
    }
}
