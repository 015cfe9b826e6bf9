package dev.sluice.runtime.memory;

import dev.sluice.runtime.exec.SessionInternals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Model;
import dev.sluice.graph.Node;
import dev.sluice.graph.Value;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.memgraph.plan.OffsetPlan;
import dev.sluice.memgraph.plan.PlanChecker;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Planned runs against unplanned ones on models built here, with the test kernels. */
class PlannedRunTest {
    static final OpRegistry REGISTRY = TestKernels.registry();

    private static Node node(String op, List<String> in, List<String> out) {
        return new Node(out.get(0) + "_node", op, "", in, out, Attributes.EMPTY);
    }

    private static Tensor random(Shape s, long seed) { return InputSources.random(DType.FLOAT32, s, new SplittableRandom(seed)); }

    /** x[N,16] -> three MatMul/Add/Relu layers with a skip Concat, a Sigmoid-Add-Tanh head, and a side output. */
    static Model mlp() {
        TensorType x = new TensorType(DType.FLOAT32, SymShape.of(new Dim.Symbol("N"), Dim.of(16)));
        Map<String, Tensor> w = new LinkedHashMap<>();
        w.put("W1", random(Shape.of(16, 32), 1));
        w.put("b1", random(Shape.of(32), 2));
        w.put("W2", random(Shape.of(32, 32), 3));
        w.put("b2", random(Shape.of(32), 4));
        w.put("W3", random(Shape.of(64, 8), 5));
        List<Node> nodes = List.of(
            node("MatMul", List.of("x", "W1"), List.of("m1")),
            node("Add", List.of("m1", "b1"), List.of("a1")),
            node("Relu", List.of("a1"), List.of("h1")),
            node("MatMul", List.of("h1", "W2"), List.of("m2")),
            node("Add", List.of("m2", "b2"), List.of("a2")),
            node("Relu", List.of("a2"), List.of("h2")),
            node("Neg", List.of("h1"), List.of("side")),
            new Node("cat", "Concat", "", List.of("h2", "h1"), List.of("c"), new Attributes(Map.of("axis", new Attr.Int(1)))),
            node("MatMul", List.of("c", "W3"), List.of("m3")),
            node("Sigmoid", List.of("m3"), List.of("s3")),
            // an Add, not a Mul: Sigmoid and Mul(s3, m3) would fuse into the MatMul as SiLU, leaving no op to run in place
            node("Add", List.of("s3", "m3"), List.of("g3")),
            node("Tanh", List.of("g3"), List.of("y")));
        Graph g = new Graph("mlp", nodes, List.of(new Value("x", x)),
            List.of(new Value("y", TensorType.UNKNOWN), new Value("side", TensorType.UNKNOWN)), w, Map.of());
        return new Model(g, 8, Map.of("", 17L), "test", "mlp");
    }

    /** x[N,64] -> eight branches of different widths, each a few elementwise ops, summed pairwise. */
    static Model branches() {
        TensorType x = new TensorType(DType.FLOAT32, SymShape.of(new Dim.Symbol("N"), Dim.of(64)));
        Map<String, Tensor> w = new LinkedHashMap<>();
        List<Node> nodes = new ArrayList<>();
        List<String> heads = new ArrayList<>();
        for (int b = 0; b < 8; b++) {
            int width = 16 << (b % 4);
            w.put("P" + b, random(Shape.of(64, width), 10 + b));
            w.put("Q" + b, random(Shape.of(width, 8), 20 + b));
            nodes.add(node("MatMul", List.of("x", "P" + b), List.of("p" + b)));
            nodes.add(node("Exp", List.of("p" + b), List.of("e" + b)));
            nodes.add(node("Abs", List.of("p" + b), List.of("q" + b)));
            nodes.add(node("Div", List.of("e" + b, "q" + b), List.of("d" + b)));
            nodes.add(node("Tanh", List.of("d" + b), List.of("t" + b)));
            nodes.add(node("MatMul", List.of("t" + b, "Q" + b), List.of("h" + b)));
            heads.add("h" + b);
        }
        String acc = heads.get(0);
        for (int b = 1; b < heads.size(); b++) {
            String out = b == heads.size() - 1 ? "y" : "s" + b;
            nodes.add(node("Add", List.of(acc, heads.get(b)), List.of(out)));
            acc = out;
        }
        Graph g = new Graph("branches", nodes, List.of(new Value("x", x)), List.of(new Value("y", TensorType.UNKNOWN)), w, Map.of());
        return new Model(g, 8, Map.of("", 17L), "test", "branches");
    }

    private static void assertSameBits(Map<String, Tensor> a, Map<String, Tensor> b) {
        assertEquals(a.keySet(), b.keySet());
        for (var e : a.entrySet()) assertTrue(e.getValue().sameBits(b.get(e.getKey())), "output " + e.getKey() + " differs");
    }

    @Test void plannedRunsEqualUnplannedBitForBit() {
        for (Model m : List.of(mlp(), branches())) {
            try (Session planned = Session.open(m, 1, REGISTRY); Session plain = Session.open(m, 1, REGISTRY).memoryPlanning(false)) {
                for (int n : new int[] {3, 7}) {
                    Map<String, Tensor> in = Map.of("x", random(Shape.of(n, m.graph().inputs().get(0).type().shape().dim(1) instanceof Dim.Known k ? k.value() : 0), 99 + n));
                    Map<String, Tensor> ref = plain.run(in).asMap();
                    Map<String, Tensor> first = planned.run(in).asMap();   // profiling run
                    Map<String, Tensor> second = planned.run(in).asMap();  // from the arena
                    Map<String, Tensor> third = planned.run(in).asMap();   // arena reused, stale contents
                    assertSameBits(ref, first);
                    assertSameBits(ref, second);
                    assertSameBits(ref, third);
                }
                MemoryPlans mp = SessionInternals.memoryPlans(planned);
                assertEquals(2, mp.plans().size(), "a run with new shapes replans");
                assertEquals(4, mp.plannedRuns());
                for (MemoryPlans.Entry e : mp.plans()) {
                    PlanChecker.requireValid(e.plan());
                    assertTrue(e.plan().arenaBytes() < e.plan().naive(), m.source() + ": " + e.plan());
                    System.out.printf("%s: naive=%d planned=%d bound=%d ratio=%.4f (%s) in-place=%d%n", m.source(), e.plan().naive(),
                        e.plan().arenaBytes(), e.plan().bound(), e.plan().ratio(), e.plan().heuristic(), e.plan().inPlace().size());
                }
            }
        }
    }

    @Test void outputsNeverAliasTheArenaAndIntermediatesComeFromIt() {
        Model m = mlp();
        try (Session s = Session.open(m, 1, REGISTRY).memoryPlanning(false)) {
            Map<String, Tensor> in = Map.of("x", random(Shape.of(5, 16), 7));
            GraphExecutor exec = SessionInternals.executorFor(s, in);
            ProfilingListener prof = new ProfilingListener(exec.model().graph(), REGISTRY);
            Map<String, Tensor> ref = exec.run(in, dev.sluice.runtime.exec.OutputAllocator.FRESH, prof);
            MemoryPlans.Entry e = new MemoryPlans().plan(exec, prof.profile());
            OffsetPlan p = e.plan();
            assertFalse(p.inPlace().isEmpty(), "elementwise ops whose input dies there run in place");
            MemorySegment arena = Arena.ofAuto().allocate(p.arenaBytes(), 64);
            arena.fill((byte) 0x7F); // stale garbage: a kernel must not see it
            PlannedAllocator alloc = new PlannedAllocator(e.table(), arena, false);
            Map<String, Tensor> out = exec.run(in, alloc, ExecutionListener.NONE);
            assertNull(PlanCommand.compare(ref, out, arena));
            // every intermediate came from the arena; the two graph outputs never reach the allocator (the
            // executor gives them memory of their own that the caller may close), and compare() checked
            // above that they lie outside the arena
            assertEquals(p.lifetimes().size(), alloc.plannedCount());
            assertEquals(0, alloc.freshCount());
            assertEquals(2, out.size());
        }
    }

    @Test void profileAndPlanReportsAConsistentPlan() {
        try (Session s = Session.open(branches(), 1, REGISTRY).memoryPlanning(false)) {
            PlanCommand.Report r = PlanCommand.profileAndPlan(s, Map.of("x", random(Shape.of(4, 64), 3)));
            assertTrue(r.violations().isEmpty(), r.violations().toString());
            assertNull(r.mismatch());
            assertTrue(r.plan().bound() <= r.plan().arenaBytes());
            assertNotNull(r.plan().heuristic());
            java.nio.file.Path png = java.nio.file.Path.of("target", "plan-branches.png");
            try {
                java.nio.file.Files.createDirectories(png.getParent());
                PlanPicture.write(r.plan(), r.profile().steps(), "branches (test model)", png);
                assertTrue(java.nio.file.Files.size(png) > 1000);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }
}
