package dev.sluice.graph;

import dev.sluice.kernels.SluiceException;
import java.util.Map;

/** A model uses operators Sluice has no kernel for; lists all of them, with how often each occurs. */
public class UnsupportedOpsException extends SluiceException {
    private final Map<String, Integer> ops;

    public UnsupportedOpsException(String source, Map<String, Integer> ops) {
        super(source + ": unsupported operator" + (ops.size() == 1 ? "" : "s") + ": " + describe(ops));
        this.ops = Map.copyOf(ops);
    }

    public Map<String, Integer> ops() { return ops; }

    private static String describe(Map<String, Integer> ops) {
        StringBuilder b = new StringBuilder();
        ops.forEach((k, v) -> b.append(b.isEmpty() ? "" : ", ").append(k).append(v > 1 ? " (x" + v + ")" : ""));
        return b.toString();
    }
}
