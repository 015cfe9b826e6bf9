package dev.sluice.kernels;

import dev.sluice.kernels.cpu.CpuKernels;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The operators Sluice can run, by ONNX domain and op type. A registry carries the {@link KernelOptions} its kernels
 * were made with: a kernel with a switch reads it from the registry when it is registered.
 */
public final class OpRegistry {
    private final Map<String, OpKernel> kernels = new TreeMap<>();
    private final KernelOptions options;

    /** An empty registry with the default kernel options. */
    public OpRegistry() { this(KernelOptions.defaults()); }

    /**
     * An empty registry whose kernels will read these options.
     *
     * @param options the kernels' switches
     */
    public OpRegistry(KernelOptions options) { this.options = java.util.Objects.requireNonNull(options, "options"); }

    /** The registry of every CPU kernel Sluice ships, with the default kernel options. */
    public static OpRegistry cpu() { return cpu(KernelOptions.defaults()); }

    /**
     * The registry of every CPU kernel Sluice ships, switched as {@code options} say.
     *
     * @param options the kernels' switches
     * @return a new registry
     */
    public static OpRegistry cpu(KernelOptions options) {
        OpRegistry r = new OpRegistry(options);
        CpuKernels.registerAll(r);
        return r;
    }

    /**
     * The switches this registry's kernels were made with.
     *
     * @return the options
     */
    public KernelOptions options() { return options; }

    public void register(String opType, OpKernel kernel) { register("", opType, kernel); }

    public void register(String domain, String opType, OpKernel kernel) {
        String key = key(domain, opType);
        if (kernels.putIfAbsent(key, kernel) != null) throw new IllegalStateException("op registered twice: " + key);
    }

    public OpKernel find(String domain, String opType) { return kernels.get(key(domain, opType)); }

    public boolean supports(String domain, String opType) { return find(domain, opType) != null; }

    public Set<String> opTypes() { return new TreeSet<>(kernels.keySet()); }

    private static String key(String domain, String opType) {
        String d = domain == null || domain.equals("ai.onnx") ? "" : domain;
        return d.isEmpty() ? opType : d + ":" + opType;
    }
}
