package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.offload.HostMemory;
import dev.sluice.offload.swap.CopyLink;
import dev.sluice.offload.swap.EvictionPolicy;
import dev.sluice.offload.swap.ModelSwapper;
import dev.sluice.offload.swap.WeightStore;
import dev.sluice.runtime.Session;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model whose weights exceed the whole device budget still serves, its weights streaming through a ring of the
 * budget's size layer by layer, with the bits of a plain session; one whose single weight is larger than the
 * ring is refused with the numbers, not left hanging.
 */
class StreamingTest {
    @TempDir Path repo;

    @Test void modelOverTheBudgetStreamsItsWeightsThrough() throws Exception {
        TestRepo.deep(repo, "deep", 12, 3);      // 12 weights of 64 bytes: 768 bytes
        TestRepo.affine(repo, "wide", 4, 64);     // one 1 KiB weight: more than the 256-byte ring
        WeightStore store = new WeightStore(HostMemory.pageable());
        ModelSwapper sw = new ModelSwapper(store, 256, new EvictionPolicy.Lru(), new CopyLink(0), 2);
        try (SwapResidency res = new SwapResidency(store, sw, true);
             Engine e = new Engine(new ModelRepository(repo), new Engine.Options("throttled", 1, m -> {}), new Metrics(), res)) {
            e.loadAll();
            float[] x = {0.5f, -1, 2, 0.25f, 3, 1, -2, 0.125f};
            float[] want;
            try (Session plain = Session.open(repo.resolve("deep/1/model.onnx"))) {
                want = plain.run(Map.of("x", Tensor.ofFloats(Shape.of(2, 4), x))).get("y").toFloatArray();
            }
            for (int i = 0; i < 3; i++) {
                InferTensor y = e.infer(EngineTest.request4("deep", x)).result().get(30, TimeUnit.SECONDS).outputs().getFirst();
                assertArrayEquals(want, EngineTest.floats(y), "run " + i);
            }
            // The answer completes before the worker closes its lease on the ring: wait (bounded) for both.
            for (int i = 0; i < 500 && (sw.stats().swaps() < 3 || sw.stats().residentBytes() != 0); i++) Thread.sleep(10);
            assertEquals(3, sw.stats().swaps()); // streamed each time: nothing stays resident
            assertEquals(0, sw.stats().residentBytes());
            ExecutionException fail = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                () -> e.infer(EngineTest.request4("wide", x)).result().get(30, TimeUnit.SECONDS));
            assertTrue(fail.getCause().getMessage().contains("ring"), fail.getCause().getMessage());
            // And the server goes on serving the streamed model.
            assertArrayEquals(want, EngineTest.floats(e.infer(EngineTest.request4("deep", x)).result().get(30, TimeUnit.SECONDS).outputs().getFirst()));
        }
    }
}
