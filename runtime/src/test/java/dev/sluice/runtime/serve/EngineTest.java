package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The engine's admission, batching, cancellation and shutdown, made deterministic by a residency gate that
 * holds the model's worker until the test opens it (no timing in the assertions).
 */
class EngineTest {
    @TempDir Path repo;

    /** Blocks every run until {@link #open} and counts the runs (one per batch). */
    static final class Gate implements Residency {
        final CountDownLatch open = new CountDownLatch(1);
        final CountDownLatch entered = new CountDownLatch(1);
        final AtomicInteger runs = new AtomicInteger();

        @Override public void add(String key, Session session, int priority) {}
        @Override public void remove(String key) {}
        @Override public Lease acquire(String key) throws InterruptedException {
            entered.countDown();
            open.await();
            runs.incrementAndGet();
            return () -> {};
        }
        @Override public Metrics.DeviceFigures figures() { return Metrics.DeviceFigures.NONE; }
    }

    static InferRequest request(String model, float... x) {
        ByteBuffer b = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) b.putFloat(v);
        return new InferRequest(model, null, null, List.of(new InferTensor("x", Datatype.FP32, new long[] {x.length / 3, 3}, b.array(), Map.of())),
            List.of(), Map.of());
    }

    /** A request of rows of four floats for input x. */
    static InferRequest request4(String model, float... x) {
        ByteBuffer b = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) b.putFloat(v);
        return new InferRequest(model, null, null, List.of(new InferTensor("x", Datatype.FP32, new long[] {x.length / 4, 4}, b.array(), Map.of())),
            List.of(), Map.of());
    }

    static float[] floats(InferTensor t) {
        float[] f = new float[t.data().length / 4];
        ByteBuffer.wrap(t.data()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(f);
        return f;
    }

    @Test void fullQueueRefusesAtOnceAndAdmittedRequestsAreAnswered() throws Exception {
        TestRepo.scale(repo, "scale");
        TestRepo.config(repo, "scale", "{\"max_queue\": 2}");
        Gate gate = new Gate();
        Metrics metrics = new Metrics();
        try (Engine e = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), metrics, gate)) {
            e.load("scale");
            Engine.Admitted running = e.infer(request("scale", 1, 2, 3));
            assertTrue(gate.entered.await(10, TimeUnit.SECONDS)); // the worker holds it: the queue is empty again
            Engine.Admitted q1 = e.infer(request("scale", 4, 5, 6));
            Engine.Admitted q2 = e.infer(request("scale", 7, 8, 9));
            ServeException over = assertThrows(ServeException.class, () -> e.infer(request("scale", 0, 0, 0)));
            assertEquals(ServeException.Kind.OVERLOADED, over.kind());
            assertEquals(429, over.kind().http);
            assertTrue(over.getMessage().contains("max_queue"), over.getMessage());
            gate.open.countDown();
            assertArrayEquals(new float[] {3, 5, 7}, floats(running.result().get(10, TimeUnit.SECONDS).outputs().getFirst()));
            assertArrayEquals(new float[] {9, 11, 13}, floats(q1.result().get(10, TimeUnit.SECONDS).outputs().getFirst()));
            assertArrayEquals(new float[] {15, 17, 19}, floats(q2.result().get(10, TimeUnit.SECONDS).outputs().getFirst()));
            assertTrue(metrics.render().contains("sluice_requests_rejected_total{model=\"scale\"} 1"), metrics.render());
        }
    }

    @Test void cancelledRequestNeverRuns() throws Exception {
        TestRepo.scale(repo, "scale");
        Gate gate = new Gate();
        try (Engine e = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), gate)) {
            e.load("scale");
            Engine.Admitted first = e.infer(request("scale", 1, 2, 3));
            assertTrue(gate.entered.await(10, TimeUnit.SECONDS));
            Engine.Admitted gone = e.infer(request("scale", 4, 5, 6));
            assertTrue(gone.cancel());
            ExecutionException x = assertThrows(ExecutionException.class, () -> gone.result().get(10, TimeUnit.SECONDS));
            assertEquals(ServeException.Kind.CANCELLED, ((ServeException) x.getCause()).kind());
            gate.open.countDown();
            first.result().get(10, TimeUnit.SECONDS);
            assertFalse(first.cancel()); // already ran
            assertEquals(1, gate.runs.get());
        }
    }

    @Test void gracefulShutdownAnswersAdmittedAndRefusesNew() throws Exception {
        TestRepo.scale(repo, "scale");
        Gate gate = new Gate();
        Engine e = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), gate);
        e.load("scale");
        List<Engine.Admitted> admitted = new ArrayList<>();
        for (int i = 0; i < 5; i++) admitted.add(e.infer(request("scale", i, i, i)));
        assertTrue(gate.entered.await(10, TimeUnit.SECONDS));
        Thread stopper = Thread.ofPlatform().start(() -> e.shutdown(Duration.ofSeconds(30)));
        while (e.ready()) Thread.onSpinWait();
        ServeException refused = assertThrows(ServeException.class, () -> e.infer(request("scale", 1, 1, 1)));
        assertEquals(503, refused.kind().http);
        gate.open.countDown();
        stopper.join();
        for (int i = 0; i < 5; i++) {
            float want = i * 2 + 1;
            assertArrayEquals(new float[] {want, want, want}, floats(admitted.get(i).result().getNow(null).outputs().getFirst()));
        }
    }

    @Test void dynamicBatchingJoinsQueuedRequestsAndAnswersEachItsOwnRows() throws Exception {
        TestRepo.scale(repo, "scale");
        TestRepo.config(repo, "scale", "{\"max_batch_size\": 8, \"max_queue_delay_ms\": 1}");
        Gate gate = new Gate();
        try (Engine e = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), gate)) {
            e.load("scale");
            assertTrue(e.instance("scale", null).batching());
            Engine.Admitted first = e.infer(request("scale", 1, 1, 1));
            assertTrue(gate.entered.await(10, TimeUnit.SECONDS));
            // Queued while the first runs: one request of 2 rows and three of 1 row, joined into one run of 5 rows.
            List<float[]> inputs = List.of(new float[] {1.5f, -2, 3, 0.1f, 0.2f, 0.3f}, new float[] {7, 8, 9}, new float[] {-1, -2, -3},
                new float[] {1e-7f, 3e7f, (float) Math.PI});
            List<Engine.Admitted> queued = new ArrayList<>();
            for (float[] x : inputs) queued.add(e.infer(request("scale", x)));
            gate.open.countDown();
            first.result().get(10, TimeUnit.SECONDS);
            try (Session plain = Session.open(repo.resolve("scale/1/model.onnx"))) {
                for (int i = 0; i < inputs.size(); i++) {
                    float[] x = inputs.get(i);
                    InferTensor y = queued.get(i).result().get(10, TimeUnit.SECONDS).outputs().getFirst();
                    assertArrayEquals(new long[] {x.length / 3, 3}, y.shape());
                    Map<String, Tensor> ref = plain.run(Map.of("x", Tensor.ofFloats(Shape.of(x.length / 3, 3), x))).asMap();
                    assertArrayEquals(ref.get("y").toFloatArray(), floats(y), "request " + i);
                }
            }
            assertEquals(2, gate.runs.get(), "the four queued requests should run as one batch");
        }
    }

    @Test void reloadWhileRequestsWaitLosesNone() throws Exception {
        TestRepo.scale(repo, "scale");
        Gate gate = new Gate();
        try (Engine e = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), gate)) {
            e.load("scale");
            List<Engine.Admitted> before = new ArrayList<>();
            for (int i = 0; i < 4; i++) before.add(e.infer(request("scale", i, i, i)));
            assertTrue(gate.entered.await(10, TimeUnit.SECONDS));
            e.load("scale");   // replaces the version: the old one drains
            Engine.Admitted after = e.infer(request("scale", 10, 10, 10));
            e.unload("scale"); // and now all of it
            assertThrows(ServeException.class, () -> e.infer(request("scale", 1, 1, 1)));
            gate.open.countDown();
            for (int i = 0; i < 4; i++) assertEquals(2f * i + 1, floats(before.get(i).result().get(10, TimeUnit.SECONDS).outputs().getFirst())[0]);
            assertEquals(21f, floats(after.result().get(10, TimeUnit.SECONDS).outputs().getFirst())[0]);
        }
    }
}
