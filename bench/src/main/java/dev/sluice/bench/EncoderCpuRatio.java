package dev.sluice.bench;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A BERT-style encoder (inputs input_ids, attention_mask, token_type_ids, int64 [1, seq]) in Sluice and in ONNX
 * Runtime, one thread each, alternating on the same input, each run timed by the calling thread's CPU time: with
 * one thread both engines compute on the caller, so the figure is their work alone, which a loaded host inflates far
 * less than wall time (two-thread wall ratios swung 2-5x on the shared host). Prints the medians and their ratio.
 * Run after packaging: {@code java @jdk-config/jvm.args -cp bench/target/classes:$(cat bench/target/sluice.classpath)
 * dev.sluice.bench.EncoderCpuRatio MODEL.onnx [seq] [rounds]}.
 */
public final class EncoderCpuRatio {
    private EncoderCpuRatio() {}

    public static void main(String[] a) throws Exception {
        if (a.length < 1) throw new IllegalArgumentException("usage: EncoderCpuRatio MODEL.onnx [seq] [rounds]");
        Path model = Path.of(a[0]);
        int seq = a.length > 1 ? Integer.parseInt(a[1]) : 64, rounds = a.length > 2 ? Integer.parseInt(a[2]) : 150;
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        Map<String, Tensor> in = new LinkedHashMap<>();
        Random r = new Random(42);
        Tensor ids = Tensor.allocate(DType.INT64, Shape.of(1, seq)), mask = Tensor.allocate(DType.INT64, Shape.of(1, seq)), tt = Tensor.allocate(DType.INT64, Shape.of(1, seq));
        // [CLS], ids in 1000..21000 (seed 42), [SEP]; every position attended, one segment
        for (int i = 0; i < seq; i++) { ids.setLong(i, i == 0 ? 101 : i == seq - 1 ? 102 : 1000 + r.nextInt(20000)); mask.setLong(i, 1); tt.setLong(i, 0); }
        in.put("input_ids", ids); in.put("attention_mask", mask); in.put("token_type_ids", tt);
        try (Session s = Session.open(model, dev.sluice.runtime.SessionOptions.builder().threads(1).build()); OrtBridge ort = new OrtBridge(model, 1, false)) {
            ort.setInputs(in);
            long[] ts = new long[rounds], to = new long[rounds];
            for (int w = 0; w < 300; w++) { s.run(in); ort.run(false); }
            for (int i = 0; i < rounds; i++) {
                long t0 = mx.getCurrentThreadCpuTime(); s.run(in); long t1 = mx.getCurrentThreadCpuTime(); ort.run(false); long t2 = mx.getCurrentThreadCpuTime();
                ts[i] = t1 - t0; to[i] = t2 - t1;
            }
            Arrays.sort(ts); Arrays.sort(to);
            double sm = ts[rounds / 2] / 1e6, om = to[rounds / 2] / 1e6;
            System.out.printf("encoder-cpu-ratio: %s seq %d sluice %.2f ms ort %.2f ms ratio %.3f (CPU time, 1 thread, median of %d, load %.1f)%n",
                model.getFileName(), seq, sm, om, sm / om, rounds, ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
    }
}
