package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class StatsTest {
    @Test void medianOfOddAndEvenCounts() {
        assertEquals(3, Stats.median(new double[] {5, 1, 3}));
        assertEquals(2.5, Stats.median(new double[] {4, 1, 3, 2}));
        assertEquals(7, Stats.median(new double[] {7}));
        assertThrows(IllegalArgumentException.class, () -> Stats.median(new double[0]));
    }

    @Test void medianMillisConvertsNanos() {
        assertEquals(2.0, Stats.medianMillis(new long[] {3_000_000, 1_000_000, 2_000_000}));
    }

    @Test void geomeanOfRatios() {
        assertEquals(2.0, Stats.geomean(List.of(1.0, 4.0)), 1e-12);
        assertEquals(1.0, Stats.geomean(List.of(0.5, 2.0)), 1e-12);
        assertTrue(Double.isNaN(Stats.geomean(List.of())));
        assertThrows(IllegalArgumentException.class, () -> Stats.geomean(List.of(1.0, 0.0)));
    }
}
