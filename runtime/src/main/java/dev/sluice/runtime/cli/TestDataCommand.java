package dev.sluice.runtime.cli;

import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.dispatch.DeviceOptions;
import dev.sluice.runtime.testdata.TestDataRunner;
import dev.sluice.runtime.testdata.Tolerance;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** {@code sluice test-data DIR...}: runs ONNX test-data folders and compares with their expected outputs. */
final class TestDataCommand implements Command {
    @Override public String name() { return "test-data"; }
    @Override public String summary() { return "run ONNX test-data folders and compare outputs at 1e-4 + 1e-3*|expected|"; }
    @Override public Set<String> valueOptions() {
        Set<String> s = new java.util.HashSet<>(Set.of("threads"));
        s.addAll(DeviceOptions.NAMES); // devices and dispatcher (dev.sluice.runtime.dispatch)
        s.addAll(Set.of("devices", "placement", "objective", "slo")); // placement across devices, as run has
        s.addAll(SessionFlags.NAMES); // the session's switches (SessionOptions)
        return s;
    }
    @Override public String help() {
        return """
            usage: sluice test-data DIR... [--threads N]

            Each DIR holds model.onnx and test_data_set_N/ folders with input_K.pb and output_K.pb (the layout
            of onnx_test_runner and of the ONNX conformance data). Runs every set and compares each output
            with |actual - expected| <= 1e-4 + 1e-3 x |expected|. Prints a line per set and, last,
            'N passed, M failed'. Exit status 1 if any set failed.

            """ + DeviceOptions.HELP + """

          --devices cpu,ACCEL      with --placement FILE.json (from 'sluice place -o'), --objective latency|memory or
                                   --slo MS|Nx: place each model's nodes on the cpu and ACCEL as 'run' does, run both
                                   at once, and print before each set's line where its nodes ran

            Session switches (each overrides its -Dsluice.* default for this run):
            """ + SessionFlags.help();
    }

    @Override public int run(Args args, PrintStream out) {
        if (args.positionals().isEmpty()) throw new SluiceException("test-data needs at least one DIR (see 'sluice help test-data')");
        int threads = args.intOption("threads", Math.min(8, Runtime.getRuntime().availableProcessors()), 1);
        DeviceFlags.check(args);
        dev.sluice.runtime.SessionOptions plain = SessionFlags.builder(args, threads).build();
        DeviceOptions device = SessionFlags.withBase(DeviceOptions.from(args::option, threads), plain);
        dev.sluice.runtime.SessionOptions placed = RunCommand.placedOptions(args, threads);
        if (placed != null && java.util.stream.Stream.of("device", "budget", "bandwidth", "trace").anyMatch(n -> args.option(n) != null)) {
            throw new SluiceException("--devices/--placement/--objective/--slo place across devices; --device/--budget/--bandwidth/--trace "
                + "run on one device: give one or the other (see 'sluice help test-data')");
        }
        TestDataRunner runner = new TestDataRunner(Tolerance.DEFAULT,
            m -> placed != null ? dev.sluice.runtime.compile.PlacedRunner.open(m, placed, out)
                : device == null ? Session.open(m, plain) : device.open(m, out));
        int passed = 0, failed = 0;
        for (String d : args.positionals()) {
            Path dir = Path.of(d);
            if (!Files.isDirectory(dir)) throw new SluiceException(d + ": no such folder");
            for (TestDataRunner.SetResult r : runner.run(dir).sets()) {
                if (r.passed()) {
                    passed++;
                    out.printf("PASS %s (%.1f ms)%n", r.name(), r.nanos() / 1e6);
                } else {
                    failed++;
                    out.println("FAIL " + r.name() + ": " + r.error());
                }
            }
        }
        out.println(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }
}
