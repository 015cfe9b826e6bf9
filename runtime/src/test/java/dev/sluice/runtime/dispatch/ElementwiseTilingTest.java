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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Same-shape elementwise nodes split by element ranges ({@link Tile.Kind#ELEMENTS}) against the whole graph,
 * with the real CPU kernels: {@code r = op(x [, second])}, then {@code z = Add(r, y)}. At the minimum budget
 * both nodes are split and every activation is read range by range from its host copy (r is offloaded); at
 * larger budgets r stays resident and the Add reads views of it. Element counts that are not multiples of
 * the range unit put the kernels' vector tail in the last range, as in the whole node.
 */
class ElementwiseTilingTest {
    @ParameterizedTest(name = "{0}({1}) {2}")
    @CsvSource({
        "Add,x2,'2,3,37,29'", "Sub,c,'1,5,41,43'", "Mul,self,'3,7,33,17'", "Div,x2,'1,1,997,13'", "Relu,'','2,3,37,29'",
        "Sigmoid,'','1,5,41,43'", "Tanh,'','3,7,33,17'", "HardSwish,'','1,16,64,64'", "LeakyRelu,'','1,5,41,43'",
        "Clip,c,'2,3,37,29'", "Exp,'','1,1,997,13'", "HardSigmoid,'','1,5,41,43'", "Add,c,'1,1,1,4099'",
        "Swish,'','1,5,41,43'", "SwiGLU,x2,'2,3,37,29'"})
    void elementRangesAreBitIdenticalToTheWholeNode(String op, String second, String dims) {
        check(op, second, dims, null, 17);
    }

    /** Softmax / LogSoftmax over the last axis split by whole rows, in both opset semantics of the axis. */
    @ParameterizedTest(name = "{0} {1} axis={2} opset {3}")
    @CsvSource({"Softmax,'1,40,6625',2,11", "Softmax,'1,40,6625',-1,17", "LogSoftmax,'3,50,77',-1,13", "Softmax,'37,100',,11",
        "Softmax,'300,33',,17", "LogSoftmax,'2,3,7,50',3,11"})
    void softmaxRowsAreBitIdenticalToTheWholeNode(String op, String dims, Long axis, int opset) {
        check(op, "", dims, axis, opset);
    }

    /** A buffer of value r, whole or a band or range of it. */
    private static boolean isR(String value) { return value.equals("r") || value.startsWith("r#"); }

    private static void check(String op, String second, String dims, Long axis, int opset) {
        long[] d = java.util.Arrays.stream(dims.split(",")).mapToLong(Long::parseLong).toArray();
        Shape shape = Shape.of(d);
        SplittableRandom r = new SplittableRandom(shape.elementCount() * 31 + op.hashCode());
        TensorType t = TensorType.of(DType.FLOAT32, shape);
        Map<String, Tensor> init = new LinkedHashMap<>();
        List<String> ins = new ArrayList<>(List.of("x"));
        List<Value> inputs = new ArrayList<>(List.of(new Value("x", t), new Value("y", t)));
        Map<String, TensorType> types = new HashMap<>(Map.of("x", t, "y", t, "r", t, "z", t));
        switch (second) {
            case "x2" -> { ins.add("x2"); inputs.add(new Value("x2", t)); types.put("x2", t); }
            case "self" -> ins.add("x");
            case "c" -> {
                init.put("c", Tensor.ofFloats(Shape.of(), 0.25f));
                ins.add("c");
                if (op.equals("Clip")) { init.put("c2", Tensor.ofFloats(Shape.of(), 0.5f)); ins.add("c2"); }
            }
            default -> {}
        }
        Node n1 = new Node("op", op, "", ins, List.of("r"),
            new Attributes(axis == null ? Map.<String, Attr>of() : Map.<String, Attr>of("axis", new Attr.Int(axis))));
        Node n2 = new Node("add", "Add", "", List.of("r", "y"), List.of("z"), new Attributes(Map.<String, Attr>of()));
        Graph g = new Graph("t", List.of(n1, n2), inputs, List.of(new Value("z", t)), init, types);
        Model model = new Model(g, 8, Map.of("", (long) opset), "test", "test");
        Map<String, Tensor> in = new HashMap<>();
        for (Value v : inputs) in.put(v.name(), ColumnTilingTest.random(r, shape));
        OpRegistry ops = OpRegistry.cpu();
        Tensor ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE).get("z");
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        // the least without output boxes (which would take over below it): this test is about its own split kind
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false);
        long whole = 3 * Tensor.blockBytes(Tensor.byteSize(DType.FLOAT32, shape));
        assertTrue(min < whole / 2, "an elementwise node needs about its output once split: " + min + " of " + whole);
        for (long budget : new long[] {min, Math.max(min, full / 2), full}) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            List<Tile> tiles = plan.tasks().stream().filter(x -> x instanceof Task.Kernel k && k.tile() != null)
                .map(x -> ((Task.Kernel) x).tile()).toList();
            assertTrue(tiles.size() > 1, plan.summary());
            long row = Tile.rowLength(g, n1);
            if (op.endsWith("Softmax")) {
                assertTrue(row > 0, "splits by rows");
                assertTrue(plan.tasks().stream().anyMatch(x -> x instanceof Task.Kernel k && k.tile() != null && k.node() == 0), plan.summary());
            }
            for (Task x : plan.tasks()) {
                if (row > 0 && x instanceof Task.Kernel k && k.tile() != null && k.node() == 0) assertEquals(0, k.tile().start() % row, "whole rows: " + k.tile());
            }
            for (Tile tile : tiles) {
                // At the minimum a 4-D node whose planes are multiples of 16 elements splits by output rows instead
                // (RowBands): it then needs no whole activation at all; and at a larger budget the two nodes may run as
                // one band chain (BandChains: the value between them never leaves the device, fewer link bytes), wherever
                // the builder finds that plan cheaper. ConvTilingTest and BandChainTest cover those bands.
                if (tile.kind() == Tile.Kind.OUTPUT_ROWS && shape.rank() == 4) continue;
                assertEquals(Tile.Kind.ELEMENTS, tile.kind());
                assertEquals(0, tile.start() % 16, "ranges start on 64 bytes: " + tile);
            }
            // At the minimum, ranges are copied from host copies; with room, the Add reads views of resident r.
            if (budget == min) assertTrue(plan.tasks().stream().anyMatch(x -> x instanceof Task.Transfer tr && tr.ranged()), plan.summary());
            if (budget == full) {
                // r stays on the device: the Add reads it in place, or the two run as one band chain and r never crosses the link
                boolean inPlace = plan.tasks().stream().anyMatch(x -> x instanceof Task.Kernel k && k.tile() != null && k.node() == 1
                    && plan.buffers().get(k.inputs().getFirst()).value().equals("r"));
                boolean chained = plan.tasks().stream().noneMatch(x -> x instanceof Task.Transfer tr && tr.lane().isCopy()
                    && (isR(plan.buffers().get(tr.src()).value()) || isR(plan.buffers().get(tr.dst()).value())))
                    && plan.tasks().stream().noneMatch(x -> x instanceof Task.Offload);
                assertTrue(inPlace || chained, "r stays on the device: " + plan.summary());
            }
            for (Parallelism par : new Parallelism[] {Parallelism.SEQUENTIAL, Parallelism.of(4)}) {
                for (Dispatcher.Order order : Dispatcher.Order.values()) {
                    var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, par)), order);
                    MemGraphExecutor.Result res = ex.run(in);
                    assertTrue(ref.sameBits(res.outputs().get("z")), op + " in " + tiles.size() + " tiles at " + budget + " B (" + order
                        + ", " + par + "; " + plan.summary() + ")");
                    assertTrue(res.peakBytes().get(1) <= budget);
                }
            }
        }
    }
}
