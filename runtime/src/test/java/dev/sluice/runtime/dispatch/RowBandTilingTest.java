package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.Tile;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Nodes split by bands of output rows ({@link Tile.Kind#OUTPUT_ROWS}) against the plain executor, with the real
 * CPU kernels, at budgets far below their activations: every band gathers its input rows (halo included) from a
 * host copy and scatters its output rows into one, so no whole activation is ever on the device. Bit-identical
 * in dynamic and fixed order, with and without injected lane delays, with one and several kernel threads, and
 * the arena (which fails a run the moment it passes its budget) never over.
 *
 * <p>Convs: strides 1 and 2, symmetric and asymmetric pads, dilation, kernels 1, 3 and 5, group 1, grouped,
 * depthwise, one output channel (Gemm32's matrix-vector path, whose scalar tail must fall on the same pixels),
 * batch 2, no bias, FusedConv with activations, widths that put band starts on 16-element multiples by one row
 * or by several. Each conv feeds a per-channel Mul, itself split by rows, so a band node reads an activation
 * that only exists on the host.
 */
class RowBandTilingTest {
    @ParameterizedTest(name = "{0} n={1} c={2} m={3} group={4} k={5} s={6} pads={7} d={8} {9}x{10} {11}")
    @CsvSource({
        "Conv,1,5,7,1,3,1,'1,1,1,1',1,23,19,''",
        "Conv,1,4,6,1,3,2,'1,1,1,1',1,32,16,''",
        "Conv,1,6,6,6,5,1,'2,2,2,2',1,20,16,''",
        "Conv,1,6,6,6,5,2,'2,2,2,2',1,41,40,''",
        "Conv,1,3,5,1,3,1,'2,2,2,2',2,21,32,''",
        "Conv,1,8,12,1,1,1,'0,0,0,0',1,24,32,''",
        "Conv,1,8,12,1,1,2,'0,0,0,0',1,24,32,''",
        "Conv,1,4,1,1,3,1,'1,1,1,1',1,30,20,''",
        "Conv,1,4,6,2,3,1,'0,1,2,1',1,17,32,''",
        "Conv,2,3,4,1,3,1,'1,1,1,1',1,18,16,nobias",
        "FusedConv,1,8,8,8,3,2,'1,1,1,1',1,40,40,HardSwish",
        "FusedConv,1,8,32,1,1,1,'0,0,0,0',1,40,40,Relu",
        "FusedConv,1,16,8,1,3,1,'1,1,1,1',1,20,80,LeakyRelu"})
    void convBandsAreBitIdenticalToTheWholeNode(String op, int n, int c, int m, int group, int k, int s, String pads, int d,
                                                int h, int w, String act) {
        long[] p = java.util.Arrays.stream(pads.split(",")).mapToLong(Long::parseLong).toArray();
        int ext = (k - 1) * d + 1;
        int oh = (int) ((h + p[0] + p[2] - ext) / s + 1), ow = (int) ((w + p[1] + p[3] - ext) / s + 1);
        SplittableRandom r = new SplittableRandom(n * 1000003L + c * 1009L + m * 31L + k * 7L + h);
        boolean fused = op.equals("FusedConv");
        Map<String, Tensor> init = new LinkedHashMap<>();
        init.put("w", ColumnTilingTest.random(r, Shape.of(m, c / group, k, k)));
        if (!act.equals("nobias")) init.put("b", ColumnTilingTest.random(r, Shape.of(m)));
        init.put("scale", ColumnTilingTest.random(r, Shape.of(1, m, 1, 1)));
        Map<String, Attr> attrs = new HashMap<>();
        attrs.put("pads", new Attr.Ints(p));
        attrs.put("strides", new Attr.Ints(new long[] {s, s}));
        attrs.put("dilations", new Attr.Ints(new long[] {d, d}));
        attrs.put("group", new Attr.Int(group));
        if (fused && !act.isEmpty()) attrs.put("activation", new Attr.Str(act));
        TensorType x = TensorType.of(DType.FLOAT32, Shape.of(n, c, h, w)), y = TensorType.of(DType.FLOAT32, Shape.of(n, m, oh, ow));
        List<String> ins = act.equals("nobias") ? List.of("x", "w") : List.of("x", "w", "b");
        Node conv = new Node("conv", op, fused ? "sluice" : "", ins, List.of("y"), new Attributes(attrs));
        Node mul = new Node("mul", "Mul", "", List.of("y", "scale"), List.of("z"), Attributes.EMPTY);
        Graph g = new Graph("t", List.of(conv, mul), List.of(new Value("x", x)), List.of(new Value("z", y)), init,
            new HashMap<>(Map.of("x", x, "y", y, "z", y)));
        Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(r, x.shape().toShape()));
        Set<String> split = check(g, in, 5, 1);
        // A depthwise conv whose bands would copy in more bytes than channel boxes (each band re-reads its halo rows)
        // takes the boxes instead (Tiling.plan; BoxTilingTest covers their bits); any other conv is split by rows.
        assertTrue(split.contains("conv") || (group == c && group > 1 && convBoxedAtMinimum(g)), "the conv is split by rows: " + split);
    }

    /**
     * Bands keep what the device holds (BandTileTasks.Keep): on conv -> conv -> Relu over [1, 8, 48, 64] activations, at
     * budgets from the least without boxes to the full need, some plans read a resident input band by band on the device
     * (a local gather) and some keep a conv's output resident (bands scattered into its block on the device), and where
     * y, the first conv's output, is kept, it never crosses the link. Every such plan runs bit-identically to the plain
     * executor in every order, with and without injected delays, within its budget.
     */
    @Test void bandsReadResidentInputsInPlaceAndKeepTheirOutputResident() {
        SplittableRandom r = new SplittableRandom(77);
        TensorType act = TensorType.of(DType.FLOAT32, Shape.of(1, 8, 48, 64));
        Map<String, Tensor> init = new LinkedHashMap<>();
        init.put("wa", ColumnTilingTest.random(r, Shape.of(8, 8, 3, 3)));
        init.put("wb", ColumnTilingTest.random(r, Shape.of(8, 8, 3, 3)));
        Map<String, Attr> a = Map.of("pads", new Attr.Ints(new long[] {1, 1, 1, 1}), "kernel_shape", new Attr.Ints(new long[] {3, 3}));
        Graph g = new Graph("t", List.of(new Node("ca", "Conv", "", List.of("x", "wa"), List.of("y"), new Attributes(a)),
                new Node("cb", "Conv", "", List.of("y", "wb"), List.of("z"), new Attributes(a)),
                new Node("relu", "Relu", "", List.of("z"), List.of("out"), Attributes.EMPTY)),
            List.of(new Value("x", act)), List.of(new Value("out", act)), init, new HashMap<>(Map.of("x", act, "y", act, "z", act, "out", act)));
        Model model = new Model(g, 8, Map.of("", 17L), "test", "test");
        OpRegistry ops = OpRegistry.cpu();
        Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(r, act.shape().toShape()));
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED), min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false);
        int gathersInPlace = 0, keptOutputs = 0;
        for (int k = 0; k <= 16; k++) {
            long budget = min + (full - min) * k / 16;
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            boolean gather = false, keptY = false;
            for (Task t : plan.tasks()) {
                if (!(t instanceof Task.Transfer x) || !x.local()) continue;
                boolean scatter = plan.buffers().get(x.dst()).bytes() > plan.buffers().get(x.src()).bytes();
                if (scatter && plan.buffers().get(x.dst()).value().equals("y")) keptY = true;
                if (!scatter) gather = true;
            }
            if (!gather && !keptY) continue;
            if (gather) gathersInPlace++;
            if (keptY) {
                keptOutputs++;
                for (Task t : plan.tasks()) {
                    int[] ends = switch (t) {
                        case Task.Transfer x -> new int[] {x.src(), x.dst()};
                        case Task.Offload x -> new int[] {x.src(), x.dst()};
                        case Task.Reload x -> new int[] {x.src(), x.dst()};
                        case Task.Kernel x -> new int[0];
                    };
                    for (int b : ends) {
                        assertFalse(t.lane().isCopy() && plan.buffers().get(b).value().startsWith("y"),
                            "y is kept on the device, yet " + t.label() + ": " + plan.summary());
                    }
                }
            }
            for (Dispatcher.Order order : Dispatcher.Order.values()) {
                var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
                for (int run = 0; run < 2; run++) {
                    Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(k * 31L + run, 20_000);
                    MemGraphExecutor.Result res = ex.run(in, d);
                    String where = budget + " B (" + order + ", run " + run + "; " + plan.summary() + ")";
                    assertTrue(ref.get("out").sameBits(res.outputs().get("out")), "out differs at " + where);
                    assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
                }
            }
        }
        assertTrue(gathersInPlace > 0, "no plan read a resident input in place");
        assertTrue(keptOutputs > 0, "no plan kept y resident");
    }

    /** Whether the conv (node 0) is split into output boxes at the least budget without boxes. */
    private static boolean convBoxedAtMinimum(Graph g) {
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false);
        MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min));
        return plan.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.node() == 0 && k.tile() != null
            && k.tile().kind() == Tile.Kind.OUTPUT_BOX);
    }

    /**
     * The other row-split ops, in a chain like ppocr-det's neck and head: nearest Resize by 2, Concat on channels,
     * a Mul by a per-channel activation, BatchNormalization, ConvTranspose with kernel = stride = 2, an Add of a
     * per-channel constant, Relu, and a Sigmoid; all split by rows at the minimum budget.
     */
    @Test
    void resizeConcatNormTransposeAndElementwiseBandsAreBitIdentical() {
        SplittableRandom r = new SplittableRandom(42);
        int c = 8;
        TensorType xs = TensorType.of(DType.FLOAT32, Shape.of(1, c, 20, 24)), big = TensorType.of(DType.FLOAT32, Shape.of(1, c, 40, 48));
        TensorType cat = TensorType.of(DType.FLOAT32, Shape.of(1, 2 * c, 40, 48)), chan = TensorType.of(DType.FLOAT32, Shape.of(1, 2 * c, 1, 1));
        TensorType up = TensorType.of(DType.FLOAT32, Shape.of(1, 4, 80, 96));
        Map<String, Tensor> init = new LinkedHashMap<>();
        init.put("roi", Tensor.ofFloats(Shape.of(0)));
        init.put("scales", Tensor.ofFloats(Shape.of(4), 1, 1, 2, 2));
        for (String v : List.of("bn_scale", "bn_bias", "bn_mean")) init.put(v, ColumnTilingTest.random(r, Shape.of(2 * c)));
        float[] var = new float[2 * c];
        for (int i = 0; i < var.length; i++) var[i] = 0.5f + i * 0.1f;
        init.put("bn_var", Tensor.ofFloats(Shape.of(2 * c), var));
        init.put("wt", ColumnTilingTest.random(r, Shape.of(2 * c, 4, 2, 2)));
        init.put("bias4", ColumnTilingTest.random(r, Shape.of(1, 4, 1, 1)));
        List<Node> nodes = new ArrayList<>();
        nodes.add(new Node("resize", "Resize", "", List.of("x", "roi", "scales"), List.of("rx"), new Attributes(Map.of(
            "mode", new Attr.Str("nearest"), "coordinate_transformation_mode", new Attr.Str("asymmetric"), "nearest_mode", new Attr.Str("floor")))));
        nodes.add(new Node("concat", "Concat", "", List.of("rx", "y"), List.of("cat"), new Attributes(Map.of("axis", new Attr.Int(1)))));
        nodes.add(new Node("mul", "Mul", "", List.of("cat", "s"), List.of("ms"), Attributes.EMPTY));
        nodes.add(new Node("bn", "BatchNormalization", "", List.of("ms", "bn_scale", "bn_bias", "bn_mean", "bn_var"), List.of("bn"),
            new Attributes(Map.of("epsilon", new Attr.Float(1e-5f)))));
        nodes.add(new Node("convt", "ConvTranspose", "", List.of("bn", "wt"), List.of("t"), new Attributes(Map.of(
            "kernel_shape", new Attr.Ints(new long[] {2, 2}), "strides", new Attr.Ints(new long[] {2, 2})))));
        nodes.add(new Node("add", "Add", "", List.of("t", "bias4"), List.of("a"), Attributes.EMPTY));
        nodes.add(new Node("relu", "Relu", "", List.of("a"), List.of("re"), Attributes.EMPTY));
        nodes.add(new Node("sig", "Sigmoid", "", List.of("re"), List.of("out"), Attributes.EMPTY));
        Map<String, TensorType> types = new HashMap<>(Map.of("x", xs, "y", big, "s", chan, "rx", big, "cat", cat, "ms", cat, "bn", cat,
            "t", up, "a", up, "re", up));
        types.put("out", up);
        Graph g = new Graph("t", nodes, List.of(new Value("x", xs), new Value("y", big), new Value("s", chan)),
            List.of(new Value("out", up)), init, types);
        Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(r, xs.shape().toShape()),
            "y", ColumnTilingTest.random(r, big.shape().toShape()), "s", ColumnTilingTest.random(r, chan.shape().toShape()));
        Set<String> split = check(g, in, 13, 4);
        assertEquals(new TreeSet<>(List.of("resize", "concat", "mul", "bn", "convt", "add", "relu", "sig")), split);
    }

    /**
     * Runs g at its minimum budget and a quarter of the way from there to what it needs with nothing offloaded
     * (where bands are optional), checks
     * the row tiles' coverage and every run's bits and peak; returns the names of the nodes split by rows at the
     * minimum. Below the minimum the plan is refused with the number it needs. The minimum is below
     * {@code full / fraction} (what the graph needs with nothing offloaded).
     */
    private static Set<String> check(Graph g, Map<String, Tensor> in, long seed, int fraction) {
        Model model = new Model(g, 8, Map.of("", 17L, "sluice", 1L), "test", "test");
        OpRegistry ops = OpRegistry.cpu();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        // the least without output boxes (below it they take over; BoxTilingTest covers them): this test is about bands
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false);
        // the activations' blocks, all at once: what the graph would hold without any reuse of their memory (the full
        // need is less: the memory planner packs the activations' lifetimes, so in a two-node graph it is the larger
        // node's need, which bands cannot beat when that node is not the one they split)
        long activations = 0;
        for (Value v : g.inputs()) activations += Tensor.blockBytes(Tensor.byteSize(g.typeOf(v.name()).dtype(), g.typeOf(v.name()).shape().toShape()));
        for (Node n : g.nodes()) {
            for (String o : n.outputs()) activations += Tensor.blockBytes(Tensor.byteSize(g.typeOf(o).dtype(), g.typeOf(o).shape().toShape()));
        }
        assertTrue(min < activations / fraction, "row bands need a fraction of the activations: " + min + " of " + activations);
        long least = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        assertTrue(least <= min, least + " above " + min);
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(least - 64)));
        assertEquals(least, e.neededBytes(), e.getMessage());
        Set<String> atMin = new TreeSet<>();
        for (long budget : new long[] {min, min + (full - min) / 4}) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            Map<Integer, List<Tile>> bands = new HashMap<>();
            for (Task t : plan.tasks()) {
                if (t instanceof Task.Kernel k && k.tile() != null && k.tile().kind() == Tile.Kind.OUTPUT_ROWS) {
                    bands.computeIfAbsent(k.node(), x -> new ArrayList<>()).add(k.tile());
                }
            }
            // at the least without boxes, bands; or channel boxes where they copy in fewer bytes (a depthwise conv)
            boolean boxed = plan.tasks().stream().anyMatch(t -> t instanceof Task.Kernel k && k.tile() != null && k.tile().kind() == Tile.Kind.OUTPUT_BOX);
            if (budget == min) assertTrue(!bands.isEmpty() || boxed, plan.summary());
            for (var b : bands.entrySet()) {
                long covered = 0;
                for (Tile t : b.getValue()) {
                    assertEquals(covered, t.start(), "bands cover the rows in order: " + b.getValue());
                    assertTrue(t.end() > t.start());
                    covered = t.end();
                }
                assertEquals(b.getValue().getFirst().total(), covered);
                if (budget == min) atMin.add(g.nodes().get(b.getKey()).name());
            }
            assertEquals(!bands.isEmpty(), plan.tasks().stream().anyMatch(t -> t instanceof Task.Transfer x && x.rows()), plan.summary());
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                    for (int run = 0; run < 2; run++) {
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 101 + run, 20_000);
                        MemGraphExecutor.Result res = ex.run(in, d);
                        String where = bands.size() + " nodes in bands at " + budget + " B (" + order + ", " + par + ", run " + run + "; "
                            + plan.summary() + ")";
                        for (var o : ref.entrySet()) assertTrue(o.getValue().sameBits(res.outputs().get(o.getKey())), o.getKey() + " differs: " + where);
                        assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
                    }
                }
            }
        }
        return atMin;
    }
}
