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
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
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
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A ReduceMax / ReduceMin, or an integer ReduceSum / ReduceProd, folding more into one output element than the device
 * holds (t5's reductions of a whole activation to one value) runs under budgets below the node's whole need, folded in two stages (memgraph's
 * FoldStages), bit for bit the untiled node: zeros of both signs and infinities among the values, integer and float16
 * types, axes as an attribute (opsets before 18) and as an input (18 on), kept and dropped dims. The old plan kept
 * such a node whole, so its minimum was the whole node's need.
 */
class StagedFoldTest {
    @ParameterizedTest(name = "{0} {1} opset {2} axes [{3}] keepdims {4} {5}")
    @CsvSource({
        "ReduceMax,FLOAT32,13,'',1,'3,17,70'", "ReduceMin,INT64,18,'',0,'2,16,128'", "ReduceMax,FLOAT16,18,'0,2',1,'3,9,40'",
        "ReduceMin,FLOAT32,11,'0,-1',0,'2,5,7,33'", "ReduceMax,INT64,18,'',0,'2,16,128'", "ReduceMin,FLOAT32,18,'1,2',1,'4,6,50'",
        "ReduceSum,INT64,18,'',0,'2,16,128'", "ReduceSum,INT32,13,'',1,'3,17,70'", "ReduceProd,INT64,11,'0,2',0,'3,9,40'"})
    void twoStageFoldsAreBitIdenticalToTheWholeNode(String op, DType type, long opset, String axes, long keepdims, String dims) {
        long[] d = java.util.Arrays.stream(dims.split(",")).mapToLong(Long::parseLong).toArray();
        Shape shape = Shape.of(d);
        SplittableRandom r = new SplittableRandom(shape.elementCount() * 31 + op.hashCode() + opset);
        Tensor x = Tensor.allocate(type, shape);
        for (long i = 0; i < x.elementCount(); i++) {
            // integers of any size: sums and products wrap, in some order of stages as in one
            if (type == DType.INT64 || type == DType.INT32) { x.setLong(i, type == DType.INT32 ? r.nextInt() : r.nextLong()); continue; }
            int k = r.nextInt(40);
            x.setDouble(i, k == 0 ? 0.0 : k == 1 ? -0.0 : k == 2 ? Double.POSITIVE_INFINITY : k == 3 ? Double.NEGATIVE_INFINITY : r.nextDouble(-4, 4));
        }
        Map<String, Tensor> in = Map.of("x", x), init = new LinkedHashMap<>();
        Map<String, Attr> at = new HashMap<>(Map.of("keepdims", new Attr.Int(keepdims)));
        List<String> ins = new ArrayList<>(List.of("x"));
        if (!axes.isEmpty()) {
            long[] a = java.util.Arrays.stream(axes.split(",")).mapToLong(Long::parseLong).toArray();
            if (opset >= 18) { init.put("axes", Tensor.ofLongs(Shape.of(a.length), a)); ins.add("axes"); }
            else at.put("axes", new Attr.Ints(a));
        }
        Node node = new Node("op", op, "", ins, List.of("out"), new Attributes(at));
        OpRegistry ops = OpRegistry.cpu();
        Model model = BoxTilingTest.singleNodeModel(node, in, init, Map.of("", opset), ops);
        Graph g = model.graph();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        String what = op + " " + type + " " + shape + " axes [" + axes + "] opset " + opset;
        // the whole input is the least a one-stage fold of everything holds; two stages hold a fold of the inner axes
        assertTrue(min < x.byteSize(), what + ": the minimum " + min + " holds less than the input's " + x.byteSize() + " bytes (whole need " + full + ")");
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 64)), what);
        assertEquals(min, e.neededBytes(), e.getMessage());
        TreeSet<Long> budgets = new TreeSet<>(List.of(min));
        for (long pct : new long[] {25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget), dev.sluice.kernels.TilingOptions.defaults(), (int) opset);
            for (Dispatcher.Order order : Dispatcher.Order.values()) {
                var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
                MemGraphExecutor.Result res = ex.run(in, ex.dispatcher().withJitter(opset * 7 + budget, 20_000));
                String where = what + " at " + budget + " B of " + full + " (" + order + "; " + plan.summary() + ")";
                assertTrue(ref.get("out").sameBits(res.outputs().get("out")), "out differs: " + where);
                assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
            }
        }
    }
}
