package dev.sluice.bench.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.serve.Engine;
import dev.sluice.runtime.serve.InferenceServer;
import dev.sluice.runtime.serve.Limits;
import dev.sluice.runtime.serve.Metrics;
import dev.sluice.runtime.serve.ModelRepository;
import dev.sluice.runtime.serve.Residency;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The load generator's schedule, and one short run against a loopback server ending with the summary line. */
class LoadgenTest {
    @TempDir Path repo;

    @Test void scheduleHasTheRateBurstinessAndSkewAskedFor() {
        Arrivals p = Arrivals.plan(1000, 20, 4, 1.0, 4, 3);
        int n = p.sendNanos().length;
        assertTrue(Math.abs(n - 20_000) < 2_500, "sent " + n);  // a CV of 4 makes the count itself vary
        double mean = 0, sq = 0;
        for (int i = 1; i < n; i++) {
            double g = (p.sendNanos()[i] - p.sendNanos()[i - 1]) / 1e9;
            mean += g;
            sq += g * g;
        }
        mean /= n - 1;
        double cv = Math.sqrt(sq / (n - 1) - mean * mean) / mean;
        assertTrue(cv > 3 && cv < 5, "gap CV " + cv);
        int[] per = new int[4];
        for (int m : p.model()) per[m]++;
        // Zipf(1) over 4: shares 0.48, 0.24, 0.16, 0.12.
        assertTrue(per[0] > per[1] && per[1] > per[2] && per[2] > per[3], java.util.Arrays.toString(per));
        assertEquals(0.48, per[0] / (double) n, 0.03);
        for (int i = 1; i < n; i++) assertTrue(p.sendNanos()[i] >= p.sendNanos()[i - 1]);
    }

    @Test void scalingToTheMeanRateKeepsTheBurstsAndTheModels() {
        Arrivals p = Arrivals.plan(3, 12, 4, 1.0, 8, 42); // a short bursty schedule: its count strays from 36
        Arrivals q = p.atMeanRate(3);
        int n = p.sendNanos().length;
        assertEquals(n, q.sendNanos().length);
        assertArrayEquals(p.model(), q.model());
        // n requests over n / rate seconds: the last send lies one mean gap before that end, within a tenth of it.
        double end = n / 3.0, last = q.sendNanos()[n - 1] / 1e9;
        assertEquals(end - end / n, last, 0.1 * end / n + 1e-9, "n=" + n);
        // One factor for every gap: ratios of send times are kept.
        for (int i = 1; i < n; i++) {
            if (p.sendNanos()[i] > 1_000_000) {
                assertEquals((double) q.sendNanos()[i] / q.sendNanos()[n - 1], (double) p.sendNanos()[i] / p.sendNanos()[n - 1], 1e-6);
            }
        }
    }

    @Test void shortRunEndsWithTheSummaryLine() throws Exception {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder()
            .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(1)).addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(4));
        OnnxMl.TypeProto type = OnnxMl.TypeProto.newBuilder().setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(s)).build();
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("g")
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Relu").addInput("x").addOutput("y"))
            .addInput(OnnxMl.ValueInfoProto.newBuilder().setName("x").setType(type))
            .addOutput(OnnxMl.ValueInfoProto.newBuilder().setName("y").setType(type)).build();
        for (String m : List.of("a", "b")) {
            Path d = Files.createDirectories(repo.resolve(m).resolve("1"));
            Files.write(d.resolve("model.onnx"), OnnxMl.ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).build().toByteArray());
        }
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, x -> {}), new Metrics(), Residency.NONE);
        engine.loadAll();
        try (InferenceServer server = new InferenceServer(engine, "127.0.0.1", 0, -1, Limits.defaults(), null)) {
            LoadgenCommand c = new LoadgenCommand();
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            List<String> argv = List.of("--url", "http://127.0.0.1:" + server.port(), "--models", "a,b", "--rate", "40/s", "--duration", "1",
                "--skew", "zipf:1", "--cdf", repo.resolve("cdf.png").toString());
            assertEquals(0, c.run(Args.parse(argv, c.valueOptions(), Set.of(), "loadgen"), new PrintStream(bytes, true)));
            String[] lines = bytes.toString().strip().split("\n");
            String last = lines[lines.length - 1];
            Matcher m = Pattern.compile("loadgen: sent=(\\d+) ok=(\\d+) failed=(\\d+) rejected=(\\d+) p50_ms=[0-9.]+ p99_ms=[0-9.]+ max_ms=[0-9.]+ "
                + "throughput=[0-9.]+/s swaps=(\\d+)").matcher(last);
            assertTrue(m.matches(), last);
            long sent = Long.parseLong(m.group(1)), ok = Long.parseLong(m.group(2));
            assertEquals(sent, ok + Long.parseLong(m.group(3)) + Long.parseLong(m.group(4)));
            assertEquals(sent, ok, bytes.toString());  // a light load on a healthy server: every request answered
            assertTrue(sent > 10, last);
            assertTrue(bytes.toString().contains("loadgen: model=a") && bytes.toString().contains("loadgen: model=b"));
            assertTrue(Files.size(repo.resolve("cdf.png")) > 0);
        }
    }
}
