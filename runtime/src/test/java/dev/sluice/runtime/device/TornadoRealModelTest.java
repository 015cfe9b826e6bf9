package dev.sluice.runtime.device;

import dev.sluice.runtime.exec.SessionInternals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sluice.graph.OnnxImporter;
import dev.sluice.graph.fusion.PatternFusion;
import dev.sluice.kernels.AcceleratorOptions;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.AcceleratorBackend;
import dev.sluice.kernels.device.Accelerators;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The zoo's real models with TornadoVM's kernels (PoCL's OpenCL CPU device where there is no GPU) give ONNX
 * Runtime's outputs at the project's tolerance. Runs only where TORNADOVM_HOME is set and the backend starts
 * (a JUnit assumption otherwise). Prints, per model, the calls on the device and on the CPU, the largest
 * difference from ONNX Runtime, and warm latency on the device path against the CPU path.
 */
class TornadoRealModelTest {
    static AcceleratorBackend backend;

    @BeforeAll static void open() {
        String home = System.getenv("TORNADOVM_HOME");
        assumeTrue(home != null && !home.isBlank(), "TORNADOVM_HOME is not set");
        backend = Accelerators.tornadovm().orElse(null);
        assumeTrue(backend != null, () -> "TornadoVM backend absent: " + Accelerators.tornadovmUnavailableReason());
        System.out.println("TornadoVM device: " + backend.device());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"silero-vad", "all-minilm-l6-v2", "ppocr-det", "ppocr-rec", "ppocr-cls"})
    void matchesOnnxRuntime(String name) throws Exception {
        Zoo.Model m = Zoo.find(name);
        Path file = m.path();
        int threads = Math.min(8, Runtime.getRuntime().availableProcessors());
        try (Session cpu = Session.open(OnnxImporter.load(file), threads);
             Session dev = SessionInternals.open(OnnxImporter.load(file), threads, backend.registry(OpRegistry.cpu()),
                 PatternFusion.Target.STANDARD_OPS)) {
            double maxAbs = 0;
            long onDevice = 0, fellBack = 0;
            Map<String, Long> why = Map.of();
            for (long seed : new long[] {1, 2}) {
                Map<String, Tensor> inputs = m.sampleInputs(seed);
                Map<String, Tensor> ref = OrtReference.run(file, inputs);
                backend.resetUsage();
                Map<String, Tensor> ours = dev.run(inputs).asMap();
                var u = backend.usage();
                onDevice = u.ran().values().stream().mapToLong(Long::longValue).sum();
                fellBack = u.fellBack().values().stream().mapToLong(Long::longValue).sum();
                why = u.fellBack();
                assertEquals(ref.keySet(), ours.keySet(), name + ": output names");
                for (var e : ref.entrySet()) {
                    Tensor got = ours.get(e.getKey()), want = e.getValue();
                    String mismatch = Tolerance.DEFAULT.mismatch(got, want);
                    assertNull(mismatch, name + " seed " + seed + " output '" + e.getKey() + "' on TornadoVM: " + mismatch);
                    for (long i = 0; i < want.elementCount(); i++) maxAbs = Math.max(maxAbs, Math.abs(got.getDouble(i) - want.getDouble(i)));
                }
            }
            Map<String, Tensor> in = m.sampleInputs(3);
            cpu.run(in);
            double devMs = medianMs(dev, in), cpuMs = medianMs(cpu, in);
            System.out.printf("TORNADO-RESULT %-17s device %4d calls, cpu fallback %4d, max |diff| vs ORT %.2e, PoCL %9.2f ms, CPU %8.2f ms%n",
                name, onDevice, fellBack, maxAbs, devMs, cpuMs);
            why.forEach((k, v) -> System.out.printf("TORNADO-RESULT   %-17s fallback %s x%d%n", name, k, v));
            // copies against kernels, with weights resident (the default) and copied on every call: each its own
            // session, whose registry carries its switches (AcceleratorOptions), in this one JVM
            AcceleratorOptions resident = AcceleratorOptions.defaults().withResidentWeights(true).withProfile(false);
            report(name, "weights resident", file, threads, resident, in, devMs);
            try (Session copied = open(file, threads, resident.withResidentWeights(false))) {
                copied.run(in); // compiles the shared (not weight-keyed) plans
                report(name, "weights copied  ", file, threads, resident.withResidentWeights(false), in, medianMs(copied, in));
            }
        }
    }

    static Session open(Path file, int threads, AcceleratorOptions options) {
        return SessionInternals.open(OnnxImporter.load(file), threads, backend.registry(OpRegistry.cpu(), options), PatternFusion.Target.STANDARD_OPS);
    }

    /** One profiled run (a session with these switches and the profiler on): bytes each way, time in copies and kernels, overlap. */
    static void report(String name, String mode, Path file, int threads, AcceleratorOptions options, Map<String, Tensor> in, double ms) {
        try (Session profiled = open(file, threads, options.withProfile(true))) {
            profiled.run(in); // compiles its plans
            backend.resetUsage();
            profiled.run(in);
        }
        Map<String, Long> c = backend.counters();
        long copies = c.getOrDefault("copy to device ns", 0L) + c.getOrDefault("copy to host ns", 0L);
        long kernels = c.getOrDefault("kernel ns", 0L), wall = c.getOrDefault("device call wall ns", 0L);
        System.out.printf("TORNADO-RESULT   %-17s %s: %.2f ms unprofiled; %d calls, %.2f MB to device, %.2f MB to host, %.2f MB weights kept,"
                + " copies %.2f ms, kernels %.2f ms, device-call wall %.2f ms, copy/kernel overlap %.2f ms%n",
            name, mode, ms, c.getOrDefault("device calls", 0L), c.getOrDefault("bytes to device", 0L) / 1e6,
            c.getOrDefault("bytes to host", 0L) / 1e6, c.getOrDefault("weight bytes kept resident (not copied)", 0L) / 1e6,
            copies / 1e6, kernels / 1e6, wall / 1e6, Math.max(0, copies + kernels - c.getOrDefault("profiled total ns", 0L)) / 1e6);
    }

    static double medianMs(Session s, Map<String, Tensor> in) {
        double[] t = new double[3];
        for (int r = 0; r < t.length; r++) {
            long t0 = System.nanoTime();
            s.run(in);
            t[r] = (System.nanoTime() - t0) / 1e6;
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }
}
