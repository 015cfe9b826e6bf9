package dev.sluice.bench.jmh;

import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Tensor;
import java.util.HashMap;
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
 * The small-plane layers of mobile CNNs (face detectors, audio embedders), where per-call and per-channel
 * overhead, not arithmetic, decides: depthwise 3x3 at stride 1 and 2 on 8x8 to 64x64 planes, pointwise convs
 * with few positions or few output channels, a dense conv from one input channel, and 2x2 / 1x2 max pooling.
 * A case is {@code op:C,H,W,M,KH,KW,SH,SW,PT,PL,PB,PR,GROUP} (Conv; M output channels) or
 * {@code maxpool:C,H,W,KH,KW,SH,SW}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 6, time = 2)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"@jdk-config/jvm.args", "-Xmx2g"})
public class SmallConvBench {
    @Param({
        "conv:96,8,8,96,3,3,1,1,1,1,1,1,96",       // depthwise 3x3, 8x8
        "conv:28,64,64,28,3,3,2,2,0,0,1,1,28",     // depthwise 3x3 stride 2 into 32x32
        "conv:24,64,64,24,3,3,1,1,1,1,1,1,24",     // depthwise 3x3, 64x64
        "conv:24,64,64,28,1,1,1,1,0,0,0,0,1",      // pointwise 24 -> 28 at 64x64
        "conv:88,16,16,2,1,1,1,1,0,0,0,0,1",       // pointwise head 88 -> 2 at 16x16
        "conv:96,8,8,96,1,1,1,1,0,0,0,0,1",        // pointwise 96 -> 96 at 8x8
        "conv:1,76,32,24,3,3,1,1,0,1,0,1,1",       // dense 3x3 from one input channel
        "conv:72,32,8,72,1,3,1,1,0,1,0,1,1",       // dense 1x3 on rows of 8 (rows narrower than a vector)
        "conv:72,30,8,72,3,1,1,1,0,0,0,0,1",       // dense 3x1 on rows of 8, no padding columns
        "maxpool:28,64,64,2,2,2,2",
        "maxpool:48,32,16,1,2,1,2",
        "maxpool:72,28,8,2,2,2,2",                 // outputs 4 wide: rows pooled in batches
        "maxpool:96,10,4,1,2,1,2"})
    public String op;

    @Param({"1"})
    public int threads;

    private KernelCall call;
    private double flops;

    @Setup(Level.Trial)
    public void setup() {
        String[] kv = op.split(":");
        String[] p = kv[1].split(",");
        int[] v = new int[p.length];
        for (int i = 0; i < p.length; i++) v[i] = Integer.parseInt(p[i]);
        int c = v[0], h = v[1], w = v[2];
        Map<String, Attr> a = new HashMap<>();
        if (kv[0].equals("maxpool")) {
            a.put("kernel_shape", new Attr.Ints(new long[] {v[3], v[4]}));
            a.put("strides", new Attr.Ints(new long[] {v[5], v[6]}));
            call = new KernelCall("MaxPool", new Attributes(a), Parallelism.of(threads), 1, KernelCall.random(1, 1, c, h, w));
            int oh = (h - v[3]) / v[5] + 1, ow = (w - v[4]) / v[6] + 1;
            flops = (double) c * oh * ow * v[3] * v[4];
            return;
        }
        int m = v[3], kh = v[4], kw = v[5], sh = v[6], sw = v[7], group = v[12];
        a.put("kernel_shape", new Attr.Ints(new long[] {kh, kw}));
        a.put("strides", new Attr.Ints(new long[] {sh, sw}));
        a.put("pads", new Attr.Ints(new long[] {v[8], v[9], v[10], v[11]}));
        a.put("group", new Attr.Int(group));
        call = new KernelCall("Conv", new Attributes(a), Parallelism.of(threads), 1,
            KernelCall.random(1, 1, c, h, w), KernelCall.random(2, m, c / group, kh, kw), KernelCall.random(3, m));
        int oh = (h + v[8] + v[10] - kh) / sh + 1, ow = (w + v[9] + v[11] - kw) / sw + 1;
        flops = 2.0 * m * oh * ow * (c / group) * kh * kw;
    }

    @Benchmark
    public Tensor layer(FlopCounter counter) {
        counter.flop += flops;
        return call.execute();
    }
}
