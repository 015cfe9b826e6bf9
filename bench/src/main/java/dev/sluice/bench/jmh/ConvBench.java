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

/** Conv 3x3, stride 1, pad 1, NCHW, with bias: a ResNet-like 64->64 at 56x56 and an OCR-like 32->32 at 80x80. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 6, time = 2)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"@jdk-config/jvm.args", "-Xmx4g"})
public class ConvBench {
    /** Cin x H x W x Cout. */
    @Param({"64x56x56x64", "32x80x80x32"})
    public String shape;

    @Param({"1"})
    public int threads;

    private KernelCall call;
    private double flops;

    @Setup(Level.Trial)
    public void setup() {
        long[] d = KernelCall.dims(shape);
        long cin = d[0], h = d[1], w = d[2], cout = d[3];
        Attributes a = new Attributes(Map.of(
            "kernel_shape", new Attr.Ints(new long[] {3, 3}),
            "pads", new Attr.Ints(new long[] {1, 1, 1, 1}),
            "strides", new Attr.Ints(new long[] {1, 1})));
        call = new KernelCall("Conv", a, Parallelism.of(threads), 1,
            KernelCall.random(1, 1, cin, h, w), KernelCall.random(2, cout, cin, 3, 3), KernelCall.random(3, cout));
        flops = 2.0 * cout * h * w * cin * 9;
    }

    @Benchmark
    public Tensor conv3x3(FlopCounter c) {
        c.flop += flops;
        return call.execute();
    }
}
