package dev.sluice.kernels.cpu.core;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Guards the invariant "same inputs, same output bits" against the JIT: the Vector API's transcendental
 * operators are SVML calls once C2 compiles them but per-lane Math calls in the interpreter, and a float
 * reduceLanes(ADD) sums in an order that changes with compilation too. Either makes a kernel's bits depend
 * on how warm the JVM is, which broke planned-vs-unplanned and device-vs-reference comparisons before.
 */
class JitIndependenceTest {
    private static final Pattern FORBIDDEN = Pattern.compile(
        "VectorOperators\\.(EXP|EXPM1|LOG|LOG1P|LOG10|TANH|SINH|COSH|SIN|COS|TAN|ASIN|ACOS|ATAN|ATAN2|POW|HYPOT|CBRT)\\b"
            + "|reduceLanes\\(\\s*VectorOperators\\.(ADD|MUL)");

    @Test
    void kernelsAvoidJitDependentVectorOperations() throws IOException {
        Path src = Path.of("src/main/java");
        assertTrue(Files.isDirectory(src), "run from the kernels module folder");
        List<String> hits = new ArrayList<>();
        try (Stream<Path> files = Files.walk(src)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                List<String> lines = Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++) {
                    String code = lines.get(i).replaceAll("//.*$", "");
                    if (code.strip().startsWith("*")) continue; // javadoc prose may name them
                    if (FORBIDDEN.matcher(code).find()) hits.add(f + ":" + (i + 1) + ": " + lines.get(i).strip());
                }
            }
        }
        assertTrue(hits.isEmpty(), "JIT-dependent vector operations:\n" + String.join("\n", hits));
    }
}
