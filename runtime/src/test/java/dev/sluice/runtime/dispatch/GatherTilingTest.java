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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Gather cut into output slabs (GatherTiling), each reading its slab of the indices and of the data (the gathered axis
 * whole), against the plain executor's whole node bit for bit, and against a plain reference gather written here. The
 * cases: CaiT's {@code qkv[0]} (a scalar constant index on axis 0 of a computed [3, B, H, N, D]), a vector of constant
 * indices with negative ones on a middle axis, a matrix of indices given at run time on the last axis, a constant table
 * gathered on axis 1. Each one-node graph runs at its minimum budget, 25% and 10% of its whole need, in every dispatch
 * order, with and without lane delays; below the minimum the plan is refused, naming the node.
 */
class GatherTilingTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qkv-scalar", "vector-middle", "matrix-last", "table-axis1"})
    void slabsAreBitIdenticalToTheWholeNode(String op) {
        for (long seed = 1; seed <= 3; seed++) check(op, seed);
    }

    private static int dim(SplittableRandom r, int lo, int hi) { return r.nextInt(lo, hi + 1); }

    private record Case(Node node, Map<String, Tensor> inputs, Map<String, Tensor> init, Tensor data, Tensor indices, int axis) {}

    private static Tensor indices(SplittableRandom r, Shape s, long n) {
        long[] v = new long[(int) s.elementCount()];
        for (int i = 0; i < v.length; i++) v[i] = r.nextLong(-n, n); // negative ones count from the end
        return Tensor.ofLongs(s, v);
    }

    private static Case build(String op, SplittableRandom r) {
        Map<String, Tensor> in = new LinkedHashMap<>(), init = new LinkedHashMap<>();
        Tensor x, i;
        int axis;
        switch (op) {
            case "qkv-scalar" -> {
                x = ColumnTilingTest.random(r, Shape.of(3, dim(r, 1, 2), dim(r, 2, 5), dim(r, 20, 60), dim(r, 8, 24)));
                i = Tensor.ofLongs(Shape.of(), r.nextInt(-3, 3));
                axis = 0;
                in.put("x", x);
                init.put("i", i);
            }
            case "vector-middle" -> {
                x = ColumnTilingTest.random(r, Shape.of(dim(r, 3, 9), dim(r, 5, 13), dim(r, 10, 40)));
                i = indices(r, Shape.of(dim(r, 2, 7)), x.shape().dim(1));
                axis = 1;
                in.put("x", x);
                init.put("i", i);
            }
            case "matrix-last" -> {
                x = ColumnTilingTest.random(r, Shape.of(dim(r, 4, 12), dim(r, 6, 20), dim(r, 5, 11)));
                i = indices(r, Shape.of(dim(r, 2, 4), dim(r, 3, 9)), x.shape().dim(2));
                axis = -1;
                in.put("x", x);
                in.put("i", i);
            }
            case "table-axis1" -> {
                x = ColumnTilingTest.random(r, Shape.of(dim(r, 20, 50), dim(r, 8, 30)));
                i = indices(r, Shape.of(dim(r, 5, 15), dim(r, 2, 6)), x.shape().dim(1));
                axis = 1;
                init.put("x", x);
                in.put("i", i);
            }
            default -> throw new IllegalArgumentException(op);
        }
        Node n = new Node("op", "Gather", "", List.of("x", "i"), List.of("out"), new Attributes(Map.of("axis", new Attr.Int(axis))));
        return new Case(n, in, init, x, i, axis < 0 ? axis + x.rank() : axis);
    }

    /** A plain gather: output element (pre, idx, post) = data (pre, index, post), index counted from the end when negative. */
    private static float[] reference(Tensor data, Tensor idx, int axis) {
        long[] d = data.shape().dims();
        long pre = 1, post = 1;
        for (int j = 0; j < axis; j++) pre *= d[j];
        for (int j = axis + 1; j < d.length; j++) post *= d[j];
        float[] x = data.toFloatArray();
        long[] ix = idx.toLongArray();
        float[] out = new float[(int) (pre * ix.length * post)];
        int o = 0;
        for (long p = 0; p < pre; p++) {
            for (long k : ix) {
                long at = k < 0 ? k + d[axis] : k;
                for (long q = 0; q < post; q++) out[o++] = x[(int) ((p * d[axis] + at) * post + q)];
            }
        }
        return out;
    }

    private static void check(String op, long seed) {
        SplittableRandom r = new SplittableRandom(seed * 3571 + op.hashCode());
        Case k = build(op, r);
        OpRegistry ops = OpRegistry.cpu();
        Model model = BoxTilingTest.singleNodeModel(k.node(), k.inputs(), k.init(), Map.of("", 17L), ops);
        Graph g = model.graph();
        Map<String, Tensor> ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL).run(k.inputs(), OutputAllocator.FRESH, ExecutionListener.NONE);
        String what = op + " seed " + seed + " " + k.data().shape() + " by " + k.indices().shape() + " -> " + g.typeOf("out");
        assertArrayEquals(reference(k.data(), k.indices(), k.axis()), ref.get("out").toFloatArray(), what + ": the whole node gathers");
        long full = MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED);
        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        assertTrue(min * 2 <= full, what + ": the minimum is at most half the whole need: " + min + " of " + full);
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(min - 64)), what);
        assertTrue(e.getMessage().contains("'op'"), e.getMessage());
        TreeSet<Long> budgets = new TreeSet<>(List.of(min));
        for (long pct : new long[] {25, 10}) if (full * pct / 100 >= min) budgets.add(full * pct / 100);
        for (long budget : budgets) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            if (budget == min) {
                List<Box> boxes = new ArrayList<>();
                for (Task t : plan.tasks()) if (t instanceof Task.Kernel kt && kt.tile() != null && kt.tile().kind() == Tile.Kind.OUTPUT_BOX) boxes.add(kt.tile().box());
                assertTrue(boxes.size() >= 2, what + " is split into slabs at its minimum: " + plan.summary());
            }
            for (Dispatcher.Order order : Dispatcher.Order.values()) {
                var ex = new MemGraphExecutor(model, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
                for (int run = 0; run < 2; run++) {
                    Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(seed * 131 + run, 20_000);
                    MemGraphExecutor.Result res = ex.run(k.inputs(), d);
                    String where = what + " at " + budget + " B of " + full + " (" + order + ", run " + run + "; " + plan.summary() + ")";
                    assertTrue(ref.get("out").sameBits(res.outputs().get("out")), "out differs: " + where);
                    assertTrue(res.peakBytes().get(1) <= budget, res.peakBytes() + " over " + budget + ": " + where);
                }
            }
        }
    }
}
