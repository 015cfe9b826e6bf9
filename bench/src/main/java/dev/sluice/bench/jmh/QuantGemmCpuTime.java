package dev.sluice.bench.jmh;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The fused dynamic-quantization matmul (sluice.DynamicQuantMatMul: quantize x, the exact u8 x s8 product, scales
 * and bias) beside the float MatMul of the same shape, one kernel thread, timed by this thread's CPU time (see
 * {@link GemmCpuTime} for why), alternating round by round; prints medians in GMAC/s and the quantized/float
 * time ratio, beside the FMA peak ({@link FmaPeak#perCoreByCpuTime}, in multiply-adds: half its FLOP/s), the roof of
 * an exact integer product on float FMAs. Shapes are those of the BERT encoders' projections (tokens x hidden x
 * out). Run after packaging:
 * {@code java @jdk-config/jvm.args -cp bench/target/classes:$(cat bench/target/sluice.classpath)
 * dev.sluice.bench.jmh.QuantGemmCpuTime [MxKxN,...] [rounds]}.
 */
public final class QuantGemmCpuTime {
    private QuantGemmCpuTime() {}

    public static void main(String[] args) {
        String[] shapes = (args.length > 0 ? args[0] : "64x384x384,64x384x1536,64x1536x384,128x384x1536").split(",");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 9;
        List<KernelCall> quant = new ArrayList<>(), dense = new ArrayList<>();
        double[] macs = new double[shapes.length];
        for (int s = 0; s < shapes.length; s++) {
            long[] d = KernelCall.dims(shapes[s]);
            Tensor x = KernelCall.random(1, 1, d[0], d[1]);
            quant.add(new KernelCall("sluice", "DynamicQuantMatMul", Attributes.EMPTY, Parallelism.SEQUENTIAL, 1,
                    x, int8(2, d[1], d[2]), Tensor.of(DType.INT8, Shape.of(), (byte) 3), Tensor.ofFloats(Shape.of(), 0.01f),
                    KernelCall.random(3, d[2])));
            dense.add(new KernelCall("MatMul", Attributes.EMPTY, Parallelism.SEQUENTIAL, 1, x, KernelCall.random(2, d[1], d[2])));
            macs[s] = (double) d[0] * d[1] * d[2];
        }
        FmaPeak.perCoreByCpuTime(2);
        for (int s = 0; s < shapes.length; s++) { time(quant.get(s), 3); time(dense.get(s), 3); }
        List<Double> peak = new ArrayList<>();
        List<List<Double>> q = new ArrayList<>(), f = new ArrayList<>();
        for (int s = 0; s < shapes.length; s++) { q.add(new ArrayList<>()); f.add(new ArrayList<>()); }
        for (int r = 0; r < rounds; r++) {
            peak.add(FmaPeak.perCoreByCpuTime(0.2) / 2);
            for (int s = 0; s < shapes.length; s++) {
                q.get(s).add(time(quant.get(s), 0.3));
                f.get(s).add(time(dense.get(s), 0.3));
            }
        }
        double roof = median(peak);
        System.out.printf("quant-gemm-cpu: %d rounds, one thread, load average %.2f, FMA peak %.1f GMAC/s%n", rounds,
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(), roof);
        for (int s = 0; s < shapes.length; s++) {
            double tq = median(q.get(s)), tf = median(f.get(s));
            System.out.printf("quant-gemm-cpu: %-14s DynamicQuantMatMul %7.1f us %6.1f GMAC/s (%3.0f%% of peak) | float MatMul %7.1f us %6.1f GMAC/s | quant/float %.2f%n",
                    shapes[s], tq / 1e3, macs[s] / tq, 100 * macs[s] / tq / roof, tf / 1e3, macs[s] / tf, tq / tf);
        }
    }

    /** A k x n int8 weight, uniform over all 256 values, seeded. */
    static Tensor int8(long seed, long k, long n) {
        byte[] b = new byte[Math.toIntExact(k * n)];
        new SplittableRandom(seed).nextBytes(b);
        return Tensor.of(DType.INT8, Shape.of(k, n), b);
    }

    private static double time(KernelCall call, double seconds) {
        long n = 0, t0 = GemmCpuTime.cpuNanos(), end = t0 + (long) (seconds * 1e9), t;
        do {
            call.execute();
            n++;
        } while ((t = GemmCpuTime.cpuNanos()) < end);
        return (t - t0) / (double) n;
    }

    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        Collections.sort(s);
        return s.get(s.size() / 2);
    }
}
