package dev.sluice.runtime.dispatch;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.graph.BranchInlining;
import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.memgraph.MemGraph;
import dev.sluice.runtime.device.CpuDevice;
import dev.sluice.runtime.device.ThrottledDevice;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * If nodes inlined for the inputs a plan is made for ({@link MeasuredShapes}, {@link BranchInlining}): the
 * inlined graph computes the same bits as the If graph on the plain executor and on the throttled device
 * down to its minimum budget, nested Ifs are inlined too, a name a branch defines again (here {@code w}, a
 * branch initializer shadowing the graph's) is renamed where the nested If reads it, and a run whose
 * condition takes the other branch fails with the guard's message instead of returning the planned branch's
 * result.
 *
 * <p>The graph: {@code y = If(flag) {then: a = x * w_then; q = If(flag) {then: a + w_then; else: a - w_then}}
 * {else: x - w}; z = y + w}: the graph's w is read after the branch that shadows it.
 */
class BranchInliningTest {
    static final Shape SHAPE = Shape.of(8, 96);
    static final TensorType T = TensorType.of(DType.FLOAT32, SHAPE);
    static final TensorType FLAG = TensorType.of(DType.BOOL, Shape.of());
    static final Attributes NONE = new Attributes(Map.of());

    static Model model() {
        SplittableRandom r = new SplittableRandom(7);
        Node nestedThen = new Node("nt", "Add", "", List.of("a", "w"), List.of("q1"), NONE);
        Node nestedElse = new Node("ne", "Sub", "", List.of("a", "w"), List.of("q2"), NONE);
        Graph ntg = new Graph("nt", List.of(nestedThen), List.of(), List.of(new Value("q1", T)), Map.of(), Map.of("q1", T));
        Graph neg = new Graph("ne", List.of(nestedElse), List.of(), List.of(new Value("q2", T)), Map.of(), Map.of("q2", T));
        Node nested = new Node("inner_if", "If", "", List.of("flag"), List.of("q"),
            new Attributes(Map.of("then_branch", new Attr.Graph(ntg), "else_branch", new Attr.Graph(neg))));
        Node mul = new Node("mul", "Mul", "", List.of("x", "w"), List.of("a"), NONE);
        Graph thenG = new Graph("then", List.of(mul, nested), List.of(), List.of(new Value("q", T)),
            Map.of("w", ColumnTilingTest.random(r, SHAPE)), Map.of("a", T, "q", T));
        Node sub = new Node("sub", "Sub", "", List.of("x", "w"), List.of("e"), NONE);
        Graph elseG = new Graph("else", List.of(sub), List.of(), List.of(new Value("e", T)), Map.of(), Map.of("e", T));
        Node outer = new Node("outer_if", "If", "", List.of("flag"), List.of("y"),
            new Attributes(Map.of("then_branch", new Attr.Graph(thenG), "else_branch", new Attr.Graph(elseG))));
        Node add = new Node("add", "Add", "", List.of("y", "w"), List.of("z"), NONE);
        Graph g = new Graph("g", List.of(outer, add), List.of(new Value("x", T), new Value("flag", FLAG)),
            List.of(new Value("z", T)), Map.of("w", ColumnTilingTest.random(r, SHAPE)), Map.of("x", T, "flag", FLAG, "y", T, "z", T));
        return new Model(g, 8, Map.of("", 17L), "test", "test");
    }

    static Map<String, Tensor> inputs(boolean flag) {
        Tensor f = Tensor.allocate(DType.BOOL, Shape.of());
        f.setBoolean(0, flag);
        return Map.of("x", ColumnTilingTest.random(new SplittableRandom(11), SHAPE), "flag", f);
    }

    @ParameterizedTest(name = "flag={0}")
    @ValueSource(booleans = {true, false})
    void inlinedBranchesComputeTheIfGraphsBits(boolean flag) {
        Model model = model();
        OpRegistry ops = OpRegistry.cpu();
        GraphExecutor ref = new GraphExecutor(model, ops, Parallelism.SEQUENTIAL);
        Map<String, Tensor> in = inputs(flag);
        Tensor expected = ref.run(in, OutputAllocator.FRESH, ExecutionListener.NONE).get("z");

        Model m = MeasuredShapes.of(ref, in);
        Graph g = m.graph();
        assertTrue(g.nodes().stream().noneMatch(n -> n.opType().equals("If")), "every If inlined: " + g.nodes());
        long guards = g.nodes().stream().filter(n -> n.opType().equals(BranchInlining.GUARD)).count();
        assertEquals(flag ? 2 : 1, guards, "one guard per inlined If");
        if (flag) {
            // The branch's own w shadows the graph's: renamed, and the nested branch reads the renamed one.
            Node mul = g.nodes().stream().filter(n -> n.name().equals("mul")).findFirst().orElseThrow();
            assertNotEquals("w", mul.inputs().get(1));
            assertEquals("w", g.nodes().getLast().inputs().get(1), "the graph's own w keeps its name");
            Node inner = g.nodes().stream().filter(n -> n.name().equals("nt")).findFirst().orElseThrow();
            assertEquals(mul.inputs().get(1), inner.inputs().get(1));
        }
        Tensor inlined = new GraphExecutor(m, ops, Parallelism.SEQUENTIAL).run(in, OutputAllocator.FRESH, ExecutionListener.NONE).get("z");
        assertTrue(expected.sameBits(inlined), "plain executor on the inlined graph");

        long min = MemGraph.minimumBudget(g, RealModelBudgetTest.THROTTLED);
        for (long budget : new long[] {min, MemGraph.fullNeed(g, RealModelBudgetTest.THROTTLED)}) {
            MemGraph plan = MemGraph.onDevice(g, RealModelBudgetTest.THROTTLED.withBudget(budget));
            for (Dispatcher.Order order : Dispatcher.Order.values()) {
                var ex = new MemGraphExecutor(m, ops, plan, List.of(CpuDevice.withWorkers(1), ThrottledDevice.of(budget, 0, Parallelism.SEQUENTIAL)), order);
                MemGraphExecutor.Result res = ex.run(in);
                assertTrue(expected.sameBits(res.outputs().get("z")), "at " + budget + " B, " + order + ": " + plan.summary());
                assertTrue(res.peakBytes().get(1) <= budget);

                // The other branch's inputs: the guard refuses them, naming the If, rather than computing this branch.
                SluiceException e = assertThrows(SluiceException.class, () -> ex.run(inputs(!flag)));
                String msg = fullMessage(e);
                assertTrue(msg.contains("'outer_if' (If)") && msg.contains("plan again"), msg);
            }
        }
    }

    private static String fullMessage(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) b.append(c.getMessage()).append(" | ");
        return b.toString();
    }
}
