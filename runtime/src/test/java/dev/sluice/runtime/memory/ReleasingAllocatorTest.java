package dev.sluice.runtime.memory;

import dev.sluice.runtime.exec.SessionInternals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.graph.Model;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import dev.sluice.runtime.cli.InputSources;
import dev.sluice.runtime.exec.ExecutionListener;
import dev.sluice.runtime.exec.GraphExecutor;
import dev.sluice.runtime.exec.OutputAllocator;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The profiling run's allocator frees each intermediate when it dies, not at the next collection, and nothing else. */
class ReleasingAllocatorTest {
    /**
     * A planned session's first run hands its large intermediates back to the pool as they die; its later runs take
     * intermediates from the planned arena, so none of those blocks may stay on the pool's free lists beside it.
     */
    @Test void theProfilingRunLeavesNoLargeFreeBlocksBehind() {
        Model m = PlannedRunTest.mlp();
        try (Session s = Session.open(m, 1, PlannedRunTest.REGISTRY)) {
            Tensor x = InputSources.random(DType.FLOAT32, Shape.of(600, 16), new SplittableRandom(5));
            Map<String, Tensor> first = s.run(Map.of("x", x)).asMap();
            assertEquals(0, dev.sluice.kernels.NativeBlockPool.SHARED.freeLargeBytes(), "large blocks kept after the profiling run");
            Map<String, Tensor> second = s.run(Map.of("x", x)).asMap();
            for (var e : first.entrySet()) assertTrue(e.getValue().sameBits(second.get(e.getKey())), e.getKey() + " changed");
        }
    }

    @Test void everyIntermediateIsClosedAfterItsLastReaderAndTheResultIsUnchanged() {
        Model m = PlannedRunTest.mlp();
        try (Session s = Session.open(m, 1, PlannedRunTest.REGISTRY).memoryPlanning(false)) {
            // 600 rows: most intermediates are 64 KiB or more, so they own an arena that closing really frees
            Tensor x = InputSources.random(DType.FLOAT32, Shape.of(600, 16), new SplittableRandom(5));
            Map<String, Tensor> in = Map.of("x", x);
            GraphExecutor exec = SessionInternals.executorFor(s, in);
            Map<String, Tensor> ref = exec.run(in, OutputAllocator.FRESH, ExecutionListener.NONE);

            // the profiler hears of each release before the memory goes (and the graph input 'x' is released too)
            java.util.Set<Tensor> openWhenReleased = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            ExecutionListener spy = new ExecutionListener() {
                @Override public void released(int step, String value, Tensor t) {
                    if (t != null && !t.isClosed()) openWhenReleased.add(t);
                }
            };
            ReleasingAllocator releasing = new ReleasingAllocator(spy);
            List<Tensor> handedOut = new ArrayList<>();
            OutputAllocator recording = (step, node, i, dt, shape) -> {
                Tensor t = releasing.allocate(step, node, i, dt, shape);
                handedOut.add(t);
                return t;
            };
            Map<String, Tensor> out = exec.run(in, recording, releasing);

            assertEquals(ref.keySet(), out.keySet());
            for (var e : ref.entrySet()) assertTrue(e.getValue().sameBits(out.get(e.getKey())), e.getKey() + " changed");
            assertFalse(handedOut.isEmpty());
            assertTrue(handedOut.stream().anyMatch(t -> t.byteSize() >= Tensor.OWNED_MIN_BYTES), "no intermediate owns its memory");
            for (Tensor t : handedOut) {
                assertTrue(t.isClosed(), "an intermediate " + t.dtype() + t.shape() + " was left open");
                assertTrue(openWhenReleased.contains(t), "an intermediate " + t.dtype() + t.shape() + " was closed before the profiler saw it released");
            }
            assertTrue(openWhenReleased.contains(x), "the executor releases the input too; it must stay open");
            for (Tensor t : out.values()) assertFalse(t.isClosed(), "a graph output was closed");
            assertFalse(x.isClosed(), "the caller's input was closed");
        }
    }
}
