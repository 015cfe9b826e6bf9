package dev.sluice.memgraph;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * A box split's stated need ({@link BoxTiles.Plan#need}, from which the minimum budget comes) is what its largest
 * tile holds: checked against every tile of the grid, one by one, on random convs (3x3 to 7x7 windows, strides 1
 * and 2, dilations, group 1, grouped and depthwise, heights from 3 rows) at every grid the need-first search and
 * the bytes-first search choose for a range of targets. The sizer visits one block per class of each cut; a tile
 * it missed (an inner row whose window is clipped by neither edge, when the window is taller than a block) would
 * need more than stated, and the builder would refuse the stated minimum at run time.
 */
class BoxTilesTest {
    @Test void theStatedNeedIsTheLargestTilesOwn() {
        SplittableRandom r = new SplittableRandom(14);
        int grids = 0;
        for (int k = 0; k < 150; k++) {
            int c = 1 + r.nextInt(6), kk = 3 + 2 * r.nextInt(3), s = 1 + r.nextInt(2), d = 1 + r.nextInt(2);
            int group = switch (r.nextInt(3)) { case 0 -> 1; case 1 -> c; default -> c % 2 == 0 ? 2 : 1; };
            int m = group == 1 ? 2 + r.nextInt(10) : group * (1 + r.nextInt(2));
            int p = r.nextInt((kk - 1) * d / 2 + 1), h = 3 + r.nextInt(20), w = 16 * (1 + r.nextInt(3));
            if ((h + 2 * p - (kk - 1) * d - 1) < 0 || (w + 2 * p - (kk - 1) * d - 1) < 0) continue;
            Graph g = RowBandsTest.convChain(c, m, group, h, w, kk, s, p, d);
            Node n = g.nodes().getFirst();
            long full = BuildState.nodeNeed(g, n);
            for (long target : new long[] {0, full / 16, full / 8, full / 4}) {
                for (boolean byBytes : new boolean[] {false, true}) {
                    BoxTiles.Plan plan = BoxTiles.plan(g, n, target, byBytes && target > 0);
                    if (plan == null) continue;
                    String what = n.attributes() + " on " + g.typeOf("x") + " -> " + g.typeOf("y") + ", grid of " + plan.boxes().size() + " tiles";
                    assertEquals(largestTile(g, n, plan), plan.need(), what);
                    grids++;
                }
            }
        }
        assertTrue(grids > 300, grids + " grids checked");
    }

    /** By brute force: the whole inputs and, over every tile of the plan, the largest footprint. */
    private static long largestTile(Graph g, Node n, BoxTiles.Plan plan) {
        String out = n.outputs().getFirst();
        Set<String> sliced = BoxTiles.sliced(plan.tiling(), out, plan.boxes());
        long most = 0;
        for (Box b : plan.boxes()) most = Math.max(most, BoxTiles.footprint(g, plan.tiling(), out, b, sliced).bytes());
        for (String v : BoxTiles.wholeInputs(plan.tiling(), out, plan.boxes().getFirst(), sliced)) most += BoxTiles.bytes(g, v);
        return most;
    }

}
