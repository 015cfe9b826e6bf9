package dev.sluice.bench.turnip;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.Task;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link BytesBound} is a lower bound: on random conv nets (convs of any group that split into row bands or output
 * boxes, depthwise ones among them, ReLUs, residual Adds, weights shared by several convs so that constants are
 * re-read across cuts, activations that live long) at random budgets between the least the planner accepts and the
 * no-offload need, no plan the planner makes moves fewer bytes over the link (H2D and D2H copies, offloads, reloads)
 * than the bound. A bound that claimed one byte too many in any of its terms would fail here where that term decides.
 * The plans are the builder's own, counted task by task, not a model of them.
 */
class BytesBoundTest {
    static final DeviceSpec THROTTLED = new DeviceSpec("throttled", DeviceKind.THROTTLED, 1);

    @Test void noPlanMovesFewerBytesThanTheBound() {
        SplittableRandom rnd = new SplittableRandom(14);
        int plans = 0, withTrips = 0;
        double tightest = Double.MAX_VALUE;
        for (int k = 0; k < 60; k++) {
            Graph g = dev.sluice.runtime.fixtures.RandomConvNets.of(rnd);
            long full = MemGraph.fullNeed(g, THROTTLED), min = MemGraph.minimumBudget(g, THROTTLED);
            // from the stated minimum (every budget from it runs, MinimumBudgetTest)
            long low = min;
            List<Long> budgets = new ArrayList<>(List.of(low, full));
            for (int b = 0; b < 4; b++) budgets.add(low + (long) (rnd.nextDouble() * rnd.nextDouble() * Math.max(0, full - low)));
            for (long budget : budgets) {
                MemGraph plan;
                try {
                    plan = MemGraph.onDevice(g, THROTTLED.withBudget(budget));
                } catch (RuntimeException e) {
                    throw new AssertionError("net " + k + " at " + budget + " B (min " + min + ", full " + full + "): " + g.nodes() + " " + g.types(), e);
                }
                long moved = 0;
                for (Task t : plan.tasks()) if (t.lane().isCopy()) moved += t.bytes();
                long bound = BytesBound.of(g, budget), anyOrder = BytesBound.anyOrder(g, budget);
                assertTrue(anyOrder <= moved, "net " + k + " at " + budget + " B: moved " + moved + " < any-order bound " + anyOrder);
                assertTrue(bound <= moved, "net " + k + " at " + budget + " B (min " + min + ", full " + full + "): moved " + moved
                    + " < bound " + bound + " (" + BytesBound.explain(g, budget) + "); " + plan.summary());
                plans++;
                if (!BytesBound.explain(g, budget).endsWith(" 0")) {
                    withTrips++;
                    tightest = Math.min(tightest, (double) moved / bound);
                }
            }
        }
        // the cut term must have decided often enough for the check to mean something
        assertTrue(withTrips >= plans / 5, withTrips + " of " + plans + " plans had a cut over the budget");
        System.out.println("BytesBoundTest: " + plans + " plans, " + withTrips + " with a cut over the budget; tightest moved/bound there " + tightest);
    }

    /**
     * The terms by hand on two small graphs of [1, 256] float vectors (1,024 bytes each). x -> Relu a -> Relu b, then
     * Add(a, b) -> c (the output): at the cut after b's node, a and b (2,048 B) are live intermediates, so at a budget of
     * 1,500 B, 548 B must go down and up again. And w (a constant) read by the first and the last of three MatMuls: at
     * the cut after the first, w is a constant read again and h an intermediate; over a budget of 1,500 B by 548 B, which
     * costs 548 B if w is dropped (reloaded once); over by 1,648 B at a budget of 400 B, w's 1,024 B cost 1 each and
     * the other 624 B (of h) 2 each.
     */
    @Test void theTermsAddUpAsDerived() {
        TensorType v = TensorType.of(DType.FLOAT32, Shape.of(1, 256));
        Graph g = new Graph("t", List.of(new Node("r1", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
                new Node("r2", "Relu", "", List.of("a"), List.of("b"), Attributes.EMPTY),
                new Node("add", "Add", "", List.of("a", "b"), List.of("c"), Attributes.EMPTY)),
            List.of(new Value("x", v)), List.of(new Value("c", v)), Map.of(), new HashMap<>(Map.of("x", v, "a", v, "b", v, "c", v)));
        assertEquals(1024 + 1024 + 2 * (2048 - 1500), BytesBound.of(g, 1500));
        assertEquals(1024 + 1024, BytesBound.of(g, 2048));
        TensorType m = TensorType.of(DType.FLOAT32, Shape.of(16, 16));
        Graph h = new Graph("t", List.of(new Node("m1", "MatMul", "", List.of("x", "w"), List.of("h1"), Attributes.EMPTY),
                new Node("m2", "MatMul", "", List.of("h1", "u"), List.of("h2"), Attributes.EMPTY),
                new Node("m3", "MatMul", "", List.of("h2", "w"), List.of("y"), Attributes.EMPTY)),
            List.of(new Value("x", m)), List.of(new Value("y", m)),
            Map.of("w", Tensor.allocate(DType.FLOAT32, Shape.of(16, 16)), "u", Tensor.allocate(DType.FLOAT32, Shape.of(16, 16))),
            new HashMap<>(Map.of("x", m, "h1", m, "h2", m, "y", m)));
        long once = 3 * 1024 + 1024; // x, w, u up; y down
        assertEquals(once + 548, BytesBound.of(h, 1500));
        assertEquals(once + 1024 + 2 * 624, BytesBound.of(h, 400));
        assertEquals(once, BytesBound.of(h, 2048));
    }

    /**
     * Term (4) by hand on [1, 256] float vectors (1,024 bytes each). x -> Relu a, a -> Relu b, Add(a, b) -> c, c -> Relu d,
     * d -> Relu e, Add(d, e) -> f (the output). The cut after b's node holds a and b (2,048 B), the cut after e's holds d
     * and e (2,048 B): no value in both, so at a budget of 1,500 B both claims of 2 x 548 B add up, where the fullest cut
     * alone claims one. When the last node also reads a, every cut holds a (its largest, after e's node, holds a, d and e,
     * 3,072 B): the cuts share a, so only the largest claim counts (summing them would charge a's one offload several times).
     */
    @Test void cutsThatShareNoValueAddUp() {
        TensorType v = TensorType.of(DType.FLOAT32, Shape.of(1, 256));
        Map<String, TensorType> types = new HashMap<>();
        for (String n : List.of("x", "a", "b", "c", "d", "e", "f")) types.put(n, v);
        Graph g = new Graph("t", List.of(new Node("r1", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
                new Node("r2", "Relu", "", List.of("a"), List.of("b"), Attributes.EMPTY),
                new Node("add1", "Add", "", List.of("a", "b"), List.of("c"), Attributes.EMPTY),
                new Node("r3", "Relu", "", List.of("c"), List.of("d"), Attributes.EMPTY),
                new Node("r4", "Relu", "", List.of("d"), List.of("e"), Attributes.EMPTY),
                new Node("add2", "Add", "", List.of("d", "e"), List.of("f"), Attributes.EMPTY)),
            List.of(new Value("x", v)), List.of(new Value("f", v)), Map.of(), types);
        assertEquals(1024 + 1024 + 2 * 2 * (2048 - 1500), BytesBound.of(g, 1500));
        assertEquals(2 * (2048 - 1500), BytesBound.fullestCut(g, 1500));
        // a read by the last node too: every cut from r1's to add1's holds a; the cut after r2's holds a, b (2,048 B), the cut
        // after r4's holds a, d, e (3,072 B). They share a, so only the larger claim, 2 x (3,072 - 1,500), counts.
        Graph h = new Graph("t", List.of(new Node("r1", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
                new Node("r2", "Relu", "", List.of("a"), List.of("b"), Attributes.EMPTY),
                new Node("add1", "Add", "", List.of("a", "b"), List.of("c"), Attributes.EMPTY),
                new Node("r3", "Relu", "", List.of("c"), List.of("d"), Attributes.EMPTY),
                new Node("r4", "Relu", "", List.of("d"), List.of("e"), Attributes.EMPTY),
                new Node("add2", "Sum", "", List.of("d", "e", "a"), List.of("f"), Attributes.EMPTY)),
            List.of(new Value("x", v)), List.of(new Value("f", v)), Map.of(), types);
        assertEquals(1024 + 1024 + 2 * (3072 - 1500), BytesBound.of(h, 1500));
    }

    /**
     * What a node reads only in part is claimed for nothing. a = Relu(x) read only by a Slice that keeps half of it: a is in
     * no cut, whatever the budget (the bound without whole reads claimed 2 x (1,024 - 64) B for it). a read only by a 1x1 conv
     * of stride 2, which reads a quarter of its positions: not claimed either; by a 3x3 conv of stride 1 and pads 1, which
     * reads every position: the cuts after r1's and r2's nodes hold a (1,024 B; b is an output, paid by its D2H), over a
     * budget of 500 B by 524 B, claimed once (both cuts hold a).
     */
    @Test void partReadsAreClaimedForNothing() {
        TensorType v = TensorType.of(DType.FLOAT32, Shape.of(1, 256)), half = TensorType.of(DType.FLOAT32, Shape.of(1, 128));
        Map<String, Tensor> init = new HashMap<>();
        for (String p : List.of("st", "en", "ax")) init.put(p, Tensor.allocate(DType.INT64, Shape.of(1)));
        Graph g = new Graph("t", List.of(new Node("r1", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
                new Node("s", "Slice", "", List.of("a", "st", "en", "ax"), List.of("c"), Attributes.EMPTY)),
            List.of(new Value("x", v)), List.of(new Value("c", half)), init, new HashMap<>(Map.of("x", v, "a", v, "c", half)));
        // x up and the Slice's three 8-byte parameters, c down
        assertEquals(1024 + 24 + 512, BytesBound.of(g, 64));
        TensorType img = TensorType.of(DType.FLOAT32, Shape.of(1, 1, 16, 16)), small = TensorType.of(DType.FLOAT32, Shape.of(1, 1, 8, 8));
        Map<String, Attr> strided = Map.of("strides", new Attr.Ints(new long[] {2, 2}), "kernel_shape", new Attr.Ints(new long[] {1, 1}));
        Map<String, Attr> padded = Map.of("pads", new Attr.Ints(new long[] {1, 1, 1, 1}), "kernel_shape", new Attr.Ints(new long[] {3, 3}));
        for (boolean whole : new boolean[] {false, true}) {
            Map<String, Tensor> w = Map.of("w", Tensor.allocate(DType.FLOAT32, whole ? Shape.of(1, 1, 3, 3) : Shape.of(1, 1, 1, 1)));
            TensorType yt = whole ? img : small;
            Graph h = new Graph("t", List.of(new Node("r1", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
                    new Node("r2", "Relu", "", List.of("z"), List.of("b"), Attributes.EMPTY),
                    new Node("conv", "Conv", "", List.of("a", "w"), List.of("y"), new Attributes(whole ? padded : strided))),
                List.of(new Value("x", img), new Value("z", img)), List.of(new Value("b", img), new Value("y", yt)), w,
                new HashMap<>(Map.of("x", img, "z", img, "a", img, "b", img, "y", yt)));
            long once = 2 * 1024 + w.get("w").byteSize() + 1024 + Tensor.byteSize(DType.FLOAT32, yt.shape().toShape());
            assertEquals(once + (whole ? 2 * 524 : 0), BytesBound.of(h, 500), whole ? "3x3 stride 1 pads 1" : "1x1 stride 2");
        }
    }

    /**
     * Band chains: in x -> Relu a -> Sigmoid b -> Relu c (the output), on [1, 4, 16, 16] floats (4,096 B each), a is read by
     * the next node alone row for row, so a plan may run the three nodes band by band (BandChains) and a never exists whole:
     * the node-order bound claims nothing for the cuts inside (at a budget of 1,000 B it claimed 2 x (4,096 - 1,000) at
     * each before). The any-order bound claims a value only where it must be wholly live: in a squeeze-excite shape, v =
     * Relu(x), s = Conv1x1(GlobalAveragePool(v)) on one position, y = Mul(v, s): the Mul computes nothing before s, which
     * depends on all of v, and then still reads all of v, so at a budget of 1,000 B it claims 2 x (4,096 - 1,000) for v;
     * without the gate (y = Mul(v, x)) nothing.
     */
    @Test void chainsAndWhollyLiveValues() {
        TensorType a = TensorType.of(DType.FLOAT32, Shape.of(1, 4, 16, 16)), c1 = TensorType.of(DType.FLOAT32, Shape.of(1, 4, 1, 1));
        Graph chain = new Graph("t", List.of(new Node("r1", "Relu", "", List.of("x"), List.of("a"), Attributes.EMPTY),
                new Node("s", "Sigmoid", "", List.of("a"), List.of("b"), Attributes.EMPTY),
                new Node("r2", "Relu", "", List.of("b"), List.of("c"), Attributes.EMPTY)),
            List.of(new Value("x", a)), List.of(new Value("c", a)), Map.of(), new HashMap<>(Map.of("x", a, "a", a, "b", a, "c", a)));
        assertEquals(2 * 4096, BytesBound.of(chain, 1000));
        assertEquals(2 * 4096, BytesBound.anyOrder(chain, 1000));
        Map<String, Tensor> w = Map.of("w", Tensor.allocate(DType.FLOAT32, Shape.of(4, 4, 1, 1)));
        for (boolean gate : new boolean[] {true, false}) {
            List<Node> nodes = new ArrayList<>(List.of(new Node("r", "Relu", "", List.of("x"), List.of("v"), Attributes.EMPTY)));
            if (gate) {
                nodes.add(new Node("gap", "GlobalAveragePool", "", List.of("v"), List.of("p"), Attributes.EMPTY));
                nodes.add(new Node("fc", "Conv", "", List.of("p", "w"), List.of("s"), Attributes.EMPTY));
            }
            nodes.add(new Node("mul", "Mul", "", List.of("v", gate ? "s" : "x"), List.of("y"), Attributes.EMPTY));
            Graph se = new Graph("t", nodes, List.of(new Value("x", a)), List.of(new Value("y", a)), gate ? w : Map.of(),
                new HashMap<>(Map.of("x", a, "v", a, "p", c1, "s", c1, "y", a)));
            long once = 2 * 4096 + (gate ? 64 : 0);
            assertEquals(once + (gate ? 2 * (4096 - 1000) : 0), BytesBound.anyOrder(se, 1000), gate ? "with the gate" : "without");
        }
    }

    /** Without a cut over the budget, the bound is the inputs, constants and outputs, each once: what a plan at the full need moves, raw. */
    @Test void atTheFullNeedTheBoundIsWhatCrossesOnce() {
        Graph g = dev.sluice.runtime.fixtures.RandomConvNets.of(new SplittableRandom(3));
        long raw = 0;
        for (Value v : g.inputs()) raw += Tensor.byteSize(v.type().dtype(), v.type().shape().toShape());
        for (Tensor c : g.initializers().values()) raw += c.byteSize();
        for (Value v : g.outputs()) raw += Tensor.byteSize(v.type().dtype(), v.type().shape().toShape());
        assertEquals(raw, BytesBound.of(g, MemGraph.fullNeed(g, THROTTLED)));
    }
}
