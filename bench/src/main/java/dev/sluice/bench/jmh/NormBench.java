package dev.sluice.bench.jmh;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Tensor;
import java.util.Map;
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
import org.openjdk.jmh.annotations.Warmup;

/**
 * The memory-bound ops of an encoder at MiniLM's shapes: Softmax over attention scores [12,128,128]
 * (last axis) and LayerNormalization over [128,384]. Their FLOP counts are nominal (Softmax 5 per element:
 * max, subtract, exp, sum, divide; LayerNorm 8: mean, variance, normalize, scale, shift) so GFLOP/s
 * compares runs of the same op, not ops with each other.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 6, time = 2)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"@jdk-config/jvm.args", "-Xmx4g"})
public class NormBench {
    @Param({"1"})
    public int threads;

    private KernelCall softmax, layerNorm;
    private double softmaxFlops, layerNormFlops;

    @Setup(Level.Trial)
    public void setup() {
        Parallelism p = Parallelism.of(threads);
        // Kernels that are missing fail here, naming the op; JMH reports it and goes on with the next benchmark.
        softmax = tryCall(() -> new KernelCall("Softmax", new Attributes(Map.of("axis", new Attr.Int(-1))), p, 1,
            KernelCall.random(1, 12, 128, 128)));
        layerNorm = tryCall(() -> new KernelCall("LayerNormalization",
            new Attributes(Map.of("axis", new Attr.Int(-1), "epsilon", new Attr.Float(1e-12f))), p, 1,
            KernelCall.random(2, 128, 384), KernelCall.random(3, 384), KernelCall.random(4, 384)));
        softmaxFlops = 5.0 * 12 * 128 * 128;
        layerNormFlops = 8.0 * 128 * 384;
    }

    private static KernelCall tryCall(java.util.function.Supplier<KernelCall> s) {
        try {
            return s.get();
        } catch (IllegalStateException e) {
            return null;
        }
    }

    private static Tensor run(KernelCall c, String op) {
        if (c == null) throw new IllegalStateException("Sluice has no CPU kernel for " + op + " yet; nothing to measure");
        return c.execute();
    }

    @Benchmark
    public Tensor softmax(FlopCounter c) {
        c.flop += softmaxFlops;
        return run(softmax, "Softmax");
    }

    @Benchmark
    public Tensor layerNorm(FlopCounter c) {
        c.flop += layerNormFlops;
        return run(layerNorm, "LayerNormalization");
    }
}
