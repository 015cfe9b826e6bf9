package dev.sluice.runtime;

import dev.sluice.kernels.AcceleratorOptions;
import dev.sluice.kernels.KernelOptions;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.TilingOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Everything that changes how a {@link Session} runs a model, in one immutable value: threads, the devices
 * and a memory budget for each, the placement objective and latency SLO, a placement file, the dispatcher's
 * order, a trace file, and the planning and kernel switches that used to be JVM-wide {@code -Dsluice.*}
 * properties (a property now only supplies the default of its option).
 *
 * <p>Build one with {@link #builder()}; every setter validates its argument at once and names the option in
 * its error, so a bad value never reaches a run. The canonical constructor is for the builder: code outside
 * this package should use the builder, to which new options are added without breaking callers.
 *
 * <p>Invariants: {@code threads >= 1}; {@code devices} is never empty (the plain CPU run is {@code [cpu]}), names
 * each device at most once and holds at most one {@code cpu}; {@code bandwidthBytesPerSecond >= 0} (0 means
 * unlimited).
 *
 * @param threads                 CPU worker threads for kernels (default: one per core, at most 8)
 * @param devices                 the devices to run on, each with an optional memory budget
 * @param bandwidthBytesPerSecond speed of a throttled device's copy lanes, 0 for unlimited
 * @param objective               what placement minimises across several devices
 * @param slo                     the latency bound of the {@link Objective#MEMORY} objective, or null
 * @param placementFile           a saved placement to use instead of solving one, or null
 * @param order                   how the dispatcher picks among ready tasks
 * @param traceFile               where to write a Chrome/Perfetto trace of each dispatched run, or null
 * @param memoryPlanning          profile-guided memory planning of intermediates (default {@code sluice.memory.plan})
 * @param packWeights             weights and constants in one native segment (default {@code sluice.weights.arena})
 * @param kernels                 the CPU kernels' switches, handed to the session's own kernel registry (defaults
 *                                from their {@code -Dsluice.*} properties, see {@link KernelOptions})
 * @param profileWarmupMillis     how long placement's profiler warms the JIT up before timing nodes (default
 *                                {@code sluice.place.warmupMs}, 4000)
 * @param tiling                  which splits the MemGraph builder may use on a budgeted device (defaults from the
 *                                {@code -Dsluice.tiling.*} properties, see {@link TilingOptions})
 * @param accelerator             the switches of an accelerator backend's kernels (TornadoVM: resident weights, profiler;
 *                                defaults from the {@code -Dsluice.tornado.*} properties, see {@link AcceleratorOptions})
 */
public record SessionOptions(
    int threads,
    List<DeviceRequest> devices,
    long bandwidthBytesPerSecond,
    Objective objective,
    Slo slo,
    Path placementFile,
    Order order,
    Path traceFile,
    boolean memoryPlanning,
    boolean packWeights,
    KernelOptions kernels,
    long profileWarmupMillis,
    TilingOptions tiling,
    AcceleratorOptions accelerator) {

    /** What placement minimises when a model runs on several devices. */
    public enum Objective {
        /** Least predicted makespan (Chrion's latency objective). */
        LATENCY,
        /** Least accelerator peak memory with the predicted latency within the SLO (Chrion's memory objective). */
        MEMORY;

        static Objective parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "latency" -> LATENCY;
                case "memory" -> MEMORY;
                default -> throw new SluiceException("objective must be latency or memory, got '" + s + "'");
            };
        }
    }

    /** How the dispatcher chooses among ready tasks. */
    public enum Order {
        /** Any ready task on the first idle lane, first come first served. */
        DYNAMIC,
        /** Any ready task on the first idle lane, the one earliest in the planned order first. */
        PRIORITY,
        /** One fixed topological order: the baseline. */
        FIXED;

        static Order parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "dynamic" -> DYNAMIC;
                case "priority" -> PRIORITY;
                case "fixed" -> FIXED;
                default -> throw new SluiceException("order must be dynamic, priority or fixed, got '" + s + "'");
            };
        }
    }

    /** A device's memory budget: unlimited, a number of bytes, or a percentage of what the run needs with no offload. */
    public sealed interface Budget {
        /** No cap: the device holds everything the run needs. */
        record Unlimited() implements Budget {
            @Override public String toString() { return "unlimited"; }
        }

        /**
         * At most this many bytes.
         *
         * @param bytes the cap, positive
         */
        record Bytes(long bytes) implements Budget {
            /**
             * Checks the cap is positive.
             */
            public Bytes {
                if (bytes <= 0) throw new SluiceException("a budget must be a positive number of bytes, got " + bytes);
            }
            @Override public String toString() { return bytes + " B"; }
        }

        /**
         * This percentage ({@code 0 < p <= 100}) of the bytes the run needs on the device with nothing offloaded.
         *
         * @param percent the share, in (0, 100]
         */
        record Percent(double percent) implements Budget {
            /**
             * Checks the share is in (0, 100].
             */
            public Percent {
                if (!(percent > 0 && percent <= 100)) {
                    throw new SluiceException("a budget percentage must be in (0, 100], got " + percent + "%");
                }
            }
            @Override public String toString() { return fmt(percent) + "%"; }
        }

        /**
         * The one unlimited budget.
         */
        Budget UNLIMITED = new Unlimited();

        /**
         * Reads {@code P%} or a byte count with an optional k/M/G (powers of 1000) or Ki/Mi/Gi (powers of 1024)
         *
         * suffix; refuses NaN, infinities, zero, negatives and overflow, naming {@code what}.
         * 
         * @param what the option, for messages
         * @param text e.g. {@code 25%}, {@code 512Mi}
         * @return the budget
         */
        static Budget parse(String what, String text) {
            String t = text.trim();
            if (t.endsWith("%")) {
                double p = number(what, t.substring(0, t.length() - 1), text);
                if (!(p > 0 && p <= 100)) throw new SluiceException(what + " must be a percentage in (0, 100], got '" + text + "'");
                return new Percent(p);
            }
            return new Bytes(parseBytes(what, text));
        }
    }

    /**
     * The latency bound of the memory objective: absolute milliseconds, or a factor of the all-accelerator latency.
     *
     * @param value    milliseconds, or the factor
     * @param relative true for a factor of the all-accelerator latency
     */
    public record Slo(double value, boolean relative) {
        /**
         * Checks the value is positive and finite.
         */
        public Slo {
            if (!Double.isFinite(value) || value <= 0) throw new SluiceException("the SLO must be a positive finite number, got " + value);
        }

        /**
         * Reads {@code 12.5} or {@code 12.5ms} (milliseconds) or {@code 1.2x} (times the all-accelerator latency).
         *
         * @param text the SLO
         * @return the SLO
         */
        public static Slo parse(String text) {
            String t = text.trim().toLowerCase(Locale.ROOT);
            if (t.endsWith("x")) return new Slo(number("--slo", t.substring(0, t.length() - 1), text), true);
            if (t.endsWith("ms")) t = t.substring(0, t.length() - 2);
            return new Slo(number("--slo", t, text), false);
        }

        /**
         * The bound in milliseconds, given the all-accelerator latency for a relative SLO.
         *
         * @param allAcceleratorMillis the predicted latency with everything on the accelerator
         * @return the bound
         */
        public double millis(double allAcceleratorMillis) { return relative ? value * allAcceleratorMillis : value; }

        @Override public String toString() { return relative ? fmt(value) + "x" : fmt(value) + " ms"; }
    }

    /**
     * One device to run on: {@code cpu}, {@code throttled}, {@code tornadovm}, or the path of a device description
     *
     * (a JSON file ending in {@code .json}: a device that is not on the machine, planned for from its figures),
     * with a memory budget.
     * 
     * @param name   the device
     * @param budget its memory budget ({@link Budget#UNLIMITED} for the cpu)
     */
    public record DeviceRequest(String name, Budget budget) {
        /**
         * Checks the name is given and that the cpu has no budget.
         */
        public DeviceRequest {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(budget, "budget");
            if (name.isBlank()) throw new SluiceException("a device name is empty");
            if (name.equals("cpu") && !(budget instanceof Budget.Unlimited)) {
                throw new SluiceException("the cpu device takes no budget (it is the host); got cpu:" + budget);
            }
        }

        /**
         * True for a device described by a file rather than found on the machine.
         *
         * @return whether the name ends in {@code .json}
         */
        public boolean described() { return name.endsWith(".json"); }

        /**
         * Reads {@code NAME[:BUDGET]}, e.g. {@code throttled:25%}, {@code tornadovm:2G}, {@code gpus/a10.json:50%}.
         *
         * @param text the device and optional budget
         * @return the request
         * @throws SluiceException naming the text, for an unknown device or a bad budget
         */
        public static DeviceRequest parse(String text) {
            String t = text.trim();
            int colon = t.lastIndexOf(':');
            String name = colon < 0 ? t : t.substring(0, colon);
            String budget = colon < 0 ? null : t.substring(colon + 1);
            String lower = name.toLowerCase(Locale.ROOT);
            if (!lower.equals("cpu") && !lower.equals("throttled") && !lower.equals("tornadovm") && !lower.endsWith(".json")) {
                throw new SluiceException("unknown device '" + name + "' in '" + text
                    + "'; a device is cpu, throttled[:BUDGET], tornadovm[:BUDGET] or a description FILE.json[:BUDGET]");
            }
            if (!lower.endsWith(".json")) name = lower;
            return new DeviceRequest(name, budget == null ? Budget.UNLIMITED : Budget.parse("the budget of device " + name, budget));
        }

        @Override public String toString() { return budget instanceof Budget.Unlimited ? name : name + ":" + budget; }
    }

    /** Checks the invariants in the class comment. */
    public SessionOptions {
        if (threads < 1) throw new SluiceException("threads must be at least 1, got " + threads);
        devices = List.copyOf(devices);
        if (devices.isEmpty()) throw new SluiceException("at least one device is needed (the plain CPU run is 'cpu')");
        List<String> seen = new ArrayList<>();
        for (DeviceRequest d : devices) {
            if (seen.contains(d.name())) throw new SluiceException("device '" + d.name() + "' is named twice in " + devices);
            seen.add(d.name());
        }
        if (bandwidthBytesPerSecond < 0) throw new SluiceException("bandwidth must be >= 0 bytes/s (0: unlimited), got " + bandwidthBytesPerSecond);
        Objects.requireNonNull(objective, "objective");
        Objects.requireNonNull(order, "order");
        Objects.requireNonNull(kernels, "kernels");
        if (profileWarmupMillis < 0) throw new SluiceException("profile-warmup-ms must be >= 0, got " + profileWarmupMillis);
        Objects.requireNonNull(tiling, "tiling");
        Objects.requireNonNull(accelerator, "accelerator");
    }

    /**
     * The options that the command line and {@link Builder#set} take by name, beside devices, objective, SLO,
     * placement, order, trace and threads: each switch, its values, and the property that gives its default.
     */
    public static final java.util.Map<String, String> SWITCHES = java.util.Map.ofEntries(
        java.util.Map.entry("memory-plan", "on|off (default -Dsluice.memory.plan, on): profile-guided memory planning of intermediates"),
        java.util.Map.entry("pack-weights", "on|off (default -Dsluice.weights.arena, on): weights and constants in one native segment"),
        java.util.Map.entry("pointwise-conv", "on|off (default -Dsluice.conv.pointwise, on): the register-tiled loop for 1x1 convolutions"),
        java.util.Map.entry("vector-maxpool", "on|off (default -Dsluice.pool.vector, on): float MaxPool windows in vector lanes, not the scalar loop"),
        java.util.Map.entry("profile-warmup-ms", "N (default -Dsluice.place.warmupMs, 4000): JIT warm-up before placement's profiler times nodes"),
        java.util.Map.entry("tiling", "on|off (default on, off with -Dsluice.tiling.off=true): split nodes that do not fit a budgeted device into tiles"),
        java.util.Map.entry("tiling-rows", "on|off (default -Dsluice.tiling.rows, on): tiles of output row bands"),
        java.util.Map.entry("tiling-columns", "on|off (default -Dsluice.tiling.columns, on): MatMul/Gemm tiles of output columns"),
        java.util.Map.entry("tiling-channels", "on|off (default -Dsluice.tiling.channels, on): Conv tiles of output channels"),
        java.util.Map.entry("tiling-boxes", "on|off (default -Dsluice.tiling.boxes, on): output-box tiles, the last resort"),
        java.util.Map.entry("tiling-elements", "on|off (default -Dsluice.tiling.elements, on): elementwise tiles of element ranges"),
        java.util.Map.entry("tiling-steps", "on|off (default -Dsluice.tiling.steps, on): recurrent tiles of time steps"),
        java.util.Map.entry("tiling-units", "on|off (default -Dsluice.tiling.units, on): recurrent tiles of hidden-unit blocks"),
        java.util.Map.entry("tiling-keep-partials", "on|off (default -Dsluice.tiling.keepPartials, on): box tiles keep partial sums on the device"),
        java.util.Map.entry("tiling-grid-by-bytes", "on|off (default -Dsluice.tiling.gridByBytes, on): of the box grids that fit, the one gathering fewest bytes"),
        java.util.Map.entry("tiling-keep-resident", "on|off (default -Dsluice.tiling.keepResident, on): bands and boxes read inputs still on the device and may keep their output there"),
        java.util.Map.entry("tornado-resident", "on|off (default -Dsluice.tornado.resident, on): TornadoVM keeps weights on the device between calls"),
        java.util.Map.entry("tornado-profile", "on|off (default -Dsluice.tornado.profile, off): TornadoVM's profiler times each device call's copies and kernel"));

    /**
     * The defaults: every core up to 8, the CPU alone, planning and weight packing as their properties say.
     *
     * @return the default options
     */
    public static SessionOptions defaults() { return builder().build(); }

    /**
     * A builder holding the defaults.
     *
     * @return a new builder
     */
    public static Builder builder() { return new Builder(); }

    /**
     * A builder that starts from these options.
     *
     * @return a new builder
     */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.threads = threads;
        b.devices = new ArrayList<>(devices);
        b.bandwidth = bandwidthBytesPerSecond;
        b.objective = objective;
        b.slo = slo;
        b.placementFile = placementFile;
        b.order = order;
        b.explicitOrder = true;
        b.traceFile = traceFile;
        b.memoryPlanning = memoryPlanning;
        b.packWeights = packWeights;
        b.kernels = kernels;
        b.profileWarmupMillis = profileWarmupMillis;
        b.tiling = tiling;
        b.accelerator = accelerator;
        return b;
    }

    /**
     * True when the run is the plain one-device CPU case with no dispatcher option given.
     *
     * @return whether the model runs as the compile pipeline's one-device case (every node on the cpu, in order)
     */
    public boolean plainCpu() {
        return devices.size() == 1 && devices.getFirst().name().equals("cpu") && traceFile == null && order == Order.DYNAMIC
            && placementFile == null;
    }

    /**
     * The default thread count: one per core, at most 8.
     *
     * @return the count
     */
    public static int defaultThreads() { return Math.min(8, Runtime.getRuntime().availableProcessors()); }

    /** Builds {@link SessionOptions}; each setter checks its value and names the option when it refuses one. */
    public static final class Builder {
        private int threads = defaultThreads();
        private List<DeviceRequest> devices = new ArrayList<>(List.of(new DeviceRequest("cpu", Budget.UNLIMITED)));
        private long bandwidth;
        private Objective objective = Objective.LATENCY;
        private Slo slo;
        private Path placementFile;
        private Order order = Order.DYNAMIC;
        private boolean explicitOrder;
        private Path traceFile;
        private boolean memoryPlanning = KernelOptions.flag("sluice.memory.plan", true);
        private boolean packWeights = KernelOptions.flag("sluice.weights.arena", true);
        private KernelOptions kernels = KernelOptions.defaults();
        private long profileWarmupMillis = warmupDefault();
        private TilingOptions tiling = TilingOptions.defaults();
        private AcceleratorOptions accelerator = AcceleratorOptions.defaults();

        private Builder() {}

        private static long warmupDefault() {
            String v = System.getProperty("sluice.place.warmupMs");
            if (v == null) return 4000;
            try {
                long ms = Long.parseLong(v.trim());
                if (ms >= 0) return ms;
            } catch (NumberFormatException e) {
                // refused below, naming the property
            }
            throw new SluiceException("-Dsluice.place.warmupMs must be a whole number of milliseconds >= 0, got '" + v + "'");
        }

        /**
         * Sets one of the {@link #SWITCHES} by name from text, as the command line gives it; refuses an unknown
         * name or a bad value, naming the option.
         *
         * @param name  e.g. {@code pointwise-conv}
         * @param value e.g. {@code off}
         * @return this builder
         */
        public Builder set(String name, String value) {
            return switch (name) {
                case "memory-plan" -> memoryPlanning(onOff(name, value));
                case "pack-weights" -> packWeights(onOff(name, value));
                case "pointwise-conv" -> kernels(kernels.withPointwiseConv(onOff(name, value)));
                case "vector-maxpool" -> kernels(kernels.withVectorMaxPool(onOff(name, value)));
                case "profile-warmup-ms" -> {
                    long ms;
                    try {
                        ms = Long.parseLong(value.trim());
                    } catch (NumberFormatException e) {
                        throw new SluiceException("--" + name + " must be a whole number of milliseconds, got '" + value + "'");
                    }
                    yield profileWarmupMillis(ms);
                }
                case "tiling" -> tiling(tiling.with("off", !onOff(name, value)));
                case "tiling-rows" -> tiling(tiling.with("rows", onOff(name, value)));
                case "tiling-columns" -> tiling(tiling.with("columns", onOff(name, value)));
                case "tiling-channels" -> tiling(tiling.with("channels", onOff(name, value)));
                case "tiling-boxes" -> tiling(tiling.with("boxes", onOff(name, value)));
                case "tiling-elements" -> tiling(tiling.with("elements", onOff(name, value)));
                case "tiling-steps" -> tiling(tiling.with("steps", onOff(name, value)));
                case "tiling-units" -> tiling(tiling.with("units", onOff(name, value)));
                case "tiling-keep-partials" -> tiling(tiling.with("keepPartials", onOff(name, value)));
                case "tiling-grid-by-bytes" -> tiling(tiling.with("gridByBytes", onOff(name, value)));
                case "tiling-keep-resident" -> tiling(tiling.with("keepResident", onOff(name, value)));
                case "tornado-resident" -> accelerator(accelerator.withResidentWeights(onOff(name, value)));
                case "tornado-profile" -> accelerator(accelerator.withProfile(onOff(name, value)));
                default -> throw new SluiceException("unknown session option '" + name + "'; the switches are " + new java.util.TreeSet<>(SWITCHES.keySet()));
            };
        }

        private static boolean onOff(String name, String value) {
            return switch (value.trim().toLowerCase(Locale.ROOT)) {
                case "on", "true" -> true;
                case "off", "false" -> false;
                default -> throw new SluiceException("--" + name + " must be on or off, got '" + value + "'");
            };
        }

        /**
         * The CPU kernels' switches (default: {@link KernelOptions#defaults()}).
         *
         * @param k the switches
         * @return this builder
         */
        public Builder kernels(KernelOptions k) { kernels = Objects.requireNonNull(k, "kernels"); return this; }

        /**
         * Which splits the MemGraph builder may use on a budgeted device (default: {@link TilingOptions#defaults()}).
         *
         * @param t the switches
         * @return this builder
         */
        public Builder tiling(TilingOptions t) { tiling = Objects.requireNonNull(t, "tiling"); return this; }

        /**
         * The switches of an accelerator backend's kernels (default: {@link AcceleratorOptions#defaults()}).
         *
         * @param a the switches
         * @return this builder
         */
        public Builder accelerator(AcceleratorOptions a) { accelerator = Objects.requireNonNull(a, "accelerator"); return this; }

        /**
         * Whether 1x1 convolutions take the register-tiled pointwise loop (default: on unless
         * {@code -Dsluice.conv.pointwise=false}).
         *
         * @param on whether to use it
         * @return this builder
         */
        public Builder pointwiseConv(boolean on) { return kernels(kernels.withPointwiseConv(on)); }

        /**
         * How long placement's profiler warms the JIT up before timing nodes.
         *
         * @param ms at least 0
         * @return this builder
         */
        public Builder profileWarmupMillis(long ms) {
            if (ms < 0) throw new SluiceException("profile-warmup-ms must be >= 0, got " + ms);
            profileWarmupMillis = ms;
            return this;
        }

        /**
         * CPU worker threads for kernels.
         *
         * @param n at least 1
         * @return this builder
         */
        public Builder threads(int n) {
            if (n < 1) throw new SluiceException("threads must be at least 1, got " + n);
            threads = n;
            return this;
        }

        /**
         * The devices, replacing any set before; e.g. {@code devices("cpu", "throttled:25%")}.
         *
         * @param specs each as {@link DeviceRequest#parse} reads it
         * @return this builder
         */
        public Builder devices(String... specs) {
            List<DeviceRequest> l = new ArrayList<>();
            for (String s : specs) l.add(DeviceRequest.parse(s));
            return devices(l);
        }

        /**
         * The devices, replacing any set before.
         *
         * @param l at least one device
         * @return this builder
         */
        public Builder devices(List<DeviceRequest> l) {
            if (l.isEmpty()) throw new SluiceException("at least one device is needed (the plain CPU run is 'cpu')");
            devices = new ArrayList<>(l);
            return this;
        }

        /**
         * The copy-lane speed of a throttled device in bytes per second (0: unlimited).
         *
         * @param bytesPerSecond at least 0
         * @return this builder
         */
        public Builder bandwidth(long bytesPerSecond) {
            if (bytesPerSecond < 0) throw new SluiceException("bandwidth must be >= 0 bytes/s, got " + bytesPerSecond);
            bandwidth = bytesPerSecond;
            return this;
        }

        /**
         * What placement minimises across several devices.
         *
         * @param o the objective
         * @return this builder
         */
        public Builder objective(Objective o) { objective = Objects.requireNonNull(o, "objective"); return this; }

        /**
         * What placement minimises: {@code latency} or {@code memory}.
         *
         * @param o the objective's name
         * @return this builder
         */
        public Builder objective(String o) { return objective(Objective.parse(o)); }

        /**
         * The latency bound of the memory objective.
         *
         * @param s the SLO, or null for none
         * @return this builder
         */
        public Builder slo(Slo s) { slo = s; return this; }

        /**
         * The latency bound of the memory objective, as {@link Slo#parse} reads it.
         *
         * @param s the SLO, or null for none
         * @return this builder
         */
        public Builder slo(String s) { return slo(s == null ? null : Slo.parse(s)); }

        /**
         * A saved placement to use instead of solving one.
         *
         * @param p the file, or null
         * @return this builder
         */
        public Builder placementFile(Path p) { placementFile = p; return this; }

        /**
         * How the dispatcher picks among ready tasks.
         *
         * @param o the order
         * @return this builder
         */
        public Builder order(Order o) { order = Objects.requireNonNull(o, "order"); explicitOrder = true; return this; }

        /**
         * How the dispatcher picks among ready tasks: {@code dynamic}, {@code priority} or {@code fixed}.
         *
         * @param o the order's name
         * @return this builder
         */
        public Builder order(String o) { return order(Order.parse(o)); }

        /**
         * Where to write a Chrome/Perfetto trace of each dispatched run.
         *
         * @param p the file, or null for none
         * @return this builder
         */
        public Builder traceFile(Path p) { traceFile = p; return this; }

        /**
         * Profile-guided memory planning of intermediates (default: on unless {@code -Dsluice.memory.plan=false}).
         *
         * @param on whether to plan
         * @return this builder
         */
        public Builder memoryPlanning(boolean on) { memoryPlanning = on; return this; }

        /**
         * Weights and constants in one native segment (default: on unless {@code -Dsluice.weights.arena=false}).
         *
         * @param on whether to pack
         * @return this builder
         */
        public Builder packWeights(boolean on) { packWeights = on; return this; }

        /**
         * The options, checked.
         *
         * @return an immutable value
         */
        public SessionOptions build() {
            return new SessionOptions(threads, devices, bandwidth, objective, slo, placementFile, order, traceFile,
                memoryPlanning, packWeights, kernels, profileWarmupMillis, tiling, accelerator);
        }
    }

    /**
     * A byte count with an optional k/M/G or Ki/Mi/Gi suffix; positive, finite and below 2^63.
     *
     * @param what the option, for messages
     * @param text e.g. {@code 1.5G}
     * @return the bytes
     * @throws SluiceException naming {@code what} for anything else
     */
    public static long parseBytes(String what, String text) {
        String t = text.trim();
        long mul = 1;
        String lower = t.toLowerCase(Locale.ROOT);
        String[][] suffixes = {{"ki", "1024"}, {"mi", "1048576"}, {"gi", "1073741824"}, {"k", "1000"}, {"m", "1000000"}, {"g", "1000000000"}};
        for (String[] s : suffixes) {
            if (lower.endsWith(s[0]) || lower.endsWith(s[0] + "b")) {
                int cut = lower.endsWith(s[0] + "b") ? s[0].length() + 1 : s[0].length();
                mul = Long.parseLong(s[1]);
                t = t.substring(0, t.length() - cut);
                break;
            }
        }
        double v = number(what, t, text) * mul;
        if (!(v > 0)) throw new SluiceException(what + " must be a positive number of bytes, got '" + text + "'");
        if (v >= 0x1p63) throw new SluiceException(what + " is too large: '" + text + "'");
        return (long) v;
    }

    private static double number(String what, String t, String whole) {
        double v;
        try {
            v = Double.parseDouble(t.trim());
        } catch (NumberFormatException e) {
            throw new SluiceException(what + " must be a number, got '" + whole + "'");
        }
        if (!Double.isFinite(v)) throw new SluiceException(what + " must be finite, got '" + whole + "'");
        return v;
    }

    private static String fmt(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }
}
