package dev.sluice.memgraph;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.kernels.device.LaneKind;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Box tiles keep the input boxes that later tiles read again on the device while there is room ({@link BoxTileTasks}'s
 * cache). A 1x1 conv of 64 into 256 channels on 256 positions, x and w 64 KiB each, y 256 KiB, at budgets from a third to
 * two thirds of its whole need: its grid cuts both the output channels and the positions, so without the cache either
 * each weight block or each input box crosses once per block of the other cut. With the cache, where the budget holds
 * all of w beside a tile, every box of x and of w crosses the link once.
 */
class BoxCacheTest {
    static final DeviceSpec THROTTLED = new DeviceSpec("throttled", DeviceKind.THROTTLED, 1);

    @Test void boxesReadAgainCrossOnceWhenTheyFit() {
        Graph g = RowBandsTest.convChain(64, 256, 1, 1, 256, 1, 1, 0, 1);
        long full = MemGraph.fullNeed(g, THROTTLED);
        int checked = 0;
        for (long budget = full / 3; budget <= 2 * full / 3; budget += full / 24) {
            MemGraph plan = MemGraph.onDevice(g, THROTTLED.withBudget(budget));
            Map<String, Integer> copies = new HashMap<>();
            long wBytes = 0;
            int tiles = 0;
            for (Task t : plan.tasks()) {
                if (t instanceof Task.Kernel k && k.tile() != null && k.tile().kind() == Tile.Kind.OUTPUT_BOX) tiles++;
                if (!(t instanceof Task.Transfer tr) || tr.lane() != LaneKind.H2D || !tr.boxed()) continue;
                copies.merge(tr.label().split(" ")[1] + " " + tr.box(), 1, Integer::sum);
                if (tr.label().startsWith("h2d w ")) wBytes += tr.bytes();
            }
            if (tiles == 0) continue; // the budget holds the node whole: nothing is boxed
            checked++;
            for (var e : copies.entrySet()) assertEquals(1, e.getValue(), "budget " + budget + " of " + full + ": box " + e.getKey() + " crosses more than once");
            // every box of w crosses once, so w crosses about once in all (its boxes' block headers and alignment beside)
            assertTrue(wBytes < 64 * 256 * 4 * 11 / 10, "budget " + budget + ": w moved " + wBytes + " B");
        }
        assertTrue(checked >= 4, "only " + checked + " budgets split the conv into boxes");
    }
}
