package dev.sluice.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.kernels.device.Accelerators;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line's tornadovm budgets and placement: the options that make no sense are refused by name; where
 * TornadoVM is absent, a budgeted run, a placement and a placed run say so (with the reason) instead of failing
 * somewhere inside; where it is present, a budgeted run reports its device arena.
 */
class TornadoCliTest {
    @TempDir Path tmp;

    private Path reluModel() throws Exception {
        return new OnnxModelBuilder(13).input("x", 1, 2, 3).output("y", 1, 2, 3)
            .node("Relu", List.of("x"), List.of("y")).write(tmp.resolve("relu.onnx"));
    }

    private static void assertRefused(CommandLineTest.Outcome o, String... mention) {
        assertNotEquals(0, o.status(), "must fail: " + o.out());
        for (String m : mention) assertTrue(o.err().contains(m), "error should mention '" + m + "': " + o.err());
    }

    @Test void budgetOnTheCpuAndBandwidthOnTornadoAreRefused() throws Exception {
        String m = reluModel().toString();
        assertRefused(CommandLineTest.sluice("run", m, "--device", "cpu", "--budget", "50%"), "--budget", "cpu");
        assertRefused(CommandLineTest.sluice("run", m, "--device", "tornadovm", "--bandwidth", "1G"), "--bandwidth", "tornadovm");
    }

    @Test void withoutTornadoVmBudgetsAndPlacementsSayWhy() throws Exception {
        String why = Accelerators.tornadovmUnavailableReason();
        assumeTrue(Accelerators.tornadovm().isEmpty(), "TornadoVM is installed here");
        String m = reluModel().toString();
        assertRefused(CommandLineTest.sluice("run", m, "--device", "tornadovm", "--budget", "50%"), "tornadovm", why);
        assertRefused(CommandLineTest.sluice("place", m, "--devices", "cpu,tornadovm:50%", "--runs", "1"), "tornadovm", why);
        assertRefused(CommandLineTest.sluice("run", m, "--devices", "cpu,tornadovm:50%", "--objective", "latency"), "tornadovm", why);
    }

    @Test void withTornadoVmABudgetedRunUsesTheDeviceArena() throws Exception {
        assumeTrue(Accelerators.tornadovm().isPresent(), () -> "TornadoVM backend absent: " + Accelerators.tornadovmUnavailableReason());
        CommandLineTest.Outcome o = CommandLineTest.sluice("run", reluModel().toString(), "--device", "tornadovm", "--budget", "100%");
        assertEquals(0, o.status(), o.err());
        assertTrue(o.out().contains("measured peak on the tornadovm device arena"), o.out());
        assertTrue(o.out().contains("on tornadovm  Relu"), o.out());
    }
}
