package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.*;

import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.zoo.Zoo;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** SessionOptions refuses bad values naming the option, and a session opened with options honours them. */
class SessionOptionsTest {

    @Test
    void refusesBadValuesNamingTheOption() {
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().threads(0)).getMessage().contains("threads"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().threads(-1)).getMessage().contains("threads"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("throttled:NaN%")).getMessage().contains("throttled"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("throttled:Infinity")).getMessage().contains("finite"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("throttled:0%")).getMessage().contains("(0, 100]"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("throttled:-5")).getMessage().contains("positive"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("throttled:99999999999G")).getMessage().contains("too large"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("gpu")).getMessage().contains("unknown device 'gpu'"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("cpu:1G")).getMessage().contains("no budget"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().devices("cpu", "cpu").build()).getMessage().contains("twice"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().slo("0x")).getMessage().contains("SLO"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().order("random")).getMessage().contains("order"));
        assertTrue(assertThrows(SluiceException.class, () -> SessionOptions.builder().objective("speed")).getMessage().contains("objective"));
    }

    @Test
    void parsesDevicesBudgetsAndSlos() {
        SessionOptions o = SessionOptions.builder().devices("cpu", "throttled:25%", "a10.json:2Gi").slo("1.2x").build();
        assertEquals(3, o.devices().size());
        assertEquals(new SessionOptions.Budget.Percent(25), o.devices().get(1).budget());
        assertEquals(new SessionOptions.Budget.Bytes(2L << 30), o.devices().get(2).budget());
        assertTrue(o.devices().get(2).described());
        assertEquals(120.0, o.slo().millis(100), 1e-9);
        assertEquals(7.5, SessionOptions.Slo.parse("7.5ms").millis(100), 1e-9);
        assertEquals(o, o.toBuilder().build());
        assertTrue(SessionOptions.defaults().plainCpu());
        assertFalse(SessionOptions.builder().order("fixed").build().plainCpu());
    }

    /** The same model opened plainly and on the throttled device at half its need gives the same bits. */
    @Test
    void aBudgetedSessionMatchesThePlainOneBitForBit() {
        Zoo.Model z = Zoo.find("ppocr-cls");
        Map<String, Tensor> in = z.sampleInputs(3);
        try (Session plain = Session.open(z.path(), SessionOptions.builder().threads(1).build());
             Session budgeted = Session.open(z.path(), SessionOptions.builder().threads(1).devices("cpu", "throttled:50%").order("fixed").build())) {
            assertEquals(1, budgeted.options().threads());
            Map<String, Tensor> a = plain.run(in).asMap();
            Map<String, Tensor> b = budgeted.run(in).asMap();
            assertEquals(a.keySet(), b.keySet());
            for (String k : a.keySet()) {
                assertArrayEquals(a.get(k).toFloatArray(), b.get(k).toFloatArray(), 0f, k);
            }
        }
    }

    @Test
    void describedDevicesAreNotRunOn() {
        Zoo.Model z = Zoo.find("ppocr-cls");
        var e = assertThrows(SluiceException.class,
            () -> Session.open(z.path(), SessionOptions.builder().devices("cpu", "gpu.json").build()));
        assertTrue(e.getMessage().contains("description"), e.getMessage());
    }
}
