package dev.sluice.bench.serve;

import dev.sluice.kernels.Tensor;
import dev.sluice.offload.HostMemory;
import dev.sluice.offload.swap.CopyLink;
import dev.sluice.offload.swap.EvictionPolicy;
import dev.sluice.offload.swap.ModelSwapper;
import dev.sluice.offload.swap.WeightStore;
import dev.sluice.runtime.serve.Datatype;
import dev.sluice.runtime.serve.Engine;
import dev.sluice.runtime.serve.InferenceServer;
import dev.sluice.runtime.serve.Limits;
import dev.sluice.runtime.serve.Metrics;
import dev.sluice.runtime.serve.ModelRepository;
import dev.sluice.runtime.serve.Residency;
import dev.sluice.runtime.serve.ShardPipeline;
import dev.sluice.runtime.serve.SwapResidency;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.URI;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The many-models part of {@code serve-bench}: K models (copies of one zoo model, each a model of its own) whose
 * weights total several times one device's budget, served over REST on loopback, under open-loop bursty and skewed
 * load (gamma gaps of CV 4, Zipf 1.0 over the models) at fractions of a measured capacity, in each serving
 * configuration: no swapping (the most requested models that fit; the rest refused), swap-then-compute and
 * swap overlapped with compute on one device, model-parallel over 2 and 4 devices (the same budget per device),
 * and the demand policy on 4 devices. Every configuration sees the same schedule.
 */
final class SwapLoadBench {
    /** One serving configuration. {@code devices} 0 means no swapping: only what fits one device's budget is loaded. */
    record Config(String name, int devices, boolean overlap, String policy) {}

    static final List<Config> CONFIGS = List.of(
        new Config("no swapping (what fits)", 0, false, "lru"),
        new Config("1 dev, swap then compute", 1, false, "lru"),
        new Config("1 dev, overlapped", 1, true, "lru"),
        new Config("2 dev, model-parallel", 2, true, "lru"),
        new Config("4 dev, model-parallel", 4, true, "lru"),
        new Config("4 dev, model-parallel, demand", 4, true, "demand"));

    /** A measured row of the table. */
    record Row(Config config, double load, double rate, double scheduleSeconds, OpenLoop.Result result, long swaps, long[] bytesPerLink) {
        /** Answered requests per second over the schedule's length, or the run's when the answers took longer. */
        double throughput() { return result.total(OpenLoop.Result.OK) / Math.max(result.seconds(), scheduleSeconds); }
    }

    private final Path repo;
    private final List<String> models;
    private final OpenLoop.Body body;
    private final long modelBytes;
    private final long deviceBudget;
    private final long bandwidth;
    private final PrintStream out;

    /**
     * @param repo         a repository holding {@code models}, each a copy of the same model
     * @param deviceBudget weight bytes one device holds
     * @param bandwidth    each device link's bytes per second
     */
    SwapLoadBench(Path repo, List<String> models, Map<String, Tensor> sample, long modelBytes, long deviceBudget, long bandwidth, PrintStream out) {
        this.repo = repo;
        this.models = models;
        this.body = binaryBody(sample);
        this.modelBytes = modelBytes;
        this.deviceBudget = deviceBudget;
        this.bandwidth = bandwidth;
        this.out = out;
    }

    /** A server for the configuration, every model loaded (no swapping: the first that fit), warmed by one request each. */
    private final class Served implements AutoCloseable {
        final InferenceServer server;
        final SwapResidency swap;
        final Engine engine;

        Served(Config c) throws Exception {
            Residency residency = Residency.NONE;
            SwapResidency s = null;
            if (c.devices() > 0) {
                WeightStore store = new WeightStore(HostMemory.pageable());
                List<CopyLink> links = new ArrayList<>();
                for (int i = 0; i < c.devices(); i++) links.add(new CopyLink(bandwidth));
                s = new SwapResidency(store, new ModelSwapper(store, deviceBudget * c.devices(), EvictionPolicy.parse(c.policy()), links, 2), c.overlap());
                residency = s;
            }
            swap = s;
            engine = new Engine(new ModelRepository(repo), new Engine.Options("throttled", Math.max(1, c.devices()), m -> {}), new Metrics(), residency);
            int fit = c.devices() > 0 ? models.size() : (int) Math.min(models.size(), deviceBudget / modelBytes);
            // The schedule's Zipf ranks the models in the order given: those that fit are the most requested.
            for (int i = 0; i < fit; i++) engine.load(models.get(i));
            server = new InferenceServer(engine, "127.0.0.1", 0, -1, Limits.defaults(), swap);
            HttpClient http = client();
            Arrivals one = new Arrivals(new long[] {0}, new int[] {0});
            for (int i = 0; i < fit; i++) {
                Arrivals warm = new Arrivals(one.sendNanos(), new int[] {i});
                OpenLoop.Result r = OpenLoop.run(http, base(), models, List.of(bodies()), warm, -1, 1, false, null);
                if (r.total(OpenLoop.Result.OK) != 1) {
                    var resp = http.send(java.net.http.HttpRequest.newBuilder(base().resolve("/v2/models/" + models.get(i) + "/infer"))
                        .header("Inference-Header-Content-Length", Long.toString(body.jsonHeaderLength()))
                        .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(body.bytes())).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
                    throw new IllegalStateException("the warm-up request for " + models.get(i) + " (" + c.name() + ") failed: HTTP " + resp.statusCode()
                        + " " + resp.body().substring(0, Math.min(300, resp.body().length())));
                }
            }
        }

        URI base() { return URI.create("http://127.0.0.1:" + server.port()); }

        long swaps() { return swap == null ? 0 : swap.swapper().stats().swaps(); }

        /** Bytes into each device so far: weights over its link plus activations from earlier devices. */
        long[] bytesPerLink() {
            if (swap == null) return new long[0];
            ModelSwapper.Stats st = swap.swapper().stats();
            int devices = swap.swapper().devices(), lanes = swap.swapper().lanes();
            long[] b = new long[devices];
            for (int i = 0; i < st.bytesPerLane().length; i++) b[i / lanes] += st.bytesPerLane()[i];
            ShardPipeline.Stats p = swap.pipelineStats();
            if (p != null) for (int d = 0; d < devices; d++) b[d] += p.activationBytesIn()[d];
            return b;
        }

        @Override public void close() { server.close(); }
    }

    private OpenLoop.Body[] bodies() {
        OpenLoop.Body[] b = new OpenLoop.Body[models.size()];
        java.util.Arrays.fill(b, body);
        return b;
    }

    static HttpClient client() { return HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build(); }

    /**
     * Capacity: requests per second the one-device overlapped server completes back to back (one at a time, as its
     * one worker runs them) under the Zipf(1.0) model mix, over {@code seconds}.
     */
    double capacity(double seconds, long seed) throws Exception {
        try (Served s = new Served(CONFIGS.get(2))) {
            Arrivals mix = Arrivals.plan(1000, seconds, 1, 1.0, models.size(), seed);
            HttpClient http = client();
            long t0 = System.nanoTime();
            int n = 0;
            while (System.nanoTime() - t0 < seconds * 1e9 && n < mix.model().length) {
                Arrivals one = new Arrivals(new long[] {0}, new int[] {mix.model()[n++]});
                OpenLoop.run(http, s.base(), models, List.of(bodies()), one, -1, 1, false, null);
            }
            return n / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /** Runs one configuration at {@code rate} requests per second for {@code seconds}, on the given schedule. */
    Row run(Config c, double load, double rate, double seconds, Arrivals plan, double sloMs) throws Exception {
        try (Served s = new Served(c)) {
            long swaps0 = s.swaps();
            long[] bytes0 = s.bytesPerLink();
            OpenLoop.Result r = OpenLoop.run(client(), s.base(), models, List.of(bodies()), plan, sloMs, 2048, true, null);
            long[] bytes = s.bytesPerLink();
            for (int i = 0; i < bytes.length; i++) bytes[i] -= bytes0[i];
            return new Row(c, load, rate, seconds, r, s.swaps() - swaps0, bytes);
        }
    }

    /** The table header and one line per row, in Markdown. */
    static String table(List<Row> rows) {
        StringBuilder b = new StringBuilder();
        b.append("| configuration | load | offered/s | sent | ok | refused | failed | p50 ms | p99 ms | throughput/s | SLO attained | swaps | MB into each device |\n");
        b.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            OpenLoop.Result x = r.result();
            StringBuilder links = new StringBuilder();
            for (long v : r.bytesPerLink()) links.append(links.isEmpty() ? "" : " / ").append(String.format(Locale.ROOT, "%.0f", v / 1e6));
            b.append(String.format(Locale.ROOT, "| %s | %.0f%% | %.2f | %d | %d | %d | %d | %.0f | %.0f | %.2f | %.0f%% | %d | %s |%n",
                r.config().name(), r.load() * 100, x.total(OpenLoop.Result.SENT) / r.scheduleSeconds(), x.total(OpenLoop.Result.SENT), x.total(OpenLoop.Result.OK),
                x.total(OpenLoop.Result.REFUSED), x.total(OpenLoop.Result.FAILED), x.ms(50), x.ms(99), r.throughput(),
                100 * x.sloAttainment(), r.swaps(), links.isEmpty() ? "-" : links.toString()));
        }
        return b.toString();
    }

    /** An infer body in the binary tensor data extension: a JSON header naming each input, then its raw bytes. */
    static OpenLoop.Body binaryBody(Map<String, Tensor> inputs) {
        StringBuilder json = new StringBuilder("{\"inputs\":[");
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        boolean first = true;
        for (var e : inputs.entrySet()) {
            Tensor t = e.getValue();
            byte[] data = new byte[(int) t.byteSize()];
            MemorySegment.copy(t.data(), ValueLayout.JAVA_BYTE, 0, data, 0, data.length);
            raw.writeBytes(data);
            StringBuilder shape = new StringBuilder();
            for (long d : t.shape().dims()) shape.append(shape.isEmpty() ? "" : ",").append(d);
            json.append(first ? "" : ",").append("{\"name\":\"").append(e.getKey()).append("\",\"shape\":[").append(shape)
                .append("],\"datatype\":\"").append(Datatype.of(t.dtype())).append("\",\"parameters\":{\"binary_data_size\":").append(data.length).append("}}");
            first = false;
        }
        json.append("],\"parameters\":{\"binary_data_output\":true}}");
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes(header);
        all.writeBytes(raw.toByteArray());
        return new OpenLoop.Body(all.toByteArray(), header.length);
    }
}
