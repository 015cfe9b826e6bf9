package dev.sluice.bench;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Measures one engine's peak memory on one model in a fresh JVM, so that neither engine inherits the
 * other's heap, arenas or caches. The child builds the inputs and loads the engine's code (and the probe's own
 * management beans) first, takes the resident set as baseline (after a GC, with the peak reset), then opens the
 * model and runs it twice, and prints {@code PEAK_KIB <VmHWM - baseline>}, with {@code BASE_KIB} and
 * {@code ABS_PEAK_KIB} (the baseline and the peak themselves). Both engines are measured the same way.
 */
public final class MemoryProbe {
    static final String METHOD = "peak RSS (VmHWM) minus RSS before open, over open + 2 runs, each engine in its own fresh JVM";

    public static void main(String[] argv) {
        try {
            probe(argv);
        } catch (Throwable e) {
            System.out.println("PROBE_ERROR " + e);
            System.exit(1);
        }
        System.exit(0);
    }

    private static void probe(String[] argv) throws Exception {
        String engine = argv[0];
        String target = argv[1];
        int threads = Integer.parseInt(argv[2]);
        long seed = Long.parseLong(argv[3]);
        BenchTarget t = BenchTarget.of(target, seed);
        Map<String, Tensor> inputs = t.inputs();
        if (engine.equals("ort")) ai.onnxruntime.OrtEnvironment.getEnvironment();
        // The heap pools' beans before the baseline: the first call loads the management classes (about 250,
        // with java.util.logging), the probe's own cost, which used to land inside both engines' windows.
        var heapPools = java.lang.management.ManagementFactory.getMemoryPoolMXBeans().stream()
            .filter(pool -> pool.getType() == java.lang.management.MemoryType.HEAP).toList();
        System.gc();
        Thread.sleep(100);
        long heapBase = 0;
        for (var pool : heapPools) {
            pool.resetPeakUsage();
            heapBase += pool.getUsage().getUsed();
        }
        var classLoading = java.lang.management.ManagementFactory.getClassLoadingMXBean();
        long classesBase = classLoading.getTotalLoadedClassCount(), metaBase = metaspaceBytes();
        PeakMemory.resetPeak();
        long base = PeakMemory.rssKiB();
        // the baseline in absolute terms: a change that only moves memory to before the open shows here
        System.out.println("BASE_KIB " + base);
        if (engine.equals("ort")) {
            try (OrtBridge o = new OrtBridge(t.model(), threads, false)) {
                o.setInputs(inputs);
                o.run(false);
                o.run(false);
            }
        } else {
            try (Session s = Session.open(t.model(), threads)) {
                s.run(inputs);
                s.run(inputs);
            }
        }
        long peak = PeakMemory.peakKiB();
        System.out.println("PEAK_KIB " + (peak - base));
        System.out.println("ABS_PEAK_KIB " + peak);
        long heapPeak = 0;
        for (var pool : heapPools) heapPeak += pool.getPeakUsage().getUsed();
        System.out.println("HEAP_PEAK_KIB " + Math.max(0, heapPeak - heapBase) / 1024);
        // what the JVM's own metadata grew by in the window: classes loaded (kernels, lambdas, the importer's
        // protobuf) and the metaspace and class space they use
        System.out.println("CLASSES_LOADED " + (classLoading.getTotalLoadedClassCount() - classesBase));
        System.out.println("METASPACE_KIB " + (metaspaceBytes() - metaBase) / 1024);
    }

    /** Bytes used in the metaspace and the compressed class space. */
    private static long metaspaceBytes() {
        long used = 0;
        for (var pool : java.lang.management.ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getName().equals("Metaspace") || pool.getName().equals("Compressed Class Space")) used += pool.getUsage().getUsed();
        }
        return used;
    }

    /** Peak RSS growth and, of the Java heap, the peak bytes in use above the baseline (sum of the pools' peaks). */
    record Peak(long rssKiB, long heapKiB) {}

    /** Runs the probe in a child JVM with this JVM's flags and classpath; throws with the child's words if it fails. */
    static Peak measure(String engine, String target, int threads, long seed) throws IOException, InterruptedException {
        List<String> cmd = ChildJvm.command(MemoryProbe.class.getName(), List.of(engine, target, Integer.toString(threads), Long.toString(seed)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new SluiceException("memory probe timed out");
        }
        long rss = -1, heap = -1;
        for (String line : out.split("\n")) {
            if (line.startsWith("PEAK_KIB ")) rss = Long.parseLong(line.substring(9).trim());
            if (line.startsWith("HEAP_PEAK_KIB ")) heap = Long.parseLong(line.substring(14).trim());
        }
        if (rss >= 0) return new Peak(rss, heap);
        String last = out.lines().filter(l -> l.startsWith("PROBE_ERROR ")).map(l -> l.substring(12)).findFirst()
            .orElse(out.lines().filter(l -> !l.startsWith("WARNING")).reduce((a, b) -> b).orElse("no output"));
        throw new SluiceException("memory probe failed (status " + p.exitValue() + "): " + last);
    }
}
