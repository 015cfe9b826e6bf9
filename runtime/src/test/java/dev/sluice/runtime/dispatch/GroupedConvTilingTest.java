package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.Box;
import dev.sluice.memgraph.MemGraph;
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
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Grouped convs cut into tiles of whole groups (ConvTiling), against the plain executor's whole node, bit for bit. The
 * whole conv runs im2col + Gemm32 per group, summing each element's (channel, tap) products in Gemm32's K runs; a tile
 * of one group is a group-1 conv, which ConvKernels would otherwise send to the direct path (one FMA chain over all
 * products), another order once a group's products outnumber one K run. The cases are wav2vec2's positional conv (1-D,
 * a long kernel, "same" padding, a computed weight: weight norm), 2-D grouped convs with many channels per group
 * (ResNeXt / RegNet), with few, and grouped pointwise ones. Each one-node graph runs at its minimum budget and at 25% and
 * 10% of its whole need, in every dispatch order, with and without lane delays, with one and three kernel threads.
 */
class GroupedConvTilingTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"posconv-1d", "grouped-2d-wide", "grouped-2d-narrow", "grouped-pointwise", "grouped-1d-strided"})
    void groupTilesAreBitIdenticalToTheWholeNode(String op) {
        for (long seed = 1; seed <= 3; seed++) check(op, seed);
    }

    private static int dim(SplittableRandom r, int lo, int hi) { return r.nextInt(lo, hi + 1); }

    private static Tensor random(SplittableRandom r, Shape s) { return ColumnTilingTest.random(r, s); }

    private record Case(Node node, Map<String, Tensor> inputs, Map<String, Tensor> init) {}

    private static Case build(String op, SplittableRandom r) {
        Map<String, Tensor> in = new LinkedHashMap<>(), init = new LinkedHashMap<>();
        Map<String, Attr> a = new HashMap<>();
        boolean bias = r.nextInt(3) > 0;
        List<String> ins = new ArrayList<>(List.of("x", "w"));
        switch (op) {
            case "posconv-1d", "grouped-1d-strided" -> {
                // wav2vec2's pos_conv_embed: group 4..16, a kernel of 16..128 taps, pads k/2 on both sides (one more
                // output than input); the weight an input here, as weight norm computes it in the graph
                boolean strided = op.endsWith("strided");
                int group = dim(r, 2, 6), cg = dim(r, 6, 24), k = strided ? dim(r, 20, 40) : 2 * dim(r, 8, 40), t = dim(r, 40, 130);
                int s = strided ? 2 : 1;
                in.put("x", random(r, Shape.of(1, group * cg, t)));
                in.put("w", random(r, Shape.of(group * cg, cg, k)));
                a.put("kernel_shape", new Attr.Ints(new long[] {k}));
                a.put("strides", new Attr.Ints(new long[] {s}));
                a.put("pads", new Attr.Ints(strided ? new long[] {k / 2, 1} : new long[] {k / 2, k / 2}));
                a.put("group", new Attr.Int(group));
                if (bias) init.put("b", random(r, Shape.of(group * cg)));
            }
            case "grouped-2d-wide", "grouped-2d-narrow" -> {
                // ResNeXt / RegNet's grouped 3x3: 30+ channels per group (more products than one K run) or a few
                boolean wide = op.endsWith("wide");
                int group = wide ? dim(r, 2, 4) : dim(r, 3, 8), cg = wide ? dim(r, 29, 40) : dim(r, 2, 6);
                int mg = wide ? dim(r, 8, 20) : cg, h = dim(r, 7, 15), w = dim(r, 7, 15), s = dim(r, 1, 2);
                in.put("x", random(r, Shape.of(1, group * cg, h, w)));
                init.put("w", random(r, Shape.of(group * mg, cg, 3, 3)));
                a.put("kernel_shape", new Attr.Ints(new long[] {3, 3}));
                a.put("strides", new Attr.Ints(new long[] {s, s}));
                a.put("pads", new Attr.Ints(new long[] {1, 1, 1, 1}));
                a.put("group", new Attr.Int(group));
                if (bias) init.put("b", random(r, Shape.of(group * mg)));
            }
            case "grouped-pointwise" -> {
                // a grouped 1x1 conv (ShuffleNet, RegNet's SE-free blocks): one small GEMM per group
                int group = dim(r, 2, 4), cg = dim(r, 60, 150), mg = dim(r, 4, 12), h = dim(r, 5, 12), w = dim(r, 5, 12);
                in.put("x", random(r, Shape.of(1, group * cg, h, w)));
                init.put("w", random(r, Shape.of(group * mg, cg, 1, 1)));
                a.put("kernel_shape", new Attr.Ints(new long[] {1, 1}));
                a.put("group", new Attr.Int(group));
                if (bias) init.put("b", random(r, Shape.of(group * mg)));
            }
            default -> throw new IllegalArgumentException(op);
        }
        if (bias) ins.add("b");
        return new Case(new Node("op", "Conv", "", ins, List.of("out"), new Attributes(a)), in, init);
    }

    private static void check(String op, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 6271 + op.hashCode());
        Case k = build(op, r);
        OpRegistry ops = OpRegistry.cpu();
        Model model = BoxTilingTest.singleNodeModel(k.node(), k.inputs(), k.init(), Map.of("", 17L), ops);
        Graph g = model.graph();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(k.inputs(), OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        String what = op + " seed " + seed + " " + k.inputs().values().stream().map(t -> t.shape().toString()).toList() + " -> " + g.typeOf("out");
        TreeSet<Long> budgets = new TreeSet<>(List.of(min));
        for (long pct : new long[] {25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            if (budget == min) {
                List<Box> boxes = new ArrayList<>();
                for (Task t : plan.tasks()) if (t instanceof Task.Kernel kt && kt.tile() != null && kt.tile().kind() == Tile.Kind.OUTPUT_BOX) boxes.add(kt.tile().box());
                // the case this test is about: at its minimum the conv runs in tiles, some holding a single group
                assertTrue(boxes.size() >= 2, what + " is split into boxes at its minimum: " + plan.summary());
            }
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                    for (int run = 0; run < 2; run++) {
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 131 + run, 20_000);
                        MemGraphExecutor.Result res = ex.run(k.inputs(), d);
                        String where = what + " at " + budget + " B of " + full + " (" + order + ", " + par + ", run " + run + "; " + plan.summary() + ")";
                        assertTrue(ref.get("out").sameBits(res.outputs().get("out")), "out differs: " + where);
                        assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
                    }
                }
            }
        }
    }
}
