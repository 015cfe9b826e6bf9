package dev.sluice.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class TensorTest {
    @Test
    void dataIsAlignedWithAHeaderSlotRightBeforeIt() {
        for (DType dt : DType.values()) {
            Tensor t = Tensor.allocate(dt, Shape.of(3, 5));
            assertEquals(0, t.data().address() % Tensor.ALIGNMENT, dt + " data alignment");
            assertEquals(t.data().address() - Tensor.HEADER_BYTES, t.withHeader().address(), dt + " header position");
            assertEquals(Tensor.HEADER_BYTES + 15L * dt.byteSize(), t.withHeader().byteSize());
        }
    }

    @Test
    void blocksFromAnArenaKeepTheLayout() {
        try (Arena a = Arena.ofConfined()) {
            long bytes = Tensor.blockBytes(10 * 4);
            var arena = a.allocate(3 * bytes, Tensor.ALIGNMENT);
            Tensor t = Tensor.inBlock(DType.FLOAT32, Shape.of(10), arena.asSlice(bytes, bytes));
            assertEquals(0, t.data().address() % Tensor.ALIGNMENT);
            assertThrows(KernelException.class, () -> Tensor.inBlock(DType.FLOAT32, Shape.of(100), arena.asSlice(0, bytes)));
        }
    }

    @Test
    void float16RoundTripsThroughFloat() {
        Tensor t = Tensor.allocate(DType.FLOAT16, Shape.of(4));
        float[] v = {1.5f, -2.25f, 65504f, 0.000061035156f}; // all exactly representable in binary16
        for (int i = 0; i < v.length; i++) t.setFloat(i, v[i]);
        for (int i = 0; i < v.length; i++) assertEquals(v[i], t.getFloat(i));
        t.setFloat(0, 1e6f); // beyond binary16's range: infinity, as IEEE rounding says
        assertTrue(Float.isInfinite(t.getFloat(0)));
    }

    @Test
    void integerStoresWrapToTheElementWidth() {
        Tensor u8 = Tensor.allocate(DType.UINT8, Shape.of(1));
        u8.setLong(0, 257);
        assertEquals(1, u8.getLong(0));
        Tensor i8 = Tensor.allocate(DType.INT8, Shape.of(1));
        i8.setLong(0, 200);
        assertEquals(-56, i8.getLong(0));
        Tensor u32 = Tensor.allocate(DType.UINT32, Shape.of(1));
        u32.setLong(0, 4_000_000_000L);
        assertEquals(4_000_000_000L, u32.getLong(0));
    }

    @Test
    void negativeDimensionsAreRefused() {
        assertThrows(KernelException.class, () -> Shape.of(2, -1));
    }
}
