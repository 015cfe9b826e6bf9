package dev.sluice.bench;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.util.Arrays;
import java.util.Map;

/**
 * Steady-state latency of one model in this (fresh) JVM, for telling JIT-history effects apart from noise:
 * opens the model, runs it for a warm-up time, then prints the median of each batch of timed runs. A JVM whose
 * compiled code is bad for its whole life shows it in every batch; one still compiling improves batch to batch.
 * Run it in many fresh JVMs with the flags under test, e.g.
 * {@code java @jdk-config/jvm.args -Xmn8m -cp ... dev.sluice.bench.SteadyProbe all-minilm-l6-v2 2 8 5 20}.
 *
 * <p>Arguments: model (zoo name or file), threads, warm-up seconds, batches, runs per batch, and optionally a
 * comma-separated list of models to run first (each in its own session, for the warm-up time). Prints per batch
 * {@code BATCH_MS <wall median> CPU_MS_PER_RUN <process CPU> ALLOC_KB_PER_RUN <heap allocated, all threads>}, then
 * {@code STEADY_MS <median of the last batch>}. {@code -Dsluice.probe.jfr=true} then starts a flight recording and
 * runs the batches again ({@code WITH_JFR_MS}); {@code -Dsluice.probe.hold=SECONDS} keeps running the model after
 * that, for jcmd (Compiler.codelist, JFR.start) to look at the warm JVM.
 */
public final class SteadyProbe {
    private SteadyProbe() {}

    public static void main(String[] argv) throws Exception {
        BenchTarget t = BenchTarget.of(argv[0], 42);
        int threads = Integer.parseInt(argv[1]);
        double warmSeconds = Double.parseDouble(argv[2]);
        int batches = Integer.parseInt(argv[3]);
        int perBatch = Integer.parseInt(argv[4]);
        Map<String, Tensor> inputs = t.inputs();
        // optional: other models run first (each in its own session, for the warm-up time), as in a mixed bench run,
        // so that the measured model's kernels meet the profiles and compiled code the others left
        if (argv.length > 5 && !argv[5].isEmpty()) {
            for (String other : argv[5].split(",")) {
                BenchTarget o = BenchTarget.of(other, 42);
                try (Session so = Session.open(o.model(), threads)) {
                    long end = System.nanoTime() + (long) (warmSeconds * 1e9);
                    while (System.nanoTime() < end) so.run(o.inputs());
                }
                System.out.println("RAN_BEFORE " + other);
            }
        }
        try (Session s = Session.open(t.model(), threads)) {
            long end = System.nanoTime() + (long) (warmSeconds * 1e9);
            int warm = 0;
            while (System.nanoTime() < end) {
                s.run(inputs);
                warm++;
            }
            System.out.println("WARM_RUNS " + warm);
            double last = batches(s, inputs, batches, perBatch, "BATCH_MS");
            if (Boolean.getBoolean("sluice.probe.jfr")) {
                // A flight recording with the "profile" settings started in a warm JVM, as when the slow states were
                // first seen (with JFR on): it retransforms JFR's event classes, and then the batches run again. Two
                // MiniLM JVMs showed no change in allocation or CPU per run (RESULTS, branch h-jit).
                try (var r = new jdk.jfr.Recording(jdk.jfr.Configuration.getConfiguration("profile"))) {
                    r.start();
                    long end2 = System.nanoTime() + (long) (warmSeconds * 1e9);
                    while (System.nanoTime() < end2) s.run(inputs);
                    r.stop();
                }
                System.out.println("JFR_STARTED");
                last = batches(s, inputs, batches, perBatch, "WITH_JFR_MS");
            }
            System.out.printf("STEADY_MS %.3f%n", last);
            // -Dsluice.probe.hold=SECONDS keeps the JVM (and its compiled code) alive for jcmd to inspect
            long hold = Long.getLong("sluice.probe.hold", 0);
            if (hold > 0) {
                System.out.flush();
                long holdEnd = System.nanoTime() + hold * 1_000_000_000L;
                while (System.nanoTime() < holdEnd) s.run(inputs);
            }
        }
        System.exit(0);
    }

    /** Runs batches of timed runs, printing each one's wall median, CPU and allocation per run; returns the last median. */
    private static double batches(Session s, Map<String, Tensor> inputs, int batches, int perBatch, String label) {
        double last = 0;
        for (int b = 0; b < batches; b++) {
            double[] ms = new double[perBatch];
            long alloc0 = allocatedBytes(), cpu0 = cpuNanos();
            for (int i = 0; i < perBatch; i++) {
                long t0 = System.nanoTime();
                s.run(inputs);
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            long alloc = allocatedBytes() - alloc0, cpu = cpuNanos() - cpu0;
            Arrays.sort(ms);
            last = ms[perBatch / 2];
            // the process's CPU time and all threads' heap allocation per run tell bad code (both grow) from
            // a loaded host (wall time grows alone)
            System.out.printf("%s %.3f CPU_MS_PER_RUN %.3f ALLOC_KB_PER_RUN %.1f%n", label, last, cpu / 1e6 / perBatch,
                    alloc / 1024.0 / perBatch);
        }
        return last;
    }

    /** The process's CPU time so far (all threads, JIT and GC included). */
    private static long cpuNanos() {
        return ProcessHandle.current().info().totalCpuDuration().map(java.time.Duration::toNanos).orElse(0L);
    }

    /** Heap bytes allocated by all threads so far (HotSpot's extension of ThreadMXBean), -1 where unknown. */
    private static long allocatedBytes() {
        try {
            Object bean = java.lang.management.ManagementFactory.getThreadMXBean();
            return (long) Class.forName("com.sun.management.ThreadMXBean").getMethod("getTotalThreadAllocatedBytes").invoke(bean);
        } catch (ReflectiveOperationException e) {
            return -1;
        }
    }
}
