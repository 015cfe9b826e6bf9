package dev.sluice.bench;

import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * {@code sluice jmh [REGEX]}: the kernel micro-benchmarks (dev.sluice.bench.jmh) under JMH, each in a forked
 * JVM with the project's argfile, summarized as GFLOP/s next to the measured FMA peak.
 */
public final class JmhCommand implements Command {
    @Override public String name() { return "jmh"; }
    @Override public String summary() { return "kernel micro-benchmarks (MatMul, Conv, Softmax, LayerNorm, FMA peak) in GFLOP/s"; }
    @Override public Set<String> valueOptions() { return Set.of("threads"); }
    @Override public Set<String> flags() { return Set.of("quick"); }
    @Override public String help() {
        return """
            usage: sluice jmh [REGEX] [--threads N] [--quick]

            Runs the JMH benchmarks of dev.sluice.bench.jmh whose names match REGEX (default: all): MatMulBench
            (1024^3 and 128x384x1536), ConvBench (3x3), NormBench (Softmax, LayerNormalization) and FmaPeak
            (Vector API FMA chains in registers, preferred and 256-bit vectors, one thread and one per
            processor). --threads sets the kernels'
            worker threads (default 1). --quick: 3 warm-up iterations of 1 s and 3 measured of 0.5 s (the GEMM needs several
            seconds before the JIT has compiled it, so quick numbers of large kernels read low). Each benchmark
            forks a JVM with jdk-config/jvm.args. Ends with a table of GFLOP/s (FLOP counted per call; for
            Softmax/LayerNorm the count is nominal) and each kernel's share of the single-thread FMA peak.
            Without the launcher:
              java @jdk-config/jvm.args -cp bench/target/classes:$(cat bench/target/sluice.classpath) \\
                   org.openjdk.jmh.Main [REGEX]     (run from the repository root; the 'flop' line is FLOP/s)""";
    }

    @Override public int run(Args args, PrintStream out) throws Exception {
        String regex = args.positionals().isEmpty() ? "dev\\.sluice\\.bench\\.jmh\\..*" : String.join("|", args.positionals());
        int threads = args.intOption("threads", 1);
        Path argfile = argfile();
        ChainedOptionsBuilder o = new OptionsBuilder().include(regex).param("threads", Integer.toString(threads))
            .jvmArgsAppend("@" + argfile, "-Xmx4g").shouldFailOnError(false);
        if (args.flag("quick")) {
            o.warmupIterations(3).measurementIterations(3)
                .warmupTime(TimeValue.seconds(1)).measurementTime(TimeValue.milliseconds(500));
        }
        Collection<RunResult> results = new Runner(o.build()).run();
        if (results.isEmpty()) throw new SluiceException("no JMH benchmark matched '" + regex + "' or every one failed (see above)");
        out.println();
        out.println("jmh summary (" + Runtime.getRuntime().availableProcessors() + " processors, kernel threads " + threads + "):");
        double peak1 = Double.NaN;
        List<String[]> rows = new ArrayList<>();
        for (RunResult r : results) {
            String bench = r.getParams().getBenchmark().replace("dev.sluice.bench.jmh.", "");
            List<String> ps = new ArrayList<>();
            for (String k : r.getParams().getParamsKeys()) if (!k.equals("threads")) ps.add(r.getParams().getParam(k));
            Result<?> flop = r.getSecondaryResults().get("flop");
            double gflops = flop == null ? Double.NaN : flop.getScore() / 1e9;
            if (bench.equals("FmaPeak.perCore") && "preferred".equals(r.getParams().getParam("bits"))) peak1 = gflops;
            double usPerCall = 1e6 / r.getPrimaryResult().getScore();
            rows.add(new String[] {bench, String.join(",", ps), Integer.toString(r.getParams().getThreads()), fmt(gflops), fmt(usPerCall)});
        }
        out.printf("%-28s %-16s %7s %10s %12s %s%n", "benchmark", "params", "jmh_thr", "GFLOP/s", "us/call", "of 1-core FMA peak");
        for (String[] row : rows) {
            double g = Double.parseDouble(row[3]);
            String share = row[0].startsWith("FmaPeak") || Double.isNaN(peak1) ? "" : String.format(Locale.ROOT, "%.0f%%", 100 * g / peak1);
            out.printf("%-28s %-16s %7s %10s %12s %s%n", row[0], row[1], row[2], row[3], row[4], share);
        }
        return 0;
    }

    private static String fmt(double v) { return String.format(Locale.ROOT, "%.2f", v); }

    /** jdk-config/jvm.args of this checkout: above the working folder, or above bench/target/classes. */
    static Path argfile() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path f = p.resolve("jdk-config/jvm.args");
            if (Files.isRegularFile(f)) return f;
        }
        try {
            Path classes = Path.of(JmhCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            for (Path p = classes; p != null; p = p.getParent()) {
                Path f = p.resolve("jdk-config/jvm.args");
                if (Files.isRegularFile(f)) return f;
            }
        } catch (URISyntaxException | RuntimeException ignored) {
            // fall through to the error
        }
        throw new SluiceException("cannot find jdk-config/jvm.args; run from the Sluice checkout");
    }

}
