package dev.sluice.runtime.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.cost.CostModel;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.runtime.zoo.Zoo;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** profile, place and run --placement from the command line on a zoo model, with a described GPU. */
class PlaceCliTest {
    static { System.setProperty("sluice.place.warmupMs", "300"); }

    record Run(int status, String out, String err) {}

    static Run sluice(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int st = new Main().execute(List.of(args), new PrintStream(out, true), new PrintStream(err, true));
        return new Run(st, out.toString(), err.toString());
    }

    static final Pattern LINE = Pattern.compile(
        "place: (chosen=)?([a-z-]+) predicted_ms=([0-9.]+)( measured_ms=[0-9.]+)? accel_peak_bytes=(\\d+) solver_ms=([0-9.]+) nodes=(\\d+)");

    @Test
    void theTilingSwitchesAreFlagsOfRunAndPlaceAndABadValueIsRefusedNamingIt() {
        String model = Zoo.find("ppocr-cls").path().toString();
        Run place = sluice("place", model, "--devices", "cpu,nvidia-t4.json:50%", "--tiling-rows", "maybe");
        assertNotEquals(0, place.status());
        assertTrue(place.err().contains("--tiling-rows") && place.err().contains("maybe"), place.err());
        Run run = sluice("run", model, "--device", "throttled", "--budget", "50%", "--tiling-boxes", "perhaps");
        assertNotEquals(0, run.status());
        assertTrue(run.err().contains("--tiling-boxes") && run.err().contains("perhaps"), run.err());
        Run ok = sluice("run", model, "--device", "throttled", "--budget", "100%", "--tiling", "off");
        assertEquals(0, ok.status(), ok.err());
        assertTrue(ok.out().contains("plan (throttled): budget"), ok.out());
    }

    @Test
    void placePrintsEveryStrategyThenTheChosenOneAndItsFileRuns(@TempDir Path dir) throws Exception {
        String model = Zoo.find("ppocr-cls").path().toString();
        Path costs = dir.resolve("costs.json"), placement = dir.resolve("p.json");
        Run p = sluice("profile", model, "--devices", "cpu,nvidia-t4.json", "--runs", "1", "-o", costs.toString());
        assertEquals(0, p.status(), p.err());
        CostModel c = CostModel.load(costs);
        assertEquals(CostModel.Source.ESTIMATED, c.devices().get(1).timeSource());
        assertTrue(p.out().contains("estimated"), p.out());

        Run r = sluice("place", model, "--devices", "cpu,nvidia-t4.json:50%", "--solver", "all", "--milp-seconds", "2", "--runs", "1",
            "--objective", "memory", "--slo", "1.2x", "-o", placement.toString());
        assertEquals(0, r.status(), r.err() + r.out());
        int lines = 0, chosen = 0;
        for (String line : r.out().split("\n")) {
            if (!line.startsWith("place: ") || line.contains("refused")) continue;
            Matcher m = LINE.matcher(line);
            assertTrue(m.matches(), "malformed: " + line);
            assertNull(m.group(4), "a described device is never measured: " + line);
            if (m.group(1) != null) chosen++;
            else lines++;
        }
        assertEquals(6, lines, r.out());
        assertEquals(1, chosen, r.out());
        Placement pl = Placement.load(placement);
        assertEquals(List.of("cpu", "NVIDIA T4"), pl.devices());

        // the described accelerator's share runs on a throttled device under the budget
        Run run = sluice("run", model, "--devices", "cpu,throttled:50%", "--placement", placement.toString());
        assertEquals(0, run.status(), run.err());
        assertTrue(run.out().contains("placed run"), run.out());

        Run bad = sluice("place", model, "--devices", "cpu,gpu-that-is-not.json");
        assertEquals(1, bad.status());
        assertTrue(bad.err().contains("gpu-that-is-not.json"), bad.err());
    }

    static final Pattern FLOOR = Pattern.compile("overlap bound \\(placement model, capacity aside\\): no placement beats ([0-9.]+) ms = ([0-9.]+)x"
        + " all-accel's ([0-9.]+) ms; best found ([0-9.]+) ms = ([0-9.]+)x \\((\\w+), gap ([0-9.]+)%\\); chrion-latency ([0-9.]+) ms = ([0-9.]+)x");

    /** --overlap-bound: the floor is at most the best placement found, which is no slower than chrion-latency or all-accel. */
    @Test
    void overlapBoundPrintsAFloorUnderChrionLatencyAndAllAccel() {
        String model = Zoo.find("ppocr-cls").path().toString();
        Run r = sluice("place", model, "--devices", "cpu,nvidia-t4.json:25%", "--solver", "all-accel", "--overlap-bound", "--milp-seconds", "5",
            "--runs", "1");
        assertEquals(0, r.status(), r.err() + r.out());
        Matcher m = null;
        for (String line : r.out().split("\n")) if (line.startsWith("overlap bound")) m = FLOOR.matcher(line);
        assertNotNull(m, r.out());
        assertTrue(m.matches(), r.out());
        double floor = Double.parseDouble(m.group(1)), accel = Double.parseDouble(m.group(3)), best = Double.parseDouble(m.group(4));
        double chrion = Double.parseDouble(m.group(8));
        assertTrue(floor > 0 && floor <= best + 1e-3, r.out());
        assertTrue(best <= chrion + 1e-3 && chrion <= accel + 1e-3, r.out());
        assertEquals(floor / accel, Double.parseDouble(m.group(2)), 1e-3, r.out());
    }
}
