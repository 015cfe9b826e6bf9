package dev.sluice.kernels.cpu.conv;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.KernelOptions;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.KernelHarness;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The pointwise-convolution switch is a value of the registry, not of the JVM: two registries made in one JVM with
 * the switch on and off send the same 1x1 convolution down different loops (observed through PointwiseConv's
 * packed-weight cache, which only that loop fills), and both compute the convolution a brute-force sum gives.
 */
class KernelOptionsTest {
    static final int C = 8, M = 8, H = 16, W = 16;

    static Tensor random(Shape s, long seed) {
        Random r = new Random(seed);
        float[] v = new float[(int) s.elementCount()];
        for (int i = 0; i < v.length; i++) v[i] = r.nextFloat() * 2 - 1;
        return Tensor.ofFloats(s, v);
    }

    static Tensor conv(OpRegistry registry, Tensor x, Tensor w) {
        return KernelHarness.op("sluice:FusedConv").registry(registry).in(x).constIn(w).run1();
    }

    @Test
    void twoRegistriesInOneJvmEachTakeTheLoopTheirOptionsSay() {
        OpRegistry on = OpRegistry.cpu(new KernelOptions(true)), off = OpRegistry.cpu(new KernelOptions(false));
        assertTrue(on.options().pointwiseConv());
        assertFalse(off.options().pointwiseConv());
        Tensor x = random(Shape.of(1, C, H, W), 1);
        float[] wv = random(Shape.of(M, C, 1, 1), 2).toFloatArray();
        // two weight tensors with the same values: each is the cache key of its own run
        Tensor wOn = Tensor.ofFloats(Shape.of(M, C, 1, 1), wv), wOff = Tensor.ofFloats(Shape.of(M, C, 1, 1), wv);
        float[] yOn = conv(on, x, wOn).toFloatArray(), yOff = conv(off, x, wOff).toFloatArray();
        assertTrue(PointwiseConv.PACKED.containsKey(wOn), "the registry with the switch on runs the pointwise loop");
        assertFalse(PointwiseConv.PACKED.containsKey(wOff), "the registry with the switch off does not");
        float[] xv = x.toFloatArray();
        for (int m = 0; m < M; m++) {
            for (int p = 0; p < H * W; p++) {
                double want = 0;
                for (int c = 0; c < C; c++) want += (double) wv[m * C + c] * xv[c * H * W + p];
                assertEquals(want, yOn[m * H * W + p], 1e-4, "on: y[" + m + "][" + p + "]");
                assertEquals(want, yOff[m * H * W + p], 1e-4, "off: y[" + m + "][" + p + "]");
            }
        }
    }

    /**
     * The MaxPool switch too is the registry's: a window holding a number then a NaN is NaN by the vector loop (NaN
     * propagates, as numpy's max) and the number by the scalar loop (which keeps the first element and compares
     * with >), so the two registries' outputs show which loop each ran.
     */
    @Test
    void theMaxPoolLoopIsTheRegistrysSwitch() {
        OpRegistry vector = OpRegistry.cpu(new KernelOptions(true, true)), scalar = OpRegistry.cpu(new KernelOptions(true, false));
        assertTrue(vector.options().vectorMaxPool());
        assertFalse(scalar.options().vectorMaxPool());
        Tensor x = Tensor.ofFloats(Shape.of(1, 1, 4), 1f, Float.NaN, 5f, 2f);
        float[] v = KernelHarness.op("MaxPool").registry(vector).ints("kernel_shape", 2).ints("strides", 2).in(x).run1().toFloatArray();
        float[] s = KernelHarness.op("MaxPool").registry(scalar).ints("kernel_shape", 2).ints("strides", 2).in(x).run1().toFloatArray();
        assertTrue(Float.isNaN(v[0]), "vector loop: NaN in the window gives NaN, got " + v[0]);
        assertEquals(1f, s[0], "scalar loop keeps the number before the NaN");
        assertEquals(5f, v[1]);
        assertEquals(5f, s[1]);
    }

    @Test
    void aPropertyThatIsNeitherTrueNorFalseIsRefusedNamingIt() {
        String old = System.getProperty("sluice.test.flag");
        try {
            System.setProperty("sluice.test.flag", "yes please");
            var e = assertThrows(SluiceException.class, () -> KernelOptions.flag("sluice.test.flag", true));
            assertTrue(e.getMessage().contains("sluice.test.flag") && e.getMessage().contains("yes please"), e.getMessage());
            System.setProperty("sluice.test.flag", "FALSE");
            assertFalse(KernelOptions.flag("sluice.test.flag", true));
            System.clearProperty("sluice.test.flag");
            assertTrue(KernelOptions.flag("sluice.test.flag", true));
        } finally {
            if (old == null) System.clearProperty("sluice.test.flag");
            else System.setProperty("sluice.test.flag", old);
        }
    }
}
