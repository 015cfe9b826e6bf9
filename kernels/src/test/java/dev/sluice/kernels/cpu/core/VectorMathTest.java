package dev.sluice.kernels.cpu.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.DoubleUnaryOperator;
import java.util.function.UnaryOperator;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The vector activations: accurate against java.lang.Math, and the same bits wherever an element sits. */
class VectorMathTest {
    private static float apply(UnaryOperator<FloatVector> f, float x) {
        return f.apply(FloatVector.broadcast(VectorMath.S, x)).lane(0);
    }

    private static void assertClose(DoubleUnaryOperator ref, UnaryOperator<FloatVector> f, float lo, float hi, double relTol) {
        for (int i = 0; i <= 20000; i++) {
            float x = lo + (hi - lo) * i / 20000f;
            double want = ref.applyAsDouble(x);
            float got = apply(f, x);
            assertTrue(Math.abs(got - want) <= 1e-30 + relTol * Math.abs(want), "at x=" + x + ": " + got + " vs " + want);
        }
    }

    @Test
    void expIsAccurateAndHandlesTheEdges() {
        assertClose(Math::exp, VectorMath::exp, -103f, 88.7f, 3e-7);
        assertEquals(Float.POSITIVE_INFINITY, apply(VectorMath::exp, 89f));
        assertEquals(0f, apply(VectorMath::exp, -200f));
        assertTrue(Float.isNaN(apply(VectorMath::exp, Float.NaN)));
        assertEquals(1f, apply(VectorMath::exp, 0f));
    }

    @Test
    void tanhAndSigmoidAreAccurate() {
        assertClose(Math::tanh, VectorMath::tanh, -20f, 20f, 2e-6); // 1 - 2/(e^2x+1) cancels a little below 0.5
        assertClose(x -> 1 / (1 + Math.exp(-x)), VectorMath::sigmoid, -80f, 80f, 3e-7);
        assertEquals(1e-5f, apply(VectorMath::tanh, 1e-5f), 1e-12f); // no cancellation near 0
    }

    @Test
    void resultsDoNotDependOnWhereAnElementSits() {
        int n = 3 * VectorMath.S.length() + 5; // a masked tail
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = a.allocate(4L * n, 64), whole = a.allocate(4L * n, 64), split = a.allocate(4L * n, 64);
            for (int i = 0; i < n; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i - n / 2) * 0.37f);
            for (VectorMath.Unary f : VectorMath.Unary.values()) {
                VectorMath.map(f, x, whole, 0, n);
                for (int from = 0; from < n; from += 3) VectorMath.map(f, x, split, from, Math.min(n, from + 3));
                assertEquals(-1, whole.mismatch(split), f + ": chunking changed bits");
            }
        }
    }
}
