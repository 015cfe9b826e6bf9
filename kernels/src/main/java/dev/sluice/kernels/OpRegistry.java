package dev.sluice.kernels;

import dev.sluice.kernels.cpu.CpuKernels;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/** The operators Sluice can run, by ONNX domain and op type. */
public final class OpRegistry {
    private final Map<String, OpKernel> kernels = new TreeMap<>();

    /** The registry of every CPU kernel Sluice ships. */
    public static OpRegistry cpu() {
        OpRegistry r = new OpRegistry();
        CpuKernels.registerAll(r);
        return r;
    }

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
