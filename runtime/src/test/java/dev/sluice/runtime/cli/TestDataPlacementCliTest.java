package dev.sluice.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Model;
import dev.sluice.graph.TensorProtos;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code test-data --devices cpu,throttled --placement FILE} (and {@code --objective}) runs a test-data folder
 * placed across both devices, says where the nodes ran, and compares with the folder's expected outputs, which
 * here come from ONNX Runtime.
 */
class TestDataPlacementCliTest {
    static final Pattern WHERE = Pattern.compile("placed run \\(([^)]+)\\): \\{cpu=(\\d+), throttled=(\\d+)\\}");

    @Test
    void testDataRunsAPlacedModelAndReportsWhereItsNodesRan(@TempDir Path dir) throws Exception {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Path folder = dir.resolve("cls"), set = folder.resolve("test_data_set_0");
        Files.createDirectories(set);
        Files.copy(z.path(), folder.resolve("model.onnx"));
        Map<String, Tensor> in = z.sampleInputs(9);
        int k = 0;
        for (var e : in.entrySet()) TensorProtos.write(e.getValue(), e.getKey(), set.resolve("input_" + k++ + ".pb"));
        k = 0;
        for (var e : OrtReference.run(z.path(), in).entrySet()) TensorProtos.write(e.getValue(), e.getKey(), set.resolve("output_" + k++ + ".pb"));

        // a placement by hand: the first half of the nodes on the cpu, the rest on the throttled device
        Path file = dir.resolve("half.json");
        int n;
        try (Session s = Session.open(z.path(), SessionOptions.builder().threads(2).build())) {
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
            n = m.graph().nodes().size();
            int[] nodes = new int[n];
            for (int i = n / 2; i < n; i++) nodes[i] = 1;
            Placement.of(m.graph(), List.of("cpu", "throttled"), nodes, "by-hand", 0, List.of(0L, 0L), 0, "").save(file);
        }
        PlaceCliTest.Run r = PlaceCliTest.sluice("test-data", folder.toString(), "--threads", "2", "--devices", "cpu,throttled",
            "--placement", file.toString());
        assertEquals(0, r.status(), r.out() + r.err());
        Matcher m = WHERE.matcher(r.out());
        assertTrue(m.find(), r.out());
        assertEquals("by-hand", m.group(1));
        assertEquals(n / 2, Integer.parseInt(m.group(2)), r.out());
        assertEquals(n - n / 2, Integer.parseInt(m.group(3)), r.out());
        assertTrue(r.out().contains("1 passed, 0 failed"), r.out());

        // solved rather than given: the latency objective, the profiler's warm-up cut short by its switch
        PlaceCliTest.Run solved = PlaceCliTest.sluice("test-data", folder.toString(), "--threads", "2", "--devices", "cpu,throttled",
            "--objective", "latency", "--profile-warmup-ms", "0");
        assertEquals(0, solved.status(), solved.out() + solved.err());
        Matcher ms = WHERE.matcher(solved.out());
        assertTrue(ms.find(), solved.out());
        assertEquals("chrion-latency", ms.group(1));
        assertEquals(n, Integer.parseInt(ms.group(2)) + Integer.parseInt(ms.group(3)), solved.out());
        assertTrue(solved.out().contains("1 passed, 0 failed"), solved.out());

        // a placement made for another model is refused, naming nodes, and the set fails
        PlaceCliTest.Run other = PlaceCliTest.sluice("test-data", folder.toString(), "--devices", "cpu,throttled",
            "--placement", file.toString().replace("half", "missing"));
        assertEquals(1, other.status(), other.out() + other.err());

        // a switch with a bad value is refused naming it before anything runs
        PlaceCliTest.Run bad = PlaceCliTest.sluice("test-data", folder.toString(), "--pointwise-conv", "sometimes");
        assertEquals(1, bad.status());
        assertTrue(bad.err().contains("--pointwise-conv"), bad.err());
    }
}
