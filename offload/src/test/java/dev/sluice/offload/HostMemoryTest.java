package dev.sluice.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.offload.cuda.CudaDriver;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class HostMemoryTest {
    @Test
    void systemMemoryIsPinnedExactlyWhenTheDriverLoads() {
        List<String> notices = new ArrayList<>();
        HostMemory hm = HostMemory.system(notices::add);
        try (HostMemory.Buffer b = hm.allocate(1 << 20)) {
            assertEquals(CudaDriver.load().isPresent(), b.pinned());
            assertEquals(1 << 20, b.segment().byteSize());
            // the memory is usable end to end
            b.segment().set(ValueLayout.JAVA_LONG, (1 << 20) - 8, 0x1234_5678_9abcL);
            assertEquals(0x1234_5678_9abcL, b.segment().get(ValueLayout.JAVA_LONG, (1 << 20) - 8));
        }
        if (CudaDriver.load().isEmpty()) {
            assertFalse(hm.pinsMemory());
            assertTrue(hm.describe().startsWith("pageable"), hm.describe());
            assertFalse(CudaDriver.unavailableReason().equals("available"));
        }
    }

    @Test
    void pageableBuffersAreAligned() {
        try (HostMemory.Buffer b = HostMemory.pageable().allocate(1000)) {
            assertFalse(b.pinned());
            assertEquals(0, b.segment().address() % 64);
        }
    }
}
