package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.KernelOptions;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.exec.SessionInternals;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import dev.sluice.runtime.zoo.Zoo;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The switches that were JVM-wide {@code -Dsluice.*} properties are session options: parsed strictly by name, and
 * two sessions in one JVM opened with different switches each run as asked (their own kernel registry, their own
 * planning), both giving ONNX Runtime's outputs. Which loop a registry's Conv takes is KernelOptionsTest's (kernels).
 */
class SessionSwitchesTest {
    @Test
    void switchesAreSetByNameAndABadValueIsRefusedNamingTheOption() {
        SessionOptions o = SessionOptions.builder().set("pointwise-conv", "off").set("memory-plan", "false").set("pack-weights", "ON")
            .set("profile-warmup-ms", "250").build();
        assertFalse(o.kernels().pointwiseConv());
        assertFalse(o.memoryPlanning());
        assertTrue(o.packWeights());
        assertEquals(250, o.profileWarmupMillis());
        var e = assertThrows(SluiceException.class, () -> SessionOptions.builder().set("pointwise-conv", "maybe"));
        assertTrue(e.getMessage().contains("--pointwise-conv") && e.getMessage().contains("maybe"), e.getMessage());
        e = assertThrows(SluiceException.class, () -> SessionOptions.builder().set("profile-warmup-ms", "-5"));
        assertTrue(e.getMessage().contains("profile-warmup-ms"), e.getMessage());
        e = assertThrows(SluiceException.class, () -> SessionOptions.builder().set("profile-warmup-ms", "soon"));
        assertTrue(e.getMessage().contains("--profile-warmup-ms") && e.getMessage().contains("soon"), e.getMessage());
        e = assertThrows(SluiceException.class, () -> SessionOptions.builder().set("tiling-diagonals", "off"));
        assertTrue(e.getMessage().contains("tiling-diagonals") && e.getMessage().contains("pointwise-conv"), e.getMessage());
        // toBuilder keeps them
        assertEquals(o, o.toBuilder().build());
    }

    @Test
    void aPropertyGivesOnlyTheDefaultAndABadOneIsRefusedNamingIt() {
        String old = System.getProperty("sluice.memory.plan");
        try {
            System.setProperty("sluice.memory.plan", "false");
            assertFalse(SessionOptions.builder().build().memoryPlanning());
            assertTrue(SessionOptions.builder().memoryPlanning(true).build().memoryPlanning(), "the option overrides the property");
            System.setProperty("sluice.memory.plan", "nope");
            var e = assertThrows(SluiceException.class, SessionOptions::builder);
            assertTrue(e.getMessage().contains("sluice.memory.plan") && e.getMessage().contains("nope"), e.getMessage());
        } finally {
            if (old == null) System.clearProperty("sluice.memory.plan");
            else System.setProperty("sluice.memory.plan", old);
        }
    }

    @Test
    void twoSessionsInOneJvmWithDifferentSwitchesEachRunAsAsked() throws Exception {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = z.sampleInputs(5);
        Map<String, Tensor> ort = OrtReference.run(z.path(), in);
        SessionOptions a = SessionOptions.builder().threads(2).pointwiseConv(true).memoryPlanning(true).build();
        SessionOptions b = SessionOptions.builder().threads(2).kernels(new KernelOptions(false)).memoryPlanning(false).build();
        try (Session sa = Session.open(z.path(), a); Session sb = Session.open(z.path(), b)) {
            for (int round = 0; round < 2; round++) {
                // interleaved: neither session's switches leak into the other's runs
                Map<String, Tensor> ra = sa.run(in).asMap(), rb = sb.run(in).asMap();
                for (var e : ort.entrySet()) {
                    assertNull(Tolerance.DEFAULT.mismatch(ra.get(e.getKey()), e.getValue()), "switches on: " + e.getKey());
                    assertNull(Tolerance.DEFAULT.mismatch(rb.get(e.getKey()), e.getValue()), "switches off: " + e.getKey());
                }
            }
            assertTrue(sa.registry().options().pointwiseConv());
            assertFalse(sb.registry().options().pointwiseConv());
            assertNotNull(SessionInternals.memoryPlans(sa));
            assertTrue(SessionInternals.memoryPlans(sa).plannedRuns() > 0, "session a plans its intermediates");
            assertNull(SessionInternals.memoryPlans(sb), "session b does not");
        }
    }
}
