package dev.sluice.runtime.device;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import org.junit.jupiter.api.Test;

class DeviceTest {
    @Test void throttledDeviceHasComputeAndCopyLanesAndSaysItIsThrottled() {
        ThrottledDevice d = ThrottledDevice.of(4096, 1_000_000, Parallelism.SEQUENTIAL);
        assertEquals(DeviceKind.THROTTLED, d.kind());
        assertEquals(1, d.lanes(LaneKind.COMPUTE).size());
        assertEquals(1, d.lanes(LaneKind.H2D).size());
        assertEquals(1, d.lanes(LaneKind.D2H).size());
        assertTrue(d.describe().contains("throttled"));
        assertTrue(d.lanes().stream().allMatch(l -> l.name().contains("throttled")));
        assertThrows(IllegalArgumentException.class, () -> new ThrottledDevice("gpu", 1, 1, java.util.List.of()));
    }

    @Test void cpuDeviceHasOneSequentialLanePerWorker() {
        CpuDevice c = CpuDevice.withWorkers(3);
        assertEquals(3, c.lanes(LaneKind.COMPUTE).size());
        assertTrue(c.lanes(LaneKind.H2D).isEmpty());
        assertTrue(c.capacityBytes() > 0);
    }

    @Test void arenaRefusesToGoOverItsBudget() {
        try (DeviceArena a = new DeviceArena("throttled", 1024)) {
            a.claim(0, 512);
            a.claim(512, 512);
            SluiceException e = assertThrows(SluiceException.class, () -> a.claim(0, 64));
            assertTrue(e.getMessage().contains("budget of 1024"), e.getMessage());
            a.release(512);
            a.claim(0, 256);
            assertEquals(1024, a.peak());
            assertThrows(SluiceException.class, () -> a.claim(1000, 64));
        }
    }

    @Test void copyLaneCopiesBytes() {
        CopyLane l = new CopyLane("throttled.h2d", LaneKind.H2D, 0);
        Tensor src = Tensor.ofFloats(Shape.of(3), 1, 2, 3);
        Tensor dst = Tensor.allocate(DType.FLOAT32, Shape.of(3));
        l.copy(src, dst);
        assertTrue(src.sameBits(dst));
        assertEquals(1_000_000_000L, new CopyLane("x", LaneKind.D2H, 1000).nanosFor(1000));
    }
}
