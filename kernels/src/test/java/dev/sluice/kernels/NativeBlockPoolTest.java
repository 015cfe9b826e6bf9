package dev.sluice.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class NativeBlockPoolTest {
    @Test
    void sizeClassesHoldTheRequestWithAtMostAQuarterSlack() {
        for (long bytes : new long[] {0, 1, 63, 64, 65, 80, 81, 127, 128, 129, 1000, 4096, 409_664, 1L << 30, (1L << 30) + 1}) {
            int c = NativeBlockPool.classOf(bytes);
            long size = NativeBlockPool.classBytes(c);
            assertTrue(size >= bytes, bytes + " bytes in a class of " + size);
            if (bytes > 64) assertTrue(size <= bytes * 1.25 + 1, bytes + " bytes in a class of " + size + " (too much slack)");
            if (c > 0) assertTrue(NativeBlockPool.classBytes(c - 1) < bytes, "class " + c + " is not the smallest for " + bytes);
        }
    }

    @Test
    void aClosedBlockIsReusedZeroedAndAligned() {
        NativeBlockPool pool = new NativeBlockPool(1 << 20);
        Arena first = Arena.ofShared();
        MemorySegment a = pool.allocate(10_000, first);
        a.fill((byte) 0x5a);
        long address = a.address();
        first.close();
        assertEquals(1, pool.freshAllocations());
        assertTrue(pool.freeBytes() >= 10_000);

        Arena second = Arena.ofShared();
        MemorySegment b = pool.allocate(9_000, second); // same size class
        assertEquals(address, b.address(), "the freed block was not reused");
        assertEquals(1, pool.reusedAllocations());
        assertEquals(0, b.address() % Tensor.ALIGNMENT);
        for (long i = 0; i < b.byteSize(); i++) assertEquals(0, b.get(ValueLayout.JAVA_BYTE, i), "byte " + i + " not zeroed");
        second.close();
    }

    @Test
    void theFreeListsKeepNoMoreThanTheirCap() {
        NativeBlockPool pool = new NativeBlockPool(4096);
        Arena a1 = Arena.ofShared(), a2 = Arena.ofShared();
        pool.allocate(4000, a1);
        pool.allocate(4000, a2);
        a1.close();
        a2.close();
        assertTrue(pool.freeBytes() <= 4096, "free bytes " + pool.freeBytes() + " above the cap");
        assertEquals(1, pool.droppedBlocks());
    }

    @Test
    void eachClassKeepsOnlyAFewFreeBlocks() {
        NativeBlockPool pool = new NativeBlockPool(1 << 30);
        long big = 600_000; // a class of which only KEEP_PER_CLASS blocks are kept
        int c = NativeBlockPool.classOf(big);
        assertEquals(NativeBlockPool.KEEP_PER_CLASS, NativeBlockPool.keep(c));
        assertTrue(NativeBlockPool.keep(NativeBlockPool.classOf(1000)) > 100_000, "small blocks are kept up to the total cap");
        int n = NativeBlockPool.KEEP_PER_CLASS + 3;
        Arena[] arenas = new Arena[n];
        for (int i = 0; i < n; i++) {
            arenas[i] = Arena.ofShared();
            pool.allocate(big, arenas[i]);
        }
        for (Arena a : arenas) a.close();
        assertEquals(NativeBlockPool.KEEP_PER_CLASS * NativeBlockPool.classBytes(c), pool.freeBytes());
        assertEquals(3, pool.droppedBlocks());
    }

    @Test
    void aDroppedBlockIsFreedAtOnceNotAtTheNextCollection() {
        NativeBlockPool pool = new NativeBlockPool(1 << 30);
        long big = 600_000;
        int c = NativeBlockPool.classOf(big);
        int n = NativeBlockPool.KEEP_PER_CLASS + 3;
        Arena[] arenas = new Arena[n];
        for (int i = 0; i < n; i++) {
            arenas[i] = Arena.ofShared();
            pool.allocate(big, arenas[i]).fill((byte) 7);
        }
        long live = pool.nativeBytes();
        assertTrue(live >= n * NativeBlockPool.classBytes(c), "blocks in use: " + live + " bytes");
        for (Arena a : arenas) a.close();
        assertEquals(3, pool.droppedBlocks());
        // no collection ran between: the three dropped blocks are back in the C heap already
        assertEquals(live - 3 * (live / n), pool.nativeBytes(), "dropped blocks still held");
    }

    @Test
    void releaseLargeFreesTheLargeFreeBlocksAndKeepsTheSmallOnes() {
        NativeBlockPool pool = new NativeBlockPool(1 << 30);
        Arena a = Arena.ofShared(), b = Arena.ofShared(), s = Arena.ofShared();
        pool.allocate(600_000, a);
        pool.allocate(2_000_000, b);
        pool.allocate(1_000, s);
        a.close();
        b.close();
        s.close();
        long small = NativeBlockPool.classBytes(NativeBlockPool.classOf(1_000));
        long large = NativeBlockPool.classBytes(NativeBlockPool.classOf(600_000)) + NativeBlockPool.classBytes(NativeBlockPool.classOf(2_000_000));
        assertEquals(small + large, pool.freeBytes());
        long before = pool.nativeBytes();
        assertEquals(large, pool.releaseLarge());
        assertEquals(small, pool.freeBytes(), "the small block stays on its free list");
        assertTrue(before - pool.nativeBytes() >= large, "the large blocks' memory was not freed");
        Arena again = Arena.ofShared();
        MemorySegment m = pool.allocate(600_000, again); // a fresh block now, zeroed and aligned as ever
        assertEquals(0, pool.reusedAllocations(), "a released block was handed out again");
        assertEquals(4, pool.freshAllocations());
        assertEquals(0, m.address() % Tensor.ALIGNMENT);
        for (long i = 0; i < m.byteSize(); i += 4096) assertEquals(0, m.get(ValueLayout.JAVA_BYTE, i));
        again.close();
    }

    @Test
    void anUnclosedAutomaticBlockComesBackAfterCollection() throws InterruptedException {
        NativeBlockPool pool = new NativeBlockPool(1 << 20);
        pool.allocate(50_000).fill((byte) 1); // dropped at once
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (pool.freeBytes() == 0 && System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(20);
        }
        assertTrue(pool.freeBytes() >= 50_000, "the collected block did not return to the pool");
    }

    @Test
    void closingAnOwnedTensorRecyclesItAndItsViewsCannotBeReadAfterwards() {
        Tensor t = Tensor.allocateOwned(DType.FLOAT32, Shape.of(4, 5000)); // 80 KB: at least OWNED_MIN_BYTES
        Tensor view = t.reshaped(Shape.of(20000));
        t.setFloat(7, 3f);
        assertEquals(3f, view.getFloat(7));
        view.close(); // a view owns nothing: the view is closed, the memory stays
        assertThrows(IllegalStateException.class, () -> view.getFloat(7));
        assertEquals(3f, t.getFloat(7));
        Tensor view2 = t.reshaped(Shape.of(20000));
        t.close();
        t.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> view2.getFloat(7), "the owner's memory went with it");
        assertThrows(IllegalStateException.class, () -> t.getFloat(0));
        Tensor again = Tensor.allocateOwned(DType.FLOAT32, Shape.of(4, 5000));
        assertEquals(0f, again.getFloat(7), "recycled memory must come zeroed");
        again.close();
        Tensor small = Tensor.allocateOwned(DType.FLOAT32, Shape.of(3)); // below OWNED_MIN_BYTES: left to the collector
        small.close(); // the collector recycles its memory; the tensor itself is closed
        assertThrows(IllegalStateException.class, () -> small.setFloat(0, 2f));
        Tensor plain = Tensor.allocate(DType.FLOAT32, Shape.of(3));
        plain.close(); // memory the collector frees: closed all the same
        assertThrows(IllegalStateException.class, () -> plain.getFloat(0));
    }
}
