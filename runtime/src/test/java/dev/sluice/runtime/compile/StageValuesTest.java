package dev.sluice.runtime.compile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Model;
import dev.sluice.graph.cost.CostModel;
import dev.sluice.kernels.Tensor;
import dev.sluice.memgraph.placement.Placement;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.SessionOptions;
import dev.sluice.runtime.dispatch.MeasuredShapes;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.zoo.Zoo;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pipeline's stage values print readably and survive a trip through their JSON files unchanged: the one-device
 * placement (which predicts nothing: NaN, written as JSON null), a cost model with a measured and an estimated
 * column, and the compiled values' summary.
 */
class StageValuesTest {
    @Test
    void stageValuesPrintAndRoundTripThroughJson(@TempDir Path dir) {
        Zoo.Model z = Zoo.find("silero-vad");
        Map<String, Tensor> in = z.sampleInputs(1);
        try (Session s = Session.open(z.path(), SessionOptions.builder().threads(2).build())) {
            s.run(in).close();
            Compiled c = SessionInternals.compiled(s, in);
            Path pf = dir.resolve("one-device.json");
            c.placement().save(pf);
            Placement back = Placement.load(pf);
            assertEquals(c.placement(), back);
            assertTrue(Double.isNaN(back.predictedMillis()));
            assertTrue(c.placement().toString().contains("no prediction"), c.placement().toString());
            String text = c.toString();
            assertTrue(text.contains("all-cpu") && text.contains("executable: one device (cpu)") && text.contains("from the memory plan"), text);

            // a cost model: node times here are a fixture (this is about the value, not the timing)
            Model m = MeasuredShapes.of(SessionInternals.executorFor(s, in), in);
            double[] cpu = new double[m.graph().nodes().size()];
            for (int i = 0; i < cpu.length; i++) cpu[i] = 0.001 * (i + 1) / 3;
            CostModel costs = Profiler.fromCpuTimes(m, cpu, SessionOptions.builder().devices("cpu", "nvidia-t4.json:50%").build().devices(), 0);
            Path cf = dir.resolve("costs.json");
            costs.save(cf);
            assertEquals(costs, CostModel.load(cf));
            String ct = costs.toString();
            assertTrue(ct.contains("measured") && ct.contains("estimated") && ct.contains("NVIDIA T4"), ct);
        }
    }
}
