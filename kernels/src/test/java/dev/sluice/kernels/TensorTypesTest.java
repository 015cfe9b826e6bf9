package dev.sluice.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import org.junit.jupiter.api.Test;

/**
 * Tensors of every element type from Java arrays, NIO buffers (either byte order, heap or direct) and a caller's
 * memory segment, read back into arrays and buffers. Expected bytes are written here by hand or by
 * {@link ByteBuffer}'s own encoders, never by Tensor.
 */
class TensorTypesTest {
    static final Shape S = Shape.of(2, 2);

    @Test
    void arraysOfEveryTypeRoundTrip() {
        assertArrayEquals(new float[] {1.5f, -2f, 0f, 3e9f}, Tensor.ofFloats(S, 1.5f, -2f, 0f, 3e9f).toFloatArray());
        assertArrayEquals(new double[] {1e300, -0.1, 0, 2}, Tensor.ofDoubles(S, 1e300, -0.1, 0, 2).toDoubleArray());
        assertArrayEquals(new long[] {Long.MIN_VALUE, -1, 0, Long.MAX_VALUE}, Tensor.ofLongs(S, Long.MIN_VALUE, -1, 0, Long.MAX_VALUE).toLongArray());
        assertArrayEquals(new int[] {Integer.MIN_VALUE, -1, 0, 7}, Tensor.ofInts(S, Integer.MIN_VALUE, -1, 0, 7).toIntArray());
        assertArrayEquals(new short[] {-32768, -1, 0, 32767}, Tensor.ofShorts(S, (short) -32768, (short) -1, (short) 0, (short) 32767).toShortArray());
        assertArrayEquals(new byte[] {-128, -1, 0, 127}, Tensor.ofBytes(S, (byte) -128, (byte) -1, (byte) 0, (byte) 127).toByteArray());
        assertArrayEquals(new boolean[] {true, false, false, true}, Tensor.ofBooleans(S, true, false, false, true).toBooleanArray());
        // float16: 1.5, -2.25 and 65504 are exact in binary16; 1/3 rounds to 0x3555 (IEEE round to nearest even)
        Tensor h = Tensor.ofFloat16(S, 1.5f, -2.25f, 65504f, 1f / 3);
        assertEquals(DType.FLOAT16, h.dtype());
        assertArrayEquals(new short[] {0x3e00, (short) 0xc080, 0x7bff, 0x3555}, h.toShortArray());
        assertEquals(0.333251953125f, h.toFloatArray()[3]);
    }

    @Test
    void unsignedTypesReadTheirBitsUnsigned() {
        assertArrayEquals(new long[] {200, 255, 0, 1}, Tensor.of(DType.UINT8, S, (byte) 200, (byte) -1, (byte) 0, (byte) 1).toLongArray());
        assertArrayEquals(new long[] {65535, 40000, 0, 1}, Tensor.of(DType.UINT16, S, (short) -1, (short) 40000, (short) 0, (short) 1).toLongArray());
        assertArrayEquals(new long[] {4294967295L, 3000000000L, 0, 1}, Tensor.of(DType.UINT32, S, -1, (int) 3000000000L, 0, 1).toLongArray());
        Tensor u64 = Tensor.of(DType.UINT64, S, -1L, 0L, 1L, Long.MIN_VALUE);
        assertEquals(18446744073709551615.0, u64.getDouble(0));
        assertEquals(9223372036854775808.0, u64.getDouble(3));
        assertTrue(u64.toString().contains("18446744073709551615"), u64.toString());
        assertEquals(DType.INT8, Tensor.of(DType.INT8, S, new byte[4]).dtype());
        assertEquals(DType.INT64, Tensor.of(DType.INT64, S, new long[4]).dtype());
    }

    @Test
    void mismatchedTypesAndCountsAreRefusedNamingWhat() {
        KernelException e = assertThrows(KernelException.class, () -> Tensor.of(DType.FLOAT32, S, 1, 2, 3, 4));
        assertTrue(e.getMessage().contains("int[]") && e.getMessage().contains("float32"), e.getMessage());
        e = assertThrows(KernelException.class, () -> Tensor.ofFloats(S, 1f, 2f, 3f));
        assertTrue(e.getMessage().contains("3 values") && e.getMessage().contains("4 elements"), e.getMessage());
        e = assertThrows(KernelException.class, () -> Tensor.of(DType.BOOL, S, (byte) 0, (byte) 2, (byte) 1, (byte) 0));
        assertTrue(e.getMessage().contains("element 1 is 2"), e.getMessage());
        e = assertThrows(KernelException.class, () -> Tensor.of(DType.INT32, S, ByteBuffer.allocate(15)));
        assertTrue(e.getMessage().contains("15 bytes"), e.getMessage());
    }

    @Test
    void byteBuffersAreReadInTheirOwnByteOrder() {
        for (ByteOrder order : new ByteOrder[] {ByteOrder.BIG_ENDIAN, ByteOrder.LITTLE_ENDIAN}) {
            for (boolean direct : new boolean[] {false, true}) {
                ByteBuffer b = (direct ? ByteBuffer.allocateDirect(20) : ByteBuffer.allocate(20)).order(order);
                b.position(4); // read from the position, not from 0
                b.putFloat(1.25f).putFloat(-3f).putFloat(1e-3f).putFloat(42f).position(4);
                Tensor t = Tensor.of(DType.FLOAT32, S, b);
                String where = order + (direct ? " direct" : " heap");
                assertArrayEquals(new float[] {1.25f, -3f, 1e-3f, 42f}, t.toFloatArray(), where);
                assertEquals(4, b.position(), "reading leaves the position: " + where);
                ByteBuffer out = ByteBuffer.allocate(16).order(order);
                t.copyTo(out);
                assertEquals(16, out.position());
                out.flip();
                for (float f : new float[] {1.25f, -3f, 1e-3f, 42f}) assertEquals(f, out.getFloat(), where);
            }
        }
        ByteBuffer le = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putShort((short) 0x1234).putShort((short) -2).flip();
        assertArrayEquals(new long[] {0x1234, 65534}, Tensor.of(DType.UINT16, Shape.of(2), le).toLongArray());
    }

    @Test
    void typedBuffersInAndOut() {
        FloatBuffer fb = ByteBuffer.allocateDirect(16).order(ByteOrder.BIG_ENDIAN).asFloatBuffer().put(new float[] {1, 2, 3, 4}).flip();
        Tensor f = Tensor.of(S, fb);
        assertArrayEquals(new float[] {1, 2, 3, 4}, f.toFloatArray());
        FloatBuffer fo = FloatBuffer.allocate(5);
        f.copyTo(fo);
        assertEquals(4, fo.position());
        assertArrayEquals(new float[] {1, 2, 3, 4, 0}, fo.array());
        assertArrayEquals(new double[] {0.5, 1, 2, 4}, Tensor.of(S, DoubleBuffer.wrap(new double[] {0.5, 1, 2, 4})).toDoubleArray());
        assertArrayEquals(new long[] {9, 8, 7, 6}, Tensor.of(DType.INT64, S, LongBuffer.wrap(new long[] {9, 8, 7, 6})).toLongArray());
        assertArrayEquals(new int[] {9, -8, 7, 6}, Tensor.of(DType.INT32, S, IntBuffer.wrap(new int[] {9, -8, 7, 6})).toIntArray());
        assertArrayEquals(new short[] {9, -8, 7, 6}, Tensor.of(DType.INT16, S, ShortBuffer.wrap(new short[] {9, -8, 7, 6})).toShortArray());
        IntBuffer io = IntBuffer.allocate(4);
        Tensor.ofInts(S, 5, 6, 7, 8).copyTo(io);
        assertArrayEquals(new int[] {5, 6, 7, 8}, io.array());
        LongBuffer lo = LongBuffer.allocate(4);
        Tensor.ofLongs(S, 5, 6, 7, 8).copyTo(lo);
        assertArrayEquals(new long[] {5, 6, 7, 8}, lo.array());
        assertThrows(KernelException.class, () -> Tensor.ofFloats(S, 1, 2, 3, 4).copyTo(IntBuffer.allocate(4)));
        assertThrows(java.nio.BufferOverflowException.class, () -> Tensor.ofFloats(S, 1, 2, 3, 4).copyTo(FloatBuffer.allocate(3)));
        ByteBuffer raw = Tensor.ofInts(Shape.of(2), 1, 258).toByteBuffer();
        assertEquals(1, raw.getInt(0));
        assertEquals(258, raw.getInt(4));
    }

    @Test
    void anAlignedSharedSegmentIsWrappedWithoutACopy() {
        try (Arena a = Arena.ofShared()) {
            MemorySegment seg = a.allocate(16, Tensor.ALIGNMENT);
            for (int i = 0; i < 4; i++) seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, i + 0.5f);
            Tensor t = Tensor.wrap(DType.FLOAT32, S, seg);
            assertTrue(t.isWrapped());
            assertEquals(seg.address(), t.data().address(), "the caller's memory itself");
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, 0, 99f);
            assertEquals(99f, t.getFloat(0), "a write by the caller shows through");
            assertArrayEquals(new float[] {99f, 1.5f, 2.5f, 3.5f}, t.reshaped(Shape.of(4)).toFloatArray());
            assertThrows(IllegalStateException.class, t::withHeader, "no header slot in front of caller memory");
            Tensor c = t.copy();
            assertFalse(c.isWrapped());
            assertEquals(c.data().address() - Tensor.HEADER_BYTES, c.withHeader().address());
        }
    }

    @Test
    void otherSegmentsAreCopiedOnce() {
        try (Arena shared = Arena.ofShared(); Arena confined = Arena.ofConfined()) {
            MemorySegment misaligned = shared.allocate(16 + 4, Tensor.ALIGNMENT).asSlice(4, 16);
            MemorySegment owned = confined.allocate(16, Tensor.ALIGNMENT);
            MemorySegment heap = MemorySegment.ofArray(new float[] {1, 2, 3, 4});
            MemorySegment readOnly = shared.allocate(16, Tensor.ALIGNMENT).asReadOnly();
            for (MemorySegment s : new MemorySegment[] {misaligned, owned, heap}) {
                for (int i = 0; i < 4; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, i + 1);
            }
            for (MemorySegment s : new MemorySegment[] {misaligned, owned, heap, readOnly}) {
                Tensor t = Tensor.wrap(DType.FLOAT32, S, s);
                assertFalse(t.isWrapped(), s.toString());
                assertNotEquals(s.address(), t.data().address());
                if (s != readOnly) assertArrayEquals(new float[] {1, 2, 3, 4}, t.toFloatArray());
            }
            KernelException e = assertThrows(KernelException.class, () -> Tensor.wrap(DType.FLOAT32, S, heap.asSlice(0, 12)));
            assertTrue(e.getMessage().contains("12 bytes"), e.getMessage());
        }
    }

    @Test
    void aClosedTensorRefusesUseAndSaysSo() {
        Tensor t = Tensor.ofFloats(S, 1, 2, 3, 4);
        assertTrue(t.toString().startsWith("Tensor<float32>[2,2] [1.0, 2.0, 3.0, 4.0]"), t.toString());
        t.close();
        assertTrue(t.isClosed());
        assertThrows(IllegalStateException.class, t::toFloatArray);
        assertThrows(IllegalStateException.class, () -> t.getFloat(0));
        assertThrows(IllegalStateException.class, t::data);
        assertThrows(IllegalStateException.class, t::copy);
        assertEquals("Tensor<float32>[2,2] (closed)", t.toString());
        Tensor owned = Tensor.allocateOwned(DType.FLOAT32, Shape.of(64, 1024));
        Tensor view = owned.reshaped(Shape.of(64 * 1024));
        owned.close();
        assertThrows(IllegalStateException.class, () -> view.getFloat(0), "an owned tensor's views lose its memory with it");
    }

    @Test
    void toStringShowsTheFirstValuesOfLongTensors() {
        long[] v = new long[20];
        for (int i = 0; i < v.length; i++) v[i] = i * 10;
        assertEquals("Tensor<int64>[4,5] [0, 10, 20, 30, 40, 50, 60, 70, ... (20 values)]", Tensor.ofLongs(Shape.of(4, 5), v).toString());
        assertEquals("Tensor<bool>[2] [true, false]", Tensor.ofBooleans(Shape.of(2), true, false).toString());
    }
}
