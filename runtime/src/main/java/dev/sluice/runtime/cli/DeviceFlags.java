package dev.sluice.runtime.cli;

import dev.sluice.graph.TensorSizes;
import dev.sluice.runtime.SessionOptions;

/**
 * Checks the device options of {@code run} and {@code test-data} before any work: {@code --budget} and
 * {@code --bandwidth} through {@link SessionOptions}' parsers (which refuse {@code NaN%}, {@code Infinity},
 * zero, negatives and overflow), a byte budget against what this JVM can allocate (the throttled device's
 * arena is exactly its budget), and the {@code --trace} file's folder.
 */
final class DeviceFlags {
    private DeviceFlags() {}

    static void check(Args args) {
        String budget = args.option("budget");
        if (budget != null && SessionOptions.Budget.parse("--budget", budget) instanceof SessionOptions.Budget.Bytes b) {
            TensorSizes.requireAllocatable(b.bytes(), "--budget " + budget + " (the device's arena)");
        }
        String bandwidth = args.option("bandwidth");
        if (bandwidth != null) SessionOptions.parseBytes("--bandwidth", bandwidth);
        String trace = args.option("trace");
        if (trace != null) OutputPaths.file("--trace", trace);
    }
}
