package dev.sluice.runtime.memory;

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
import dev.sluice.runtime.cli.InputSources;
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
        List<String> problems = new ArrayList<>();
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
        assertTrue(problems.isEmpty(), problems.toString());
        assertTrue(planned > 0, "no conformance model could be planned");
    }

    /** The zoo models the test classpath carries, with their typical inputs. */
    record Zoo(String resource, Map<String, Long> dims) {}

    @Test void realModelsPlanSoundlyAndRunBitIdentical() throws IOException {
        List<Zoo> zoo = List.of(
            new Zoo("/all-minilm-l6-v2.onnx", Map.of()),
            new Zoo("/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", Map.of()),
            new Zoo("/models/ch_PP-OCRv3_det_infer.onnx", Map.of()),
            new Zoo("/models/ch_PP-OCRv3_rec_infer.onnx", Map.of()));
        Map<String, long[]> shapes = Map.of(
            "/all-minilm-l6-v2.onnx", new long[] {1, 128},
            "/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", new long[] {1, 3, 48, 192},
            "/models/ch_PP-OCRv3_det_infer.onnx", new long[] {1, 3, 320, 320},
            "/models/ch_PP-OCRv3_rec_infer.onnx", new long[] {1, 3, 48, 320});
        int ran = 0;
        List<String> problems = new ArrayList<>();
        for (Zoo z : zoo) {
            byte[] bytes;
            try (InputStream in = ConformancePlanTest.class.getResourceAsStream(z.resource())) {
                if (in == null) { System.out.println("real model " + z.resource() + ": not on the classpath, skipped"); continue; }
                bytes = in.readAllBytes();
            }
            Model m = OnnxImporter.load(bytes, z.resource(), Path.of("."));
            Map<String, Integer> missing = ModelCheck.unsupportedOps(m, REGISTRY);
            if (!missing.isEmpty()) { System.out.println("real model " + z.resource() + ": skipped, unsupported ops " + missing.keySet()); continue; }
            try (Session s = Session.open(m, 2, REGISTRY).memoryPlanning(false)) {
                Map<String, Tensor> inputs = new LinkedHashMap<>();
                SplittableRandom rnd = new SplittableRandom(7);
                for (Value v : s.inputs()) {
                    Shape shape = Shape.of(shapes.get(z.resource()));
                    DType dt = v.type().dtype() == null ? DType.FLOAT32 : v.type().dtype();
                    Tensor t = dt.isFloatingPoint() ? InputSources.random(dt, shape, rnd) : Tensor.allocate(dt, shape);
                    if (!dt.isFloatingPoint()) for (long i = 0; i < t.elementCount(); i++) t.setLong(i, 1 + (i % 7));
                    inputs.put(v.name(), t);
                }
                PlanCommand.Report r = PlanCommand.profileAndPlan(s, inputs);
                ran++;
                System.out.printf("real model %s: naive=%d planned=%d bound=%d ratio=%.4f (%s)%n", z.resource(), r.plan().naive(),
                    r.plan().arenaBytes(), r.plan().bound(), r.plan().ratio(), r.plan().heuristic());
                if (!r.violations().isEmpty()) problems.add(z.resource() + ": " + r.violations());
                if (r.mismatch() != null) problems.add(z.resource() + ": " + r.mismatch());
            }
        }
        assertTrue(problems.isEmpty(), problems.toString());
        Assumptions.assumeTrue(ran > 0, "no real model's operators are all supported yet");
    }
}
