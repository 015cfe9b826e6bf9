package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.device.DeviceKind;
import dev.sluice.memgraph.DeviceSpec;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.memgraph.MemGraphException;
import dev.sluice.memgraph.Task;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.Device;
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
import org.junit.jupiter.api.Test;

/**
 * Same inputs, same outputs, bit for bit, whatever order the dispatcher picked and whatever the budget:
 * the throttled device at 100%, 50% and 25% against the reference executor, with test-only kernels.
 */
class BudgetInvariantTest {
    /** Test-only kernels: deterministic float MatMul (2-D), Add, Relu, and one that always fails. */
    static OpRegistry testOps() {
        OpRegistry r = new OpRegistry();
        r.register("MatMul", kernel(ctx -> {
            Tensor a = ctx.input(0), b = ctx.input(1);
            int m = (int) a.shape().dim(0), k = (int) a.shape().dim(1), n = (int) b.shape().dim(1);
            Tensor c = ctx.output(0, DType.FLOAT32, Shape.of(m, n));
            for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) {
                float s = 0;
                for (int p = 0; p < k; p++) s += a.getFloat((long) i * k + p) * b.getFloat((long) p * n + j);
                c.setFloat((long) i * n + j, s);
            }
        }));
        r.register("Add", kernel(ctx -> {
            Tensor a = ctx.input(0), b = ctx.input(1);
            Tensor c = ctx.output(0, DType.FLOAT32, a.shape());
            for (long i = 0; i < a.elementCount(); i++) c.setFloat(i, a.getFloat(i) + b.getFloat(i));
        }));
        r.register("Relu", kernel(ctx -> {
            Tensor a = ctx.input(0);
            Tensor c = ctx.output(0, DType.FLOAT32, a.shape());
            for (long i = 0; i < a.elementCount(); i++) c.setFloat(i, Math.max(0f, a.getFloat(i)));
        }));
        r.register("Fail", kernel(ctx -> { throw new IllegalStateException("this kernel always fails"); }));
        return r;
    }

    static OpKernel kernel(java.util.function.Consumer<ExecContext> body) {
        return new OpKernel() {
            @Override public List<TensorType> infer(InferContext ctx) { return List.of(); }
            @Override public void execute(ExecContext ctx) { body.accept(ctx); }
        };
    }

    /** The U-Net-like stack of MemGraphTest, with random weights: down activations live until the way up. */
    static Model unet(int depth, int batch, int width, long seed, String failAt) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Node> nodes = new ArrayList<>();
        Map<String, Tensor> init = new LinkedHashMap<>();
        Map<String, TensorType> types = new HashMap<>();
        TensorType act = TensorType.of(DType.FLOAT32, Shape.of(batch, width));
        for (int w = 0; w < 3; w++) {
            float[] v = new float[width * width];
            for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1) / (float) Math.sqrt(width);
            init.put("w" + w, Tensor.ofFloats(Shape.of(width, width), v));
        }
        types.put("h0", act);
        for (int i = 0; i < depth; i++) {
            String op = ("relu" + i).equals(failAt) ? "Fail" : "Relu";
            nodes.add(new Node("down" + i, "MatMul", "", List.of("h" + i, "w" + (i % 3)), List.of("dm" + i), Attributes.EMPTY));
            nodes.add(new Node("relu" + i, op, "", List.of("dm" + i), List.of("h" + (i + 1)), Attributes.EMPTY));
            types.put("dm" + i, act);
            types.put("h" + (i + 1), act);
        }
        String u = "h" + depth;
        for (int k = 0; k < depth; k++) {
            nodes.add(new Node("up" + k, "MatMul", "", List.of(u, "w" + (k % 3)), List.of("um" + k), Attributes.EMPTY));
            nodes.add(new Node("add" + k, "Add", "", List.of("um" + k, "h" + (depth - 1 - k)), List.of("u" + (k + 1)), Attributes.EMPTY));
            types.put("um" + k, act);
            types.put("u" + (k + 1), act);
            u = "u" + (k + 1);
        }
        // A second output straight from the bottom, so results leave the device at two points.
        Graph g = new Graph("unet", nodes, List.of(new Value("h0", act)),
            List.of(new Value(u, act), new Value("h" + depth, act)), init, types);
        return new Model(g, 8, Map.of("", 17L), "test", "test");
    }

    static Map<String, Tensor> input(int batch, int width, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[batch * width];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rnd.nextDouble() * 2 - 1);
        return Map.of("h0", Tensor.ofFloats(Shape.of(batch, width), v));
    }

    static final DeviceSpec THROTTLED = new DeviceSpec("throttled", DeviceKind.THROTTLED, 1);

    @Test void outputsAreBitIdenticalToTheReferenceAt100And50And25PercentInAnyOrder() {
        OpRegistry ops = testOps();
        Model m = unet(16, 64, 32, 1, null);
        Map<String, Tensor> in = input(64, 32, 2);
        Map<String, Tensor> ref = new GraphExecutor(m, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        long full = MemGraph.fullNeed(m.graph(), THROTTLED);
        for (int pct : new int[] {100, 50, 25}) {
            long budget = full * pct / 100;
            MemGraph plan = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(budget));
            if (pct == 25) {
                assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Offload), plan.summary());
                // Back whole, or range by range into an Add split by element ranges.
                assertTrue(plan.tasks().stream().anyMatch(t -> t instanceof Task.Reload || t instanceof Task.Transfer x && x.ranged()), plan.summary());
            }
            List<Device> devices = List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL));
            for (Dispatcher.Order order : Dispatcher.Order.values()) {
                MemGraphExecutor ex = new MemGraphExecutor(m, ops, plan, devices, order);
                for (int run = 0; run < 30; run++) {
                    Dispatcher d = run == 0 ? ex.dispatcher() : ex.dispatcher().withJitter(run * 7919L + pct, 30_000);
                    MemGraphExecutor.Result r = ex.run(in, d);
                    for (var e : ref.entrySet()) {
                        assertTrue(e.getValue().sameBits(r.outputs().get(e.getKey())),
                            "output " + e.getKey() + " differs at " + pct + "% (" + order + ", run " + run + ")");
                    }
                    assertTrue(r.peakBytes().get(1) <= budget, r.peakBytes() + " over " + budget);
                    assertEquals(plan.tasks().size(), r.trace().slices().size());
                }
            }
        }
    }

    /**
     * Schedule fuzzing: 1,000 runs of random U-Nets under random budgets between the least that fits and
     * the full need, in both orders, with random delays before every task on every lane. No run may
     * deadlock (the class timeout is only a guard so a hang fails instead of blocking the build), exceed
     * its budget (the arena fails the run the moment it would), or change an output bit.
     */
    @Test @org.junit.jupiter.api.Timeout(value = 10, unit = java.util.concurrent.TimeUnit.MINUTES)
    void scheduleFuzzingNeverDeadlocksNeverExceedsTheBudgetNeverChangesAnOutput() {
        OpRegistry ops = testOps();
        SplittableRandom rnd = new SplittableRandom(2026);
        int runs = 0;
        for (int model = 0; runs < 1000; model++) {
            int depth = 2 + rnd.nextInt(9), batch = 1 + rnd.nextInt(16), width = 4 + rnd.nextInt(29);
            Model m = unet(depth, batch, width, model, null);
            Map<String, Tensor> in = input(batch, width, model);
            Map<String, Tensor> ref = new GraphExecutor(m, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
            long full = MemGraph.fullNeed(m.graph(), THROTTLED), min = MemGraph.minimumBudget(m.graph(), THROTTLED);
            long budget = min + (long) (rnd.nextDouble() * (full - min));
            MemGraph plan = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(budget));
            List<Device> devices = List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL));
            MemGraphExecutor ex = new MemGraphExecutor(m, ops, plan, devices, Dispatcher.Order.DYNAMIC);
            try (Dispatcher base = ex.dispatcher()) {
                for (int k = 0; k < 10; k++, runs++) {
                    Dispatcher.Order o = k % 3 == 2 ? Dispatcher.Order.FIXED : k % 3 == 1 ? Dispatcher.Order.PRIORITY : Dispatcher.Order.DYNAMIC;
                    Dispatcher d = (o == Dispatcher.Order.DYNAMIC ? base : base.withOrder(o)).withJitter(runs, 1 + rnd.nextInt(50_000));
                    MemGraphExecutor.Result r = ex.run(in, d);
                    for (var e : ref.entrySet()) {
                        assertTrue(e.getValue().sameBits(r.outputs().get(e.getKey())), "run " + runs + ": output " + e.getKey() + " differs, " + plan.summary());
                    }
                    assertTrue(r.peakBytes().get(1) <= budget, "run " + runs + ": " + r.peakBytes() + " over " + budget);
                }
            }
        }
    }

    @Test void theCpuDeviceRunsTheSameGraphOnManyLanesBitIdentically() {
        OpRegistry ops = testOps();
        Model m = unet(8, 16, 16, 3, null);
        Map<String, Tensor> in = input(16, 16, 4);
        Map<String, Tensor> ref = new GraphExecutor(m, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE);
        MemGraph plan = MemGraph.onDevice(m.graph(), DeviceSpec.host());
        MemGraphExecutor ex = new MemGraphExecutor(m, ops, plan, List.of(CpuDevice.withWorkers(4)), Dispatcher.Order.DYNAMIC);
        for (int run = 0; run < 20; run++) {
            Map<String, Tensor> out = ex.run(in, ex.dispatcher().withJitter(run, 20_000)).outputs();
            for (var e : ref.entrySet()) assertTrue(e.getValue().sameBits(out.get(e.getKey())), e.getKey());
        }
    }

    @Test void aBudgetTooSmallIsRefusedBeforeRunningWithTheNumberItNeeds() {
        Model m = unet(4, 64, 32, 1, null);
        long min = MemGraph.minimumBudget(m.graph(), THROTTLED);
        MemGraphException e = assertThrows(MemGraphException.class, () -> MemGraph.onDevice(m.graph(), THROTTLED.withBudget(min / 2)));
        assertTrue(e.getMessage().contains("needs at least " + min + " bytes"), e.getMessage());
    }

    @Test void aFailingKernelFailsTheRunCleanlyAndNamesIt() {
        OpRegistry ops = testOps();
        Model m = unet(6, 8, 8, 1, "relu3");
        long full = MemGraph.fullNeed(m.graph(), THROTTLED);
        MemGraph plan = MemGraph.onDevice(m.graph(), THROTTLED.withBudget(full / 2));
        MemGraphExecutor ex = new MemGraphExecutor(m, ops, plan,
            List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(full / 2, 0, Parallelism.SEQUENTIAL)), Dispatcher.Order.DYNAMIC);
        DispatchException e = assertThrows(DispatchException.class, () -> ex.run(input(8, 8, 1)));
        assertTrue(e.getMessage().contains("'relu3' (Fail)") && e.getMessage().contains("always fails"), e.getMessage());
    }
}
