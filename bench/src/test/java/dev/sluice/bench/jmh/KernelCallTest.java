package dev.sluice.bench.jmh;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import org.junit.jupiter.api.Test;

class KernelCallTest {
    @Test void runsAKernelAndReusesItsOutput() {
        Tensor x = Tensor.ofFloats(Shape.of(1, 2, 2), 1, 2, 3, 4);
        KernelCall c = new KernelCall("Det", Attributes.EMPTY, Parallelism.SEQUENTIAL, 1, x);
        Tensor y = c.execute();
        assertEquals(-2.0, y.getDouble(0), 1e-6);
        assertSame(y, c.execute(), "the second call gets the same output memory");
    }

    @Test void aMissingKernelIsNamed() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> new KernelCall("NoSuchOp", Attributes.EMPTY, Parallelism.SEQUENTIAL, 1));
        assertTrue(e.getMessage().contains("NoSuchOp"));
    }

    @Test void parsesShapeSpecs() {
        assertArrayEquals(new long[] {128, 384, 1536}, KernelCall.dims("128x384x1536"));
    }
}
