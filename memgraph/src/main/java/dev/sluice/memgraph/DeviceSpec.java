package dev.sluice.memgraph;

import dev.sluice.kernels.device.DeviceKind;

/** What the memory graph needs to know of a device: its name, kind, and how many bytes it may hold at once. */
public record DeviceSpec(String name, DeviceKind kind, long budgetBytes) {
    /** The host: shares host memory, so it has no budget to plan against. */
    public static DeviceSpec host() { return new DeviceSpec("cpu", DeviceKind.CPU, Long.MAX_VALUE); }

    public DeviceSpec {
        if (budgetBytes <= 0) throw new IllegalArgumentException(name + ": budget must be positive, got " + budgetBytes);
    }

    public DeviceSpec withBudget(long bytes) { return new DeviceSpec(name, kind, bytes); }
}
