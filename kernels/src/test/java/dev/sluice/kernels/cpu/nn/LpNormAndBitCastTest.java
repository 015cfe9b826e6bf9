package dev.sluice.kernels.cpu.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.core.KernelHarness;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** LpNormalization against norms summed by hand, and BitCast against Java's own bit conversions. */
class LpNormAndBitCastTest {
    @Test
    void lpNormalizationDividesEachLaneByItsNorm() {
        SplittableRandom r = new SplittableRandom(1);
        long[] dims = {3, 4, 5};
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(dims));
        for (int i = 0; i < 60; i++) x.setFloat(i, (float) (r.nextDouble() * 2 - 1));
        for (int i = 0; i < 5; i++) x.setFloat(i, 0); // an all-zero lane along the last axis
        for (long p = 1; p <= 2; p++) {
            for (int axis = -3; axis < 3; axis++) {
                int ax = axis < 0 ? axis + 3 : axis;
                long stride = ax == 0 ? 20 : ax == 1 ? 5 : 1;
                Tensor y = KernelHarness.op("LpNormalization").attr("p", p).attr("axis", (long) axis).in(x).run1();
                for (int i = 0; i < 60; i++) {
                    long pos = i / stride % dims[ax];
                    double norm = 0;
                    for (long k = 0; k < dims[ax]; k++) {
                        double v = x.getDouble(i + (k - pos) * stride);
                        norm += p == 1 ? Math.abs(v) : v * v;
                    }
                    if (p == 2) norm = Math.sqrt(norm);
                    double want = norm == 0 ? 0 : x.getDouble(i) / norm;
                    assertEquals(want, y.getDouble(i), 1e-6, "p=" + p + " axis " + axis + " at " + i);
                }
            }
        }
        KernelException e = assertThrows(KernelException.class, () -> KernelHarness.op("LpNormalization").attr("p", 3L).in(x).run1());
        assertTrue(e.getMessage().contains("p must be 1 or 2"), e.getMessage());
    }

    @Test
    void bitCastKeepsTheBits() {
        Tensor f = Tensor.ofFloats(Shape.of(2, 2), 1f, -2.5f, Float.NaN, -0f);
        Tensor i = KernelHarness.op("BitCast").attr("to", 6L).in(f).run1();
        assertEquals(DType.INT32, i.dtype());
        assertEquals(Shape.of(2, 2), i.shape());
        for (int k = 0; k < 4; k++) assertEquals(Float.floatToRawIntBits(f.getFloat(k)), i.getLong(k));
        Tensor d = Tensor.ofLongs(Shape.SCALAR, Double.doubleToRawLongBits(3.75));
        assertEquals(3.75, KernelHarness.op("BitCast").attr("to", 11L).in(d).run1().getDouble(0));
        Tensor u16 = Tensor.allocate(DType.UINT16, Shape.of(2));
        u16.setLong(0, 65535);
        u16.setLong(1, 32768);
        Tensor s16 = KernelHarness.op("BitCast").attr("to", 5L).in(u16).run1();
        assertEquals(-1, s16.getLong(0));
        assertEquals(-32768, s16.getLong(1));
    }

    @Test
    void bitCastRefusesOtherWidthsAndNonBooleanBytesToBool() {
        Tensor f = Tensor.ofFloats(Shape.of(1), 1f);
        KernelException e = assertThrows(KernelException.class, () -> KernelHarness.op("BitCast").attr("to", 7L).in(f).run1());
        assertTrue(e.getMessage().contains("widths"), e.getMessage());
        Tensor u8 = Tensor.allocate(DType.UINT8, Shape.of(3));
        u8.setLong(1, 1);
        assertEquals(1, KernelHarness.op("BitCast").attr("to", 9L).in(u8).run1().getLong(1));
        u8.setLong(2, 2);
        assertThrows(KernelException.class, () -> KernelHarness.op("BitCast").attr("to", 9L).in(u8).run1());
    }
}
