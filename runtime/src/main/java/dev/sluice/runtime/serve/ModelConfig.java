package dev.sluice.runtime.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.kernels.SluiceException;
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
 *   "threads": 2, "inputs":  [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}], "outputs": [...] }
 * </pre>
 * {@code max_batch_size} above 1 turns on dynamic batching (for models whose inputs share a leading batch
 * dimension); {@code inputs}/{@code outputs} override the shapes the model declares (-1: any size) and are
 * checked against it at load. {@code priority} (higher is kept longer) orders the swapper's eviction; device
 * workers are granted first come, first served. Unknown keys are refused, so a misspelling is not silently ignored.
 */
public record ModelConfig(int maxBatchSize, long maxQueueDelayMicros, int maxQueue, String device, int priority, int threads,
                          Map<String, ModelMetadata.TensorMetadata> inputs, Map<String, ModelMetadata.TensorMetadata> outputs) {
    private static final Set<String> KEYS = Set.of("max_batch_size", "max_queue_delay_ms", "max_queue", "device", "priority",
        "threads", "inputs", "outputs");

    public ModelConfig {
        if (maxBatchSize < 1) throw new SluiceException("max_batch_size must be at least 1, got " + maxBatchSize);
        if (maxQueueDelayMicros < 0) throw new SluiceException("max_queue_delay_ms must be >= 0");
        if (maxQueue < 1) throw new SluiceException("max_queue must be at least 1, got " + maxQueue);
        if (threads < 1) throw new SluiceException("threads must be at least 1, got " + threads);
        inputs = Map.copyOf(inputs);
        outputs = Map.copyOf(outputs);
    }

    /** No batching, a queue of 64, the server's device, priority 0, two kernel threads. */
    public static ModelConfig defaults() {
        return new ModelConfig(1, 0, 64, null, 0, 2, Map.of(), Map.of());
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
                tensors(n.get("outputs"), "outputs", file));
        } catch (ServeException e) {
            throw new SluiceException(file + ": " + e.getMessage());
        } catch (SluiceException e) {
            throw e.getMessage().startsWith(file.toString()) ? e : new SluiceException(file + ": " + e.getMessage());
        }
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
