package dev.sluice.memgraph;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.TilingOptions;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The tiling switches are a value the builder carries, not JVM-wide flags: MemGraphs built one after another in one
 * JVM with different {@link TilingOptions} each use only the tile kinds theirs allow, and the minimum budget follows
 * the switches (with every split off it is the largest node's whole need, counted here by brute force).
 */
class TilingOptionsTest {
    static Set<Tile.Kind> kinds(MemGraph m) {
        Set<Tile.Kind> s = new TreeSet<>();
        for (Task t : m.tasks()) if (t instanceof Task.Kernel k && k.tile() != null) s.add(k.tile().kind());
        return s;
    }

    static long kernels(MemGraph m) { return m.tasks().stream().filter(t -> t instanceof Task.Kernel).count(); }

    @Test void twoBuildsInOneJvmEachUseTheirOwnSwitches() {
        Graph g = MemGraphTest.unet(6, 64, 128);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        DeviceSpec d = MemGraphTest.throttled(full / 4);
        TilingOptions on = TilingOptions.allOn();
        MemGraph a = MemGraph.onDevice(g, d, on);
        MemGraph b = MemGraph.onDevice(g, d, on.with("columns", false));
        MemGraph c = MemGraph.onDevice(g, d, on.with("elements", false));
        MemGraph again = MemGraph.onDevice(g, d, on);
        System.out.println("all on " + kinds(a) + ", columns off " + kinds(b) + ", elements off " + kinds(c));
        assertTrue(kinds(a).containsAll(Set.of(Tile.Kind.OUTPUT_COLUMNS, Tile.Kind.ELEMENTS)), a.summary());
        assertFalse(kinds(b).contains(Tile.Kind.OUTPUT_COLUMNS), b.summary());
        assertTrue(kinds(b).contains(Tile.Kind.ELEMENTS), b.summary());
        assertFalse(kinds(c).contains(Tile.Kind.ELEMENTS), c.summary());
        assertTrue(kinds(c).contains(Tile.Kind.OUTPUT_COLUMNS), c.summary());
        // building with other switches in between leaves the first plan as it was: nothing leaked between builds
        assertEquals(a.tasks(), again.tasks());
        assertEquals(a.edges(), again.edges());
        for (MemGraph m : new MemGraph[] {a, b, c}) assertTrue(m.plannedPeak().get(1) <= d.budgetBytes(), m.summary());
    }

    @Test void withEverySplitOffTheMinimumIsTheLargestWholeNodeAndTheGraphRunsWhole() {
        Graph g = MemGraphTest.unet(6, 64, 128);
        TilingOptions off = TilingOptions.allOn().with("off", true);
        long largest = 0; // brute force: each node's distinct inputs and outputs, each in its arena block
        for (Node n : g.nodes()) {
            long s = 0;
            for (String v : new java.util.LinkedHashSet<>(n.inputs())) s += blockOf(g, v);
            for (String v : n.outputs()) s += blockOf(g, v);
            largest = Math.max(largest, s);
        }
        assertEquals(largest, MemGraph.minimumBudget(g, MemGraphTest.throttled(1), off));
        long min = MemGraph.minimumBudget(g, MemGraphTest.throttled(1), TilingOptions.allOn());
        assertTrue(min < largest, "tiles lower the minimum: " + min + " vs " + largest);
        long full = MemGraph.fullNeed(g, MemGraphTest.throttled(1));
        MemGraph whole = MemGraph.onDevice(g, MemGraphTest.throttled(full), off);
        assertTrue(kinds(whole).isEmpty(), whole.summary());
        assertEquals(g.nodes().size(), kernels(whole), whole.summary());
        assertTrue(kernels(MemGraph.onDevice(g, MemGraphTest.throttled(full), TilingOptions.allOn())) > g.nodes().size(),
            "all on, the same budget splits the weights into column tiles");
        // below the largest node, tiles off is refused naming the number it needs; tiles on plans it
        long below = largest - 1;
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, MemGraphTest.throttled(below), off));
        assertEquals(largest, e.neededBytes(), e.getMessage());
        assertFalse(kinds(MemGraph.onDevice(g, MemGraphTest.throttled(below), TilingOptions.allOn())).isEmpty());
    }

    @Test void theOptionsNameTheirSwitches() {
        TilingOptions o = TilingOptions.allOn().with("rows", false).with("gridByBytes", false);
        assertFalse(o.rows());
        assertFalse(o.gridByBytes());
        assertTrue(o.columns() && o.boxes() && o.keepPartials() && o.tiles());
        assertEquals("tiling=on rows=off gridByBytes=off", o.toString());
        assertEquals("tiling=off", o.with("off", true).toString());
        assertThrows(IllegalArgumentException.class, () -> o.with("diagonals", false));
    }

    private static long blockOf(Graph g, String v) {
        var c = g.initializers().get(v);
        if (c != null) return dev.sluice.kernels.Tensor.blockBytes(c.byteSize());
        var t = g.typeOf(v);
        return dev.sluice.kernels.Tensor.blockBytes(dev.sluice.kernels.Tensor.byteSize(t.dtype(), t.shape().toShape()));
    }
}
