package dev.sluice.bench.jmh;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Tensor;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * MatMul [M,K] x [K,N] through Sluice's CPU kernel: a square 1024^3 and MiniLM's FFN shapes (128 and 256 tokens,
 * 384 -> 1536). B is an input here, not a constant, so it is packed on every call (FusedMatMul keeps a
 * constant B packed).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 6, time = 2)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"@jdk-config/jvm.args", "-Xmx4g"})
public class MatMulBench {
    /** M x K x N. */
    @Param({"1024x1024x1024", "128x384x1536", "256x384x1536"})
    public String mkn;

    /** Kernel worker threads (Parallelism), not JMH threads. */
    @Param({"1"})
    public int threads;

    private KernelCall call;
    private Parallelism pool;
    private double flops;

    @Setup(Level.Trial)
    public void setup() {
        long[] d = KernelCall.dims(mkn);
        pool = Parallelism.of(threads);
        call = new KernelCall("MatMul", Attributes.EMPTY, pool, 1, KernelCall.random(1, d[0], d[1]), KernelCall.random(2, d[1], d[2]));
        flops = 2.0 * d[0] * d[1] * d[2];
    }

    @TearDown(Level.Trial)
    public void tearDown() { pool = null; }

    @Benchmark
    public Tensor matmul(FlopCounter c) {
        c.flop += flops;
        return call.execute();
    }
}
