package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.Session;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A bounded soak on loopback: client threads send a mix of valid and invalid requests for a fixed number of
 * rounds (stopping early after 15 s) while another thread reloads model "a" and unloads/loads model "b"
 * over and over, under a swapping budget that holds only one of the models. Every valid request for "a" must be
 * answered 200 with the bits a plain session gives; for "b" with those bits, or 404/503 while it is unloaded;
 * every invalid request 400; nothing else, nothing lost (every request gets an answer).
 */
class SoakTest {
    @TempDir Path repo;

    @Test void mixedTrafficWithConcurrentLoadAndUnload() throws Exception {
        TestRepo.affine(repo, "a", 21, 16);
        TestRepo.affine(repo, "b", 22, 16);
        TestRepo.config(repo, "a", "{\"max_batch_size\": 4, \"max_queue_delay_ms\": 1, \"max_queue\": 1000}");
        TestRepo.config(repo, "b", "{\"max_queue\": 1000}");
        var store = new dev.sluice.offload.swap.WeightStore(dev.sluice.offload.HostMemory.pageable());
        var swapper = new dev.sluice.offload.swap.ModelSwapper(store, 400, new dev.sluice.offload.swap.EvictionPolicy.Demand(1_000_000_000L),
            new dev.sluice.offload.swap.CopyLink(0), 2);
        SwapResidency swap = new SwapResidency(store, swapper, true);
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("throttled", 2, m -> {}), new Metrics(), swap);
        engine.loadAll();
        Map<String, float[][]> want = new java.util.HashMap<>();
        float[][] inputs = new float[8][];
        Random r = new Random(5);
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = new float[4];
            for (int j = 0; j < 4; j++) inputs[i][j] = r.nextFloat() * 10 - 5;
        }
        for (String m : List.of("a", "b")) {
            try (Session s = Session.open(repo.resolve(m + "/1/model.onnx"))) {
                float[][] w = new float[inputs.length][];
                for (int i = 0; i < inputs.length; i++) w[i] = s.run(Map.of("x", Tensor.ofFloats(Shape.of(1, 4), inputs[i]))).get("y").toFloatArray();
                want.put(m, w);
            }
        }
        ObjectMapper json = new ObjectMapper();
        ConcurrentLinkedQueue<String> problems = new ConcurrentLinkedQueue<>();
        AtomicInteger validOk = new AtomicInteger(), invalidOk = new AtomicInteger(), bUnavailable = new AtomicInteger(), reloads = new AtomicInteger();
        long stopAt = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        AtomicLong answered = new AtomicLong();
        int clients = 4, rounds = 150;
        try (InferenceServer server = new InferenceServer(engine, "127.0.0.1", 0, -1, Limits.defaults(), swap)) {
            HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
            String base = "http://127.0.0.1:" + server.port();
            Thread churn = Thread.ofPlatform().start(() -> {
                int i = 0;
                while (System.nanoTime() < stopAt && !Thread.currentThread().isInterrupted()) {
                    try {
                        String path = switch (i++ % 3) {
                            case 0 -> "/v2/repository/models/b/unload";
                            case 1 -> "/v2/repository/models/b/load";
                            default -> "/v2/repository/models/a/load";
                        };
                        var resp = http.send(HttpRequest.newBuilder(URI.create(base + path)).POST(HttpRequest.BodyPublishers.noBody()).build(),
                            HttpResponse.BodyHandlers.ofString());
                        if (resp.statusCode() != 200) problems.add(path + " -> " + resp.statusCode() + " " + resp.body());
                        reloads.incrementAndGet();
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        return;
                    } catch (Exception e) {
                        problems.add("churn: " + e);
                    }
                }
            });
            List<Thread> ts = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int seed = c;
                ts.add(Thread.ofPlatform().start(() -> {
                    Random rr = new Random(seed);
                    for (int i = 0; i < rounds && System.nanoTime() < stopAt; i++) {
                        int kind = rr.nextInt(4);
                        String model = rr.nextBoolean() ? "a" : "b";
                        int k = rr.nextInt(inputs.length);
                        float[] x = inputs[k];
                        String body = switch (kind) {
                            case 0 -> "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}";
                            case 1 -> "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"INT8\",\"data\":[1,2,3,4]}]}";
                            default -> "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[" + x[0] + "," + x[1] + "," + x[2] + "," + x[3] + "]}]}";
                        };
                        try {
                            var resp = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/" + model + "/infer"))
                                .POST(HttpRequest.BodyPublishers.ofString(body)).timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
                            answered.incrementAndGet();
                            int code = resp.statusCode();
                            boolean bGone = model.equals("b") && (code == 404 || code == 503);
                            if (kind < 2) {
                                if (code == 400) invalidOk.incrementAndGet();
                                else if (bGone) bUnavailable.incrementAndGet();
                                else problems.add("invalid request to " + model + " gave " + code + " " + resp.body());
                            } else if (code == 200) {
                                JsonNode y = json.readTree(resp.body()).get("outputs").get(0).get("data");
                                float[] w = want.get(model)[k];
                                boolean same = y.size() == w.length;
                                for (int j = 0; same && j < w.length; j++) same = Float.parseFloat(y.get(j).asText()) == w[j];
                                if (same) validOk.incrementAndGet();
                                else problems.add("wrong answer from " + model + " for input " + k + ": " + y);
                            } else if (bGone) {
                                bUnavailable.incrementAndGet();
                            } else {
                                problems.add("valid request to " + model + " gave " + code + " " + resp.body());
                            }
                        } catch (Exception e) {
                            problems.add("client: " + e);
                        }
                    }
                }));
            }
            for (Thread t : ts) t.join();
            churn.interrupt();
            churn.join();
            System.out.printf("soak: %d answered: %d valid ok, %d invalid refused, %d while b was unloaded; %d load/unload calls; %d swaps%n",
                answered.get(), validOk.get(), invalidOk.get(), bUnavailable.get(), reloads.get(), swapper.stats().swaps());
            assertTrue(problems.isEmpty(), problems.size() + " problems, first: " + problems.stream().limit(5).toList());
            assertEquals(validOk.get() + invalidOk.get() + bUnavailable.get(), answered.get());
            assertTrue(validOk.get() > 0 && invalidOk.get() > 0 && reloads.get() > 0, validOk + " " + invalidOk + " " + reloads);
            String metrics = new String(http.send(HttpRequest.newBuilder(URI.create(base + "/metrics")).build(), HttpResponse.BodyHandlers.ofByteArray()).body());
            assertTrue(metrics.contains("sluice_swaps_total"), metrics);
            assertTrue(swapper.stats().swaps() > 0, "the budget holds one model: serving both must swap");
            assertTrue(swapper.stats().residentBytes() <= 400);
        }
    }
}
