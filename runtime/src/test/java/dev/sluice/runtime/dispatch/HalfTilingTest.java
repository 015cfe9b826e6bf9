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
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Float16 nodes under a budget (the exports users make for GPUs: model.half()), split by every tiling that takes them,
 * against the plain executor's whole node (the untiled CPU kernel), for shapes drawn at random per seed. The float16
 * kernels compute products and windows on their float32 path and round once per element, elementwise ops and norms
 * element by element or row by row through double: a tile must give the whole node's bits all the same. Each
 * one-node graph runs at its minimum budget, at 25% and 10% of its whole need (where those are above the minimum) and
 * at 50% (where element ranges and channel blocks fit), with every tiling and again without output boxes (so that
 * element ranges, weight blocks and row bands carry the minimum), in every dispatch order, with and without injected
 * lane delays, with one and three kernel threads: the output bit for bit the whole node's, the arena never over its
 * budget. Below the minimum the plan is refused before running, naming the node and the bytes. Convs, ConvTranspose,
 * BatchNormalization and same-shape elementwise nodes were refused under a budget before (whole, float32-only tilings).
 */
class HalfTilingTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"conv-3x3", "conv-strided", "conv-depthwise", "conv-grouped", "conv-pointwise-small", "conv-pointwise-large",
        "conv-pointwise-14x14", "patch16", "conv-odd", "conv1d", "convtranspose", "matmul", "matmul-batched", "gemm", "add-broadcast", "mul-same", "sigmoid",
        "div", "hardswish", "layernorm", "softmax", "reducemean", "gap", "maxpool", "avgpool", "transpose", "reshape", "gather",
        "concat", "batchnorm", "resize", "attention-onnx"})
    void float16TilesAreBitIdenticalToTheWholeNode(String op) {
        for (long seed = 1; seed <= 2; seed++) check(op, seed);
    }

    /**
     * EfficientNet's squeeze-excitation head in float16 (ReduceMean over the plane, then a 1x1 conv of 32 channels to 8):
     * at a low budget the ReduceMean's output boxes, a few channels each, go into its whole output kept on the device for
     * the conv (a local scatter). The whole is 32 float16 elements and a box 4: one 64-byte block each, which the
     * executor took for a gather (efficientnet_b0 fp16 failed at 10%: "box [:, 0:4, :, :] of [1, 32, 1, 1] does not fit
     * [1,4,1,1]"). At the minimum, 10% and 25%: the graph's output bit for bit the plain executor's.
     */
    @org.junit.jupiter.api.Test
    void squeezeExcitationOfFewChannelsRunsUnderBudgets() {
        SplittableRandom r = new SplittableRandom(5);
        OpRegistry ops = OpRegistry.cpu();
        Map<String, Tensor> in = Map.of("x", half(r, Shape.of(1, 32, 56, 56)));
        Map<String, Tensor> init = new LinkedHashMap<>(Map.of("w", half(r, Shape.of(8, 32, 1, 1)), "b", half(r, Shape.of(8)),
            "axes", Tensor.ofLongs(Shape.of(2), 2, 3)));
        List<Node> nodes = List.of(new Node("mean", "ReduceMean", "", List.of("x", "axes"), List.of("m"), new Attributes(Map.of("keepdims", new Attr.Int(1)))),
            new Node("conv", "Conv", "", List.of("m", "w", "b"), List.of("out"), new Attributes(Map.of("kernel_shape", new Attr.Ints(new long[] {1, 1})))));
        var t = dev.sluice.kernels.TensorType.of(DType.FLOAT16, in.get("x").shape());
        Graph raw = new Graph("se", nodes, List.of(new dev.sluice.graph.Value("x", t)), List.of(new dev.sluice.graph.Value("out", null)), init, Map.of("x", t));
        Model model = dev.sluice.graph.TypeInference.run(new Model(raw, 8, Map.of("", 18L), "test", "test"), ops, Map.of(), false);
        Graph g = model.graph();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED), min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        TreeSet<Long> budgets = new TreeSet<>(List.of(min));
        for (long pct : new long[] {25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
        assertTrue(budgets.size() == 3, "10% and 25% are above the minimum " + min + " of " + full);
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            for (Dispatcher.Order order : Dispatcher.Order.values()) {
                var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
                MemGraphExecutor.Result res = ex.run(in, ex.dispatcher());
                String where = "at " + budget + " B of " + full + " (" + order + "; " + plan.summary() + ")";
                assertTrue(ref.get("out").sameBits(res.outputs().get("out")), "out differs: " + where);
                assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
            }
        }
    }

    private static int dim(SplittableRandom r, int lo, int hi) { return r.nextInt(lo, hi + 1); }

    /** Values in [-1, 1) rounded to float16. */
    static Tensor half(SplittableRandom r, Shape s) {
        Tensor t = Tensor.allocate(DType.FLOAT16, s);
        for (long i = 0; i < t.elementCount(); i++) t.setDouble(i, r.nextDouble() * 2 - 1);
        return t;
    }

    private static Tensor longs(SplittableRandom r, Shape s, int bound) {
        Tensor t = Tensor.allocate(DType.INT64, s);
        for (long i = 0; i < t.elementCount(); i++) t.setLong(i, r.nextInt(bound));
        return t;
    }

    private record Case(Node node, Map<String, Tensor> inputs, Map<String, Tensor> init, long opset) {}

    private static Map<String, Attr> convAttrs(int kh, int kw, int s, long[] pads, int group) {
        return new HashMap<>(Map.of("kernel_shape", new Attr.Ints(new long[] {kh, kw}), "strides", new Attr.Ints(new long[] {s, s}),
            "pads", new Attr.Ints(pads), "group", new Attr.Int(group)));
    }

    private static Node node(String type, List<String> in, Map<String, Attr> a) {
        return new Node("op", type, "", in, List.of("out"), new Attributes(a));
    }

    private static Case build(String op, SplittableRandom r) {
        Map<String, Tensor> in = new LinkedHashMap<>(), init = new LinkedHashMap<>();
        int n = dim(r, 1, 2), c = dim(r, 5, 19), h = dim(r, 9, 31), w = dim(r, 7, 29);
        Shape x4 = Shape.of(n, c, h, w);
        Node node = switch (op) {
            case "conv-3x3", "conv-strided", "conv-grouped" -> {
                // a ResNet block's 3x3 (pad 1), a stride-2 one with uneven pads, a grouped one; the bias sometimes absent
                boolean strided = op.equals("conv-strided");
                int group = op.equals("conv-grouped") ? dim(r, 2, 3) : 1, ci = group * dim(r, 3, 9), m = group * dim(r, 3, 12);
                in.put("x", half(r, Shape.of(n, ci, h, w)));
                init.put("w", half(r, Shape.of(m, ci / group, 3, 3)));
                boolean bias = r.nextInt(3) > 0;
                if (bias) init.put("b", half(r, Shape.of(m)));
                yield node("Conv", List.of("x", "w", bias ? "b" : ""), convAttrs(3, 3, strided ? 2 : 1,
                    strided ? new long[] {1, 0, 0, 1} : new long[] {1, 1, 1, 1}, group));
            }
            case "conv-depthwise" -> {
                // EfficientNet's / ConvNeXt's depthwise convs: a 3..7 kernel, "same" pads, explicit or SAME_UPPER
                int k = 2 * dim(r, 1, 3) + 1;
                in.put("x", half(r, x4));
                init.put("w", half(r, Shape.of(c, 1, k, k)));
                init.put("b", half(r, Shape.of(c)));
                Map<String, Attr> a = convAttrs(k, k, 1, new long[] {k / 2, k / 2, k / 2, k / 2}, c);
                if (r.nextBoolean()) { a.remove("pads"); a.put("auto_pad", new Attr.Str("SAME_UPPER")); }
                yield node("Conv", List.of("x", "w", "b"), a);
            }
            case "conv-pointwise-small", "conv-pointwise-large" -> {
                // a late 1x1 conv (many channels, a small plane: weights dominate), an early one (few channels, a large plane)
                boolean small = op.endsWith("small");
                int ci = small ? dim(r, 40, 90) : dim(r, 6, 19), m = small ? dim(r, 80, 161) : dim(r, 5, 17);
                int hh = small ? dim(r, 4, 9) : dim(r, 30, 51), ww = small ? dim(r, 4, 9) : dim(r, 30, 47);
                in.put("x", half(r, Shape.of(1, ci, hh, ww)));
                init.put("w", half(r, Shape.of(m, ci, 1, 1)));
                init.put("b", half(r, Shape.of(m)));
                yield node("Conv", List.of("x", "w", "b"), convAttrs(1, 1, 1, new long[4], 1));
            }
            case "conv-pointwise-14x14" -> {
                // ConvNeXt's MLP out (640 -> 160 over 14x14 in convnext_atto): 196 positions, which halve to blocks of 112
                // that leave one block (the short rest joins it); without a K cut in float16 only positions cut the input
                int ci = dim(r, 40, 90), m = dim(r, 8, 20);
                in.put("x", half(r, Shape.of(1, ci, 14, 14)));
                init.put("w", half(r, Shape.of(m, ci, 1, 1)));
                init.put("b", half(r, Shape.of(m)));
                yield node("Conv", List.of("x", "w", "b"), convAttrs(1, 1, 1, new long[4], 1));
            }
            case "patch16" -> {
                // a ViT's patch embedding: 3 channels, kernel 16 stride 16
                int p = 16;
                in.put("x", half(r, Shape.of(1, 3, dim(r, 5, 9) * p + dim(r, 0, 3), dim(r, 5, 9) * p + dim(r, 0, 3))));
                init.put("w", half(r, Shape.of(dim(r, 8, 24), 3, p, p)));
                init.put("b", half(r, Shape.of(init.get("w").shape().dim(0))));
                yield node("Conv", List.of("x", "w", "b"), convAttrs(p, p, p, new long[4], 1));
            }
            case "conv-odd" -> {
                // a 5x4 kernel with uneven pads (explicit or SAME_LOWER), stride 1 or 2
                int m = dim(r, 3, 13), ci = dim(r, 2, 7);
                in.put("x", half(r, Shape.of(n, ci, dim(r, 11, 29), dim(r, 7, 23))));
                init.put("w", half(r, Shape.of(m, ci, 5, 4)));
                init.put("b", half(r, Shape.of(m)));
                Map<String, Attr> a = convAttrs(5, 4, dim(r, 1, 2), new long[] {2, 0, 1, 1}, 1);
                if (r.nextInt(3) == 0) { a.remove("pads"); a.put("auto_pad", new Attr.Str("SAME_LOWER")); }
                yield node("Conv", List.of("x", "w", "b"), a);
            }
            case "conv1d" -> {
                // a 1-D conv over time (kernel 3, pad 1): images x channels
                int m = dim(r, 4, 20);
                in.put("x", half(r, Shape.of(n, c, dim(r, 30, 90))));
                init.put("w", half(r, Shape.of(m, c, 3)));
                init.put("b", half(r, Shape.of(m)));
                yield node("Conv", List.of("x", "w", "b"), new HashMap<>(Map.of("kernel_shape", new Attr.Ints(new long[] {3}),
                    "pads", new Attr.Ints(new long[] {1, 1}))));
            }
            case "convtranspose" -> {
                // a 2x2 stride-2 upsampling (a U-Net's or a detector's neck): kernel equal to its stride
                int m = dim(r, 3, 12);
                in.put("x", half(r, x4));
                init.put("w", half(r, Shape.of(c, m, 2, 2)));
                init.put("b", half(r, Shape.of(m)));
                yield node("ConvTranspose", List.of("x", "w", "b"), new HashMap<>(Map.of("kernel_shape", new Attr.Ints(new long[] {2, 2}),
                    "strides", new Attr.Ints(new long[] {2, 2}))));
            }
            case "matmul" -> {
                // a Linear layer: activations [B, S, K] by a constant [K, N]
                int k = dim(r, 20, 90);
                in.put("a", half(r, Shape.of(dim(r, 1, 3), dim(r, 5, 40), k)));
                init.put("b", half(r, Shape.of(k, dim(r, 32, 100))));
                yield node("MatMul", List.of("a", "b"), Map.of());
            }
            case "matmul-batched" -> {
                // attention scores: two activations over [B, H] batches
                int b = dim(r, 1, 2), heads = dim(r, 2, 4), d = dim(r, 8, 40);
                in.put("q", half(r, Shape.of(b, heads, dim(r, 5, 40), d)));
                in.put("k", half(r, Shape.of(b, heads, d, dim(r, 5, 40))));
                yield node("MatMul", List.of("q", "k"), Map.of());
            }
            case "gemm" -> {
                // a classifier head: Gemm with transB and a bias C along the columns
                int k = dim(r, 20, 90), cols = dim(r, 32, 100);
                in.put("a", half(r, Shape.of(dim(r, 2, 9), k)));
                init.put("b", half(r, Shape.of(cols, k)));
                init.put("c", half(r, Shape.of(cols)));
                yield node("Gemm", List.of("a", "b", "c"), Map.of("transB", new Attr.Int(1)));
            }
            case "add-broadcast" -> {
                in.put("x", half(r, x4));
                in.put("y", half(r, Shape.of(c, 1, 1)));
                yield node("Add", List.of("x", "y"), Map.of());
            }
            case "mul-same" -> {
                // same-shape activations, planes a multiple of 16 or not (row bands need it, element ranges do not)
                Shape s = r.nextBoolean() ? Shape.of(n, c, 16, 2 * dim(r, 4, 14)) : x4;
                in.put("x", half(r, s));
                in.put("y", half(r, s));
                yield node("Mul", List.of("x", "y"), Map.of());
            }
            case "sigmoid", "hardswish" -> {
                in.put("x", half(r, x4));
                yield node(op.equals("sigmoid") ? "Sigmoid" : "HardSwish", List.of("x"), Map.of());
            }
            case "div" -> {
                // not an exact op: float32 tiles start on vector lanes; float16 computes each element alone
                in.put("x", half(r, x4));
                in.put("y", half(r, x4));
                yield node("Div", List.of("x", "y"), Map.of());
            }
            case "layernorm" -> {
                int hh = dim(r, 5, 70);
                in.put("x", half(r, Shape.of(dim(r, 1, 3), dim(r, 3, 30), hh)));
                init.put("scale", half(r, Shape.of(hh)));
                init.put("bias", half(r, Shape.of(hh)));
                yield node("LayerNormalization", List.of("x", "scale", "bias"), Map.of("axis", new Attr.Int(-1), "epsilon", new Attr.Float(1e-5f)));
            }
            case "softmax" -> {
                in.put("x", half(r, Shape.of(dim(r, 1, 2), dim(r, 2, 4), dim(r, 5, 30), dim(r, 5, 40))));
                yield node("Softmax", List.of("x"), Map.of("axis", new Attr.Int(-1)));
            }
            case "reducemean" -> {
                in.put("x", half(r, x4));
                yield node("ReduceMean", List.of("x"), Map.of("axes", new Attr.Ints(new long[] {-1}), "keepdims", new Attr.Int(1)));
            }
            case "gap" -> {
                in.put("x", half(r, x4));
                yield node("GlobalAveragePool", List.of("x"), Map.of());
            }
            case "maxpool", "avgpool" -> {
                in.put("x", half(r, x4));
                yield node(op.equals("maxpool") ? "MaxPool" : "AveragePool", List.of("x"), Map.of("kernel_shape", new Attr.Ints(new long[] {3, 3}),
                    "strides", new Attr.Ints(new long[] {2, 2}), "pads", new Attr.Ints(new long[] {1, 1, 1, 1})));
            }
            case "transpose" -> {
                in.put("x", half(r, x4));
                yield node("Transpose", List.of("x"), Map.of("perm", new Attr.Ints(new long[] {0, 2, 3, 1})));
            }
            case "reshape" -> {
                in.put("x", half(r, x4));
                init.put("shape", Tensor.ofLongs(Shape.of(3), n, c, (long) h * w));
                yield node("Reshape", List.of("x", "shape"), Map.of());
            }
            case "gather" -> {
                // an embedding table (constant) by token ids
                int vocab = dim(r, 30, 90);
                init.put("table", half(r, Shape.of(vocab, dim(r, 16, 70))));
                in.put("ids", longs(r, Shape.of(dim(r, 1, 3), dim(r, 5, 20)), vocab));
                yield node("Gather", List.of("table", "ids"), Map.of("axis", new Attr.Int(0)));
            }
            case "concat" -> {
                in.put("x", half(r, x4));
                in.put("y", half(r, Shape.of(n, dim(r, 2, 9), h, w)));
                yield node("Concat", List.of("x", "y"), Map.of("axis", new Attr.Int(1)));
            }
            case "batchnorm" -> {
                // planes of whole vectors (what row bands of a row-preserving op ask, as for float32)
                in.put("x", half(r, Shape.of(n, c, h, 16 * dim(r, 1, 2))));
                init.put("scale", half(r, Shape.of(c)));
                init.put("bias", half(r, Shape.of(c)));
                init.put("mean", half(r, Shape.of(c)));
                Tensor var = Tensor.allocate(DType.FLOAT16, Shape.of(c));
                for (int i = 0; i < c; i++) var.setDouble(i, 0.5 + r.nextDouble());
                init.put("var", var);
                yield node("BatchNormalization", List.of("x", "scale", "bias", "mean", "var"), Map.of("epsilon", new Attr.Float(1e-5f)));
            }
            case "resize" -> {
                // a detector's nearest 2x upsampling
                in.put("x", half(r, x4));
                init.put("scales", Tensor.ofFloats(Shape.of(4), 1f, 1f, 2f, 2f));
                yield node("Resize", List.of("x", "", "scales"), Map.of("mode", new Attr.Str("nearest"),
                    "coordinate_transformation_mode", new Attr.Str("asymmetric"), "nearest_mode", new Attr.Str("floor")));
            }
            case "attention-onnx" -> {
                // ai.onnx Attention (opset 23) in float16: grouped KV heads, a float16 mask, causal or not
                int b = dim(r, 1, 2), l = dim(r, 2, 15), t = r.nextBoolean() ? l : dim(r, 2, 15), kv = dim(r, 1, 2), hq = kv * dim(r, 1, 3), d = dim(r, 3, 17);
                in.put("q", half(r, Shape.of(b, hq, l, d)));
                in.put("k", half(r, Shape.of(b, kv, t, d)));
                in.put("v", half(r, Shape.of(b, kv, t, dim(r, 3, 17))));
                in.put("mask", half(r, Shape.of(b, 1, l, t)));
                yield node("Attention", List.of("q", "k", "v", "mask"), Map.of("is_causal", new Attr.Int(r.nextInt(2))));
            }
            default -> throw new IllegalArgumentException(op);
        };
        return new Case(node, in, init, op.equals("attention-onnx") ? 23 : 17);
    }

    /** Ops whose float16 tiling is new (refused under a budget before): their minimum must be well under the whole need. */
    private static final Set<String> NEW = Set.of("conv-3x3", "conv-strided", "conv-depthwise", "conv-grouped", "conv-pointwise-small",
        "conv-pointwise-large", "conv-pointwise-14x14", "patch16", "conv-odd", "conv1d");

    private static void check(String op, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 7919 + op.hashCode());
        Case k = build(op, r);
        OpRegistry ops = OpRegistry.cpu();
        Model model = BoxTilingTest.singleNodeModel(k.node(), k.inputs(), k.init(), Map.of("", k.opset()), ops);
        Graph g = model.graph();
        assertEquals(DType.FLOAT16, g.typeOf("out").dtype(), op);
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(k.inputs(), OutputAllocator.FRESH, ExecutionListener.NONE);
        String what = op + " seed " + seed + " " + k.inputs().values().stream().map(t -> t.shape().toString()).toList() + " -> " + g.typeOf("out");
        Set<Tile.Kind> kinds = EnumSet.noneOf(Tile.Kind.class);
        for (TilingOptions o : List.of(TilingOptions.defaults(), TilingOptions.defaults().with("boxes", false))) {
            String how = o.boxes() ? "" : " (no boxes)";
            long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
            long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, o);
            if (o.boxes()) {
                assertTrue(min < full, what + ": tiles need less than the whole node: " + min + " of " + full);
                if (NEW.contains(op)) assertTrue(min * 2 <= full, what + ": the minimum is at most half the whole need: " + min + " of " + full);
                // a float16 pointwise conv is cut along its positions (no K cut): its tiles need not hold the whole input
                if (op.startsWith("conv-pointwise") && !op.endsWith("small")) {
                    assertTrue(min < k.inputs().get("x").byteSize(), what + ": minimum " + min + " holds less than the input");
                }
                MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 64), o), what);
                assertEquals(min, e.neededBytes(), e.getMessage());
                assertTrue(e.getMessage().contains("'op'") && e.getMessage().contains("needs at least " + min + " bytes"), e.getMessage());
            } else if (min >= full) continue; // no split of this op but boxes
            TreeSet<Long> budgets = new TreeSet<>(List.of(min));
            for (long pct : new long[] {50, 25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
            for (long budget : budgets) {
                MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget), o);
                long tiles = 0;
                for (Task t : plan.tasks()) {
                    if (t instanceof Task.Kernel kt && kt.tile() != null) { tiles++; kinds.add(kt.tile().kind()); }
                }
                if (budget == min) assertTrue(tiles >= 2, what + how + " is split at its minimum: " + plan.summary());
                for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(3)}) {
                    for (Dispatcher.Order order : Dispatcher.Order.values()) {
                        var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                        for (int run = 0; run < 2; run++) {
                            Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 101 + run, 20_000);
                            MemGraphExecutor.Result res = ex.run(k.inputs(), d);
                            String where = what + how + " at " + budget + " B of " + full + " (" + order + ", " + par + ", run " + run + "; " + plan.summary() + ")";
                            assertTrue(ref.get("out").sameBits(res.outputs().get("out")), "out differs: " + where);
                            assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
                        }
                    }
                }
            }
        }
        // the tile kinds the float16 tilings were meant to open: boxes for the convs, and without boxes weight blocks,
        // element ranges or row bands for the ops that have them (boxes are the last resort: where element ranges need
        // less, an elementwise node takes them even at its minimum)
        Set<Tile.Kind> expected = switch (op) {
            case "conv-3x3", "conv-pointwise-small", "conv-odd" -> EnumSet.of(Tile.Kind.OUTPUT_CHANNELS, Tile.Kind.OUTPUT_ROWS);
            case "matmul", "gemm" -> EnumSet.of(Tile.Kind.OUTPUT_COLUMNS);
            case "mul-same", "div", "sigmoid" -> EnumSet.of(Tile.Kind.ELEMENTS, Tile.Kind.OUTPUT_ROWS);
            case "convtranspose", "batchnorm", "resize" -> EnumSet.of(Tile.Kind.OUTPUT_ROWS);
            default -> EnumSet.allOf(Tile.Kind.class);
        };
        if (NEW.contains(op)) assertTrue(kinds.contains(Tile.Kind.OUTPUT_BOX), what + ": some plan splits it into boxes: " + kinds);
        assertTrue(kinds.stream().anyMatch(expected::contains), what + ": some plan splits it into one of " + expected + ": " + kinds);
    }
}
