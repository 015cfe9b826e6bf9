package dev.sluice.bench;

import dev.sluice.kernels.SluiceException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * One model benchmarked alone: {@code sluice bench MODEL} with the same options in a fresh JVM, so that no
 * other model has shaped the JIT's profiles or the heap first. The child's {@code bench:} line gives the
 * figures; {@link BenchCommand} sets them beside the same model's figures in the mixed run.
 */
final class AloneRun {
    private AloneRun() {}

    /** A model's medians and ratio from a child run. */
    record Figures(double sluiceMs, double ortMs, double ratio) {}

    private static final Pattern LINE = Pattern.compile(
        "bench: (\\S+) sluice_ms=([0-9.]+) ort_ms=([0-9.]+) ratio=([0-9.]+)");

    /**
     * Runs the bench on one target in a child JVM with this JVM's flags and classpath and the given bench
     * options (no memory probe, output into a temporary folder); throws with the child's last words if it
     * prints no figures.
     */
    static Figures measure(String target, List<String> benchOptions) throws IOException, InterruptedException {
        Path out = Files.createTempDirectory("sluice-bench-alone");
        try {
            List<String> args = new ArrayList<>(List.of("bench", target));
            args.addAll(benchOptions);
            args.addAll(List.of("--no-memory", "--out", out.toString()));
            List<String> cmd = ChildJvm.command("dev.sluice.runtime.cli.Main", args);
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes());
            if (!p.waitFor(30, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new SluiceException("the alone run of " + target + " did not finish in 30 minutes");
            }
            for (String line : text.split("\n")) {
                Matcher m = LINE.matcher(line.strip());
                if (m.matches()) {
                    return new Figures(Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3)), Double.parseDouble(m.group(4)));
                }
            }
            String last = text.lines().filter(l -> l.startsWith("bench: ") && l.contains("failed")).findFirst()
                .orElse(text.lines().filter(l -> !l.startsWith("WARNING")).reduce((a, b) -> b).orElse("no output"));
            throw new SluiceException(String.format(Locale.ROOT, "the alone run of %s gave no figures (status %d): %s", target, p.exitValue(), last));
        } finally {
            try (Stream<Path> s = Files.walk(out)) {
                s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }
}
