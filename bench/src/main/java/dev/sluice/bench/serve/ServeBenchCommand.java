package dev.sluice.bench.serve;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.offload.HostMemory;
import dev.sluice.offload.swap.CopyLink;
import dev.sluice.offload.swap.EvictionPolicy;
import dev.sluice.offload.swap.ModelSwapper;
import dev.sluice.offload.swap.WeightStore;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.runtime.serve.Datatype;
import dev.sluice.runtime.serve.Engine;
import dev.sluice.runtime.serve.InferRequest;
import dev.sluice.runtime.serve.InferTensor;
import dev.sluice.runtime.serve.Metrics;
import dev.sluice.runtime.serve.ModelRepository;
import dev.sluice.runtime.serve.Residency;
import dev.sluice.runtime.serve.SwapResidency;
import dev.sluice.runtime.zoo.Zoo;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * {@code sluice serve-bench}: the cold-request cost of swapping one zoo model on the throttled device, in process
 * (no HTTP): compute alone (weights resident), the weight transfer alone, swap-then-compute, and compute
 * overlapped with the transfer. Two copies of the model share a budget that holds one, and requests alternate
 * between them, so every timed request is cold. Medians of N requests; every figure measured in this run.
 */
public final class ServeBenchCommand implements Command {
    @Override public String name() { return "serve-bench"; }

    @Override public String summary() {
        return "weight swapping on throttled devices: cold-request latency, then many models under bursty skewed load per configuration";
    }

    @Override public String help() {
        return """
            usage: sluice serve-bench [ZOO_NAME] [--runs N] [--warmup N] [--bandwidth BYTES_PER_S] [--threads N] [--devices N]
                                      [--models K] [--seconds S] [--no-load]

            Part 1, one cold request: serves two copies of the model (default ppocr-rec) from a temporary repository
            through the engine, on the throttled device (CPU kernels; weights copied over 2 copy lanes sharing one
            link of --bandwidth, default: the model's weight bytes per its measured compute time, so transfer and
            compute are about equal). Measures, as medians of N (default 7) requests: compute with the weights
            resident, the transfer alone, a cold request with swap-then-compute, and a cold request overlapped (each
            node waits only for its own weights). Ends with overlapped / max(transfer, compute). --devices N (default
            2; 1 skips it) adds cold requests sharded over N devices, a link of the same bandwidth each.

            Part 2, many models under load (--no-load skips it): K (default 8) copies of the model, each a model of its
            own, served over REST on 127.0.0.1; one device's budget holds 1.5 models' weights (so the weights total
            K/1.5 times it). Capacity is measured first (requests/s the one-device overlapped server completes back
            to back under the model mix); then open-loop load with gamma gaps of CV 4 and Zipf(1.0) model choice at
            50% and 90% of it, about S seconds (default 10) per run (the schedule's gaps scaled so that its mean rate is
            exactly the one asked for), the same schedule for each configuration: no swapping
            (the most requested models that fit one device; requests for the rest refused), swap-then-compute and
            overlapped on one device, model-parallel over 2 and 4 devices (the same budget and link per device), and
            the demand policy on 4 devices. SLO: 5x the resident compute time. Prints a Markdown table.
""";
    }

    @Override public Set<String> flags() { return Set.of("no-load"); }

    @Override public Set<String> valueOptions() { return Set.of("runs", "warmup", "bandwidth", "threads", "devices", "models", "seconds"); }

    @Override public int run(Args a, PrintStream out) throws Exception {
        String which = a.positionals().isEmpty() ? "ppocr-rec" : a.positionals().getFirst();
        Path file;
        Map<String, Tensor> sample;
        if (which.endsWith(".onnx")) {
            throw new SluiceException("serve-bench takes a zoo model name (its inputs are known): " + Zoo.models().stream().map(Zoo.Model::name).toList());
        }
        Zoo.Model zm = Zoo.find(which);
        file = zm.path();
        sample = zm.sampleInputs(1);
        int runs = a.intOption("runs", 7), warmup = a.intOption("warmup", 9), threads = a.intOption("threads", 2);
        Path repo = Files.createTempDirectory("sluice-serve-bench");
        try {
            for (String m : List.of("a", "b")) {
                Path d = Files.createDirectories(repo.resolve(m).resolve("1"));
                Files.copy(file, d.resolve("model.onnx"));
                Files.writeString(repo.resolve(m).resolve("config.json"), "{\"threads\": " + threads + "}");
            }
            InferRequest ra = request("a", sample), rb = request("b", sample);
            long weightBytes;
            try (Session s = Session.open(file, SessionOptions.builder().threads(1).build())) {
                weightBytes = SwapResidency.weightBytes(s);
            }
            out.printf(Locale.ROOT, "serve-bench: %s, %.1f MB of weights, %d kernel threads, throttled device (CPU kernels)%n", which, weightBytes / 1e6, threads);

            // 1. Compute alone: everything resident.
            double computeMs;
            try (Engine e = new Engine(new ModelRepository(repo), new Engine.Options("throttled", 1, m -> {}), new Metrics(), Residency.NONE)) {
                e.load("a");
                for (int i = 0; i < warmup; i++) time(e, ra);
                computeMs = median(runs, () -> time(e, ra));
            }
            long bandwidth = a.option("bandwidth") != null ? SessionOptions.parseBytes("--bandwidth", a.option("bandwidth"))
                : (long) (weightBytes / (computeMs / 1e3));
            out.printf(Locale.ROOT, "serve-bench: link %.1f MB/s, 2 copy lanes sharing it%n", bandwidth / 1e6);

            // 2. The transfer alone: the swapper moving the weights with nothing computing.
            double transferMs;
            {
                WeightStore store = new WeightStore(HostMemory.pageable());
                MemorySegment w = MemorySegment.ofArray(new byte[(int) Math.min(Integer.MAX_VALUE - 64, weightBytes)]);
                store.put("a", List.of(w), 0);
                store.put("b", List.of(w), 0);
                try (ModelSwapper sw = new ModelSwapper(store, weightBytes + weightBytes / 2, new EvictionPolicy.Lru(), new CopyLink(bandwidth), 2)) {
                    String[] next = {"a"};
                    transferMs = median(runs, () -> {
                        long t0 = System.nanoTime();
                        try (var l = sw.acquire(next[0])) { }
                        next[0] = next[0].equals("a") ? "b" : "a";
                        return (System.nanoTime() - t0) / 1e6;
                    });
                }
            }

            double serialMs = cold(repo, ra, rb, weightBytes, bandwidth, false, warmup, runs, 1);
            double overlapMs = cold(repo, ra, rb, weightBytes, bandwidth, true, warmup, runs, 1);
            int devices = a.intOption("devices", 2);
            double bound = Math.max(transferMs, computeMs);
            out.printf(Locale.ROOT, "serve-bench: compute (resident)      p50 %8.1f ms%n", computeMs);
            out.printf(Locale.ROOT, "serve-bench: transfer alone          p50 %8.1f ms%n", transferMs);
            out.printf(Locale.ROOT, "serve-bench: cold, swap then compute p50 %8.1f ms  (%.2fx transfer+compute)%n", serialMs, serialMs / (transferMs + computeMs));
            if (devices > 1) {
                double shardedSerial = cold(repo, ra, rb, weightBytes, bandwidth, false, warmup, runs, devices);
                double shardedOverlap = cold(repo, ra, rb, weightBytes, bandwidth, true, warmup, runs, devices);
                out.printf(Locale.ROOT, "serve-bench: cold, swap then compute, %d devices p50 %8.1f ms  (%.2fx one device's)%n", devices, shardedSerial,
                    shardedSerial / serialMs);
                out.printf(Locale.ROOT, "serve-bench: cold, overlapped, %d devices        p50 %8.1f ms  (%.2fx one device's)%n", devices, shardedOverlap,
                    shardedOverlap / overlapMs);
            }
            out.printf(Locale.ROOT, "serve-bench: cold, overlapped        p50 %8.1f ms  (%.2fx max(transfer, compute); target <= 1.2x)%n", overlapMs, overlapMs / bound);
            out.flush();
            if (!a.flag("no-load")) manyModels(a, out, file, sample, threads, weightBytes, bandwidth, computeMs);
            return 0;
        } finally {
            try (var s = Files.walk(repo)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static final java.util.logging.Logger HELIDON_LOG = java.util.logging.Logger.getLogger("io.helidon");

    /** Part 2: K copies of the model under bursty, skewed open-loop load, per serving configuration. */
    private static void manyModels(Args a, PrintStream out, Path file, Map<String, Tensor> sample, int threads, long weightBytes, long bandwidth,
                                   double computeMs) throws Exception {
        int k = a.intOption("models", 8);
        double seconds = a.option("seconds") == null ? 10 : Double.parseDouble(a.option("seconds"));
        if (k < 2) throw new SluiceException("--models must be at least 2, got " + k);
        HELIDON_LOG.setLevel(java.util.logging.Level.WARNING); // its per-server start and stop lines would bury the table
        Path repo = Files.createTempDirectory("sluice-serve-bench-load");
        try {
            List<String> names = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                String m = "m" + i;
                names.add(m);
                Path d = Files.createDirectories(repo.resolve(m).resolve("1"));
                Files.copy(file, d.resolve("model.onnx"));
                Files.writeString(repo.resolve(m).resolve("config.json"), "{\"threads\": " + threads + ", \"max_queue\": 32}");
            }
            long budget = weightBytes * 3 / 2 + (2L << 20); // 1.5 models, and room for the block alignment of each
            double sloMs = 5 * computeMs;
            SwapLoadBench bench = new SwapLoadBench(repo, names, sample, weightBytes, budget, bandwidth, out);
            out.printf(Locale.ROOT, "serve-bench: %d models of %.1f MB (%.1f MB together), %.1f MB budget per device (weights = %.1fx it), "
                + "link %.1f MB/s per device, SLO %.0f ms%n", k, weightBytes / 1e6, k * weightBytes / 1e6, budget / 1e6, (double) k * weightBytes / budget,
                bandwidth / 1e6, sloMs);
            double capacity = bench.capacity(Math.max(4, seconds / 2), 11);
            out.printf(Locale.ROOT, "serve-bench: capacity %.2f requests/s (1 device, overlapped, back to back under the Zipf(1.0) mix)%n", capacity);
            out.flush();
            List<SwapLoadBench.Row> rows = new ArrayList<>();
            for (double load : new double[] {0.5, 0.9}) {
                double rate = load * capacity;
                Arrivals plan = Arrivals.plan(rate, seconds, 4, 1.0, k, 42).atMeanRate(rate);
                double span = plan.sendNanos().length / rate;
                for (SwapLoadBench.Config c : SwapLoadBench.CONFIGS) {
                    SwapLoadBench.Row r = bench.run(c, load, rate, span, plan, sloMs);
                    rows.add(r);
                    out.print(SwapLoadBench.table(List.of(r)).lines().skip(2).findFirst().orElse("") + "\n");
                    out.flush();
                }
            }
            out.println();
            out.print(SwapLoadBench.table(rows));
        } finally {
            try (var s = Files.walk(repo)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** Median cold latency: a budget for one copy, requests alternating between the two. */
    private static double cold(Path repo, InferRequest ra, InferRequest rb, long weightBytes, long bandwidth, boolean overlap, int warmup, int runs,
                               int devices) throws Exception {
        WeightStore store = new WeightStore(HostMemory.pageable());
        List<CopyLink> links = new ArrayList<>();
        for (int i = 0; i < devices; i++) links.add(new CopyLink(bandwidth));
        ModelSwapper sw = new ModelSwapper(store, weightBytes + weightBytes / 2, new EvictionPolicy.Lru(), links, 2);
        try (SwapResidency res = new SwapResidency(store, sw, overlap);
             Engine e = new Engine(new ModelRepository(repo), new Engine.Options("throttled", 1, m -> {}), new Metrics(), res)) {
            e.load("a");
            e.load("b");
            // An even number of warm-up requests ends on b, so the first timed one (a) is cold too.
            for (int i = 0; i < 2 * Math.max(1, warmup / 6); i++) time(e, i % 2 == 0 ? ra : rb);
            int[] k = {0};
            long swapsBefore = sw.stats().swaps();
            double m = median(runs, () -> time(e, k[0]++ % 2 == 0 ? ra : rb));
            // The last copy may still be finishing (weights no node reads need not arrive before the answer).
            for (int i = 0; i < 100 && sw.stats().swaps() - swapsBefore < runs; i++) Thread.sleep(50);
            if (sw.stats().swaps() - swapsBefore < runs) {
                throw new IllegalStateException("not every timed request was cold: " + (sw.stats().swaps() - swapsBefore) + " swaps for " + runs + " requests");
            }
            return m;
        }
    }

    interface Sample {
        double ms() throws Exception;
    }

    private static double median(int n, Sample s) throws Exception {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = s.ms();
        Arrays.sort(v);
        return v[n / 2];
    }

    private static double time(Engine e, InferRequest r) throws Exception {
        long t0 = System.nanoTime();
        e.infer(r).result().get(120, TimeUnit.SECONDS);
        return (System.nanoTime() - t0) / 1e6;
    }

    private static InferRequest request(String model, Map<String, Tensor> inputs) {
        List<InferTensor> ts = new ArrayList<>();
        for (var x : inputs.entrySet()) {
            Tensor t = x.getValue();
            byte[] b = new byte[(int) t.byteSize()];
            MemorySegment.copy(t.data(), ValueLayout.JAVA_BYTE, 0, b, 0, b.length);
            ts.add(new InferTensor(x.getKey(), Datatype.of(t.dtype()), t.shape().dims(), b, Map.of()));
        }
        return new InferRequest(model, null, null, ts, List.of(), Map.of());
    }
}
