package dev.sluice.runtime.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.dispatch.DeviceOptions;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shipped CPU kernels (Gather, Transpose, Concat) on the throttled device, through the API and the command line. */
class DeviceCliTest {
    /**
     * 24 gathers from 24 tables, all kept until a chain of Concat + Gather folds them in reverse order: many
     * values live at once while each node alone needs little, so 25% of the full need still fits a node.
     */
    static Path model(Path dir) throws Exception {
        int n = 24;
        OnnxModelBuilder b = new OnnxModelBuilder(17).input("idx", 7, 16);
        long[] pick = new long[16];
        for (int i = 0; i < 16; i++) pick[i] = (i * 7 + 3) % 32;
        b.longInit("pick", new long[] {16}, pick);
        for (int t = 0; t < n; t++) {
            float[] v = new float[32 * 64];
            for (int i = 0; i < v.length; i++) v[i] = (float) Math.sin(i * 0.37 + t);
            b.floatInit("e" + t, new long[] {32, 64}, v);
            b.node("Gather", List.of("e" + t, "idx"), List.of("g" + t));
        }
        String y = "g" + (n - 1);
        for (int k = n - 2; k >= 0; k--) {
            b.node("Concat", List.of(y, "g" + k), List.of("c" + k), OnnxModelBuilder.intAttr("axis", 0));
            b.node("Gather", List.of("c" + k, "pick"), List.of("y" + k));
            y = "y" + k;
        }
        b.node("Transpose", List.of(y), List.of("out"), OnnxModelBuilder.ints("perm", 1, 0));
        b.output("out", 1, 64, 16).output("g0", 1, 16, 64);
        return b.write(dir.resolve("gathers.onnx"));
    }

    @Test void realKernelsAreBitIdenticalOnTheThrottledDeviceAtEveryBudget(@TempDir Path dir) throws Exception {
        Path file = model(dir);
        Map<String, Tensor> in = Map.of("idx", Tensor.ofLongs(Shape.of(16), 3, 1, 31, 0, 17, 3, 9, 30, 5, 5, 6, 7, 8, 2, 11, 12));
        Map<String, Tensor> ref;
        try (Session s = Session.open(file, 2)) { ref = s.run(in).asMap(); }
        for (String budget : List.of("100%", "50%", "25%")) {
            for (String order : List.of("dynamic", "fixed")) {
                Map<String, String> o = Map.of("device", "throttled", "budget", budget, "order", order);
                DeviceOptions opts = DeviceOptions.from(o::get, 2);
                ByteArrayOutputStream report = new ByteArrayOutputStream();
                try (Session s = opts.attach(Session.open(file, 2), new PrintStream(report))) {
                    Map<String, Tensor> out = s.run(in).asMap();
                    for (var e : ref.entrySet()) assertTrue(e.getValue().sameBits(out.get(e.getKey())), e.getKey() + " at " + budget);
                }
                assertTrue(report.toString().contains("throttled"), report.toString());
            }
        }
    }

    /** One session, many runs: the lane threads are started once and reused, and closing the session ends them. */
    @Test void aSessionsRunsReuseItsLaneThreads(@TempDir Path dir) throws Exception {
        Path file = model(dir);
        Map<String, Tensor> in = Map.of("idx", Tensor.ofLongs(Shape.of(16), 3, 1, 31, 0, 17, 3, 9, 30, 5, 5, 6, 7, 8, 2, 11, 12));
        DeviceOptions opts = DeviceOptions.from(Map.of("device", "throttled", "budget", "50%")::get, 2);
        java.util.Set<Long> first = null;
        try (Session s = opts.attach(Session.open(file, 2), new PrintStream(new ByteArrayOutputStream()))) {
            for (int run = 0; run < 5; run++) {
                s.run(in);
                java.util.Set<Long> ids = laneThreads().stream().map(Thread::threadId).collect(java.util.stream.Collectors.toSet());
                // Only new threads would show a run starting its own (an earlier test's may still be exiting).
                if (first == null) first = ids; else assertTrue(first.containsAll(ids), "run " + run + " started new lane threads");
            }
            assertFalse(first.isEmpty());
        }
        java.util.Set<Long> started = first;
        long until = System.nanoTime() + 5_000_000_000L;
        while (laneThreads().stream().anyMatch(t -> started.contains(t.threadId())) && System.nanoTime() < until) Thread.sleep(10);
        assertTrue(laneThreads().stream().noneMatch(t -> started.contains(t.threadId())), "lane threads outlive the session");
    }

    static java.util.List<Thread> laneThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("sluice-throttled.") && t.isAlive()).toList();
    }

    @Test void runPrintsLanesOverlapAndBytesAndWritesATrace(@TempDir Path dir) throws Exception {
        Path file = model(dir);
        Path trace = dir.resolve("t.json");
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int rc = new Main().execute(List.of("run", file.toString(), "--device", "throttled", "--budget", "25%",
            "--bandwidth", "2G", "--seed", "1", "--trace", trace.toString()), new PrintStream(out), new PrintStream(err));
        String s = out.toString();
        assertEquals(0, rc, s + err);
        assertTrue(s.contains("lane throttled.h2d") && s.contains("copy/compute overlap") && s.contains("bytes moved"), s);
        assertTrue(s.contains("measured peak on the throttled arena"), s);
        String json = Files.readString(trace);
        assertTrue(json.contains("\"traceEvents\"") && json.contains("throttled.compute"), json.substring(0, 200));

        ByteArrayOutputStream plain = new ByteArrayOutputStream();
        assertEquals(0, new Main().execute(List.of("run", file.toString(), "--seed", "1"), new PrintStream(plain), new PrintStream(err)));
        List<String> want = plain.toString().lines().filter(l -> l.startsWith("output ")).toList();
        List<String> got = s.lines().filter(l -> l.startsWith("output ")).toList();
        assertEquals(want, got, "same checksums as the reference executor");
    }

    @Test void aTooSmallBudgetIsRefusedWithTheNumberItNeeds(@TempDir Path dir) throws Exception {
        Path file = model(dir);
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int rc = new Main().execute(List.of("run", file.toString(), "--device", "throttled", "--budget", "4096"),
            new PrintStream(out), new PrintStream(err));
        assertEquals(1, rc);
        assertTrue(err.toString().contains("too small") && err.toString().contains("needs at least"), err.toString());
    }
}
