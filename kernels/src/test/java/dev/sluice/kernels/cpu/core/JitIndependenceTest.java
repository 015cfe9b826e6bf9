package dev.sluice.kernels.cpu.core;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Guards the invariant "same inputs, same output bits" against the JIT: the Vector API's transcendental
 * operators are SVML calls once C2 compiles them but per-lane Math calls in the interpreter, and a float
 * reduceLanes(ADD) sums in an order that changes with compilation too. Either makes a kernel's bits depend
 * on how warm the JVM is, which broke planned-vs-unplanned and device-vs-reference comparisons before.
 */
class JitIndependenceTest {
    private static final Pattern FORBIDDEN = Pattern.compile(
        "VectorOperators\\.(EXP|EXPM1|LOG|LOG1P|LOG10|TANH|SINH|COSH|SIN|COS|TAN|ASIN|ACOS|ATAN|ATAN2|POW|HYPOT|CBRT)\\b"
            + "|reduceLanes\\(\\s*VectorOperators\\.(ADD|MUL)");

    @Test
    void kernelsAvoidJitDependentVectorOperations() throws IOException {
        List<String> hits = KernelSources.codeLinesMatching(FORBIDDEN);
        assertTrue(hits.isEmpty(), "JIT-dependent vector operations:\n" + String.join("\n", hits));
    }
}
