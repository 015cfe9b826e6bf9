package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.graph.Model;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every budget from the stated minimum up runs, also where the arena's free bytes suffice but are split: CLIP's
 * QuickGELU (x * 1.702, Sigmoid, times x) after an MLP's first MatMul scales a large activation by a scalar
 * constant, and that 128-byte constant, loaded mid-arena while earlier nodes' values were still there, left no
 * gap wide enough for the Mul's whole output. The builder refused such budgets during emission ("no room for its
 * output") although the node's need fit: a planner inconsistency, found on CLIP's vision tower at 25%.
 */
class FragmentedArenaTest {
    @TempDir Path tmp;

    @Test
    void aScalarConstantMidArenaDoesNotStrandAnElementwiseOutput() throws Exception {
        SplittableRandom rnd = new SplittableRandom(11);
        int tokens = 65, width = 128, hidden = 256;
        OnnxModelBuilder b = new OnnxModelBuilder(13).input("x", 1, 1, tokens, width).output("y", 1, 1, tokens, width)
            .floatInit("k", new long[] {}, 1.702f);
        String prev = "x";
        for (int layer = 0; layer < 2; layer++) {
            String p = "l" + layer + "_";
            b.floatInit(p + "w1", new long[] {width, hidden}, values(rnd, width * hidden))
                .floatInit(p + "b1", new long[] {hidden}, values(rnd, hidden))
                .floatInit(p + "w2", new long[] {hidden, width}, values(rnd, hidden * width))
                .floatInit(p + "b2", new long[] {width}, values(rnd, width))
                .node("MatMul", List.of(prev, p + "w1"), List.of(p + "m1"))
                .node("Add", List.of(p + "b1", p + "m1"), List.of(p + "h"))
                .node("Mul", List.of(p + "h", "k"), List.of(p + "s"))
                .node("Sigmoid", List.of(p + "s"), List.of(p + "g"))
                .node("Mul", List.of(p + "h", p + "g"), List.of(p + "a"))
                .node("MatMul", List.of(p + "a", p + "w2"), List.of(p + "m2"))
                .node("Add", List.of(p + "b2", p + "m2"), List.of(p + "o"))
                .node("Add", List.of(prev, p + "o"), List.of(layer == 1 ? "y" : p + "r"));
            prev = p + "r";
        }
        Path file = b.write(tmp.resolve("quick_gelu_mlp.onnx"));
        Map<String, Tensor> in = Map.of("x", InputSources.random(DType.FLOAT32, Shape.of(1, tokens, width), new SplittableRandom(4)));
        try (Session s = Session.open(file, 1)) {
            GraphExecutor refEx = SessionInternals.executorFor(s, in);
            Map<String, Tensor> ref = refEx.run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
            Model m = MeasuredShapes.of(refEx, in);
            long full = MemGraph.fullNeed(m.graph(), RealModelBudgetTest.THROTTLED);
            long min = MemGraph.minimumBudget(m.graph(), RealModelBudgetTest.THROTTLED);
            List<String> failures = new ArrayList<>();
            List<Long> planned = new ArrayList<>();
            for (long budget = min; budget <= full; budget += Math.max(16, (full - min) / 150)) {
                try {
                    MemGraph.onDevice(m.graph(), RealModelBudgetTest.THROTTLED.withBudget(budget));
                    planned.add(budget);
                } catch (MemGraphException e) {
                    failures.add(budget + " B: " + e.getMessage());
                }
            }
            assertTrue(failures.isEmpty(), failures.size() + " budgets between the minimum " + min + " B and the full need " + full
                + " B refused, first: " + failures.getFirst());
            // the plans at the minimum and at a few budgets above it run with the unbudgeted bits
            OpRegistry ops = OpRegistry.cpu();
            for (int k = 0; k < planned.size(); k += Math.max(1, planned.size() / 6)) {
                long budget = planned.get(k);
                MemGraph plan = MemGraph.onDevice(m.graph(), RealModelBudgetTest.THROTTLED.withBudget(budget));
                var ex = new MemGraphExecutor(m, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)),
                    Dispatcher.Order.DYNAMIC);
                MemGraphExecutor.Result r = ex.run(in, ex.dispatcher());
                assertTrue(ref.get("y").sameBits(r.outputs().get("y")), "bits differ at " + budget + " B");
                assertTrue(r.peakBytes().get(1) <= budget, r.peakBytes() + " over " + budget);
            }
        }
    }

    private static float[] values(SplittableRandom rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1) * 0.2f;
        return v;
    }
}
