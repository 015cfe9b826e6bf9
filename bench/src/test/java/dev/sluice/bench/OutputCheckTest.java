package dev.sluice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.testdata.Tolerance;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OutputCheckTest {
    private static Tensor t(float... v) { return Tensor.ofFloats(Shape.of(v.length), v); }

    @Test void withinToleranceGivesNoWarning() {
        // |a - e| <= 1e-4 + 1e-3 |e|: at e = 100 the slack is 0.1001.
        assertEquals(List.of(), OutputCheck.warnings("m", Map.of("y", t(100.1f, 0.00005f)), Map.of("y", t(100f, 0f)), Tolerance.DEFAULT));
    }

    @Test void oneWarningPerMismatchingOutput() {
        List<String> w = OutputCheck.warnings("m",
            Map.of("y", t(1.01f), "z", t(2f)),
            Map.of("y", t(1f), "z", t(2f), "missing", t(0f)), Tolerance.DEFAULT);
        assertEquals(2, w.size(), w.toString());
        assertTrue(w.stream().allMatch(s -> s.startsWith("WARNING: m output '")), w.toString());
        assertTrue(w.stream().anyMatch(s -> s.contains("'y'") && s.contains("1 of 1 elements differ")), w.toString());
        assertTrue(w.stream().anyMatch(s -> s.contains("'missing'") && s.contains("no such output")), w.toString());
    }

    @Test void shapeDifferenceIsAMismatch() {
        List<String> w = OutputCheck.warnings("m", Map.of("y", t(1f, 2f)), Map.of("y", t(1f)), Tolerance.DEFAULT);
        assertEquals(1, w.size());
        assertTrue(w.get(0).contains("shape"), w.get(0));
    }
}
