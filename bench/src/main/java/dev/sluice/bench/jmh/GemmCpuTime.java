package dev.sluice.bench.jmh;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * MatMul GFLOP/s beside the FMA peak ({@link FmaPeak#perCoreByCpuTime}), both timed by this thread's CPU time
 * instead of wall time, one kernel thread, the two alternating round by round; prints medians. On a host whose
 * cores other jobs share, JMH's wall-clock throughput mostly measures the load (its error bars exceed the
 * values); CPU time leaves out the time the thread waits for a core, though not the caches the other jobs
 * evict. Run from the repository root after packaging:
 * {@code java @jdk-config/jvm.args -cp bench/target/classes:$(cat bench/target/sluice.classpath)
 * dev.sluice.bench.jmh.GemmCpuTime [MxKxN,...] [rounds]}.
 */
public final class GemmCpuTime {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    private GemmCpuTime() {}

    static long cpuNanos() { return THREADS.getCurrentThreadCpuTime(); }

    public static void main(String[] args) {
        String[] shapes = (args.length > 0 ? args[0] : "1024x1024x1024,128x384x1536,256x384x1536").split(",");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 9;
        List<KernelCall> calls = new ArrayList<>();
        double[] flops = new double[shapes.length];
        for (int s = 0; s < shapes.length; s++) {
            long[] d = KernelCall.dims(shapes[s]);
            calls.add(new KernelCall("MatMul", Attributes.EMPTY, Parallelism.SEQUENTIAL, 1,
                    KernelCall.random(1, d[0], d[1]), KernelCall.random(2, d[1], d[2])));
            flops[s] = 2.0 * d[0] * d[1] * d[2];
        }
        // warm-up: until the JIT has compiled the kernels (slow on a loaded host)
        FmaPeak.perCoreByCpuTime(2);
        for (KernelCall c : calls) time(c, 3);
        List<Double> peak = new ArrayList<>();
        List<List<Double>> gflops = new ArrayList<>();
        for (int s = 0; s < shapes.length; s++) gflops.add(new ArrayList<>());
        for (int r = 0; r < rounds; r++) {
            peak.add(FmaPeak.perCoreByCpuTime(0.2));
            for (int s = 0; s < shapes.length; s++) gflops.get(s).add(flops[s] / time(calls.get(s), 0.3));
        }
        double p = median(peak);
        System.out.printf("gemm-cpu: FmaPeak.perCore median %.1f GFLOP/s (best %.1f), %d rounds, load average %.2f%n", p,
                Collections.max(peak), rounds, ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        for (int s = 0; s < shapes.length; s++) {
            double g = median(gflops.get(s));
            System.out.printf("gemm-cpu: MatMul %-16s median %7.1f GFLOP/s (best %7.1f) = %5.1f%% of the median peak%n",
                    shapes[s], g, Collections.max(gflops.get(s)), 100 * g / p);
        }
    }

    /** Nanoseconds of CPU time per call, calls repeated for about {@code seconds} of CPU time. */
    private static double time(KernelCall call, double seconds) {
        long n = 0, t0 = cpuNanos(), end = t0 + (long) (seconds * 1e9), t;
        do {
            call.execute();
            n++;
        } while ((t = cpuNanos()) < end);
        return (t - t0) / (double) n;
    }

    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }
}
