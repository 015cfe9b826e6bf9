package dev.sluice.kernels.cpu.core;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Guards kernel speed in a JVM that runs many models: float kernels use the float vector shapes already in use (the
 * preferred one, Gemm32.SPECIES, and PoolKernels' 256-bit one), never a narrower FloatVector. A 128-bit FloatVector
 * kernel (an edge-panel GEMM kernel, reverted) made every model after the first that ran it 5-50x slower in a mixed
 * run (bench/RESULTS.md, 2026-12-07): one more float vector class, and the Vector API's shared internals, inlined by
 * C2 at most bimorphically, went megamorphic and boxed their vectors in every kernel.
 */
class VectorShapesTest {
    private static final Pattern NARROW_FLOATS = Pattern.compile("FloatVector\\.SPECIES_(64|128)\\b");

    @Test
    void kernelsUseNoNarrowFloatVectorShape() throws IOException {
        List<String> hits = KernelSources.codeLinesMatching(NARROW_FLOATS);
        assertTrue(hits.isEmpty(), "narrow FloatVector shapes in kernels:\n" + String.join("\n", hits));
    }
}
