package dev.sluice.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.SluiceException;
import org.junit.jupiter.api.Test;

/** Sizes from untrusted dims: counted exactly, overflow and negatives refused by name, the JVM's limit honoured. */
class TensorSizesTest {
    @Test
    void countsAndBytesAreExact() {
        assertEquals(24, TensorSizes.elementCount(new long[] {2, 3, 4}, "t"));
        assertEquals(1, TensorSizes.elementCount(new long[0], "t"));
        assertEquals(0, TensorSizes.elementCount(new long[] {5, 0, 1L << 62}, "t"));
        assertEquals(96, TensorSizes.byteSize(DType.FLOAT32, new long[] {2, 3, 4}, "t"));
    }

    @Test
    void overflowAndNegativesAreNamed() {
        SluiceException e = assertThrows(SluiceException.class, () -> TensorSizes.elementCount(new long[] {1L << 32, 1L << 32}, "tensor 'w'"));
        assertTrue(e.getMessage().startsWith("tensor 'w'") && e.getMessage().contains("[4294967296, 4294967296]"), e.getMessage());
        // the count fits a long, the bytes do not
        e = assertThrows(SluiceException.class, () -> TensorSizes.byteSize(DType.FLOAT64, new long[] {1L << 61}, "tensor 'w'"));
        assertTrue(e.getMessage().contains("float64") && e.getMessage().contains("2^63 bytes"), e.getMessage());
        e = assertThrows(SluiceException.class, () -> TensorSizes.elementCount(new long[] {3, -2}, "tensor 'w'"));
        assertTrue(e.getMessage().contains("-2") && e.getMessage().contains("negative"), e.getMessage());
    }

    @Test
    void theJvmsLimitIsHonoured() {
        long limit = TensorSizes.limitBytes();
        assertTrue(limit >= Runtime.getRuntime().maxMemory(), "the native limit is at least the heap limit by default");
        assertTrue(TensorSizes.fits(1 << 20));
        assertFalse(TensorSizes.fits(limit + 1));
        SluiceException e = assertThrows(SluiceException.class, () -> TensorSizes.requireAllocatable(limit + 1, "input 'x'"));
        assertTrue(e.getMessage().startsWith("input 'x' needs " + (limit + 1) + " bytes") && e.getMessage().contains("MaxDirectMemorySize"),
            e.getMessage());
    }
}
