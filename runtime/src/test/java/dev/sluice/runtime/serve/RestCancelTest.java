package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An HTTP client that goes away (cancels its exchange, which closes its connection) while its request waits in the
 * queue withdraws the request: it never runs, the queue empties, and {@code /metrics} counts it as cancelled.
 */
class RestCancelTest {
    @TempDir Path repo;

    static HttpRequest infer(int port, float v) {
        String body = "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[" + v + "," + v + "," + v + "]}]}";
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v2/models/scale/infer"))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    }

    @Test void aClientThatClosesItsConnectionWhileQueuedWithdrawsTheRequest() throws Exception {
        TestRepo.scale(repo, "scale");
        EngineTest.Gate gate = new EngineTest.Gate();
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), gate);
        engine.load("scale");
        try (InferenceServer server = new InferenceServer(engine, "127.0.0.1", 0, -1, Limits.defaults(), null)) {
            // HTTP/1.1: each exchange in flight has its own connection, and cancelling one closes it.
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            CompletableFuture<HttpResponse<String>> first = http.sendAsync(infer(server.port(), 1), HttpResponse.BodyHandlers.ofString());
            assertTrue(gate.entered.await(20, TimeUnit.SECONDS)); // the first request holds the only worker
            CompletableFuture<HttpResponse<String>> second = http.sendAsync(infer(server.port(), 2), HttpResponse.BodyHandlers.ofString());
            for (int i = 0; i < 400 && engine.queueDepths().get("scale") < 1; i++) Thread.sleep(25);
            assertEquals(1L, engine.queueDepths().get("scale"), "the second request waits in the queue");

            second.cancel(true); // the client goes away
            for (int i = 0; i < 400 && engine.queueDepths().get("scale") > 0; i++) Thread.sleep(25);
            assertEquals(0L, engine.queueDepths().get("scale"), "the server noticed the closed connection and dropped the request");
            assertEquals(1, engine.metrics().cancelledRequests("scale"));
            assertTrue(engine.metrics().render().contains("sluice_requests_cancelled_total{model=\"scale\"} 1"), engine.metrics().render());

            gate.open.countDown();
            HttpResponse<String> r = first.get(20, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.body().contains("[3.0,3.0,3.0]"), r.body()); // 1 * 2 + 1

            // The server keeps serving on new connections, and the withdrawn request never ran.
            HttpResponse<String> third = http.send(infer(server.port(), 0.5f), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, third.statusCode(), third.body());
            assertTrue(third.body().contains("[2.0,2.0,2.0]"), third.body());
            assertEquals(2, gate.runs.get(), "only the first and the third request ran");
        }
    }

    @Test void aClientThatStaysIsAnsweredAfterALongWait() throws Exception {
        TestRepo.scale(repo, "scale");
        EngineTest.Gate gate = new EngineTest.Gate();
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), gate);
        engine.load("scale");
        try (InferenceServer server = new InferenceServer(engine, "127.0.0.1", 0, -1, Limits.defaults(), null)) {
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            CompletableFuture<HttpResponse<String>> first = http.sendAsync(infer(server.port(), 1), HttpResponse.BodyHandlers.ofString());
            assertTrue(gate.entered.await(20, TimeUnit.SECONDS));
            Thread.sleep(20 * RestFrontEnd.WATCH_MILLIS); // many looks at the connection while the answer waits
            gate.open.countDown();
            assertEquals(200, first.get(20, TimeUnit.SECONDS).statusCode());
            // The same keep-alive connection carries a second request after the watched wait.
            for (int i = 0; i < 3; i++) assertEquals(200, http.send(infer(server.port(), i), HttpResponse.BodyHandlers.ofString()).statusCode());
            assertEquals(0, engine.metrics().cancelledRequests("scale"));
        }
    }

    /**
     * Bodies of megabytes on one watched keep-alive connection, several in a row, each get their exact answer
     * (y = 2x + 1, exact in floating point for these x): the watch's read and the connection's own reads of the next
     * request do not take each other's bytes. (A watch started before the body is read did not fail this test in a
     * trial run either: the ordering that excludes that race is by construction, see ClientWatch, not shown here.)
     */
    @Test void largeBodiesOnOneConnectionAreReadWholeBeforeTheWatch() throws Exception {
        TestRepo.scale(repo, "scale");
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 1, m -> {}), new Metrics(), Residency.NONE);
        engine.load("scale");
        try (InferenceServer server = new InferenceServer(engine, "127.0.0.1", 0, -1, Limits.defaults(), null)) {
            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
            int rows = 300_000; // 3.6 MB of FP32
            for (int round = 0; round < 3; round++) {
                java.nio.ByteBuffer raw = java.nio.ByteBuffer.allocate(rows * 3 * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < rows * 3; i++) raw.putFloat((i % 1000) * 0.25f + round);
                byte[] header = ("{\"inputs\":[{\"name\":\"x\",\"shape\":[" + rows + ",3],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":"
                    + raw.capacity() + "}}],\"parameters\":{\"binary_data_output\":true}}").getBytes(java.nio.charset.StandardCharsets.UTF_8);
                byte[] body = new byte[header.length + raw.capacity()];
                System.arraycopy(header, 0, body, 0, header.length);
                System.arraycopy(raw.array(), 0, body, header.length, raw.capacity());
                HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v2/models/scale/infer"))
                    .header("Inference-Header-Content-Length", Integer.toString(header.length))
                    .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofByteArray());
                assertEquals(200, r.statusCode(), () -> new String(r.body(), 0, Math.min(300, r.body().length)));
                int json = Integer.parseInt(r.headers().firstValue("Inference-Header-Content-Length").orElseThrow());
                java.nio.ByteBuffer out = java.nio.ByteBuffer.wrap(r.body(), json, r.body().length - json).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                assertEquals(rows * 3 * 4, out.remaining());
                for (int i = 0; i < rows * 3; i++) {
                    float x = (i % 1000) * 0.25f + round;
                    if (out.getFloat() != 2 * x + 1) throw new AssertionError("round " + round + ", element " + i + ": not 2x+1 of " + x);
                }
            }
            assertEquals(0, engine.metrics().cancelledRequests("scale"));
        }
    }
}
