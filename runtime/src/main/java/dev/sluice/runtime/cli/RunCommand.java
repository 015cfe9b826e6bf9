package dev.sluice.runtime.cli;

import dev.sluice.graph.TensorProtos;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.dispatch.DeviceOptions;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.zip.CRC32;

/** {@code sluice run MODEL}: runs a model once and prints its outputs' shapes and checksums. */
final class RunCommand implements Command {
    @Override public String name() { return "run"; }
    @Override public String summary() { return "run a model once on given or seeded random inputs"; }
    @Override public Set<String> valueOptions() {
        Set<String> s = new java.util.HashSet<>(Set.of("input", "output-dir", "dim", "seed", "threads", "runs", "profile-nodes", "warmup-ms"));
        s.addAll(DeviceOptions.NAMES); // devices and dispatcher (dev.sluice.runtime.dispatch)
        s.addAll(Set.of("devices", "placement", "objective", "slo")); // placement across devices (dev.sluice.runtime.compile)
        s.addAll(SessionFlags.NAMES); // the session's switches (SessionOptions)
        return s;
    }
    @Override public Set<String> flags() { return Set.of("profile"); }
    @Override public String help() {
        return """
            usage: sluice run MODEL.onnx [--input NAME=FILE.pb]... [--output-dir DIR] [--dim SYMBOL=SIZE]...
                              [--seed N] [--threads N] [--profile [--runs N] [--profile-nodes N] [--warmup-ms N]]

            Runs the model once. Inputs are ONNX TensorProto files; an input without one gets seeded random
            values (floats in [-1,1), integers in [0,10)), and the run says so. Symbolic dimensions of such
            inputs take --dim sizes (default 1). With --profile, warms up, then prints time per op type over
            --runs runs (default 20), and with --profile-nodes N the N slowest nodes too. The warm-up lasts at
            least --warmup-ms milliseconds (default 3000; raise it on a loaded host, where 3 s may leave kernels
            still interpreted) and at least 5 runs. Prints each output's name, dtype, shape and checksums
            (sum of elements, CRC-32 of the bytes); with --output-dir, writes each output as NAME.pb.

            """ + DeviceOptions.HELP + """

          --devices cpu,ACCEL      with --placement FILE.json (from 'sluice place -o'), --objective latency|memory or
                                   --slo MS|Nx: place the nodes on the cpu and ACCEL (throttled[:BUDGET],
                                   tornadovm[:BUDGET], or a description FILE.json[:BUDGET] whose share then runs
                                   on a throttled device under that budget) and run both at once; prints where
                                   the nodes ran

            Session switches (each overrides its -Dsluice.* default for this run):
            """ + SessionFlags.help();
    }

    @Override public int run(Args args, PrintStream out) throws IOException {
        if (args.positionals().size() != 1) throw new SluiceException("run takes exactly one MODEL file (see 'sluice help run')");
        Path file = Path.of(args.positionals().get(0));
        int threads = args.intOption("threads", Math.min(8, Runtime.getRuntime().availableProcessors()), 1);
        long seed = args.intOption("seed", 42);
        int runs = args.intOption("runs", 20, 1);
        int profileNodes = args.intOption("profile-nodes", 0, 0);
        int warmupMs = args.intOption("warmup-ms", (int) OpProfile.DEFAULT_WARMUP_MS, 0);
        DeviceFlags.check(args);
        dev.sluice.runtime.SessionOptions plain = SessionFlags.builder(args, threads).build();
        DeviceOptions device = SessionFlags.withBase(DeviceOptions.from(args::option, threads), plain);
        // paths to write are checked before the model is even read: a typo costs a moment, not a run
        Path dir = args.option("output-dir") == null ? null : OutputPaths.directory("--output-dir", args.option("output-dir"));
        dev.sluice.runtime.SessionOptions placed = placedOptions(args, threads);
        try (Session s = placed != null ? dev.sluice.runtime.compile.PlacedRunner.open(dev.sluice.graph.OnnxImporter.load(file), placed, out)
                : device == null ? Session.open(file, plain) : device.open(dev.sluice.graph.OnnxImporter.load(file), out)) {
            dev.sluice.runtime.zoo.Zoo.Model zoo = dev.sluice.runtime.zoo.Zoo.byFileName(file);
            Map<String, Tensor> inputs = zoo != null && args.all("input").isEmpty() && args.all("dim").isEmpty()
                ? zoo.sampleInputs(seed)
                : InputSources.build(s.inputs(), args.all("input"), args.all("dim"), seed, out);
            if (args.flag("profile")) {
                OpProfile.run(s, inputs, runs, profileNodes, warmupMs, out);
                return 0;
            }
            long t0 = System.nanoTime();
            Map<String, Tensor> outputs = s.run(inputs).asMap();
            long ms = (System.nanoTime() - t0) / 1_000_000;
            Map<String, String> writtenAs = new java.util.HashMap<>();
            for (var e : outputs.entrySet()) {
                Tensor t = e.getValue();
                out.printf("output %s %s%s sum=%s crc32=%08x%n", e.getKey(), t.dtype(), t.shape(), sum(t), crc(t));
                if (dir != null) {
                    Path pb = dir.resolve(fileName(e.getKey()) + ".pb");
                    String clash = writtenAs.put(pb.getFileName().toString(), e.getKey());
                    if (clash != null) {
                        throw new SluiceException("--output-dir: outputs '" + clash + "' and '" + e.getKey() + "' would both be written to " + pb);
                    }
                    try {
                        TensorProtos.write(t, e.getKey(), pb);
                    } catch (IOException x) {
                        throw OutputPaths.cannotWrite("--output-dir", pb, x);
                    }
                }
            }
            boolean tornado = device != null && device.device().equals("tornadovm");
            // a described accelerator's share runs on the throttled device
            String where = placed != null ? "on the cpu and the " + (placed.devices().get(1).described() ? "throttled" : placed.devices().get(1).name())
                + " device, placed (see the line above)"
                : device == null || device.device().equals("cpu") ? "on the CPU"
                : tornado ? "on TornadoVM's device and the CPU" : "on the " + device.device() + " device and the CPU";
            out.println("ran in " + ms + " ms " + where + " (" + threads + " threads, first run, includes specialization"
                + (tornado ? " and kernel compilation" : "") + ")");
            if (dir != null) out.println("wrote " + outputs.size() + " outputs to " + dir);
        }
        return 0;
    }

    /** Session options of a placed run ({@code --placement}, {@code --objective} or {@code --slo} given), else null. */
    static dev.sluice.runtime.SessionOptions placedOptions(Args args, int threads) {
        if (args.option("placement") == null && args.option("objective") == null && args.option("slo") == null) {
            if (args.option("devices") != null) throw new SluiceException("--devices needs --placement FILE, --objective or --slo (see 'sluice help run')");
            return null;
        }
        var b = SessionFlags.builder(args, threads).devices(args.option("devices", "cpu,throttled").split(","));
        if (args.option("placement") != null) b.placementFile(Path.of(args.option("placement")));
        if (args.option("objective") != null) b.objective(args.option("objective"));
        if (args.option("slo") != null) b.slo(args.option("slo"));
        if (args.option("order") != null) b.order(args.option("order"));
        return b.build();
    }

    static String sum(Tensor t) {
        double s = 0;
        for (long i = 0; i < t.elementCount(); i++) s += t.getDouble(i);
        return t.dtype().isFloatingPoint() ? String.format("%.6g", s) : Long.toString((long) s);
    }

    static long crc(Tensor t) {
        CRC32 c = new CRC32();
        c.update(t.data().asByteBuffer());
        return c.getValue();
    }

    static String fileName(String valueName) { return valueName.replaceAll("[^A-Za-z0-9._-]", "_"); }
}
