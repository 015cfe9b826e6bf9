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
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Conv / sluice.FusedConv split by blocks of output channels (on by default) against the whole node, with
 * the real CPU kernels: bit-identical for im2col convs, 1x1 (pointwise) convs, strides, a batch of two, and odd channel counts whose last block would be one channel wide
 * (Gemm32's m = 1 path sums in another order, so the first block takes that channel instead).
 */
class ConvTilingTest {
    @ParameterizedTest(name = "{0} n={1} c={2} m={3} k={4} stride={5} {6}")
    @CsvSource({
        "Conv,1,5,37,3,1,''", "Conv,2,3,19,3,2,''", "Conv,1,200,33,1,1,''", "Conv,1,120,9,1,2,''", "Conv,1,300,13,3,1,''",
        "FusedConv,1,5,37,3,1,Relu", "FusedConv,1,16,65,1,1,HardSwish", "FusedConv,2,4,21,3,2,''", "FusedConv,2,150,17,1,1,Relu",
        "FusedConv,1,300,5,3,1,LeakyRelu"})
    void channelTilesAreBitIdenticalToTheWholeNode(String op, int n, int c, int m, int k, int stride, String act) {
        int h = 11, w = 13, pad = k / 2;
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        SplittableRandom r = new SplittableRandom(n * 1000003L + c * 1009L + m * 31L + k);
        boolean fused = op.equals("FusedConv");
        Map<String, Tensor> init = new LinkedHashMap<>();
        init.put("w", ColumnTilingTest.random(r, Shape.of(m, c, k, k)));
        init.put("b", ColumnTilingTest.random(r, Shape.of(m)));
        Map<String, Attr> attrs = new HashMap<>();
        attrs.put("pads", new Attr.Ints(new long[] {pad, pad, pad, pad}));
        attrs.put("strides", new Attr.Ints(new long[] {stride, stride}));
        if (fused && !act.isEmpty()) attrs.put("activation", new Attr.Str(act));
        TensorType x = TensorType.of(DType.FLOAT32, Shape.of(n, c, h, w)), y = TensorType.of(DType.FLOAT32, Shape.of(n, m, oh, ow));
        Node node = new Node("conv", op, fused ? "sluice" : "", List.of("x", "w", "b"), List.of("y"), new Attributes(attrs));
        Graph g = new Graph("t", List.of(node), List.of(new Value("x", x)), List.of(new Value("y", y)), init,
            new HashMap<>(Map.of("x", x, "y", y)));
        Model model = new Model(g, 8, Map.of("", 17L, "sluice", 1L), "test", "test");
        Map<String, Tensor> in = Map.of("x", ColumnTilingTest.random(r, x.shape().toShape()));
        OpRegistry ops = OpRegistry.cpu();
        Tensor ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE).get("y");
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        // the least without output boxes (which would take over below it): this test is about its own split kind
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED, false);
        assertTrue(min < full, "a splittable conv needs less than the whole: " + min + " of " + full);
        for (long budget : new long[] {min, Math.max(min, full / 2)}) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            List<Tile> tiles = plan.tasks().stream().filter(t -> t instanceof Task.Kernel kk && kk.tile() != null).map(t -> ((Task.Kernel) t).tile()).toList();
            assertTrue(tiles.size() > 1, plan.summary());
            long covered = 0;
            for (Tile t : tiles) {
                assertEquals(Tile.Kind.OUTPUT_CHANNELS, t.kind());
                assertTrue(t.end() - t.start() > 1, "a one-channel tile: " + t);
                assertEquals(covered, t.start());
                covered = t.end();
            }
            assertEquals(m, covered);
            for (Dispatcher.Order order : Dispatcher.Order.values()) {
                var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
                MemGraphExecutor.Result res = ex.run(in);
                assertTrue(ref.sameBits(res.outputs().get("y")), op + " in " + tiles.size() + " tiles at " + budget + " B (" + order + ")");
                assertTrue(res.peakBytes().get(1) <= budget);
            }
        }
    }
}
