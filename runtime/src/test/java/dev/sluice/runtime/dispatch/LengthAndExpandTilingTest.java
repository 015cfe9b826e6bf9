package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
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
 * The pieces the unseen models found indivisible, now cut, against the plain executor's whole node bit for bit: 1-D
 * convs along their output length (wav2vec2's feature extractor: one input channel, kernel 10, stride 5; then 64 -> 64
 * channels, kernel 3, stride 2; odd lengths, dilations, pads on either side, depthwise ones, fused activations and a
 * residual), Expand by output slabs (sebotnet33ts's position embedding: broadcast axes, a lower-rank input, integers),
 * and a sluice.FusedConvAdd whose residual is its own conv input (1-D and 2-D). Each one-node graph runs at its minimum
 * budget and at 25% and 10% of its whole need (where those are above the minimum), in every dispatch order, with and
 * without lane delays, with one and three kernel threads; at its minimum it must be cut where the old code could not cut
 * it (along the length; at all), and a budget below the minimum is refused before running, naming the node and the
 * bytes.
 */
class LengthAndExpandTilingTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"conv1d-length", "conv1d-one-channel", "conv1d-stem", "conv1d-depthwise", "fusedconv1d-activation",
        "fusedconvadd1d", "expand", "expand-lower-rank", "expand-int64", "fusedconvadd-own-residual", "fusedconvadd1d-own-residual"})
    void piecesAreCutAndBitIdenticalToTheWholeNode(String op) {
        // the 1-D convs' bits rest on their paths' per-element order, which more shapes test harder
        int seeds = op.contains("conv1d") ? 6 : 3;
        for (long seed = 1; seed <= seeds; seed++) check(op, seed);
    }

    private static int dim(SplittableRandom r, int lo, int hi) { return r.nextInt(lo, hi + 1); }

    private static Tensor random(SplittableRandom r, Shape s) { return ColumnTilingTest.random(r, s); }

    /** What the old tiling could not do with the node, which its plan at the minimum must now do. */
    private enum Cut { LENGTH, ANY }

    private record Case(Node node, Map<String, Tensor> inputs, Map<String, Tensor> init, Cut cut) {}

    /** A 1-D conv's attributes: kernel k, stride s, dilation d, pads [b, e]. */
    private static Map<String, Attr> conv1d(int k, int s, int d, int b, int e) {
        Map<String, Attr> a = new HashMap<>();
        a.put("kernel_shape", new Attr.Ints(new long[] {k}));
        a.put("strides", new Attr.Ints(new long[] {s}));
        a.put("dilations", new Attr.Ints(new long[] {d}));
        a.put("pads", new Attr.Ints(new long[] {b, e}));
        return a;
    }

    private static Case build(String op, SplittableRandom r) {
        Map<String, Tensor> in = new LinkedHashMap<>(), init = new LinkedHashMap<>();
        List<String> ins = new ArrayList<>(List.of("x", "w"));
        boolean bias = r.nextInt(3) > 0;
        switch (op) {
            case "conv1d-length", "fusedconv1d-activation", "fusedconvadd1d" -> {
                // group 1 over a few channels: odd lengths, strides, dilations, pads of either size on either side
                int c = dim(r, 2, 9), m = dim(r, 4, 12), k = dim(r, 2, 7), s = dim(r, 1, 3), d = dim(r, 1, 2), t = dim(r, 80, 260);
                int ext = (k - 1) * d + 1;
                Map<String, Attr> a = conv1d(k, s, d, r.nextInt(ext), r.nextInt(ext));
                in.put("x", random(r, Shape.of(dim(r, 1, 2), c, t)));
                init.put("w", random(r, Shape.of(m, c, k)));
                if (bias || !op.equals("conv1d-length")) { init.put("b", random(r, Shape.of(m))); ins.add("b"); }
                if (op.equals("conv1d-length")) return new Case(new Node("op", "Conv", "", ins, List.of("out"), new Attributes(a)), in, init, Cut.LENGTH);
                String act = List.of("Relu", "Sigmoid", "Gelu", "LeakyRelu", "Silu").get(r.nextInt(5));
                a.put("activation", new Attr.Str(act));
                if (op.equals("fusedconv1d-activation")) return new Case(new Node("op", "FusedConv", "sluice", ins, List.of("out"), new Attributes(a)), in, init, Cut.LENGTH);
                // the residual is another input of the output's shape
                long out = (t + ((Attr.Ints) a.get("pads")).values()[0] + ((Attr.Ints) a.get("pads")).values()[1] - ext) / s + 1;
                in.put("res", random(r, Shape.of(in.get("x").shape().dim(0), m, out)));
                ins.add("res");
                return new Case(new Node("op", "FusedConvAdd", "sluice", ins, List.of("out"), new Attributes(a)), in, init, Cut.LENGTH);
            }
            case "conv1d-one-channel" -> {
                // one input channel into fewer or more maps than DirectConv's one-channel threshold, kernels under the
                // windows-as-rows length, padded (inner blocks unpadded)
                int m = r.nextBoolean() ? dim(r, 2, 7) : dim(r, 8, 20), k = dim(r, 3, 31), s = dim(r, 1, 4), t = dim(r, 150, 600);
                in.put("x", random(r, Shape.of(1, 1, t)));
                init.put("w", random(r, Shape.of(m, 1, k)));
                if (bias) { init.put("b", random(r, Shape.of(m))); ins.add("b"); }
                return new Case(new Node("op", "Conv", "", ins, List.of("out"), new Attributes(conv1d(k, s, 1, r.nextInt(k), r.nextInt(k)))), in, init, Cut.LENGTH);
            }
            case "conv1d-stem" -> {
                // wav2vec2's feature extractor: a waveform through kernel 10 stride 5 into 32..64 maps, no bias, no pads
                int m = dim(r, 32, 64), t = dim(r, 800, 2000);
                in.put("x", random(r, Shape.of(1, 1, t)));
                init.put("w", random(r, Shape.of(m, 1, 10)));
                return new Case(new Node("op", "Conv", "", ins, List.of("out"), new Attributes(conv1d(10, 5, 1, 0, 0))), in, init, Cut.LENGTH);
            }
            case "conv1d-depthwise" -> {
                // one input channel per group (a multiplier of 1 or 2): outputs both sides of DepthwiseConv's wide planes
                int c = dim(r, 2, 8), mult = dim(r, 1, 2), k = dim(r, 3, 9), s = dim(r, 1, 2), t = dim(r, 70, 300);
                Map<String, Attr> a = conv1d(k, s, 1, r.nextInt(k), r.nextInt(k));
                a.put("group", new Attr.Int(c));
                in.put("x", random(r, Shape.of(1, c, t)));
                init.put("w", random(r, Shape.of(c * mult, 1, k)));
                if (bias) { init.put("b", random(r, Shape.of(c * mult))); ins.add("b"); }
                return new Case(new Node("op", "Conv", "", ins, List.of("out"), new Attributes(a)), in, init, Cut.LENGTH);
            }
            case "expand", "expand-lower-rank", "expand-int64" -> {
                // sebotnet33ts's relative position embedding: an input of 1s on some axes broadcast over them
                int n = dim(r, 1, 3), c = dim(r, 2, 9), h = dim(r, 5, 23), w = dim(r, 5, 37);
                Shape xs = switch (op) {
                    case "expand-lower-rank" -> r.nextBoolean() ? Shape.of(w) : Shape.of(h, 1);
                    default -> Shape.of(r.nextBoolean() ? 1 : n, 1, h, r.nextBoolean() ? 1 : w);
                };
                Tensor x = random(r, xs);
                if (op.equals("expand-int64")) {
                    x = Tensor.allocate(DType.INT64, xs);
                    for (long i = 0; i < x.elementCount(); i++) x.setLong(i, r.nextLong());
                }
                in.put("x", x);
                init.put("shape", Tensor.ofLongs(Shape.of(4), n, c, h, w));
                return new Case(new Node("op", "Expand", "", List.of("x", "shape"), List.of("out"), Attributes.EMPTY), in, init, Cut.ANY);
            }
            case "fusedconvadd-own-residual", "fusedconvadd1d-own-residual" -> {
                // x + act(conv(x)): a shape-keeping conv whose residual is its own input (stride 1, "same" pads)
                boolean one = op.contains("1d");
                int c = dim(r, 4, 12), k = 2 * dim(r, 1, 2) + 1, p = k / 2;
                Shape xs = one ? Shape.of(1, c, dim(r, 60, 200)) : Shape.of(dim(r, 1, 2), c, dim(r, 9, 25), dim(r, 9, 25));
                Map<String, Attr> a = one ? conv1d(k, 1, 1, p, p) : new HashMap<>(Map.of("kernel_shape", new Attr.Ints(new long[] {k, k}),
                    "pads", new Attr.Ints(new long[] {p, p, p, p})));
                if (r.nextBoolean()) a.put("activation", new Attr.Str("Relu"));
                in.put("x", random(r, xs));
                init.put("w", random(r, one ? Shape.of(c, c, k) : Shape.of(c, c, k, k)));
                init.put("b", random(r, Shape.of(c)));
                return new Case(new Node("op", "FusedConvAdd", "sluice", List.of("x", "w", "b", "x"), List.of("out"), new Attributes(a)), in, init, Cut.ANY);
            }
            default -> throw new IllegalArgumentException(op);
        }
    }

    private static void check(String op, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 5501 + op.hashCode());
        Case k = build(op, r);
        OpRegistry ops = OpRegistry.cpu();
        Model model = BoxTilingTest.singleNodeModel(k.node(), k.inputs(), k.init(), Map.of("", 17L, "sluice", 1L), ops);
        Graph g = model.graph();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(k.inputs(), OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        String what = op + " seed " + seed + " " + k.inputs().values().stream().map(t -> t.shape().toString()).toList() + " -> " + g.typeOf("out");
        assertTrue(min < full, what + ": its pieces need less than the whole node: " + min + " of " + full);
        // below the least piece: refused before running, naming the node and the bytes
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 64)), what);
        assertEquals(min, e.neededBytes(), e.getMessage());
        assertTrue(e.getMessage().contains("needs at least " + min + " bytes") && e.getMessage().contains("'op"), e.getMessage());
        TreeSet<Long> budgets = new TreeSet<>(List.of(min));
        for (long pct : new long[] {25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            if (budget == min) {
                List<Box> boxes = new ArrayList<>();
                for (Task t : plan.tasks()) if (t instanceof Task.Kernel kt && kt.tile() != null && kt.tile().kind() == Tile.Kind.OUTPUT_BOX) boxes.add(kt.tile().box());
                long tiles = plan.tasks().stream().filter(t -> t instanceof Task.Kernel kt && kt.tile() != null).count();
                assertTrue(tiles >= 2, what + " is split at its minimum: " + plan.summary());
                // the cut the old tiling lacked: blocks of the output length (a conv's box is [N, M, L])
                // (blocks start on multiples of 16 positions and hold at least 9: a length of 25 or more has two)
                long length = g.typeOf("out").shape().toShape().dim(2);
                if (k.cut() == Cut.LENGTH && length >= 16 + 9) {
                    assertTrue(boxes.stream().anyMatch(b -> b.rank() == 3 && (b.lo(2) != 0 || b.hi(2) != b.dim(2))),
                        what + " is cut along its output length at its minimum: " + boxes);
                }
            }
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                    for (int run = 0; run < 2; run++) {
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 173 + run, 20_000);
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
