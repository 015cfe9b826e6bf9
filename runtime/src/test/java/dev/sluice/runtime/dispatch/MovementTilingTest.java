package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.TypeInference;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.TilingOptions;
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
 * The non-conv ops an unseen-model sweep found refused at small budgets, now split into output boxes: Slice (windows
 * for unit steps, negative starts and ends included; along the untouched axes for other steps, negative ones
 * included), Split (as one Slice per output, even and uneven, any axis), Pad (constant, reflect, edge), Resize
 * (nearest, linear, cubic; several coordinate modes; by scales, or by sizes of every axis), BatchNormalization,
 * InstanceNormalization, unary activations (Gelu, Sigmoid) now cut along any axis, and Softmax / LogSoftmax over an
 * axis before the last (planned as opset 18, so cut after their axis too). Each case is one node on random shapes with odd sizes, run by the plain executor (the
 * untiled kernels) and through the MemGraph at its minimum budget, at 25% and at 10% of its unconstrained need
 * (where those are above the minimum), in every dispatch order, with and without lane jitter, with one and three
 * kernel threads: every output bit for bit the whole node's, the arena within its budget. Below the minimum the
 * plan is refused before running, naming the node and the bytes. A Split's tiles read each input element once.
 */
class MovementTilingTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"slice-window", "slice-negative", "slice-stepped", "slice-reversed", "split-even", "split-uneven",
        "split-last-axis", "pad-constant", "pad-reflect", "pad-edge", "resize-nearest", "resize-linear", "resize-cubic",
        "resize-cubic-align", "resize-linear-asymmetric", "resize-nearest-sizes", "resize-cubic-sizes", "batchnorm",
        "batchnorm-rank3", "instancenorm", "gelu", "sigmoid-odd", "softmax-mid-axis", "logsoftmax-mid-axis"})
    void tilesAreBitIdenticalToTheWholeNode(String op) {
        for (long seed = 1; seed <= 3; seed++) check(op, seed);
    }

    private static int dim(SplittableRandom r, int lo, int hi) { return r.nextInt(lo, hi + 1); }

    private record Case(Node node, Map<String, Tensor> inputs, Map<String, Tensor> init) {}

    private static Tensor longs(long... v) { return Tensor.ofLongs(Shape.of(v.length), v); }

    private static Case build(String op, SplittableRandom r) {
        Map<String, Tensor> in = new LinkedHashMap<>(), init = new LinkedHashMap<>();
        int n = dim(r, 1, 2), c = dim(r, 5, 19), h = dim(r, 9, 31), w = dim(r, 7, 29);
        Shape x4 = Shape.of(n, c, h, w);
        in.put("x", ColumnTilingTest.random(r, x4));
        List<String> outs = List.of("out");
        Node node = switch (op) {
            case "slice-window", "slice-negative" -> {
                // channels and width sliced (negative axes, starts and ends counted from the end in the second)
                boolean neg = op.endsWith("negative");
                long c0 = dim(r, 0, c / 2), c1 = dim(r, (int) c0 + 2, c), w0 = dim(r, 0, w / 3);
                init.put("starts", neg ? longs(c0 - c, -(w - w0)) : longs(c0, w0));
                init.put("ends", neg ? longs(c1 == c ? Long.MAX_VALUE : c1 - c, -1) : longs(c1, Long.MAX_VALUE));
                init.put("axes", neg ? longs(-3, -1) : longs(1, 3));
                yield new Node("op", "Slice", "", List.of("x", "starts", "ends", "axes"), outs, Attributes.EMPTY);
            }
            case "slice-stepped", "slice-reversed" -> {
                // every second (or third) row; all channels backwards, or from a negative start backwards
                boolean rev = op.endsWith("reversed");
                init.put("starts", rev ? longs(-1, dim(r, 0, 2)) : longs(dim(r, 0, 2), dim(r, 0, 2)));
                init.put("ends", rev ? longs(Long.MIN_VALUE, Long.MAX_VALUE) : longs(Long.MAX_VALUE, w - dim(r, 0, 3)));
                init.put("axes", longs(rev ? 1 : 2, 3));
                init.put("steps", rev ? longs(-1, dim(r, 2, 3)) : longs(dim(r, 2, 3), 1));
                yield new Node("op", "Slice", "", List.of("x", "starts", "ends", "axes", "steps"), outs, Attributes.EMPTY);
            }
            case "split-even", "split-uneven", "split-last-axis" -> {
                int axis = op.equals("split-last-axis") ? -1 : 1;
                long len = axis == 1 ? c : w;
                if (op.equals("split-even")) {
                    // num_outputs (opset 18): the last part the shorter one when the length does not divide
                    int k = dim(r, 2, 3);
                    outs = new ArrayList<>();
                    for (int i = 0; i < k; i++) outs.add("out" + i);
                    yield new Node("op", "Split", "", List.of("x"), outs, new Attributes(Map.of("axis", new Attr.Int(axis), "num_outputs", new Attr.Int(k))));
                }
                long a = dim(r, 1, (int) len - 3), b = dim(r, 1, (int) (len - a - 1));
                init.put("split", longs(a, b, len - a - b));
                outs = List.of("out0", "out1", "out2");
                yield new Node("op", "Split", "", List.of("x", "split"), outs, new Attributes(Map.of("axis", new Attr.Int(axis))));
            }
            case "pad-constant", "pad-reflect", "pad-edge" -> {
                // the spatial axes padded (asymmetrically), batch and channels untouched
                String mode = op.substring(4);
                init.put("pads", longs(0, 0, dim(r, 0, 3), dim(r, 1, 3), 0, 0, dim(r, 1, 3), dim(r, 0, 3)));
                List<String> ins = new ArrayList<>(List.of("x", "pads"));
                if (mode.equals("constant")) { init.put("value", Tensor.ofFloats(Shape.of(), 0.5f)); ins.add("value"); }
                yield new Node("op", "Pad", "", ins, outs, new Attributes(Map.of("mode", new Attr.Str(mode))));
            }
            case "resize-nearest", "resize-linear", "resize-cubic", "resize-cubic-align", "resize-linear-asymmetric",
                 "resize-nearest-sizes", "resize-cubic-sizes" -> {
                String mode = op.contains("nearest") ? "nearest" : op.contains("linear") ? "linear" : "cubic";
                String ctm = op.endsWith("align") ? "align_corners" : op.endsWith("asymmetric") ? "asymmetric"
                    : List.of("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric").get(r.nextInt(3));
                Map<String, Attr> a = new HashMap<>(Map.of("mode", new Attr.Str(mode), "coordinate_transformation_mode", new Attr.Str(ctm)));
                if (mode.equals("nearest")) a.put("nearest_mode", new Attr.Str(List.of("floor", "round_prefer_floor", "round_prefer_ceil", "ceil").get(r.nextInt(4))));
                if (op.endsWith("sizes")) {
                    // sizes of every axis (as torch exports an upsample): up on one spatial axis, down on the other
                    init.put("sizes", longs(n, c, h + dim(r, 1, 9), w - dim(r, 1, 4)));
                    yield new Node("op", "Resize", "", List.of("x", "", "", "sizes"), outs, new Attributes(a));
                }
                init.put("scales", Tensor.ofFloats(Shape.of(4), 1f, 1f, List.of(2f, 1.5f, 0.75f).get(r.nextInt(3)), List.of(2f, 1.25f, 0.6f).get(r.nextInt(3))));
                yield new Node("op", "Resize", "", List.of("x", "", "scales"), outs, new Attributes(a));
            }
            case "batchnorm", "batchnorm-rank3" -> {
                if (op.endsWith("rank3")) in.put("x", ColumnTilingTest.random(r, Shape.of(dim(r, 3, 40), c, dim(r, 1, 9))));
                for (String p : List.of("scale", "bias", "mean")) init.put(p, ColumnTilingTest.random(r, Shape.of(c)));
                Tensor var = ColumnTilingTest.random(r, Shape.of(c));
                for (int i = 0; i < c; i++) var.setDouble(i, Math.abs(var.getDouble(i)) + 0.1);
                init.put("var", var);
                yield new Node("op", "BatchNormalization", "", List.of("x", "scale", "bias", "mean", "var"), outs,
                    new Attributes(Map.of("epsilon", new Attr.Float(1e-5f))));
            }
            case "instancenorm" -> {
                init.put("scale", ColumnTilingTest.random(r, Shape.of(c)));
                init.put("bias", ColumnTilingTest.random(r, Shape.of(c)));
                yield new Node("op", "InstanceNormalization", "", List.of("x", "scale", "bias"), outs, new Attributes(Map.of("epsilon", new Attr.Float(1e-5f))));
            }
            case "gelu", "sigmoid-odd" -> {
                // a batch of images (ConvNeXt's Gelu, cut only by images before), or an odd element count (masked vector tails)
                if (op.equals("sigmoid-odd")) in.put("x", ColumnTilingTest.random(r, Shape.of(dim(r, 3, 9) * 2 + 1, dim(r, 3, 7) * 2 + 1, w)));
                else in.put("x", ColumnTilingTest.random(r, Shape.of(dim(r, 2, 3), c, h, w)));
                yield new Node("op", op.equals("gelu") ? "Gelu" : "Sigmoid", "", List.of("x"), outs, Attributes.EMPTY);
            }
            case "softmax-mid-axis", "logsoftmax-mid-axis" -> {
                // YOLOv8's DFL: over an axis before the last (opset 13 on: that axis alone), cut after it too
                in.put("x", ColumnTilingTest.random(r, Shape.of(1, dim(r, 8, 17), dim(r, 2, 5), dim(r, 40, 300))));
                yield new Node("op", op.startsWith("log") ? "LogSoftmax" : "Softmax", "", List.of("x"), outs, new Attributes(Map.of("axis", new Attr.Int(1))));
            }
            default -> throw new IllegalArgumentException(op);
        };
        return new Case(node, in, init);
    }

    private static void check(String op, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 7919 + op.hashCode());
        Case k = build(op, r);
        List<Value> inputs = new ArrayList<>();
        Map<String, TensorType> types = new HashMap<>();
        for (var e : k.inputs().entrySet()) {
            TensorType t = TensorType.of(e.getValue().dtype(), e.getValue().shape());
            inputs.add(new Value(e.getKey(), t));
            types.put(e.getKey(), t);
        }
        List<Value> outputs = k.node().outputs().stream().map(o -> new Value(o, null)).toList();
        Graph raw = new Graph("t", List.of(k.node()), inputs, outputs, k.init(), types);
        OpRegistry ops = OpRegistry.cpu();
        Model model = TypeInference.run(new Model(raw, 8, Map.of("", 18L), "test", "test"), ops, Map.of(), false);
        Graph g = model.graph();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(k.inputs(), OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        // the graph's least budget as the builder states it, planning with the model's opset as the runtime does
        long min = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(64), TilingOptions.defaults(), 18)).neededBytes();
        if (!op.contains("softmax")) assertEquals(MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED), min, "the stated minimum");
        String what = op + " seed " + seed + " " + k.inputs().values().stream().map(t -> t.shape().toString()).toList() + " -> "
            + k.node().outputs().stream().map(o -> g.typeOf(o).toString()).toList();
        assertTrue(min < full, what + ": tiles need less than the whole node: " + min + " of " + full);
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 64), TilingOptions.defaults(), 18), what);
        assertEquals(min, e.neededBytes(), e.getMessage());
        assertTrue(e.getMessage().contains("'op") && e.getMessage().contains("needs at least " + min + " bytes"), e.getMessage());
        TreeSet<Long> budgets = new TreeSet<>(List.of(min, Math.max(min, full / 4), Math.max(min, full / 10)));
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget), TilingOptions.defaults(), 18);
            long tiles = plan.tasks().stream().filter(t -> t instanceof Task.Kernel kt && kt.tile() != null && kt.tile().kind() == Tile.Kind.OUTPUT_BOX).count();
            if (budget == min) assertTrue(tiles >= 2, what + " is split into boxes at its minimum: " + plan.summary());
            if (op.startsWith("split")) assertReadsOnce(plan, k.inputs().get("x").elementCount(), what + " at " + budget + " B");
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                    for (int run = 0; run < 2; run++) {
                        Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 101 + run, 20_000);
                        MemGraphExecutor.Result res = ex.run(k.inputs(), d);
                        String where = what + " at " + budget + " B of " + full + " (" + order + ", " + par + ", run " + run + "; " + plan.summary() + ")";
                        for (String o : k.node().outputs()) assertTrue(ref.get(o).sameBits(res.outputs().get(o)), o + " differs: " + where);
                        assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
                    }
                }
            }
        }
    }

    /** A Split's tiles read only their slabs: the box copies out of x together hold at most x's elements. */
    private static void assertReadsOnce(MemGraph plan, long elements, String what) {
        long read = 0;
        for (Task t : plan.tasks()) {
            if (t instanceof Task.Transfer x && x.box() != null && plan.buffers().get(x.src()).value().equals("x")) read += x.box().elementCount();
        }
        assertTrue(read <= elements, what + ": box copies of x hold " + read + " elements of " + elements);
    }
}
