package dev.sluice.bench.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * {@code sluice loadgen}: an open-loop load generator for a v2 server. The send times are fixed before the
 * first request (a slow server cannot slow the clock), latency counts from the planned send time (so queueing
 * behind a stalled server is measured, not hidden), and at most {@code --max-in-flight} requests are out at
 * once: a send that finds the cap reached is counted as failed, not delayed.
 */
public final class LoadgenCommand implements Command {
    @Override public String name() { return "loadgen"; }

    @Override public String summary() { return "open-loop load against a KServe v2 server: latency percentiles, throughput, swaps"; }

    @Override public String help() {
        return """
            usage: sluice loadgen --url URL --models a,b,c [--rate R/s] [--duration S] [--burst gamma:CV] [--skew zipf:S]
                                  [--slo MS] [--max-in-flight N] [--seed N] [--cdf FILE.png]
                                  [--shape NAME=D1xD2...]... [--int-max NAME=N]...

            Sends inference requests for the models (inputs built from each model's metadata: seeded random
            values, dimensions of -1 set to 1 unless --shape gives the input's shape, integers in [0, 100) unless
            --int-max gives the bound) at mean rate R (default 20/s) for S seconds (default 10), with
            gamma-distributed gaps of coefficient of variation CV (default 1: Poisson) and models drawn Zipf(S)
            (default 0: uniform). Loopback only. Prints one line per model, then
            loadgen: sent=<n> ok=<n> failed=<n> rejected=<n> p50_ms=<x> p99_ms=<y> max_ms=<z> throughput=<r>/s swaps=<s>
            (rejected: 429 or 503; swaps: the server's sluice_swaps_total over the run). Outputs are asked for as
            binary data (binary_data_output), which the generator does not read. --cdf writes the latency CDF.""";
    }

    @Override public Set<String> valueOptions() {
        return Set.of("url", "models", "rate", "duration", "burst", "skew", "slo", "max-in-flight", "seed", "cdf", "shape", "int-max");
    }

    @Override public int run(Args a, PrintStream out) throws Exception {
        String url = a.option("url");
        if (url == null || a.option("models") == null) throw new SluiceException("--url and --models are required");
        URI base = URI.create(url.endsWith("/") ? url.substring(0, url.length() - 1) : url);
        String host = base.getHost();
        if (host == null || !(host.equals("localhost") || host.startsWith("127.") || host.equals("[::1]") || host.equals("::1"))) {
            throw new SluiceException("loadgen sends only to loopback (127.0.0.0/8, localhost, ::1); got " + url);
        }
        List<String> models = List.of(a.option("models").split(","));
        double rate = number(a.option("rate", "20").replace("/s", ""), "--rate");
        double seconds = number(a.option("duration", "10").replace("s", ""), "--duration");
        double cv = Arrivals.parseBurst(a.option("burst", "gamma:1"));
        double zipf = Arrivals.parseSkew(a.option("skew", "zipf:0"));
        double slo = a.option("slo") == null ? -1 : number(a.option("slo"), "--slo");
        int cap = a.intOption("max-in-flight", 512);
        long seed = a.intOption("seed", 1);
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        List<byte[]> bodies = new ArrayList<>();
        java.util.Map<String, long[]> shapes = new java.util.HashMap<>();
        for (String sh : a.all("shape")) {
            String[] kv = sh.split("=", 2);
            if (kv.length != 2) throw new SluiceException("--shape must be NAME=D1xD2..., got '" + sh + "'");
            try {
                shapes.put(kv[0], java.util.Arrays.stream(kv[1].split("x")).mapToLong(Long::parseLong).toArray());
            } catch (NumberFormatException e) {
                throw new SluiceException("--shape must be NAME=D1xD2..., got '" + sh + "'");
            }
        }
        java.util.Map<String, Integer> intMax = new java.util.HashMap<>();
        for (String im : a.all("int-max")) {
            String[] kv = im.split("=", 2);
            try {
                intMax.put(kv[0], Integer.parseInt(kv[1]));
            } catch (RuntimeException e) {
                throw new SluiceException("--int-max must be NAME=N, got '" + im + "'");
            }
        }
        for (String m : models) bodies.add(requestBody(http, base, m.trim(), new Random(seed), shapes, intMax));
        Arrivals plan = Arrivals.plan(rate, seconds, cv, zipf, models.size(), seed);
        long swapsBefore = swaps(http, base);

        List<OpenLoop.Body> jsonBodies = bodies.stream().map(OpenLoop.Body::json).toList();
        List<String> names = models.stream().map(String::trim).toList();
        OpenLoop.Result r = OpenLoop.run(http, base, names, jsonBodies, plan, slo, cap, false, out);
        // The schedule's own length counts, however early a bursty schedule sent its last request.
        double elapsed = Math.max(r.seconds(), seconds);
        long swaps = swaps(http, base) - swapsBefore;
        Histogram h = r.all();
        long[][] counts = r.counts();
        long sent = r.total(OpenLoop.Result.SENT), ok = r.total(OpenLoop.Result.OK), failed = r.total(OpenLoop.Result.FAILED),
            rejected = r.total(OpenLoop.Result.REFUSED);
        for (int i = 0; i < models.size(); i++) {
            Histogram hm = r.perModel()[i];
            out.printf(Locale.ROOT, "loadgen: model=%s sent=%d ok=%d failed=%d rejected=%d p50_ms=%.2f p99_ms=%.2f%n", names.get(i),
                counts[i][0], counts[i][1], counts[i][2], counts[i][3], ms(hm, 50), ms(hm, 99));
        }
        AtomicLong withinSlo = new AtomicLong(r.withinSlo());
        if (slo > 0) out.printf(Locale.ROOT, "loadgen: slo_ms=%s attained=%.1f%% of sent%n", a.option("slo"), sent == 0 ? 0 : 100.0 * withinSlo.get() / sent);
        if (a.option("cdf") != null) {
            cdf(h, Path.of(a.option("cdf")));
            out.println("loadgen: latency CDF written to " + a.option("cdf"));
        }
        out.printf(Locale.ROOT, "loadgen: sent=%d ok=%d failed=%d rejected=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f throughput=%.1f/s swaps=%d%n",
            sent, ok, failed, rejected, ms(h, 50), ms(h, 99), h.getTotalCount() == 0 ? 0 : h.getMaxValue() / 1000.0, ok / elapsed, swaps);
        return 0;
    }

    private static double ms(Histogram h, double p) { return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(p) / 1000.0; }

    private static double number(String s, String what) {
        try {
            double v = Double.parseDouble(s.trim());
            if (!(v > 0) || Double.isInfinite(v)) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new SluiceException(what + " must be a positive number, got '" + s + "'");
        }
    }

    /** An infer body for {@code model} built from its metadata: seeded values, -1 dimensions set to 1. */
    static byte[] requestBody(HttpClient http, URI base, String model, Random r, java.util.Map<String, long[]> shapes,
                              java.util.Map<String, Integer> intMax) throws Exception {
        HttpResponse<byte[]> resp = http.send(HttpRequest.newBuilder(base.resolve("/v2/models/" + model)).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        if (resp.statusCode() != 200) throw new SluiceException("model '" + model + "' metadata: HTTP " + resp.statusCode() + " " + new String(resp.body()));
        ObjectMapper json = new ObjectMapper();
        JsonNode md = json.readTree(resp.body());
        ObjectNode req = json.createObjectNode();
        // Outputs come back as raw bytes: the generator reads only the status, and JSON-printing large outputs
        // would load the server with work no real client of this kind asks for.
        req.putObject("parameters").put("binary_data_output", true);
        ArrayNode inputs = req.putArray("inputs");
        for (JsonNode in : md.get("inputs")) {
            ObjectNode t = inputs.addObject();
            t.put("name", in.get("name").asText());
            String dt = in.get("datatype").asText();
            t.put("datatype", dt);
            ArrayNode shape = t.putArray("shape");
            long n = 1;
            long[] given = shapes.get(in.get("name").asText());
            if (given != null) {
                for (long v : given) {
                    shape.add(v);
                    n *= v;
                }
            } else {
                for (JsonNode d : in.get("shape")) {
                    long v = d.asLong() < 0 ? 1 : d.asLong();
                    shape.add(v);
                    n *= v;
                }
            }
            int bound = intMax.getOrDefault(in.get("name").asText(), 100);
            ArrayNode data = t.putArray("data");
            for (long i = 0; i < n; i++) {
                switch (dt) {
                    case "FP32", "FP64", "FP16" -> data.add(r.nextFloat() * 2 - 1);
                    case "BOOL" -> data.add(r.nextBoolean());
                    case "INT64", "INT32" -> data.add(r.nextInt(bound));
                    default -> data.add(0);
                }
            }
        }
        return json.writeValueAsBytes(req);
    }

    /** The server's sluice_swaps_total, 0 when it does not report one. */
    static long swaps(HttpClient http, URI base) {
        try {
            String m = http.send(HttpRequest.newBuilder(base.resolve("/metrics")).GET().build(), HttpResponse.BodyHandlers.ofString()).body();
            for (String line : m.split("\n")) if (line.startsWith("sluice_swaps_total ")) return Long.parseLong(line.substring(19).trim());
        } catch (Exception e) {
            // no metrics: report 0
        }
        return 0;
    }

    /** The latency CDF as a PNG: x latency in ms (log scale), y fraction of answered requests. */
    static void cdf(Histogram h, Path file) throws Exception {
        int w = 640, hgt = 400, left = 60, bottom = 40;
        BufferedImage img = new BufferedImage(w, hgt, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, hgt);
        g.setColor(Color.BLACK);
        g.drawLine(left, hgt - bottom, w - 10, hgt - bottom);
        g.drawLine(left, 10, left, hgt - bottom);
        g.drawString("latency (ms, log)", w / 2 - 40, hgt - 8);
        g.drawString("CDF", 8, hgt / 2);
        g.drawString("1", left - 14, 24);
        g.drawString("0", left - 14, hgt - bottom);
        if (h.getTotalCount() > 0) {
            double lo = Math.log10(Math.max(1, h.getMinValue()) / 1000.0), hi = Math.log10(Math.max(h.getMaxValue(), h.getMinValue() + 1) / 1000.0);
            if (hi - lo < 0.5) hi = lo + 0.5;
            g.drawString(String.format(Locale.ROOT, "%.2f", Math.pow(10, lo)), left - 10, hgt - bottom + 15);
            g.drawString(String.format(Locale.ROOT, "%.1f", Math.pow(10, hi)), w - 50, hgt - bottom + 15);
            g.setColor(new Color(30, 90, 200));
            g.setStroke(new BasicStroke(2));
            int px = left, py = hgt - bottom;
            for (var v : h.percentiles(5)) {
                double x = Math.log10(Math.max(1, v.getValueIteratedTo()) / 1000.0);
                int nx = left + (int) ((x - lo) / (hi - lo) * (w - left - 20));
                int ny = hgt - bottom - (int) (v.getPercentile() / 100 * (hgt - bottom - 20));
                g.drawLine(px, py, nx, ny);
                px = nx;
                py = ny;
            }
        }
        g.dispose();
        javax.imageio.ImageIO.write(img, "png", file.toFile());
    }
}
