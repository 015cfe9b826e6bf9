package dev.sluice.runtime.device;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.device.LaneKind;

/**
 * A lane that runs kernels. {@code parallelism} is what a kernel on this lane may split over: sequential
 * when the device already has one lane per core (so lanes never oversubscribe the cores), the shared pool
 * when the device runs one kernel at a time.
 */
public record ComputeLane(String name, Parallelism parallelism) implements Lane {
    @Override public LaneKind kind() { return LaneKind.COMPUTE; }
}
