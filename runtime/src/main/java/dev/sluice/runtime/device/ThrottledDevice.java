package dev.sluice.runtime.device;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import java.util.List;

/**
 * A CPU standing in for an accelerator so that ordering and offload can be studied without one: the same
 * Java kernels on one compute lane, its own arena capped at {@code budgetBytes}, and one copy lane each way
 * limited to {@code bytesPerSecond} (0: unlimited). Its name carries the word "throttled" so that no report
 * can pass it off as a GPU.
 */
public record ThrottledDevice(String name, long budgetBytes, long bytesPerSecond, List<Lane> lanes) implements Device {
    public ThrottledDevice {
        if (!name.contains("throttled")) throw new IllegalArgumentException("a throttled device's name must say so: " + name);
        lanes = List.copyOf(lanes);
    }

    /** One compute lane using {@code kernelPool} for its kernels; an H2D and a D2H lane at the bandwidth. */
    public static ThrottledDevice of(long budgetBytes, long bytesPerSecond, Parallelism kernelPool) {
        String n = "throttled";
        return new ThrottledDevice(n, budgetBytes, bytesPerSecond, List.of(
            new ComputeLane(n + ".compute", kernelPool),
            new CopyLane(n + ".h2d", LaneKind.H2D, bytesPerSecond),
            new CopyLane(n + ".d2h", LaneKind.D2H, bytesPerSecond)));
    }

    @Override public DeviceKind kind() { return DeviceKind.THROTTLED; }

    @Override public long capacityBytes() { return budgetBytes; }

    /** A fresh arena of exactly the budget. */
    public DeviceArena newArena() { return new DeviceArena(name, budgetBytes); }

    @Override public String describe() {
        return name + " (throttled CPU standing in for an accelerator: " + budgetBytes + "-byte arena, copy lanes at "
            + (bytesPerSecond == 0 ? "unlimited" : bytesPerSecond + " B/s") + ")";
    }
}
