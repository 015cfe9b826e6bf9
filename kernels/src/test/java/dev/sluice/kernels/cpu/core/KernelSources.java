package dev.sluice.kernels.cpu.core;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** Scans the kernels' main sources for code (not comments or javadoc prose) that a source-level guard forbids. */
final class KernelSources {
    private KernelSources() {}

    /** Every code line of src/main/java matching {@code forbidden}, as "file:line: text" (run from the kernels module folder). */
    static List<String> codeLinesMatching(Pattern forbidden) throws IOException {
        Path src = Path.of("src/main/java");
        assertTrue(Files.isDirectory(src), "run from the kernels module folder");
        List<String> hits = new ArrayList<>();
        try (Stream<Path> files = Files.walk(src)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                List<String> lines = Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++) {
                    String code = lines.get(i).replaceAll("//.*$", "");
                    if (code.strip().startsWith("*")) continue; // javadoc prose may name them
                    if (forbidden.matcher(code).find()) hits.add(f + ":" + (i + 1) + ": " + lines.get(i).strip());
                }
            }
        }
        return hits;
    }
}
