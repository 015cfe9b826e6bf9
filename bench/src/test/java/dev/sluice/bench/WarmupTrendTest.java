package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class WarmupTrendTest {
    @Test void notSteadyBeforeTwoWindows() {
        WarmupTrend t = new WarmupTrend();
        for (int i = 0; i < 2 * WarmupTrend.WINDOW - 1; i++) t.add(1000);
        assertFalse(t.steady());
        t.add(1000);
        assertTrue(t.steady());
    }

    @Test void runsStillGettingFasterKeepTheWarmUpOpen() {
        WarmupTrend t = new WarmupTrend();
        // 20% faster each window, as while C2 is still compiling the kernels
        for (int i = 0; i < WarmupTrend.WINDOW; i++) t.add(10_000);
        for (int i = 0; i < WarmupTrend.WINDOW; i++) t.add(8_000);
        assertFalse(t.steady());
        for (int i = 0; i < WarmupTrend.WINDOW; i++) t.add(7_900);
        assertTrue(t.steady(), "within 10% of the window before");
    }

    @Test void oneOutlierDoesNotDecide() {
        WarmupTrend t = new WarmupTrend();
        for (int i = 0; i < 2 * WarmupTrend.WINDOW; i++) t.add(5_000);
        t.add(1); // one lucky run: the median of the newest window stays 5,000
        assertTrue(t.steady());
        WarmupTrend u = new WarmupTrend();
        for (int i = 0; i < WarmupTrend.WINDOW; i++) u.add(9_000);
        for (int i = 0; i < WarmupTrend.WINDOW; i++) u.add(i == 3 ? 90_000 : 5_000); // one slow run among fast ones
        assertFalse(u.steady(), "the newer median (5,000) is far below the older (9,000)");
    }

    @Test void aFlatWindowWhileTheJitCompilesIsNotSteady() {
        long ms = 1_000_000L;
        WarmupTrend t = new WarmupTrend();
        // runs 100 ms apart, all 5,000 ns; the JIT compiles 20 ms in every 100 ms (20% of the time)
        for (int i = 0; i < 2 * WarmupTrend.WINDOW; i++) t.add(5_000, i * 100 * ms, i * 20L);
        assertFalse(t.steady(), "the JIT was busy for 20% of the newest window");
        // then it goes quiet: 1 ms of compiling over the next window's 900 ms
        for (int i = 0; i < WarmupTrend.WINDOW; i++) t.add(5_000, (20 + i) * 100 * ms, 380 + (i == WarmupTrend.WINDOW - 1 ? 1 : 0));
        assertTrue(t.steady());
    }
}
