package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Model;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.Tile;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.compile.Compiled;
import dev.sluice.runtime.compile.Executable;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import dev.sluice.runtime.zoo.Zoo;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The tiling switches ({@code -Dsluice.tiling.*} once) are session options: three sessions in one JVM on the throttled
 * device at the same budget, one with every split, one without output-channel tiles, one with no tiles at all, each plan
 * their MemGraph with their own switches (their reports count the kernels of the plan their switches give, and the
 * plans differ), run interleaved, and give the same outputs bit for bit as the plain CPU run, and ONNX Runtime's within
 * its tolerance. Each compiles through the pipeline ({@code Pipeline.dispatched}): an {@code all-accel} placement whose
 * MemGraph carries the budget.
 */
class TilingSwitchesTest {
    static final DeviceSpec THROTTLED = new DeviceSpec("throttled", DeviceKind.THROTTLED, 1);
    static final Pattern KERNELS = Pattern.compile("; (\\d+) kernels, ");

    static Set<Tile.Kind> kinds(MemGraph m) {
        Set<Tile.Kind> s = new TreeSet<>();
        for (Task t : m.tasks()) if (t instanceof Task.Kernel k && k.tile() != null) s.add(k.tile().kind());
        return s;
    }

    static long kernels(MemGraph m) { return m.tasks().stream().filter(t -> t instanceof Task.Kernel).count(); }

    @Test
    void sessionsInOneJvmPlanWithTheirOwnTilingSwitchesAndAgreeBitForBit() throws Exception {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = z.sampleInputs(3);
        Map<String, Tensor> ort = OrtReference.run(z.path(), in);
        SessionOptions.Builder base = SessionOptions.builder().threads(1).devices("cpu", "throttled:100%");
        List<SessionOptions> options = List.of(base.build(), base.set("tiling-channels", "off").build(),
            SessionOptions.builder().threads(1).devices("cpu", "throttled:100%").set("tiling", "off").build());
        assertTrue(options.get(0).tiling().channels() && options.get(0).tiling().tiles());
        assertFalse(options.get(1).tiling().channels());
        assertFalse(options.get(2).tiling().tiles());
        try (Session plain = Session.open(z.path(), 1)) {
            var refEx = SessionInternals.executorFor(plain, in);
            Map<String, Tensor> ref = refEx.run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
            Model m = MeasuredShapes.of(refEx, in);
            long full = MemGraph.fullNeed(m.graph(), THROTTLED);
            List<MemGraph> plans = new ArrayList<>();
            for (SessionOptions o : options) plans.add(MemGraph.onDevice(m.graph(), THROTTLED.withBudget(full), o.tiling()));
            assertTrue(kinds(plans.get(0)).contains(Tile.Kind.OUTPUT_CHANNELS), plans.get(0).summary());
            assertFalse(kinds(plans.get(1)).contains(Tile.Kind.OUTPUT_CHANNELS), plans.get(1).summary());
            assertTrue(kinds(plans.get(2)).isEmpty(), plans.get(2).summary());
            assertEquals(m.graph().nodes().size(), kernels(plans.get(2)));
            assertNotEquals(kernels(plans.get(0)), kernels(plans.get(1)));

            List<ByteArrayOutputStream> reports = new ArrayList<>();
            List<Session> sessions = new ArrayList<>();
            try {
                for (SessionOptions o : options) {
                    ByteArrayOutputStream b = new ByteArrayOutputStream();
                    reports.add(b);
                    sessions.add(DeviceOptions.of(o).open(OnnxImporter.load(z.path()), new PrintStream(b, true, StandardCharsets.UTF_8)));
                }
                for (int k = 0; k < sessions.size(); k++) {
                    // the budgeted one-device run compiles through the pipeline: every node on the throttled device,
                    // the MemGraph of the session's switches under the budget
                    Compiled c = SessionInternals.compiled(sessions.get(k), in);
                    assertEquals("all-accel", c.placement().strategy());
                    assertEquals(List.of("cpu", "throttled"), c.placement().devices());
                    assertEquals(Map.of("cpu", 0, "throttled", m.graph().nodes().size()), c.placement().counts());
                    assertEquals(full, c.memGraph().devices().get(1).budgetBytes());
                    assertEquals(plans.get(k).tasks(), c.memGraph().tasks(), "session " + k + " plans with its own switches");
                    assertTrue(c.executable() instanceof Executable.Placed);
                }
                for (int round = 0; round < 2; round++) {
                    for (int k = 0; k < sessions.size(); k++) {
                        String what = "session " + k + " (" + options.get(k).tiling() + "), round " + round;
                        Map<String, Tensor> got = sessions.get(k).run(in).asMap();
                        assertEquals(ref.keySet(), got.keySet(), what);
                        for (var e : ref.entrySet()) {
                            assertTrue(e.getValue().sameBits(got.get(e.getKey())), e.getKey() + " differs from the plain run: " + what);
                            assertNull(Tolerance.DEFAULT.mismatch(got.get(e.getKey()), ort.get(e.getKey())), e.getKey() + " vs ORT: " + what);
                        }
                    }
                }
            } finally {
                for (Session s : sessions) s.close();
            }
            for (int k = 0; k < options.size(); k++) {
                String text = reports.get(k).toString(StandardCharsets.UTF_8);
                Matcher mt = KERNELS.matcher(text);
                assertTrue(mt.find(), text);
                assertEquals(kernels(plans.get(k)), Long.parseLong(mt.group(1)), "session " + k + " ran the plan of its own switches: " + text);
            }
        }
    }

    @Test
    void aBadValueIsRefusedNamingTheSwitchAndEverySwitchHasHelp() {
        for (String name : List.of("tiling", "tiling-rows", "tiling-columns", "tiling-channels", "tiling-boxes", "tiling-elements",
            "tiling-steps", "tiling-units", "tiling-keep-partials", "tiling-grid-by-bytes")) {
            assertTrue(SessionOptions.SWITCHES.containsKey(name), name);
            var e = assertThrows(SluiceException.class, () -> SessionOptions.builder().set(name, "sometimes"));
            assertTrue(e.getMessage().contains("--" + name) && e.getMessage().contains("sometimes"), e.getMessage());
            assertNotEquals(SessionOptions.builder().set(name, "on").build().tiling(), SessionOptions.builder().set(name, "off").build().tiling(), name);
        }
        SessionOptions o = SessionOptions.builder().set("tiling-rows", "off").set("tiling-grid-by-bytes", "false").build();
        assertFalse(o.tiling().rows());
        assertFalse(o.tiling().gridByBytes());
        assertTrue(o.tiling().boxes());
        assertEquals(o, o.toBuilder().build());
    }

    @Test
    void theTornadoSwitchesAreOptionsTooAndABadValueIsRefusedNamingThem() {
        SessionOptions o = SessionOptions.builder().set("tornado-resident", "off").set("tornado-profile", "on").build();
        assertFalse(o.accelerator().residentWeights());
        assertTrue(o.accelerator().profile());
        assertEquals(o, o.toBuilder().build());
        SessionOptions d = SessionOptions.builder().set("tornado-resident", "on").set("tornado-profile", "off").build();
        assertTrue(d.accelerator().residentWeights());
        assertFalse(d.accelerator().profile());
        for (String name : List.of("tornado-resident", "tornado-profile")) {
            assertTrue(SessionOptions.SWITCHES.containsKey(name), name);
            var e = assertThrows(SluiceException.class, () -> SessionOptions.builder().set(name, "2"));
            assertTrue(e.getMessage().contains("--" + name) && e.getMessage().contains("'2'"), e.getMessage());
        }
    }
}
