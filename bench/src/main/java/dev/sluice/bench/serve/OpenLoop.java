package dev.sluice.bench.serve;

import dev.sluice.runtime.cli.Progress;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * One open-loop run against a v2 server: requests go out at the {@link Arrivals}' fixed send times whatever the
 * server does, latency counts from the planned send time (queueing behind a stalled server is measured, not
 * hidden), and at most {@code maxInFlight} requests are out at once (a send that finds the cap reached is counted
 * as failed, not delayed). Used by {@code loadgen} and {@code serve-bench}.
 */
final class OpenLoop {
    private OpenLoop() {}

    /** An infer request body; {@code jsonHeaderLength} >= 0 when it uses the binary tensor data extension. */
    record Body(byte[] bytes, long jsonHeaderLength) {
        static Body json(byte[] bytes) { return new Body(bytes, -1); }
    }

    /** Sent, answered (200), failed and refused counts per model, latencies of the answered ones, and the run's length. */
    record Result(List<String> models, long[][] counts, Histogram all, Histogram[] perModel, long withinSlo, double seconds) {
        static final int SENT = 0, OK = 1, FAILED = 2, REFUSED = 3;

        long total(int what) {
            long n = 0;
            for (long[] c : counts) n += c[what];
            return n;
        }

        double throughput() { return total(OK) / seconds; }

        /** Fraction of all sent requests answered within the SLO. */
        double sloAttainment() { return total(SENT) == 0 ? 0 : (double) withinSlo / total(SENT); }

        double ms(double percentile) { return ms(all, percentile); }

        static double ms(Histogram h, double p) { return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(p) / 1000.0; }
    }

    /**
     * Runs the schedule; a request for model {@code plan.model()[i]} sends {@code bodies.get(that)}.
     *
     * @param sloMs               latency bound for {@link Result#withinSlo} (<= 0: none)
     * @param notLoadedIsRefusal  count 404 (model not loaded) as a refusal rather than a failure
     * @param progress            where a progress line goes (null: none)
     */
    static Result run(HttpClient http, URI base, List<String> models, List<Body> bodies, Arrivals plan, double sloMs, int maxInFlight,
                      boolean notLoadedIsRefusal, PrintStream progress) {
        Recorder all = new Recorder(3);
        Recorder[] per = new Recorder[models.size()];
        for (int i = 0; i < per.length; i++) per[i] = new Recorder(3);
        long[][] counts = new long[models.size()][4];
        AtomicLong withinSlo = new AtomicLong();
        Semaphore inFlight = new Semaphore(maxInFlight);
        List<CompletableFuture<?>> pending = new ArrayList<>();
        long start = System.nanoTime() + 50_000_000;
        Progress bar = progress == null ? null : Progress.start("sending " + plan.sendNanos().length + " requests", plan.sendNanos().length, progress);
        for (int i = 0; i < plan.sendNanos().length; i++) {
            if (bar != null) bar.advance(1);
            long due = start + plan.sendNanos()[i];
            for (long left; (left = due - System.nanoTime()) > 0; ) LockSupport.parkNanos(left);
            int m = plan.model()[i];
            synchronized (counts) { counts[m][Result.SENT]++; }
            if (!inFlight.tryAcquire()) {
                synchronized (counts) { counts[m][Result.FAILED]++; }
                continue;
            }
            Body body = bodies.get(m);
            HttpRequest.Builder req = HttpRequest.newBuilder(base.resolve("/v2/models/" + models.get(m) + "/infer"))
                .timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofByteArray(body.bytes()));
            if (body.jsonHeaderLength() >= 0) {
                req.header("Inference-Header-Content-Length", Long.toString(body.jsonHeaderLength())).header("Content-Type", "application/octet-stream");
            }
            pending.add(http.sendAsync(req.build(), HttpResponse.BodyHandlers.discarding()).whenComplete((resp, err) -> {
                inFlight.release();
                long lat = System.nanoTime() - due;
                int code = err != null ? -1 : resp.statusCode();
                int slot = code == 200 ? Result.OK
                    : code == 429 || code == 503 || (notLoadedIsRefusal && code == 404) ? Result.REFUSED : Result.FAILED;
                synchronized (counts) { counts[m][slot]++; }
                if (slot == Result.OK) {
                    all.recordValue(lat / 1000);
                    per[m].recordValue(lat / 1000);
                    if (sloMs > 0 && lat <= sloMs * 1e6) withinSlo.incrementAndGet();
                }
            }));
        }
        if (bar != null) bar.close();
        for (CompletableFuture<?> f : pending) {
            try {
                f.join();
            } catch (RuntimeException ignored) {
                // counted as failed in its handler
            }
        }
        // Over the whole schedule: a bursty schedule may send its last request long before its end.
        double planned = plan.sendNanos().length == 0 ? 0 : plan.sendNanos()[plan.sendNanos().length - 1] / 1e9;
        double elapsed = Math.max((System.nanoTime() - start) / 1e9, planned);
        Histogram[] hs = new Histogram[per.length];
        for (int i = 0; i < per.length; i++) hs[i] = per[i].getIntervalHistogram();
        return new Result(List.copyOf(models), counts, all.getIntervalHistogram(), hs, withinSlo.get(), Math.max(elapsed, 1e-9));
    }
}
