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
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Convs split into output boxes of rows x output channels together (ConvTiling, PointwiseTiling), sluice.FusedConvAdd's
 * residual sliced with the output box, against the plain executor's whole node (the untiled CPU kernels), for shapes
 * drawn at random per seed: the late-stage 1x1 conv over a small plane and the early one over a large plane each with a
 * residual Add, a 3x3 residual conv (by input channels too), a ViT patch embedding (kernel 16, stride 16, three input
 * channels: only rows cut its input), a depthwise conv with a large kernel, grouped and strided convs with odd sizes and
 * uneven padding. Each one-node graph runs at its minimum budget, at 25% and at 10% of its whole need (where those are
 * above the minimum), in every dispatch order, with and without injected lane delays, with one and three kernel
 * threads: the output bit for bit the whole node's, the arena never over its budget. Below the minimum the plan is
 * refused before running, naming the node and the bytes.
 */
class ConvBoxTilingTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"convadd-pointwise-small", "convadd-pointwise-large", "convadd-3x3", "convadd-grouped", "patch16",
        "depthwise-large", "conv-odd", "convadd-strided-relu"})
    void rowsTimesChannelsAreBitIdenticalToTheWholeNode(String op) {
        for (long seed = 1; seed <= 3; seed++) check(op, seed);
    }

    private static int dim(SplittableRandom r, int lo, int hi) { return r.nextInt(lo, hi + 1); }

    private record Case(Node node, Map<String, Tensor> inputs, Map<String, Tensor> init, boolean rowsExpected) {}

    private static Tensor random(SplittableRandom r, Shape s) { return ColumnTilingTest.random(r, s); }

    private static Map<String, Attr> convAttrs(int kh, int kw, int s, long[] pads, int group) {
        return new HashMap<>(Map.of("kernel_shape", new Attr.Ints(new long[] {kh, kw}), "strides", new Attr.Ints(new long[] {s, s}),
            "pads", new Attr.Ints(pads), "group", new Attr.Int(group)));
    }

    private static long out(long in, long k, long s, long pb, long pe) { return (in + pb + pe - k) / s + 1; }

    private static Case build(String op, SplittableRandom r) {
        Map<String, Tensor> in = new LinkedHashMap<>(), init = new LinkedHashMap<>();
        return switch (op) {
            case "convadd-pointwise-small", "convadd-pointwise-large" -> {
                // a residual block's closing 1x1 conv: many channels over a 7x7-ish plane (weights dominate), or few
                // over a large plane (activations dominate, cut by positions and input channels)
                boolean small = op.endsWith("small");
                int c = small ? dim(r, 40, 90) : dim(r, 6, 19), m = small ? dim(r, 80, 161) : dim(r, 5, 17);
                int h = small ? dim(r, 4, 9) : dim(r, 30, 51), w = small ? dim(r, 4, 9) : dim(r, 30, 47);
                in.put("x", random(r, Shape.of(1, c, h, w)));
                in.put("res", random(r, Shape.of(1, m, h, w)));
                init.put("w", random(r, Shape.of(m, c, 1, 1)));
                init.put("b", random(r, Shape.of(m)));
                Map<String, Attr> a = convAttrs(1, 1, 1, new long[4], 1);
                if (r.nextBoolean()) a.put("activation", new Attr.Str("Relu"));
                yield new Case(new Node("op", "FusedConvAdd", "sluice", List.of("x", "w", "b", "res"), List.of("out"), new Attributes(a)), in, init, !small);
            }
            case "convadd-3x3", "convadd-strided-relu", "convadd-grouped" -> {
                // ResNet's / DLA's block ends (3x3, pad 1, any activation after the Add), a stride-2 one with uneven pads,
                // a grouped one; the bias sometimes absent
                boolean strided = op.equals("convadd-strided-relu"), grouped = op.equals("convadd-grouped");
                int group = grouped ? dim(r, 2, 3) : 1, c = group * dim(r, 3, 9), m = group * dim(r, 3, 12);
                int h = dim(r, 9, 27), w = dim(r, 9, 29), s = strided ? 2 : 1;
                long[] pads = strided ? new long[] {1, 0, 0, 1} : new long[] {1, 1, 1, 1};
                long oh = out(h, 3, s, pads[0], pads[2]), ow = out(w, 3, s, pads[1], pads[3]);
                in.put("x", random(r, Shape.of(dim(r, 1, 2), c, h, w)));
                in.put("res", random(r, Shape.of(in.get("x").shape().dim(0), m, oh, ow)));
                init.put("w", random(r, Shape.of(m, c / group, 3, 3)));
                boolean bias = r.nextInt(3) > 0;
                if (bias) init.put("b", random(r, Shape.of(m)));
                Map<String, Attr> a = convAttrs(3, 3, s, pads, group);
                String act = strided ? "Relu" : List.of("", "Relu", "HardSwish").get(r.nextInt(3));
                if (!act.isEmpty()) a.put("activation", new Attr.Str(act));
                yield new Case(new Node("op", "FusedConvAdd", "sluice", List.of("x", "w", bias ? "b" : "", "res"), List.of("out"), new Attributes(a)), in, init, true);
            }
            case "patch16" -> {
                // a ViT's patch embedding: 3 channels, kernel 16 stride 16, planes of whole or partial patches
                int p = 16, gh = dim(r, 5, 10), gw = dim(r, 5, 10);
                in.put("x", random(r, Shape.of(1, 3, gh * p + dim(r, 0, 3), gw * p + dim(r, 0, 3))));
                init.put("w", random(r, Shape.of(dim(r, 8, 24), 3, p, p)));
                init.put("b", random(r, Shape.of(init.get("w").shape().dim(0))));
                yield new Case(new Node("op", "Conv", "", List.of("x", "w", "b"), List.of("out"), new Attributes(convAttrs(p, p, p, new long[4], 1))), in, init, true);
            }
            case "depthwise-large" -> {
                // ConvMixer's depthwise conv: a large kernel, "same" padding, GELU-like activation fused
                int c = dim(r, 6, 20), h = dim(r, 12, 33), w = dim(r, 12, 33), k = 2 * dim(r, 2, 4) + 1;
                in.put("x", random(r, Shape.of(1, c, h, w)));
                init.put("w", random(r, Shape.of(c, 1, k, k)));
                init.put("b", random(r, Shape.of(c)));
                Map<String, Attr> a = convAttrs(k, k, 1, new long[] {k / 2, k / 2, k / 2, k / 2}, c);
                a.put("activation", new Attr.Str(r.nextBoolean() ? "Relu" : "HardSwish"));
                if (r.nextBoolean()) { a.remove("pads"); a.put("auto_pad", new Attr.Str("SAME_UPPER")); } // as torch exports padding="same"
                yield new Case(new Node("op", "FusedConv", "sluice", List.of("x", "w", "b"), List.of("out"), new Attributes(a)), in, init, true);
            }
            case "conv-odd" -> {
                // plain Conv, odd sizes, a 5x4 kernel with uneven pads (explicit or SAME_LOWER), stride 1 or 2
                int c = dim(r, 2, 7), m = dim(r, 3, 13), h = dim(r, 11, 29), w = dim(r, 7, 23), s = dim(r, 1, 2);
                in.put("x", random(r, Shape.of(dim(r, 1, 2), c, h, w)));
                init.put("w", random(r, Shape.of(m, c, 5, 4)));
                init.put("b", random(r, Shape.of(m)));
                Map<String, Attr> a = convAttrs(5, 4, s, new long[] {2, 0, 1, 1}, 1);
                if (r.nextInt(3) == 0) { a.remove("pads"); a.put("auto_pad", new Attr.Str("SAME_LOWER")); }
                yield new Case(new Node("op", "Conv", "", List.of("x", "w", "b"), List.of("out"), new Attributes(a)), in, init, true);
            }
            default -> throw new IllegalArgumentException(op);
        };
    }

    private static void check(String op, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 7919 + op.hashCode());
        Case k = build(op, r);
        OpRegistry ops = OpRegistry.cpu();
        Model model = BoxTilingTest.singleNodeModel(k.node(), k.inputs(), k.init(), Map.of("", 17L, "sluice", 1L), ops);
        Graph g = model.graph();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(k.inputs(), OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        String what = op + " seed " + seed + " " + k.inputs().values().stream().map(t -> t.shape().toString()).toList() + " -> " + g.typeOf("out");
        assertTrue(min * 2 <= full, what + ": the minimum is at most half the whole need: " + min + " of " + full);
        // what the refused sweep sets lacked: a patch embedding's tiles need not hold the whole image, a late 1x1 residual
        // conv's not its whole weight
        if (op.equals("patch16")) assertTrue(min < k.inputs().get("x").byteSize(), what + ": minimum " + min + " holds less than the image");
        if (op.equals("convadd-pointwise-small")) assertTrue(min < k.init().get("w").byteSize(), what + ": minimum " + min + " holds less than the weight");
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 64)), what);
        assertEquals(min, e.neededBytes(), e.getMessage());
        assertTrue(e.getMessage().contains("'op'") && e.getMessage().contains("needs at least " + min + " bytes"), e.getMessage());
        TreeSet<Long> budgets = new TreeSet<>(List.of(min));
        for (long pct : new long[] {25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            List<Box> boxes = new ArrayList<>();
            for (Task t : plan.tasks()) if (t instanceof Task.Kernel kt && kt.tile() != null && kt.tile().kind() == Tile.Kind.OUTPUT_BOX) boxes.add(kt.tile().box());
            if (budget == min) {
                assertTrue(boxes.size() >= 2, what + " is split into boxes at its minimum: " + plan.summary());
                // rows (a pointwise conv's flat positions: axis 2 of its [N, M, P] view) are cut where the whole height would not fit
                if (k.rowsExpected()) {
                    assertTrue(boxes.stream().anyMatch(b -> b.hi(2) - b.lo(2) < b.dims()[2]), what + ": some box holds part of the rows: " + boxes);
                }
                // a FusedConvAdd over enough input channels is cut along them too (its residual added by the last K tile):
                // the boxes carry K last, some of them a part of it
                boolean kCut = op.equals("convadd-pointwise-large") || op.equals("convadd-3x3") && k.inputs().get("x").shape().dim(1) >= 4;
                if (kCut) {
                    assertTrue(boxes.stream().anyMatch(b -> b.rank() == g.typeOf("out").shape().rank() + (op.contains("pointwise") ? 0 : 1)
                        && b.hi(b.rank() - 1) - b.lo(b.rank() - 1) < b.dims()[b.rank() - 1]), what + ": some box holds part of the input channels: " + boxes);
                }
            }
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                    for (int run = 0; run < 2; run++) {
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 101 + run, 20_000);
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
