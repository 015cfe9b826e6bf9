package dev.sluice.runtime.cli;

import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.DeviceOptions;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The command line's face of {@link SessionOptions}' switches ({@link SessionOptions#SWITCHES}: memory planning,
 * weight packing, the kernels' switches, the profiler's warm-up): {@code --NAME VALUE} for each, parsed by the
 * options' own builder, so a bad value is refused naming its flag before the model is read. A JVM property
 * ({@code -Dsluice.*}) still gives the default of its switch; a flag overrides it for this run only.
 */
final class SessionFlags {
    private SessionFlags() {}

    /** The switches' flag names, to add to a command's value options. */
    static final Set<String> NAMES = SessionOptions.SWITCHES.keySet();

    /** The help lines of the switches. */
    static String help() {
        StringBuilder b = new StringBuilder();
        for (Map.Entry<String, String> e : new TreeMap<>(SessionOptions.SWITCHES).entrySet()) {
            b.append(String.format("  --%-22s %s%n", e.getKey(), e.getValue()));
        }
        return b.toString();
    }

    /** A builder with these threads and every switch the command line gives. */
    static SessionOptions.Builder builder(Args args, int threads) {
        SessionOptions.Builder b = SessionOptions.builder().threads(threads);
        for (String n : NAMES) {
            String v = args.option(n);
            if (v != null) b.set(n, v);
        }
        return b;
    }

    /** The dispatcher's device options with these session options (threads, switches) as their base. */
    static DeviceOptions withBase(DeviceOptions d, SessionOptions base) {
        return d == null ? null : new DeviceOptions(d.device(), d.budget(), d.bandwidth(), d.order(), d.trace(), d.threads(), base);
    }
}
