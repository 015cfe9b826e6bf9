package dev.sluice.graph;

import dev.sluice.kernels.OpRegistry;
import java.util.Map;
import java.util.TreeMap;

/** Static checks run before anything executes. */
public final class ModelCheck {
    private ModelCheck() {}

    /** Every operator of the model (subgraphs included) without a kernel, with its count. */
    public static Map<String, Integer> unsupportedOps(Model m, OpRegistry registry) {
        Map<String, Integer> r = new TreeMap<>();
        for (Node n : m.graph().allNodes()) {
            if (!registry.supports(n.domain(), n.opType())) {
                r.merge((n.domain().isEmpty() ? "" : n.domain() + ":") + n.opType(), 1, Integer::sum);
            }
        }
        return r;
    }

    /** Op type histogram (subgraphs included). */
    public static Map<String, Integer> opHistogram(Model m) {
        Map<String, Integer> r = new TreeMap<>();
        for (Node n : m.graph().allNodes()) r.merge((n.domain().isEmpty() ? "" : n.domain() + ":") + n.opType(), 1, Integer::sum);
        return r;
    }

    public static void requireSupported(Model m, OpRegistry registry) {
        Map<String, Integer> u = unsupportedOps(m, registry);
        if (!u.isEmpty()) throw new UnsupportedOpsException(m.source(), u);
    }
}
