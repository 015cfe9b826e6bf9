package dev.sluice.runtime.device;

import dev.sluice.kernels.device.LaneKind;

/** One unit of a device that runs one task at a time. */
public sealed interface Lane permits ComputeLane, CopyLane {
    /** Unique within a run, e.g. {@code throttled.h2d}; names the trace track. */
    String name();

    LaneKind kind();
}
