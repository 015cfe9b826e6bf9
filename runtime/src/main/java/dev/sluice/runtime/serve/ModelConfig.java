package dev.sluice.runtime.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.kernels.SluiceException;
import dev.sluice.runtime.SessionOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A model's serving settings, read from the optional {@code DIR/<model>/config.json}:
 * <pre>
 * { "max_batch_size": 8, "max_queue_delay_ms": 2, "max_queue": 64, "device": "cpu", "priority": 0,
 *   "threads": 2, "inputs":  [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}], "outputs": [...],
 *   "session": {"devices": "cpu,throttled:50%", "objective": "latency", "slo": "1.2x", "placement": "placement.json"} }
 * </pre>
 * {@code max_batch_size} above 1 turns on dynamic batching (for models whose inputs share a leading batch
 * dimension); {@code inputs}/{@code outputs} override the shapes the model declares (-1: any size) and are
 * checked against it at load. {@code priority} (higher is kept longer) orders the swapper's eviction; device
 * workers are granted first come, first served. {@code session} holds the model's {@link SessionOptions} as the
 * command line spells them ({@link #SESSION_KEYS}): with more than the cpu among its devices, or a placement file
 * (a path inside the model's folder), the model runs placed across the CPU and the accelerator, as {@code sluice run
 * --devices/--placement} does. Unknown keys are refused, so a misspelling is not silently ignored; every session value
 * is checked when the file is read, naming the file and the key.
 */
public record ModelConfig(int maxBatchSize, long maxQueueDelayMicros, int maxQueue, String device, int priority, int threads,
                          Map<String, ModelMetadata.TensorMetadata> inputs, Map<String, ModelMetadata.TensorMetadata> outputs,
                          Map<String, String> session) {
    private static final Set<String> KEYS = Set.of("max_batch_size", "max_queue_delay_ms", "max_queue", "device", "priority",
        "threads", "inputs", "outputs", "session");

    /**
     * The keys {@code session} may hold besides the switches of {@link SessionOptions#SWITCHES}: the placement's
     * devices, objective, latency SLO, placement file, dispatch order and copy bandwidth, as {@code sluice run}
     * spells them.
     */
    public static final Set<String> SESSION_KEYS = Set.of("devices", "objective", "slo", "placement", "order", "bandwidth", "trace");

    public ModelConfig {
        if (maxBatchSize < 1) throw new SluiceException("max_batch_size must be at least 1, got " + maxBatchSize);
        if (maxQueueDelayMicros < 0) throw new SluiceException("max_queue_delay_ms must be >= 0");
        if (maxQueue < 1) throw new SluiceException("max_queue must be at least 1, got " + maxQueue);
        if (threads < 1) throw new SluiceException("threads must be at least 1, got " + threads);
        inputs = Map.copyOf(inputs);
        outputs = Map.copyOf(outputs);
        session = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(session));
        sessionOptions(threads, session); // refuses a bad value now, not at the first request
    }

    /**
     * The options this model's session is opened with: its threads and the {@code session} settings.
     *
     * @return the options
     */
    public SessionOptions sessionOptions() { return sessionOptions(threads, session); }

    private static SessionOptions sessionOptions(int threads, Map<String, String> session) {
        SessionOptions.Builder b = SessionOptions.builder().threads(threads);
        for (var e : session.entrySet()) {
            String k = e.getKey(), v = e.getValue();
            try {
                setOne(b, k, v);
            } catch (SluiceException x) {
                throw x.getMessage().contains("'session.") ? x : new SluiceException("'session." + k + "': " + x.getMessage());
            }
        }
        return b.build();
    }

    private static void setOne(SessionOptions.Builder b, String k, String v) {
            switch (k) {
                case "devices" -> b.devices(v.split(","));
                case "objective" -> b.objective(v);
                case "slo" -> b.slo(v);
                case "placement" -> b.placementFile(Path.of(v));
                case "order" -> b.order(v);
                case "bandwidth" -> b.bandwidth(SessionOptions.parseBytes("session.bandwidth", v));
                case "trace" -> b.traceFile(Path.of(v));
                default -> {
                    if (!SessionOptions.SWITCHES.containsKey(k)) {
                        throw new SluiceException("unknown key 'session." + k + "'; known keys are " + new java.util.TreeSet<>(SESSION_KEYS)
                            + " and the switches " + new java.util.TreeSet<>(SessionOptions.SWITCHES.keySet()));
                    }
                    b.set(k, v);
                }
            }
    }

    /** No batching, a queue of 64, the server's device, priority 0, two kernel threads. */
    public static ModelConfig defaults() {
        return new ModelConfig(1, 0, 64, null, 0, 2, Map.of(), Map.of(), Map.of());
    }

    /** Reads {@code file}; errors name the file and the key. */
    public static ModelConfig read(Path file) {
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(Files.readAllBytes(file));
        } catch (IOException e) {
            throw new SluiceException(file + ": not readable JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (n == null || !n.isObject()) throw new SluiceException(file + ": must hold a JSON object");
        for (var it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KEYS.contains(k)) throw new SluiceException(file + ": unknown key '" + k + "'; known keys are " + KEYS);
        }
        ModelConfig d = defaults();
        try {
            return new ModelConfig(
                intKey(n, "max_batch_size", d.maxBatchSize(), file),
                Math.round(doubleKey(n, "max_queue_delay_ms", 0, file) * 1000),
                intKey(n, "max_queue", d.maxQueue(), file),
                n.hasNonNull("device") ? n.get("device").asText() : null,
                intKey(n, "priority", 0, file),
                intKey(n, "threads", d.threads(), file),
                tensors(n.get("inputs"), "inputs", file),
                tensors(n.get("outputs"), "outputs", file),
                session(n.get("session"), file));
        } catch (ServeException e) {
            throw new SluiceException(file + ": " + e.getMessage());
        } catch (SluiceException e) {
            throw e.getMessage().startsWith(file.toString()) ? e : new SluiceException(file + ": " + e.getMessage());
        }
    }

    /**
     * The {@code session} object: string, number or boolean values as text; a placement or trace path is resolved
     * against the model's folder and must stay inside it (by real path for a file that exists).
     */
    private static Map<String, String> session(JsonNode obj, Path file) {
        Map<String, String> m = new LinkedHashMap<>();
        if (obj == null || obj.isNull()) return m;
        if (!obj.isObject()) throw new SluiceException(file + ": 'session' must be an object of option names to values");
        Path dir = file.toAbsolutePath().getParent();
        for (var it = obj.fields(); it.hasNext(); ) {
            var e = it.next();
            JsonNode v = e.getValue();
            if (!(v.isTextual() || v.isNumber() || v.isBoolean())) {
                throw new SluiceException(file + ": 'session." + e.getKey() + "' must be a string, number or boolean, got " + v);
            }
            String text = v.asText();
            if (e.getKey().equals("placement") || e.getKey().equals("trace")) text = inside(dir, text, "session." + e.getKey(), file).toString();
            m.put(e.getKey(), text);
        }
        return m;
    }

    private static Path inside(Path dir, String text, String key, Path file) {
        Path p = dir.resolve(text).normalize();
        boolean ok = p.startsWith(dir.normalize());
        try {
            if (ok && Files.exists(p)) ok = p.toRealPath().startsWith(dir.toRealPath());
        } catch (IOException e) {
            throw new SluiceException(file + ": '" + key + "' " + text + " is not readable: " + e.getMessage());
        }
        if (!ok) throw new SluiceException(file + ": '" + key + "' " + text + " leads outside the model's folder " + dir);
        return p;
    }

    private static int intKey(JsonNode n, String key, int dflt, Path file) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isIntegralNumber() || !v.canConvertToInt()) throw new SluiceException(file + ": '" + key + "' must be an integer, got " + v);
        return v.asInt();
    }

    private static double doubleKey(JsonNode n, String key, double dflt, Path file) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) return dflt;
        if (!v.isNumber() || !(v.asDouble() >= 0) || v.asDouble() > 60_000) {
            throw new SluiceException(file + ": '" + key + "' must be a number of milliseconds in [0, 60000], got " + v);
        }
        return v.asDouble();
    }

    private static Map<String, ModelMetadata.TensorMetadata> tensors(JsonNode arr, String key, Path file) {
        Map<String, ModelMetadata.TensorMetadata> m = new LinkedHashMap<>();
        if (arr == null || arr.isNull()) return m;
        if (!arr.isArray()) throw new SluiceException(file + ": '" + key + "' must be an array");
        for (int i = 0; i < arr.size(); i++) {
            JsonNode t = arr.get(i);
            String where = key + "[" + i + "]";
            if (!t.isObject() || !t.hasNonNull("name")) throw new SluiceException(file + ": " + where + " needs a 'name'");
            String name = t.get("name").asText();
            Datatype dt = t.hasNonNull("datatype") ? Datatype.parse(t.get("datatype").asText(), where) : null;
            long[] shape = null;
            JsonNode s = t.get("shape");
            if (s != null && !s.isNull()) {
                if (!s.isArray()) throw new SluiceException(file + ": " + where + ".shape must be an array");
                shape = new long[s.size()];
                for (int j = 0; j < shape.length; j++) {
                    if (!s.get(j).isIntegralNumber() || s.get(j).asLong() < -1) {
                        throw new SluiceException(file + ": " + where + ".shape[" + j + "] must be -1 or a size, got " + s.get(j));
                    }
                    shape[j] = s.get(j).asLong();
                }
            }
            m.put(name, new ModelMetadata.TensorMetadata(name, dt, shape));
        }
        return m;
    }
}
