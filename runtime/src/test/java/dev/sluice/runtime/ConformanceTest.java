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
 * Runs every node test of the ONNX conformance data (Debian's libonnx-testdata) whose operators Sluice
 * supports, at the project's one tolerance. Every test of a supported op must pass or be listed, with a
 * reason, in conformance-known-failures.txt; at least 700 must pass.
 */
class ConformanceTest {
    static final Path NODE_TESTS = Path.of("/usr/share/libonnx-testdata/data/node");
    static final int REQUIRED_PASSES = 700;

    @Test
    void nodeTestsPass() throws IOException {
        if (!Files.isDirectory(NODE_TESTS)) {
            if ("true".equals(System.getenv("CI"))) fail(NODE_TESTS + " is missing: CI must apt-get install -y libonnx-testdata");
            Assumptions.abort(NODE_TESTS + " is missing (apt-get install -y libonnx-testdata)");
        }
        Map<String, String> known = knownFailures();
        OpRegistry registry = OpRegistry.cpu();
        TestDataRunner runner = new TestDataRunner(Tolerance.DEFAULT, m -> Session.open(m, 2));
        List<String> passed = new ArrayList<>(), knownFailed = new ArrayList<>(), unexpected = new ArrayList<>(),
            nowPassing = new ArrayList<>();
        Map<String, Integer> unsupported = new TreeMap<>();
        List<Path> dirs;
        try (Stream<Path> s = Files.list(NODE_TESTS)) {
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
        System.out.println("conformance node tests: " + passed.size() + " pass, " + knownFailed.size()
            + " fail as listed, " + unexpected.size() + " fail unexpectedly, "
            + (dirs.size() - passed.size() - knownFailed.size() - unexpected.size()) + " use unsupported ops or types, of "
            + dirs.size());
        unsupported.forEach((k, v) -> System.out.println("  not run: " + k + " (" + v + " tests)"));
        nowPassing.forEach(n -> System.out.println("  listed as failing but passes now: " + n));
        unexpected.forEach(u -> System.out.println("  UNEXPECTED FAILURE " + u));
        assertTrue(unexpected.isEmpty(), unexpected.size() + " conformance tests of supported ops failed without being listed:\n"
            + String.join("\n", unexpected));
        assertTrue(passed.size() >= REQUIRED_PASSES, "only " + passed.size() + " conformance tests pass; at least "
            + REQUIRED_PASSES + " must");
    }

    private static String reasonKind(String msg) {
        if (msg.contains("sequence")) return "sequence values";
        if (msg.contains("optional")) return "optional values";
        if (msg.contains("map")) return "map values";
        if (msg.contains("STRING")) return "string tensors";
        if (msg.contains("BFLOAT16")) return "bfloat16 tensors";
        int c = msg.lastIndexOf(": ");
        return c >= 0 ? msg.substring(c + 2) : msg;
    }

    /** test name -> reason, from conformance-known-failures.txt (lines "name<TAB>reason", # comments). */
    static Map<String, String> knownFailures() throws IOException {
        Map<String, String> r = new TreeMap<>();
        try (var in = ConformanceTest.class.getResourceAsStream("/conformance-known-failures.txt")) {
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
