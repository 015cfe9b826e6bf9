package dev.sluice.bench;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.runtime.testdata.Tolerance;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code sluice bench MODEL|TESTDATA_DIR|ZOO_NAME...}: Sluice against ONNX Runtime on the same inputs, the
 * two engines run alternately in one process so that both see the same machine state; median latency,
 * ratio, peak memory of each, and a check of Sluice's outputs against ORT's.
 */
public final class BenchCommand implements Command {
    @Override public String name() { return "bench"; }
    @Override public String summary() { return "compare latency, memory and outputs with ONNX Runtime"; }
    @Override public Set<String> valueOptions() { return Set.of("threads", "runs", "warmup", "warmup-time", "warmup-max", "out", "seed", "order"); }
    @Override public Set<String> flags() { return Set.of("no-memory", "ort-spin", "alone"); }
    @Override public String help() {
        return """
            usage: sluice bench MODEL.onnx|TESTDATA_DIR|ZOO_NAME... [--threads N] [--runs N] [--warmup N]
                                [--warmup-time S] [--warmup-max S] [--out DIR] [--seed N] [--no-memory] [--ort-spin]
                                [--order given|reversed|shuffled[:SEED]] [--alone]

            For each model, opens it in Sluice (N threads) and in ONNX Runtime (N intra-op threads, 1 inter-op,
            sequential execution; its idle workers do not spin unless --ort-spin, since spinning workers
            would take the cores from Sluice's next run) and runs them alternately on the same inputs: warm-up rounds until both --warmup
            rounds (default 5) and --warmup-time seconds (default 3) have passed and Sluice's runs have stopped
            getting faster (the median of its last 10 sampled warm-up runs, at least 0.1 s apart, within 10% of the 10
            before) and the JIT has gone quiet (it compiled for at most 5% of those last runs' span; the JIT compiles
            the Vector API kernels only after they have run a while, tens of seconds on a loaded host), at most
            --warmup-max seconds (default 60), then --runs timed rounds (default 20). Inputs: test_data_set_0 of a test-data folder, the zoo's
            sample inputs for a zoo model (see 'sluice zoo list'; 'zoo' alone means all of them), seeded random
            values for any other model.
            Prints per model
              bench: <name> sluice_ms=<median> ort_ms=<median> ratio=<sluice/ort>
              memory: <name> sluice_peak_mib=<m> ort_peak_mib=<m>
              plan: <name> naive_mib=<m> planned_mib=<m> bound_mib=<m> ratio=<planned/bound> weights_mib=<m>
            and a WARNING line for each output of Sluice that differs from ORT's beyond 1e-4 + 1e-3|e|.
            Peak memory is VmHWM minus the resident set before opening the model, over open + 2 runs, each
            engine in its own fresh JVM (Linux; --no-memory skips it). Writes results.md and results.png
            into --out (default bench-results/) and ends with 'geomean ratio <x>' over the models both ran.
            --order runs the models in one JVM as given (default), reversed or shuffled (the seed is printed;
            shuffled:SEED repeats an order): what ran before shapes the JIT's profiles, so a model can be slower
            after others. --alone then also benches each model by itself in a fresh JVM (same options, no
            memory probe) and prints, per model,
              alone: <name> ratio_alone=<r> ratio_mixed=<r> mixed/alone=<x> position=<i>/<n>
            and the worst mixed/alone of the run. The first model of a run is alone in its JVM too.
            Exit status 1 if an engine failed on some model.""";
    }

    @Override public int run(Args args, PrintStream out) throws Exception {
        if (args.positionals().isEmpty()) throw new SluiceException("bench needs at least one MODEL, TESTDATA_DIR or zoo name (see 'sluice help bench')");
        int threads = positive(args, "threads", Math.min(8, Runtime.getRuntime().availableProcessors()));
        int runs = positive(args, "runs", 20);
        int warmup = Math.max(0, args.intOption("warmup", 5));
        double warmupSeconds;
        try {
            warmupSeconds = Double.parseDouble(args.option("warmup-time", "3"));
        } catch (NumberFormatException e) {
            throw new SluiceException("--warmup-time must be a number of seconds, got '" + args.option("warmup-time") + "'");
        }
        double warmupMaxSeconds;
        try {
            warmupMaxSeconds = Math.max(warmupSeconds, Double.parseDouble(args.option("warmup-max", "60")));
        } catch (NumberFormatException e) {
            throw new SluiceException("--warmup-max must be a number of seconds, got '" + args.option("warmup-max") + "'");
        }
        long seed = args.intOption("seed", 42);
        Path outDir = Path.of(args.option("out", "bench-results"));
        boolean memory = !args.flag("no-memory") && PeakMemory.available();
        String memoryMethod = memory ? MemoryProbe.METHOD
            : args.flag("no-memory") ? "not measured (--no-memory)" : "not measured (no /proc/self/clear_refs on this system)";
        boolean spin = args.flag("ort-spin");
        String setup = String.format(Locale.ROOT, "%d threads, warm-up >= %d rounds and >= %s s and until steady (<= %s s), then %d timed runs per engine, alternating Sluice and ORT; "
            + "%d cores, Java %s; ORT: intra-op %d, inter-op 1, sequential, spinning %s", threads, warmup, args.option("warmup-time", "3"), args.option("warmup-max", "60"), runs,
            Runtime.getRuntime().availableProcessors(), Runtime.version(), threads, spin ? "on" : "off");
        out.println("bench: " + setup);
        out.println("bench: memory is " + memoryMethod);

        List<Report.Row> rows = new ArrayList<>();
        List<String> targets = new ArrayList<>();
        for (String a : args.positionals()) {
            if (a.equals("zoo") && !Files.exists(Path.of(a))) for (var m : dev.sluice.runtime.zoo.Zoo.models()) targets.add(m.name());
            else targets.add(a);
        }
        RunOrder order = RunOrder.parse(args.option("order"));
        targets = order.apply(targets);
        if (targets.size() > 1 || args.option("order") != null) out.println("bench: order " + order + ": " + String.join(", ", targets));
        for (String arg : targets) {
            rows.add(benchOne(arg, threads, runs, warmup, warmupSeconds, warmupMaxSeconds, seed, memory, spin, out));
        }
        if (args.flag("alone")) {
            List<String> childOptions = new ArrayList<>(List.of("--threads", Integer.toString(threads), "--runs", Integer.toString(runs),
                "--warmup", Integer.toString(warmup), "--warmup-time", args.option("warmup-time", "3"),
                "--warmup-max", args.option("warmup-max", "60"), "--seed", Long.toString(seed)));
            if (spin) childOptions.add("--ort-spin");
            aloneVersusMixed(targets, rows, childOptions, order, out);
        }

        List<Double> ratios = rows.stream().filter(Report.Row::bothRan).map(Report.Row::ratio).toList();
        double geomean = Stats.geomean(ratios);
        Files.createDirectories(outDir);
        Path md = outDir.resolve("results.md"), png = outDir.resolve("results.png");
        Files.writeString(md, Report.markdown(rows, setup, memoryMethod, geomean));
        Report.chart(rows, "Sluice vs ONNX Runtime, " + threads + " threads", png);
        out.println("wrote " + md + " and " + png);
        out.println("geomean ratio " + (ratios.isEmpty() ? "n/a (no model ran on both engines)" : String.format(Locale.ROOT, "%.3f", geomean)));
        return rows.stream().allMatch(Report.Row::bothRan) ? 0 : 1;
    }

    /**
     * Benches each target alone in a fresh JVM and prints its ratio beside the one it had in the mixed run
     * (rows, in the targets' order), then the worst mixed/alone. A model that failed in either run gets n/a.
     */
    private static void aloneVersusMixed(List<String> targets, List<Report.Row> rows, List<String> childOptions, RunOrder order, PrintStream out) {
        double worst = Double.NaN;
        String worstName = null;
        for (int i = 0; i < targets.size(); i++) {
            Report.Row mixed = rows.get(i);
            AloneRun.Figures alone;
            try {
                alone = AloneRun.measure(targets.get(i), childOptions);
            } catch (Exception e) {
                out.println("alone: " + mixed.name() + " not measured: " + e.getMessage());
                continue;
            }
            double rel = mixed.bothRan() ? mixed.ratio() / alone.ratio() : Double.NaN;
            out.printf(Locale.ROOT, "alone: %s ratio_alone=%.3f ratio_mixed=%s mixed/alone=%s position=%d/%d (sluice_ms alone %s, mixed %s)%s%n",
                mixed.name(), alone.ratio(), mixed.bothRan() ? String.format(Locale.ROOT, "%.3f", mixed.ratio()) : "n/a",
                Double.isNaN(rel) ? "n/a" : String.format(Locale.ROOT, "%.3f", rel), i + 1, targets.size(),
                Report.fmt(alone.sluiceMs()), mixed.bothRan() ? Report.fmt(mixed.sluiceMs()) : "n/a",
                i == 0 ? " (first in the mixed run: alone there too)" : "");
            if (!Double.isNaN(rel) && !(rel <= worst)) { worst = rel; worstName = mixed.name(); }
        }
        if (worstName != null) out.printf(Locale.ROOT, "alone: worst mixed/alone %.3f (%s) in order %s%n", worst, worstName, order);
    }

    /**
     * Least time between two warm-up runs the warm-up trend looks at: 100 ms, so that each of its windows spans a
     * second or more. With 25 ms (windows of a quarter second) a model whose kernels C2 improves gradually (ppocr-det
     * in a fresh JVM: 13.4, 11.4, 10.1, 9.9, 8.6, 8.5 ms over ~200 runs, a few percent per quarter second) was
     * declared steady at 11-14 ms, and its "alone" ratio came out 1.3-1.5x its ratio later in the mixed run.
     */
    static final long TREND_SPACING_NS = 100_000_000L;
    /** The JIT's compile clock, which the warm-up trend reads (a window while C2 is still compiling is not steady). */
    private static final java.lang.management.CompilationMXBean JIT = java.lang.management.ManagementFactory.getCompilationMXBean();

    private Report.Row benchOne(String arg, int threads, int runs, int warmup, double warmupSeconds, double warmupMaxSeconds, long seed, boolean memory, boolean spin, PrintStream out) {
        BenchTarget t;
        try {
            t = BenchTarget.of(arg, seed);
        } catch (SluiceException e) {
            out.println("bench: " + arg + " FAILED: " + e.getMessage());
            return new Report.Row(arg, "–", Double.NaN, Double.NaN, -1, -1, 0, e.getMessage(), e.getMessage());
        }
        Map<String, Tensor> inputs = t.inputs();
        String sluiceError = null, ortError = null;
        Session sluice = null;
        OrtBridge ort = null;
        try {
            sluice = Session.open(t.model(), threads);
        } catch (SluiceException e) {
            sluiceError = e.getMessage();
        }
        try {
            ort = new OrtBridge(t.model(), threads, spin);
            ort.setInputs(inputs);
        } catch (SluiceException e) {
            ortError = e.getMessage();
        }
        long[] sNs = new long[runs], oNs = new long[runs];
        Map<String, Tensor> sOut = Map.of(), oOut = Map.of();
        int warmupRounds = 0;
        long warmupEndNs = 0;
        String planFigures = null;
        // rounds so far, on one line on a terminal (the warm-up can take tens of seconds on a loaded host)
        dev.sluice.runtime.cli.Progress progress = dev.sluice.runtime.cli.Progress.start(
            "bench: " + t.name() + " warm-up, then " + runs + " timed rounds", 0, out);
        try {
            // Warm-up: at least --warmup rounds and at least --warmup-time seconds, then on while Sluice's runs
            // are still getting faster (C2 compiles the Vector API kernels only after they have run a while, and
            // on a loaded host that takes tens of seconds), at most --warmup-max seconds.
            long start = System.nanoTime();
            long warmEnd = start + (long) (warmupSeconds * 1e9), hardEnd = start + (long) (warmupMaxSeconds * 1e9);
            WarmupTrend trend = new WarmupTrend();
            long lastTrendNs = start - TREND_SPACING_NS; // the first warm-up run counts (no sentinel to overflow)
            for (int total = 0; ; total++) {
                progress.advance(1);
                long now = System.nanoTime();
                boolean warming = warmupRounds < warmup || now < warmEnd || (sluiceError == null && !trend.steady() && now < hardEnd);
                if (warming) warmupRounds++;
                else if (warmupEndNs == 0) warmupEndNs = now - start;
                int i = total - warmupRounds;
                if (!warming && i >= runs) break;
                boolean timed = !warming, last = timed && i == runs - 1;
                if (sluiceError == null) {
                    try {
                        long t0 = System.nanoTime();
                        dev.sluice.runtime.Result r = sluice.run(inputs);
                        // done with the outputs, as ORT's run closes its Result: their memory is reused
                        // at once (both closes are inside the timed window)
                        if (!last) r.close();
                        long dt = System.nanoTime() - t0;
                        if (timed) sNs[i] = dt;
                        else if (t0 - lastTrendNs >= TREND_SPACING_NS) {
                            // runs at least 100 ms apart: the trend's windows then span >= 1 s each even
                            // for a 0.1 ms model, long enough to see the JIT still improving
                            trend.add(dt, t0, JIT.isCompilationTimeMonitoringSupported() ? JIT.getTotalCompilationTime() : 0);
                            lastTrendNs = t0;
                        }
                        if (last) sOut = r.asMap();
                    } catch (RuntimeException | StackOverflowError e) {
                        sluiceError = e instanceof SluiceException ? e.getMessage() : "internal error: " + e;
                    }
                }
                if (ortError == null) {
                    try {
                        long t0 = System.nanoTime();
                        Map<String, Tensor> r = ort.run(last);
                        long dt = System.nanoTime() - t0;
                        if (timed) oNs[i] = dt;
                        if (last) oOut = r;
                    } catch (SluiceException e) {
                        ortError = e.getMessage();
                    }
                }
                if (sluiceError != null && ortError != null) break;
            }
        } finally {
            progress.close();
            if (sluice != null && sluiceError == null) planFigures = dev.sluice.runtime.memory.PlanCommand.benchFigures(sluice);
            if (sluice != null) sluice.close();
            if (ort != null) ort.close();
        }
        double sMs = sluiceError == null ? Stats.medianMillis(sNs) : Double.NaN;
        double oMs = ortError == null ? Stats.medianMillis(oNs) : Double.NaN;
        List<String> warnings = sluiceError == null && ortError == null
            ? OutputCheck.warnings(t.name(), sOut, oOut, Tolerance.DEFAULT) : List.of();
        if (sluiceError == null && ortError == null) {
            out.printf(Locale.ROOT, "bench: %s sluice_ms=%s ort_ms=%s ratio=%.3f%n", t.name(), Report.fmt(sMs), Report.fmt(oMs), sMs / oMs);
        } else {
            out.printf(Locale.ROOT, "bench: %s sluice_ms=%s ort_ms=%s ratio=n/a%n", t.name(),
                sluiceError == null ? Report.fmt(sMs) : "FAILED", ortError == null ? Report.fmt(oMs) : "FAILED");
            if (sluiceError != null) out.println("bench: " + t.name() + " Sluice failed: " + sluiceError);
            if (ortError != null) out.println("bench: " + t.name() + " ONNX Runtime failed: " + ortError);
        }
        out.printf(Locale.ROOT, "bench: %s timed after %d warm-up rounds (%.1f s%s); inputs: %s%n", t.name(), warmupRounds,
            warmupEndNs / 1e9, warmupEndNs >= (long) (warmupMaxSeconds * 1e9) ? ", still speeding up at --warmup-max" : "", t.inputsFrom());
        for (String w : warnings) out.println(w);
        long sKiB = -1, oKiB = -1;
        if (memory) {
            String target = Files.isDirectory(Path.of(arg)) ? arg : t.model().toString();
            MemoryProbe.Peak sp = sluiceError == null ? probe("sluice", target, threads, seed, t.name(), out) : null;
            MemoryProbe.Peak op = ortError == null ? probe("ort", target, threads, seed, t.name(), out) : null;
            sKiB = sp == null ? -1 : sp.rssKiB();
            oKiB = op == null ? -1 : op.rssKiB();
            out.printf(Locale.ROOT, "memory: %s sluice_peak_mib=%s ort_peak_mib=%s (Java heap used at its peak, uncollected garbage included: sluice %s, ort %s MiB)%n",
                t.name(), Report.mib(sKiB), Report.mib(oKiB), Report.mib(sp == null ? -1 : sp.heapKiB()), Report.mib(op == null ? -1 : op.heapKiB()));
        }
        if (planFigures != null) out.println("plan: " + t.name() + " " + planFigures); // Sluice's intermediates arena vs no reuse and the bound
        return new Report.Row(t.name(), t.inputsFrom(), sMs, oMs, sKiB, oKiB, warnings.size(), sluiceError, ortError);
    }

    private static MemoryProbe.Peak probe(String engine, String target, int threads, long seed, String name, PrintStream out) {
        try {
            return MemoryProbe.measure(engine, target, threads, seed);
        } catch (Exception e) {
            out.println("memory: " + name + " " + engine + " not measured: " + e.getMessage());
            return null;
        }
    }

    private static int positive(Args args, String name, int dflt) {
        int v = args.intOption(name, dflt);
        if (v < 1) throw new SluiceException("--" + name + " must be at least 1, got " + v);
        return v;
    }
}
