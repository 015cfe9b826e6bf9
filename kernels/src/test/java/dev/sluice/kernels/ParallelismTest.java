package dev.sluice.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** Work sharing: every index runs exactly once, nested calls finish, and a failing index reaches the caller. */
class ParallelismTest {
    @Test
    void everyIndexRunsExactlyOnce() {
        for (int threads : new int[] {1, 2, 3, 5}) {
            Parallelism p = Parallelism.of(threads);
            for (int n : new int[] {0, 1, 2, 7, 64, 1000, 4097}) {
                AtomicIntegerArray seen = new AtomicIntegerArray(Math.max(n, 1));
                p.forEach(n, i -> seen.incrementAndGet(i));
                for (int i = 0; i < n; i++) assertEquals(1, seen.get(i), "threads " + threads + " n " + n + " index " + i);
            }
        }
    }

    @Test
    void nestedCallsOnEveryThreadFinish() {
        Parallelism p = Parallelism.of(3);
        AtomicIntegerArray seen = new AtomicIntegerArray(40 * 50);
        for (int round = 0; round < 20; round++) {
            p.forEach(40, i -> p.forEach(50, j -> seen.incrementAndGet(i * 50 + j)));
        }
        for (int i = 0; i < seen.length(); i++) assertEquals(20, seen.get(i), "index " + i);
    }

    @Test
    void aFailingIndexIsRethrownAfterTheOthersRan() {
        Parallelism p = Parallelism.of(2);
        AtomicIntegerArray seen = new AtomicIntegerArray(100);
        IllegalStateException boom = new IllegalStateException("index 37");
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> p.forEach(100, i -> {
            seen.incrementAndGet(i);
            if (i == 37) throw boom;
        }));
        assertSame(boom, thrown);
        for (int i = 0; i < 100; i++) assertEquals(1, seen.get(i), "index " + i);
    }
}
