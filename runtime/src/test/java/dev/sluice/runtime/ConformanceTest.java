package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.sluice.graph.Model;
import dev.sluice.graph.ModelCheck;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.testdata.TestDataRunner;
import dev.sluice.runtime.testdata.Tolerance;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Runs every node test of two ONNX conformance suites whose operators Sluice supports, at the project's one
 * tolerance: Debian's libonnx-testdata (ONNX 1.12, opsets to 17), and the node cases of ONNX 1.23.1's reference
 * implementation (opsets to 28), written by {@code .ci/onnx-node-tests.py} where the launcher and {@code .ci/run} put
 * them ({@code SLUICE_ONNX_NODE_TESTS}). Every test of a supported op must pass or be listed, with a reason, in the
 * suite's known-failures file; each suite has a floor of passes.
 */
class ConformanceTest {
    /** One conformance suite: where its folders are, its list of known failures, how many must pass. */
    record Suite(String name, Path dir, String knownFailures, int requiredPasses, String howToGet, boolean requiredInCi) {}

    static final Path NODE_TESTS = Path.of("/usr/share/libonnx-testdata/data/node");
    static final int REQUIRED_PASSES = 700;
    static final Suite DEBIAN = new Suite("libonnx-testdata (ONNX 1.12)", NODE_TESTS, "/conformance-known-failures.txt",
        REQUIRED_PASSES, "apt-get install -y libonnx-testdata", true);
    static final Suite ONNX_1_23 = new Suite("ONNX 1.23.1 reference cases", onnx123Dir(), "/conformance-1.23-known-failures.txt",
        1500, "./sluice test writes them (python3 with onnx 1.23.1: .ci/onnx-node-tests.py DIR)", false);

    private static Path onnx123Dir() {
        String env = System.getenv("SLUICE_ONNX_NODE_TESTS");
        return env != null && !env.isBlank() ? Path.of(env)
            : Path.of(System.getProperty("user.home"), ".cache", "sluice", "onnx-node-tests-1.23.1");
    }

    @Test
    void nodeTestsPass() throws IOException { runSuite(DEBIAN); }

    @Test
    void onnx123NodeTestsPass() throws IOException { runSuite(ONNX_1_23); }

    private static void runSuite(Suite suite) throws IOException {
        Path root = suite.dir();
        if (!Files.isDirectory(root)) {
            // The 1.23 cases need python3 with onnx, which a CI machine may not reach: the launcher's last lines say
            // so loudly when they are missing, rather than failing a build that cannot get them.
            if (suite.requiredInCi() && "true".equals(System.getenv("CI"))) fail(root + " is missing: CI must provide the " + suite.name() + " (" + suite.howToGet() + ")");
            Assumptions.abort(root + " is missing (" + suite.howToGet() + ")");
        }
        Map<String, String> known = knownFailures(suite.knownFailures());
        OpRegistry registry = OpRegistry.cpu();
        TestDataRunner runner = new TestDataRunner(Tolerance.DEFAULT, m -> Session.open(m, 2));
        List<String> passed = new ArrayList<>(), knownFailed = new ArrayList<>(), unexpected = new ArrayList<>(),
            nowPassing = new ArrayList<>();
        Map<String, Integer> unsupported = new TreeMap<>();
        List<Path> dirs;
        try (Stream<Path> s = Files.list(root)) {
            dirs = s.filter(Files::isDirectory).sorted().toList();
        }
        for (Path dir : dirs) {
            String name = dir.getFileName().toString();
            Model m;
            try {
                m = OnnxImporter.load(dir.resolve("model.onnx"));
            } catch (SluiceException e) {
                unsupported.merge("model not importable: " + reasonKind(e.getMessage()), 1, Integer::sum);
                continue;
            }
            Map<String, Integer> missing = ModelCheck.unsupportedOps(m, registry);
            if (!missing.isEmpty()) {
                missing.keySet().forEach(op -> unsupported.merge("op " + op, 1, Integer::sum));
                continue;
            }
            TestDataRunner.FolderResult r = runner.run(dir);
            if (r.passed()) {
                passed.add(name);
                if (known.containsKey(name)) nowPassing.add(name);
            } else {
                String err = r.sets().stream().filter(x -> !x.passed()).findFirst().map(TestDataRunner.SetResult::error).orElse("?");
                if (known.containsKey(name)) knownFailed.add(name);
                else unexpected.add(name + ": " + err);
            }
        }
        System.out.println(suite.name() + ": " + passed.size() + " pass, " + knownFailed.size()
            + " fail as listed, " + unexpected.size() + " fail unexpectedly, "
            + (dirs.size() - passed.size() - knownFailed.size() - unexpected.size()) + " use unsupported ops or types, of "
            + dirs.size());
        unsupported.forEach((k, v) -> System.out.println("  not run: " + k + " (" + v + " tests)"));
        nowPassing.forEach(n -> System.out.println("  listed as failing but passes now: " + n));
        unexpected.forEach(u -> System.out.println("  UNEXPECTED FAILURE " + u));
        assertTrue(unexpected.isEmpty(), suite.name() + ": " + unexpected.size() + " tests of supported ops failed without being listed:\n"
            + String.join("\n", unexpected));
        assertTrue(passed.size() >= suite.requiredPasses(), suite.name() + ": only " + passed.size() + " tests pass; at least "
            + suite.requiredPasses() + " must");
    }

    private static String reasonKind(String msg) {
        if (msg.contains("sequence")) return "sequence values";
        if (msg.contains("optional")) return "optional values";
        if (msg.contains("map")) return "map values";
        if (msg.contains("STRING")) return "string tensors";
        if (msg.contains("BFLOAT16")) return "bfloat16 tensors";
        // one line per element type, whichever input or output carries it
        var type = java.util.regex.Pattern.compile("unsupported element type ([A-Za-z0-9_ ]+)").matcher(msg);
        if (type.find()) return "element type " + type.group(1).strip();
        int c = msg.lastIndexOf(": ");
        return c >= 0 ? msg.substring(c + 2) : msg;
    }

    /** test name -> reason, from a known-failures resource (lines "name<TAB>reason", # comments). */
    static Map<String, String> knownFailures(String resource) throws IOException {
        Map<String, String> r = new TreeMap<>();
        try (var in = ConformanceTest.class.getResourceAsStream(resource)) {
            if (in == null) return r;
            BufferedReader br = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = br.readLine()) != null; ) {
                line = line.strip();
                if (line.isEmpty() || line.startsWith("#")) continue;
                String[] parts = line.split("\\s+", 2);
                if (parts.length < 2) throw new IllegalStateException("known failure without a reason: " + line);
                r.put(parts[0], parts[1]);
            }
        }
        return r;
    }
}
