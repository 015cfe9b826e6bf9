package dev.sluice.runtime.memory;

import dev.sluice.runtime.zoo.Zoo;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Model;
import dev.sluice.graph.ModelCheck;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.Value;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.testdata.TestDataRunner;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The plan checker and the planned-vs-unplanned comparison over every conformance model whose operators
 * run (the rest are skipped and counted), and over the real models of the zoo that the test classpath
 * carries. Ratios planned/bound are printed, not asserted: 1.05 is a benchmark target.
 */
class ConformancePlanTest {
    static final Path DATA = Path.of("/usr/share/libonnx-testdata/data");
    static final OpRegistry REGISTRY = TestKernels.registry();
    static final long BUDGET_NANOS = 90_000_000_000L;

    @Test void everySupportedConformanceModelPlansSoundlyAndRunsBitIdentical() throws IOException {
        Assumptions.assumeTrue(Files.isDirectory(DATA.resolve("node")), "libonnx-testdata is not installed");
        List<Path> dirs = new ArrayList<>();
        for (String suite : List.of("node", "simple", "pytorch-operator", "pytorch-converted")) {
            Path d = DATA.resolve(suite);
            if (!Files.isDirectory(d)) continue;
            try (Stream<Path> s = Files.list(d)) { s.filter(Files::isDirectory).sorted().forEach(dirs::add); }
        }
        long t0 = System.nanoTime();
        int planned = 0, unsupported = 0, failedToRun = 0, nonEmpty = 0;
        double worst = 1.0;
        String worstName = "-";
        List<String> problems = new ArrayList<>(), failedNames = new ArrayList<>();
        for (Path dir : dirs) {
            if (System.nanoTime() - t0 > BUDGET_NANOS) { System.out.println("plan sweep: time budget reached at " + dir); break; }
            Model m;
            try {
                m = OnnxImporter.load(dir.resolve("model.onnx"));
            } catch (SluiceException e) { unsupported++; continue; }
            if (!ModelCheck.unsupportedOps(m, REGISTRY).isEmpty()) { unsupported++; continue; }
            List<Path> sets = TestDataRunner.dataSets(dir);
            if (sets.isEmpty()) { unsupported++; continue; }
            PlanCommand.Report r;
            try (Session s = Session.open(m, 1, REGISTRY).memoryPlanning(false)) {
                r = PlanCommand.profileAndPlan(s, TestDataRunner.readInputs(sets.get(0), s.inputs()));
            } catch (SluiceException | ArithmeticException | IndexOutOfBoundsException | IllegalArgumentException e) {
                failedToRun++; // the kernel (or its type inference) refuses this model: not a planning matter
                failedNames.add(dir.getFileName() + " (" + e.getMessage() + ")");
                continue;
            }
            planned++;
            String name = dir.getParent().getFileName() + "/" + dir.getFileName();
            if (!r.violations().isEmpty()) problems.add(name + ": " + r.violations());
            if (r.mismatch() != null) problems.add(name + ": " + r.mismatch());
            if (!r.plan().lifetimes().isEmpty()) nonEmpty++;
            if (r.plan().ratio() > worst) { worst = r.plan().ratio(); worstName = name; }
        }
        System.out.printf("plan sweep: %d models planned (%d with intermediates), %d unsupported, %d failed to run, worst ratio %.4f (%s), %.1f s%n",
            planned, nonEmpty, unsupported, failedToRun, worst, worstName, (System.nanoTime() - t0) / 1e9);
        for (String f : failedNames) System.out.println("plan sweep: failed to run " + f);
        assertTrue(problems.isEmpty(), problems.toString());
        assertTrue(planned > 0, "no conformance model could be planned");
    }

    @Test void realModelsPlanSoundlyAndRunBitIdentical() throws IOException {
        int ran = 0;
        List<String> problems = new ArrayList<>();
        for (Zoo.Model z : Zoo.models()) {
            Model m = OnnxImporter.load(z.path());
            Map<String, Integer> missing = ModelCheck.unsupportedOps(m, REGISTRY);
            if (!missing.isEmpty()) { System.out.println("real model " + z.name() + ": skipped, unsupported ops " + missing.keySet()); continue; }
            try (Session s = Session.open(m, 2, REGISTRY).memoryPlanning(false)) {
                Map<String, Tensor> inputs = z.sampleInputs(7);
                PlanCommand.Report r = PlanCommand.profileAndPlan(s, inputs);
                ran++;
                System.out.printf("real model %s: naive=%d planned=%d bound=%d ratio=%.4f (%s) weights=%s%n", z.name(), r.plan().naive(),
                    r.plan().arenaBytes(), r.plan().bound(), r.plan().ratio(), r.plan().heuristic(), r.weights());
                if (!r.violations().isEmpty()) problems.add(z.name() + ": " + r.violations());
                if (r.mismatch() != null) problems.add(z.name() + ": " + r.mismatch());
            }
        }
        assertTrue(problems.isEmpty(), problems.toString());
        Assumptions.assumeTrue(ran > 0, "no real model's operators are all supported yet");
    }
}
