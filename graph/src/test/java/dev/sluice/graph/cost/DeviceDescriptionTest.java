package dev.sluice.graph.cost;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.kernels.SluiceException;
import java.util.List;
import org.junit.jupiter.api.Test;

class DeviceDescriptionTest {
    static final String GOOD = """
        {"name": "test gpu", "kind": "accelerator", "peak_gflops": 1000, "memory_gbps": 100, "launch_us": 5,
         "memory_bytes": 1000000, "link_gbps": 10, "link_latency_us": 20}""";

    @Test
    void bundledDescriptionsLoadAndRoundTrip() {
        for (String f : DeviceDescription.BUNDLED) {
            DeviceDescription d = DeviceDescription.load(f);
            assertTrue(d.name().startsWith("NVIDIA"), d.name());
            assertEquals(d, DeviceDescription.fromJson(d.toJson(), "round trip"));
            assertTrue(d.toString().contains("described"), d.toString());
        }
    }

    @Test
    void rooflineIsTheSlowerOfComputeAndMemoryPlusLaunch() {
        DeviceDescription d = DeviceDescription.fromJson(GOOD, "good");
        // 2e9 flop at 1000 GFLOP/s = 2 ms; 1e6 B at 100 GB/s = 0.01 ms; + 5 us launch
        assertEquals(2.005, d.kernelMillis(2e9, 1e6), 1e-12);
        // 1e3 flop = 1e-6 ms; 1e9 B at 100 GB/s = 10 ms
        assertEquals(10.005, d.kernelMillis(1e3, 1e9), 1e-9);
        // 1e8 B at 10 GB/s = 10 ms, + 20 us
        assertEquals(10.02, d.transferMillis(1e8), 1e-9);
    }

    @Test
    void strictParsingNamesTheBadField() {
        assertMessage(GOOD.replace("\"launch_us\"", "\"launch_ms\""), "launch_ms");
        assertMessage(GOOD.replace("\"link_latency_us\": 20", "\"link_latency_us\": 20, \"tflops\": 3"), "tflops");
        assertMessage(GOOD.replace(", \"link_gbps\": 10", ""), "link_gbps");
        assertMessage(GOOD.replace("\"accelerator\"", "\"cpu\""), "kind");
        assertMessage(GOOD.replace("\"peak_gflops\": 1000", "\"peak_gflops\": \"fast\""), "peak_gflops");
        assertMessage(GOOD.replace("\"peak_gflops\": 1000", "\"peak_gflops\": -1"), "peak_gflops");
        assertMessage(GOOD.replace("\"memory_bytes\": 1000000", "\"memory_bytes\": 1.5"), "memory_bytes");
        assertMessage(GOOD.replace("}", ""), "invalid JSON");
        var e = assertThrows(SluiceException.class, () -> DeviceDescription.load("no-such-gpu.json"));
        assertTrue(e.getMessage().contains("nvidia-t4.json"), e.getMessage());
    }

    private static void assertMessage(String json, String field) {
        var e = assertThrows(SluiceException.class, () -> DeviceDescription.fromJson(json, "gpu.json"));
        assertTrue(e.getMessage().contains(field) && e.getMessage().contains("gpu.json"), e.getMessage());
    }

    @Test
    void costModelRoundTripsAndRefusesMixedColumns() {
        CostModel.DeviceCost cpu = new CostModel.DeviceCost("cpu", "cpu", CostModel.Source.MEASURED, 0, 0, CostModel.Source.MEASURED, 0);
        CostModel.DeviceCost gpu = new CostModel.DeviceCost("t4", "described", CostModel.Source.ESTIMATED, 1.5e10, 0.01, CostModel.Source.ESTIMATED, 1L << 30);
        CostModel.NodeCost n = new CostModel.NodeCost("mm", "MatMul", 2e6, 4096, 8192, 4096,
            List.of(new CostModel.Timing(0.5, CostModel.Source.MEASURED), new CostModel.Timing(0.01, CostModel.Source.ESTIMATED)));
        CostModel c = new CostModel("m", "abc", List.of(cpu, gpu), List.of(n));
        CostModel back = CostModel.fromJson(c.toJson(), "costs.json");
        assertEquals(c, back);
        assertTrue(c.toString().contains("estimated"), c.toString());
        var e = assertThrows(SluiceException.class, () -> new CostModel("m", "abc", List.of(cpu, gpu), List.of(new CostModel.NodeCost("mm", "MatMul", 1, 0, 0, 0,
            List.of(new CostModel.Timing(0.5, CostModel.Source.MEASURED), new CostModel.Timing(0.01, CostModel.Source.MEASURED))))));
        assertTrue(e.getMessage().contains("measured time in a column of estimated"), e.getMessage());
    }
}
