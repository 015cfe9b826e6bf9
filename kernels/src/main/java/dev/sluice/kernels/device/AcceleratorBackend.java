package dev.sluice.kernels.device;

import dev.sluice.kernels.AcceleratorOptions;
import dev.sluice.kernels.OpRegistry;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An accelerator backend that a build may or may not contain (TornadoVM: compiled only where TORNADOVM_HOME
 * points at an SDK). The runtime never names its classes; it asks {@link Accelerators} for one by name and
 * gets either a backend or the reason there is none.
 */
public interface AcceleratorBackend {
    /** The name the command line uses, e.g. {@code tornadovm}. */
    String name();

    /** Every device the backend sees, one line each. */
    List<String> devices();

    /** The device kernels run on, one line. */
    String device();

    /** Global memory of that device in bytes. */
    long memoryBytes();

    /** Op types (default ONNX domain) with a kernel on this backend. */
    Set<String> opTypes();

    /**
     * Every op of {@code cpu}: this backend's kernel where it has one (which may still hand a call it cannot
     * take, e.g. another dtype, to the CPU kernel), the CPU kernel otherwise. Every call is counted in
     * {@link #usage()}. This backend's kernels in it read {@code options}.
     *
     * @param cpu     the CPU kernels, to fall back to
     * @param options the backend kernels' switches (a session's own)
     * @return the registry
     */
    OpRegistry registry(OpRegistry cpu, AcceleratorOptions options);

    /**
     * {@link #registry(OpRegistry, AcceleratorOptions)} with the default switches ({@link AcceleratorOptions#defaults()}).
     *
     * @param cpu the CPU kernels, to fall back to
     * @return the registry
     */
    default OpRegistry registry(OpRegistry cpu) { return registry(cpu, AcceleratorOptions.defaults()); }

    /** Calls since the last {@link #resetUsage()}: per op type, those run on the device and those run on the CPU, by reason. */
    Usage usage();

    void resetUsage();

    /**
     * Transfer and kernel counters since the last {@link #resetUsage()} (names to values, e.g. bytes copied to the
     * device, nanoseconds of kernels and copies where the backend measures them); empty where it keeps none.
     */
    default Map<String, Long> counters() { return Map.of(); }

    /**
     * @param ran op type to calls run by this backend's kernel
     * @param fellBack "op type: reason" to calls run by the CPU kernel instead
     */
    record Usage(Map<String, Long> ran, Map<String, Long> fellBack) {}
}
