package dev.sluice.runtime.serve;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * The server's counters, rendered in the Prometheus text exposition format on {@code /metrics}: per model the
 * requests, failures, refusals and a latency histogram, the queue depth; and the device figures the engine
 * supplies (swaps, bytes moved per copy lane, device memory in use). Counters only grow; gauges are read when
 * rendered.
 */
public final class Metrics {
    /** Latency bucket bounds in seconds (Prometheus convention), the last one +Inf implied. */
    static final double[] BUCKETS = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10};

    private final Map<String, ModelCounters> models = new ConcurrentHashMap<>();
    private volatile Supplier<Map<String, Long>> queueDepths = Map::of;
    private volatile Supplier<DeviceFigures> device = () -> DeviceFigures.NONE;

    /** What the swapper reports: swaps and evictions so far, bytes copied per lane, device bytes resident and the budget. */
    public record DeviceFigures(long swaps, long evictions, Map<String, Long> bytesPerLane, long deviceBytesInUse, long deviceBudget) {
        static final DeviceFigures NONE = new DeviceFigures(0, 0, Map.of(), 0, 0);
    }

    static final class ModelCounters {
        final LongAdder requests = new LongAdder();
        final LongAdder failures = new LongAdder();
        final LongAdder rejected = new LongAdder();
        final LongAdder cancelled = new LongAdder();
        final LongAdder[] buckets = new LongAdder[BUCKETS.length + 1];
        final LongAdder sumMicros = new LongAdder();

        ModelCounters() {
            for (int i = 0; i < buckets.length; i++) buckets[i] = new LongAdder();
        }
    }

    void queueDepths(Supplier<Map<String, Long>> s) { queueDepths = s; }

    void device(Supplier<DeviceFigures> s) { device = s; }

    DeviceFigures deviceFigures() { return device.get(); }

    private ModelCounters of(String model) { return models.computeIfAbsent(model, k -> new ModelCounters()); }

    /** A request answered (successfully or not) after {@code nanos}. */
    void observe(String model, long nanos, boolean ok) {
        ModelCounters c = of(model);
        c.requests.increment();
        if (!ok) c.failures.increment();
        double s = nanos / 1e9;
        int i = 0;
        while (i < BUCKETS.length && s > BUCKETS[i]) i++;
        c.buckets[i].increment();
        c.sumMicros.add(nanos / 1000);
    }

    /** A request refused at admission (queue full: 429). */
    void rejected(String model) {
        ModelCounters c = of(model);
        c.requests.increment();
        c.rejected.increment();
    }

    /** A queued request withdrawn because its client went away before it ran. */
    void cancelled(String model) { of(model).cancelled.increment(); }

    /** Requests of {@code model} withdrawn so far because their client went away (for tests and reports). */
    public long cancelledRequests(String model) {
        ModelCounters c = models.get(model);
        return c == null ? 0 : c.cancelled.sum();
    }

    /** Requests counted for {@code model} so far (for tests and reports). */
    public long requests(String model) {
        ModelCounters c = models.get(model);
        return c == null ? 0 : c.requests.sum();
    }

    /** The exposition text. */
    public String render() {
        StringBuilder b = new StringBuilder();
        Map<String, ModelCounters> sorted = new TreeMap<>(models);
        counter(b, "sluice_requests_total", "Inference requests received, per model.", sorted, c -> c.requests.sum());
        counter(b, "sluice_request_failures_total", "Inference requests answered with an error (refusals included), per model.", sorted,
            c -> c.failures.sum() + c.rejected.sum());
        counter(b, "sluice_requests_rejected_total", "Inference requests refused at once because the model's queue was full.", sorted,
            c -> c.rejected.sum());
        counter(b, "sluice_requests_cancelled_total", "Queued inference requests withdrawn before they ran because their client went away.",
            sorted, c -> c.cancelled.sum());
        b.append("# HELP sluice_request_duration_seconds Time from admission to answer, per model.\n");
        b.append("# TYPE sluice_request_duration_seconds histogram\n");
        for (var e : sorted.entrySet()) {
            long cum = 0;
            String m = label(e.getKey());
            for (int i = 0; i <= BUCKETS.length; i++) {
                cum += e.getValue().buckets[i].sum();
                String le = i < BUCKETS.length ? fmt(BUCKETS[i]) : "+Inf";
                b.append("sluice_request_duration_seconds_bucket{model=\"").append(m).append("\",le=\"").append(le).append("\"} ").append(cum).append('\n');
            }
            b.append("sluice_request_duration_seconds_sum{model=\"").append(m).append("\"} ").append(fmt(e.getValue().sumMicros.sum() / 1e6)).append('\n');
            b.append("sluice_request_duration_seconds_count{model=\"").append(m).append("\"} ").append(cum).append('\n');
        }
        b.append("# HELP sluice_queue_depth Requests admitted and waiting for a worker, per model.\n# TYPE sluice_queue_depth gauge\n");
        for (var e : new TreeMap<>(queueDepths.get()).entrySet()) {
            b.append("sluice_queue_depth{model=\"").append(label(e.getKey())).append("\"} ").append(e.getValue()).append('\n');
        }
        DeviceFigures d = device.get();
        b.append("# HELP sluice_swaps_total Model weight sets swapped onto the device.\n# TYPE sluice_swaps_total counter\n");
        b.append("sluice_swaps_total ").append(d.swaps()).append('\n');
        b.append("# HELP sluice_evictions_total Model weight sets dropped from the device (clean: never copied back).\n# TYPE sluice_evictions_total counter\n");
        b.append("sluice_evictions_total ").append(d.evictions()).append('\n');
        b.append("# HELP sluice_copy_bytes_total Bytes copied host to device, per copy lane.\n# TYPE sluice_copy_bytes_total counter\n");
        for (var e : new TreeMap<>(d.bytesPerLane()).entrySet()) {
            b.append("sluice_copy_bytes_total{lane=\"").append(label(e.getKey())).append("\"} ").append(e.getValue()).append('\n');
        }
        b.append("# HELP sluice_device_memory_bytes Device memory holding model weights now.\n# TYPE sluice_device_memory_bytes gauge\n");
        b.append("sluice_device_memory_bytes ").append(d.deviceBytesInUse()).append('\n');
        b.append("# HELP sluice_device_budget_bytes Device memory budget for model weights (0: no budget).\n# TYPE sluice_device_budget_bytes gauge\n");
        b.append("sluice_device_budget_bytes ").append(d.deviceBudget()).append('\n');
        return b.toString();
    }

    private static void counter(StringBuilder b, String name, String help, Map<String, ModelCounters> models,
                                java.util.function.ToLongFunction<ModelCounters> f) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" counter\n");
        for (var e : models.entrySet()) {
            b.append(name).append("{model=\"").append(label(e.getKey())).append("\"} ").append(f.applyAsLong(e.getValue())).append('\n');
        }
    }

    private static String label(String s) { return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n"); }

    private static String fmt(double d) { return String.format(Locale.ROOT, "%s", d); }
}
