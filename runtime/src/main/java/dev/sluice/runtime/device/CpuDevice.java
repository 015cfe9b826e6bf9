package dev.sluice.runtime.device;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.device.DeviceKind;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;

/**
 * The host CPU as a pool of compute lanes, one per worker. Each lane runs its kernel sequentially so that
 * N lanes keep N cores busy without nested parallelism. It has no copy lanes: it reads host memory in place.
 */
public record CpuDevice(String name, List<Lane> lanes) implements Device {
    public CpuDevice {
        lanes = List.copyOf(lanes);
    }

    public static CpuDevice withWorkers(int workers) {
        List<Lane> l = new ArrayList<>();
        for (int i = 0; i < Math.max(1, workers); i++) l.add(new ComputeLane("cpu.compute" + i, Parallelism.SEQUENTIAL));
        return new CpuDevice("cpu", l);
    }

    @Override public DeviceKind kind() { return DeviceKind.CPU; }

    @Override public long capacityBytes() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return Runtime.getRuntime().maxMemory();
    }
}
