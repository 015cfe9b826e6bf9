package dev.sluice.runtime.device;

import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import java.util.List;

/**
 * Where tasks run: a kind, a memory capacity, and lanes. A lane is one thing that can be busy at a time
 * (a CPU worker, an accelerator's compute queue, a DMA engine), so the dispatcher keeps exactly one worker
 * per lane and a device's parallelism is the number of its lanes.
 */
public sealed interface Device permits CpuDevice, ThrottledDevice, TornadoDevice {
    String name();

    DeviceKind kind();

    /** Bytes of memory the device's own tasks may hold at once (the budget, for a throttled device). */
    long capacityBytes();

    /** Every lane: compute lanes first, then copy lanes. */
    List<Lane> lanes();

    default List<Lane> lanes(LaneKind kind) { return lanes().stream().filter(l -> l.kind() == kind).toList(); }

    /** One line for reports; a throttled device says so. */
    default String describe() { return name() + " (" + kind().name().toLowerCase() + ", " + lanes().size() + " lanes)"; }
}
