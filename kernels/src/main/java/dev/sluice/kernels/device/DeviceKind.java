package dev.sluice.kernels.device;

/**
 * What a device is. Lives in kernels (not runtime) because the memory graph, which cannot see the runtime,
 * plans per device kind: only a device with its own memory needs transfers and a budget.
 */
public enum DeviceKind {
    /** The host CPU: kernels read host memory directly, nothing is copied. */
    CPU,
    /** A CPU standing in for an accelerator: own capped arena, bandwidth-limited copy lanes. Reports say so. */
    THROTTLED,
    /** A real accelerator (TornadoVM); absent where no backend is installed. */
    ACCELERATOR;

    /** True if tasks on this device read and write host memory in place (no arena, no copies). */
    public boolean sharesHostMemory() { return this == CPU; }
}
