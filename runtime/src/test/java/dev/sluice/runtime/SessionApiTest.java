package dev.sluice.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OnnxModelBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The user-facing surface of a session: {@link Result} (names in order, get, iteration, close), runs that ask for
 * some outputs only, outputs that would alias an input or a weight, and a closed session. Expected numbers come
 * from plain Java written here (relu, negation, exp), not from Sluice.
 */
class SessionApiTest {
    @TempDir Path dir;

    static final float[] X = {-2f, -0.5f, 0f, 0.25f, 1f, 3f};

    /** x f32[2,3] -> a = Relu(x), b = Neg(x), c = Exp(Neg(x)) (so c needs the Neg node too), w = Identity(weight). */
    Path model() throws Exception {
        return new OnnxModelBuilder(13)
            .input("x", 1, 2, 3)
            .floatInit("weight", new long[] {3}, 7f, 8f, 9f)
            .node("Relu", List.of("x"), List.of("a"))
            .node("Neg", List.of("x"), List.of("b"))
            .node("Exp", List.of("b"), List.of("c"))
            .node("Identity", List.of("weight"), List.of("w"))
            .output("a", 1, 2, 3).output("b", 1, 2, 3).output("c", 1, 2, 3).output("w", 1, 3)
            .write(dir.resolve("m.onnx"));
    }

    static float[] relu() { float[] r = X.clone(); for (int i = 0; i < r.length; i++) r[i] = Math.max(0, r[i]); return r; }
    static float[] neg() { float[] r = X.clone(); for (int i = 0; i < r.length; i++) r[i] = -r[i]; return r; }

    static Map<String, Tensor> in() { return Map.of("x", Tensor.ofFloats(Shape.of(2, 3), X)); }

    @Test
    void resultHoldsEveryOutputInModelOrderAndClosesThemAtOnce() throws Exception {
        try (Session s = Session.open(model(), SessionOptions.builder().threads(2).build())) {
            Result r = s.run(in());
            assertEquals(List.of("a", "b", "c", "w"), r.names());
            List<String> seen = new ArrayList<>();
            for (var e : r) seen.add(e.getKey());
            assertEquals(r.names(), seen, "iteration follows the model's output order");
            assertArrayEquals(relu(), r.get("a").toFloatArray());
            assertArrayEquals(neg(), r.get(1).toFloatArray());
            assertArrayEquals(new float[] {7f, 8f, 9f}, r.get("w").toFloatArray());
            NoSuchElementException missing = assertThrows(NoSuchElementException.class, () -> r.get("nope"));
            assertTrue(missing.getMessage().contains("[a, b, c, w]"), missing.getMessage());
            Tensor a = r.get("a");
            r.close();
            assertTrue(r.isClosed());
            assertThrows(IllegalStateException.class, () -> r.get("a"));
            assertThrows(IllegalStateException.class, a::toFloatArray, "a tensor of a closed result cannot be read");
            r.close(); // a second close does nothing
        }
    }

    @Test
    void closingAResultLeavesInputsAndWeightsIntact() throws Exception {
        try (Session s = Session.open(model(), SessionOptions.builder().threads(1).build())) {
            Map<String, Tensor> in = in();
            for (int run = 0; run < 3; run++) {
                try (Result r = s.run(in)) {
                    assertArrayEquals(new float[] {7f, 8f, 9f}, r.get("w").toFloatArray(), "run " + run);
                }
            }
            assertArrayEquals(X, in.get("x").toFloatArray(), "the caller's input is still readable");
        }
    }

    @Test
    void anOutputFoldedToAConstantForTheseShapesSurvivesClosingItsResult() throws Exception {
        // s = Shape(x) is a constant once x's symbolic size is known: the specialized graph holds it as a weight
        Path file = new OnnxModelBuilder(13).symbolicInput("x", 1, "N")
            .node("Shape", List.of("x"), List.of("s"))
            .node("Relu", List.of("x"), List.of("r"))
            .output("s", 7, 1).output("r", 1, -1)
            .write(dir.resolve("shape.onnx"));
        for (SessionOptions o : List.of(SessionOptions.builder().threads(1).build(),
                                        SessionOptions.builder().threads(1).devices("cpu", "throttled").build())) {
          try (Session s = Session.open(file, o)) {
            for (int run = 0; run < 3; run++) {
                try (Result r = s.run(Map.of("x", Tensor.ofFloats(Shape.of(5), 1, -2, 3, -4, 5)))) {
                    assertArrayEquals(new long[] {5}, r.get("s").toLongArray(), "run " + run);
                }
                try (Result r = s.run(Map.of("x", Tensor.ofFloats(Shape.of(2), 1, -2)), List.of("s"))) {
                    assertArrayEquals(new long[] {2}, r.get("s").toLongArray(), "pruned run " + run);
                }
            }
          }
        }
    }

    @Test
    void aWrappedSegmentIsReadInPlaceOnTheCpuAndCopiedForTheDispatcher() throws Exception {
        for (SessionOptions o : List.of(SessionOptions.builder().threads(2).build(),
                                        SessionOptions.builder().threads(2).devices("cpu", "throttled").build())) {
            try (Session s = Session.open(model(), o); java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
                var seg = arena.allocate(X.length * 4L, Tensor.ALIGNMENT);
                java.lang.foreign.MemorySegment.copy(X, 0, seg, java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, X.length);
                Tensor x = Tensor.wrap(dev.sluice.kernels.DType.FLOAT32, Shape.of(2, 3), seg);
                assertTrue(x.isWrapped());
                try (Result r = s.run(Map.of("x", x))) {
                    assertArrayEquals(relu(), r.get("a").toFloatArray(), o.devices().toString());
                    assertArrayEquals(neg(), r.get("b").toFloatArray(), o.devices().toString());
                }
            }
        }
    }

    @Test
    void askingForSomeOutputsRunsOnlyTheirAncestors() throws Exception {
        try (Session s = Session.open(model(), SessionOptions.builder().threads(2).build())) {
            try (Result r = s.run(in(), List.of("c", "a"))) {
                assertEquals(List.of("c", "a"), r.names(), "the caller's order");
                float[] c = neg();
                for (int i = 0; i < c.length; i++) c[i] = (float) Math.exp(c[i]);
                float[] got = r.get("c").toFloatArray();
                for (int i = 0; i < c.length; i++) assertEquals(c[i], got[i], Math.ulp(c[i]) * 2, "c[" + i + "]");
                assertArrayEquals(relu(), r.get("a").toFloatArray());
                assertFalse(r.contains("b"));
            }
            var pruned = Session.prune(s.graph(), List.of("a"));
            assertEquals(List.of("Relu"), pruned.nodes().stream().map(n -> n.opType()).toList(), "only a's ancestor runs");
            assertTrue(pruned.initializers().isEmpty(), "weights only the dropped nodes read are dropped");
            InputException e = assertThrows(InputException.class, () -> s.run(in(), List.of("a", "zzz")));
            assertTrue(e.getMessage().contains("zzz") && e.getMessage().contains("[a, b, c, w]"), e.getMessage());
            assertThrows(InputException.class, () -> s.run(in(), List.of()));
        }
    }

    @Test
    void aClosedSessionRefusesRunsAndLetsItsThreadsGo() throws Exception {
        Session s = Session.open(model(), SessionOptions.builder().threads(3).build());
        s.run(in()).close();
        s.run(in(), List.of("a")).close();
        s.close();
        assertTrue(s.isClosed());
        assertTrue(s.parallelism().isClosed(), "the worker pool is shut down");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> s.run(in()));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> s.run(in(), List.of("a")));
        s.close(); // idempotent
    }
}
