package dev.sluice.bench.jmh;

import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The machine's measured FMA peak through the Vector API: twelve independent accumulator chains kept in
 * registers (enough to cover FMA latency x issue width on current x86 and ARM cores), no memory traffic.
 * {@code perCore} runs one thread; {@code allThreads} one per available processor. The ceiling a GEMM
 * kernel's GFLOP/s is read against.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"@jdk-config/jvm.args"})
public class FmaPeak {
    private static final int ITERS = 256;

    /** Vector width: the machine's preferred one, or 256 bits (what a kernel written for AVX2 uses). */
    @Param({"preferred", "256"})
    public String bits;

    private static final VectorSpecies<Float> PREFERRED = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> HALF = FloatVector.SPECIES_256;

    private boolean preferred;
    private double flops;
    private float[] seed;

    @Setup
    public void setup() {
        preferred = bits.equals("preferred");
        if (!preferred && !bits.equals("256")) throw new IllegalArgumentException("bits must be preferred or 256, got " + bits);
        int lanes = preferred ? PREFERRED.length() : HALF.length();
        flops = 2.0 * lanes * 12 * ITERS;
        seed = new float[PREFERRED.length() * 3];
        for (int i = 0; i < seed.length; i++) seed[i] = 1f + i * 1e-7f;
    }

    private float kernel() {
        return preferred ? chainsPreferred() : chains256();
    }

    /** One copy per species, each a static final constant, which the Vector API needs to compile to registers. */
    private float chainsPreferred() {
        FloatVector a = FloatVector.fromArray(PREFERRED, seed, 0);
        FloatVector b = FloatVector.fromArray(PREFERRED, seed, PREFERRED.length());
        FloatVector c0 = FloatVector.fromArray(PREFERRED, seed, 2 * PREFERRED.length());
        FloatVector c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < ITERS; i++) {
            c0 = a.fma(b, c0); c1 = a.fma(b, c1); c2 = a.fma(b, c2); c3 = a.fma(b, c3);
            c4 = a.fma(b, c4); c5 = a.fma(b, c5); c6 = a.fma(b, c6); c7 = a.fma(b, c7);
            c8 = a.fma(b, c8); c9 = a.fma(b, c9); c10 = a.fma(b, c10); c11 = a.fma(b, c11);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).reduceLanes(
            jdk.incubator.vector.VectorOperators.ADD);
    }

    private float chains256() {
        FloatVector a = FloatVector.fromArray(HALF, seed, 0);
        FloatVector b = FloatVector.fromArray(HALF, seed, HALF.length());
        FloatVector c0 = FloatVector.fromArray(HALF, seed, 2 * HALF.length());
        FloatVector c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < ITERS; i++) {
            c0 = a.fma(b, c0); c1 = a.fma(b, c1); c2 = a.fma(b, c2); c3 = a.fma(b, c3);
            c4 = a.fma(b, c4); c5 = a.fma(b, c5); c6 = a.fma(b, c6); c7 = a.fma(b, c7);
            c8 = a.fma(b, c8); c9 = a.fma(b, c9); c10 = a.fma(b, c10); c11 = a.fma(b, c11);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).reduceLanes(
            jdk.incubator.vector.VectorOperators.ADD);
    }

    /**
     * The per-core peak in GFLOP/s over {@code seconds} of this thread's CPU time (preferred vectors), for
     * {@link GemmCpuTime}: on a host shared with other jobs, wall time measures the other jobs too.
     */
    static double perCoreByCpuTime(double seconds) {
        FmaPeak p = new FmaPeak();
        p.bits = "preferred";
        p.setup();
        float sink = 0;
        long calls = 0, t0 = GemmCpuTime.cpuNanos(), end = t0 + (long) (seconds * 1e9), t;
        do {
            for (int i = 0; i < 64; i++) sink += p.kernel();
            calls += 64;
        } while ((t = GemmCpuTime.cpuNanos()) < end);
        if (sink == 0.5f) System.out.print(""); // keeps the sum alive
        return calls * p.flops / (t - t0);
    }

    @Benchmark
    @Threads(1)
    public float perCore(FlopCounter c) {
        c.flop += flops;
        return kernel();
    }

    @Benchmark
    @Threads(Threads.MAX)
    public float allThreads(FlopCounter c) {
        c.flop += flops;
        return kernel();
    }
}
