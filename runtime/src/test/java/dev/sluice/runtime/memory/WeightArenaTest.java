package dev.sluice.runtime.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Model;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Weights and constants in one segment of their own: same values, one contiguous range, reported apart. */
class WeightArenaTest {
    @Test void packPutsEveryInitializerSideBySideInOneSegment() {
        Model m = PlannedRunTest.branches();
        WeightArena.Figures before = WeightArena.of(m.graph());
        assertEquals(16, before.tensors());
        assertTrue(before.segments() > 1, "test models allocate each weight apart: " + before);
        Model packed = WeightArena.pack(m);
        WeightArena.Figures after = WeightArena.of(packed.graph());
        assertEquals(new WeightArena.Figures(before.bytes(), 16, 1), after);
        long expected = 0;
        for (var e : m.graph().initializers().entrySet()) {
            Tensor p = packed.graph().initializers().get(e.getKey());
            assertTrue(p.sameBits(e.getValue()), e.getKey() + " changed when packed");
            assertEquals(0, p.data().address() % Tensor.ALIGNMENT, e.getKey() + " lost its alignment");
            expected += Tensor.blockBytes(e.getValue().byteSize());
        }
        assertEquals(expected, after.bytes());
        assertSame(packed, WeightArena.pack(packed), "packing a packed model copies nothing");
    }

    @Test void sessionsPackTheirWeightsAndStillRunBitIdentical() {
        Model m = PlannedRunTest.mlp();
        try (Session s = Session.open(m, 1, PlannedRunTest.REGISTRY)) {
            assertEquals(1, WeightArena.of(s.model().graph()).segments());
            Map<String, Tensor> in = Map.of("x", dev.sluice.runtime.cli.InputSources.random(dev.sluice.kernels.DType.FLOAT32,
                dev.sluice.kernels.Shape.of(5, 16), new java.util.SplittableRandom(3)));
            PlanCommand.Report r = PlanCommand.profileAndPlan(s.memoryPlanning(false), in);
            assertEquals(WeightArena.of(s.model().graph()), r.weights());
            assertEquals(null, r.mismatch());
            s.memoryPlanning(true).run(in);
            s.run(in);
            assertTrue(PlanCommand.benchFigures(s).matches("naive_mib=\\S+ planned_mib=\\S+ bound_mib=\\S+ ratio=\\S+ weights_mib=\\S+"),
                PlanCommand.benchFigures(s));
        }
    }
}
