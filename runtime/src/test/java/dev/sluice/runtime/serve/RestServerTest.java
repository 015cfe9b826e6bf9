package dev.sluice.runtime.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The REST front end through the JDK's HTTP client against a server on loopback (ephemeral port): health,
 * metadata, inference in JSON (flat and nested) and binary form checked bit for bit against a plain
 * {@link Session} run, the specification's example requests, the repository API, metrics, and bad input.
 */
class RestServerTest {
    @TempDir static Path repo;
    static InferenceServer server;
    static HttpClient http;
    static String base;
    static final ObjectMapper JSON = new ObjectMapper();

    @BeforeAll static void start() throws Exception {
        TestRepo.affine(repo, "affine", 7, 3);
        TestRepo.specModel(repo);
        TestRepo.scale(repo, "scale");
        TestRepo.affine(repo, "later", 8, 3);
        Engine engine = new Engine(new ModelRepository(repo), new Engine.Options("cpu", 2, m -> {}), new Metrics(), Residency.NONE);
        for (String m : new String[] {"affine", "mymodel", "scale"}) engine.load(m);
        server = new InferenceServer(engine, "127.0.0.1", 0, -1, new Limits(1 << 20, 8 << 10, 256 << 10), null);
        http = HttpClient.newHttpClient();
        base = "http://127.0.0.1:" + server.port();
    }

    @AfterAll static void stop() {
        server.close();
    }

    static HttpResponse<byte[]> get(String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static HttpResponse<byte[]> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(base + path)).POST(HttpRequest.BodyPublishers.ofString(body))
            .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofByteArray());
    }

    static JsonNode json(HttpResponse<byte[]> r) throws Exception { return JSON.readTree(r.body()); }

    static String error(HttpResponse<byte[]> r) throws Exception { return json(r).get("error").asText(); }

    /** The reference: the model file run by a plain session, outside the server. */
    static Map<String, Tensor> reference(String model, Map<String, Tensor> in) {
        try (Session s = Session.open(repo.resolve(model).resolve("1").resolve("model.onnx"))) {
            Map<String, Tensor> out = s.run(in).asMap();
            Map<String, Tensor> copy = new java.util.LinkedHashMap<>();
            out.forEach((k, v) -> copy.put(k, v.copy()));
            return copy;
        }
    }

    @Test void healthAndMetadata() throws Exception {
        assertEquals(200, get("/v2/health/live").statusCode());
        assertEquals(200, get("/v2/health/ready").statusCode());
        JsonNode s = json(get("/v2"));
        assertEquals("sluice", s.get("name").asText());
        assertTrue(s.get("extensions").toString().contains("binary_tensor_data"));
        JsonNode m = json(get("/v2/models/affine"));
        assertEquals("affine", m.get("name").asText());
        assertEquals("onnx_onnxv1", m.get("platform").asText());
        assertEquals("[\"1\"]", m.get("versions").toString());
        assertEquals("x", m.get("inputs").get(0).get("name").asText());
        assertEquals("FP32", m.get("inputs").get(0).get("datatype").asText());
        assertEquals("[-1,4]", m.get("inputs").get(0).get("shape").toString());
        assertEquals("[-1,3]", m.get("outputs").get(0).get("shape").toString());
        assertEquals(200, get("/v2/models/affine/versions/1").statusCode());
        assertEquals(200, get("/v2/models/affine/ready").statusCode());
        assertEquals(200, get("/v2/models/affine/versions/1/ready").statusCode());
        assertEquals(404, get("/v2/models/nosuch").statusCode());
        assertEquals(404, get("/v2/models/affine/versions/9").statusCode());
        assertEquals(404, get("/v2/models/affine/versions/9/ready").statusCode());
    }

    @Test void jsonInferenceEqualsSessionRunBitForBit() throws Exception {
        float[] x = {0.5f, -1.25f, 3f, 0.1f, 2f, 0.3333f, -7f, 1e-3f};
        Map<String, Tensor> ref = reference("affine", Map.of("x", Tensor.ofFloats(Shape.of(2, 4), x)));
        for (String data : new String[] {Arrays.toString(x), "[[0.5,-1.25,3.0,0.1],[2.0,0.3333,-7.0,0.001]]"}) {
            var r = post("/v2/models/affine/infer", "{\"id\":\"7\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,4],\"datatype\":\"FP32\",\"data\":" + data + "}]}");
            assertEquals(200, r.statusCode(), new String(r.body()));
            JsonNode out = json(r);
            assertEquals("7", out.get("id").asText());
            assertEquals("affine", out.get("model_name").asText());
            JsonNode y = out.get("outputs").get(0);
            assertEquals("y", y.get("name").asText());
            assertEquals("[2,3]", y.get("shape").toString());
            float[] want = ref.get("y").toFloatArray();
            assertEquals(want.length, y.get("data").size());
            for (int i = 0; i < want.length; i++) {
                // Float.parseFloat of the printed text gives the float back exactly.
                assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(Float.parseFloat(y.get("data").get(i).asText())), "y[" + i + "]");
            }
        }
    }

    @Test void binaryInferenceEqualsSessionRunBitForBit() throws Exception {
        float[] x = new float[3 * 4];
        for (int i = 0; i < x.length; i++) x[i] = (float) Math.sin(i * 0.7) * 3;
        Map<String, Tensor> ref = reference("affine", Map.of("x", Tensor.ofFloats(Shape.of(3, 4), x)));
        ByteBuffer raw = ByteBuffer.allocate(x.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) raw.putFloat(v);
        byte[] header = "{\"inputs\":[{\"name\":\"x\",\"shape\":[3,4],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":48}}],\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":true}}]}".getBytes();
        byte[] body = new byte[header.length + 48];
        System.arraycopy(header, 0, body, 0, header.length);
        System.arraycopy(raw.array(), 0, body, header.length, 48);
        var r = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/affine/infer")).POST(HttpRequest.BodyPublishers.ofByteArray(body))
            .header("Inference-Header-Content-Length", Integer.toString(header.length)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, r.statusCode(), new String(r.body()));
        int hl = Integer.parseInt(r.headers().firstValue("Inference-Header-Content-Length").orElseThrow());
        JsonNode h = JSON.readTree(Arrays.copyOf(r.body(), hl));
        assertEquals(36, h.get("outputs").get(0).get("parameters").get("binary_data_size").asInt());
        byte[] want = new byte[36];
        ByteBuffer.wrap(want).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(ref.get("y").toFloatArray());
        assertArrayEquals(want, Arrays.copyOfRange(r.body(), hl, r.body().length));
    }

    @Test void specificationExamples() throws Exception {
        // The JSON example of the specification, verbatim: input1 claims shape [3] but gives one element.
        var r = post("/v2/models/mymodel/infer", """
            {
              "id" : "42",
              "inputs" : [
                { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32", "data" : [ 1, 2, 3, 4 ] },
                { "name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL", "data" : [ true ] }
              ],
              "outputs" : [ { "name" : "output0" } ]
            }""");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("input 'input1'") && error(r).contains("1 elements") && error(r).contains("3"), error(r));
        // The same with input1 complete: output0 only, as asked.
        r = post("/v2/models/mymodel/infer", """
            { "id" : "42", "inputs" : [
                { "name" : "input0", "shape" : [ 2, 2 ], "datatype" : "UINT32", "data" : [ 1, 2, 3, 4 ] },
                { "name" : "input1", "shape" : [ 3 ], "datatype" : "BOOL", "data" : [ true, false, true ] } ],
              "outputs" : [ { "name" : "output0" } ] }""");
        assertEquals(200, r.statusCode(), new String(r.body()));
        JsonNode o = json(r);
        assertEquals("42", o.get("id").asText());
        assertEquals(1, o.get("outputs").size());
        assertEquals("output0", o.get("outputs").get(0).get("name").asText());
        assertEquals("FP32", o.get("outputs").get(0).get("datatype").asText());
        assertEquals("[1.0,2.0,3.0,4.0]", o.get("outputs").get(0).get("data").toString());
        // The binary extension example: 16 bytes of input0 and 3 of input1 after the JSON; output0 binary, output1 JSON.
        byte[] header = """
            {"model_name":"mymodel","inputs":[{"name":"input0","shape":[2,2],"datatype":"UINT32","parameters":{"binary_data_size":16}},\
            {"name":"input1","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}}],\
            "outputs":[{"name":"output0","parameters":{"binary_data":true}},{"name":"output1"}]}""".getBytes();
        ByteBuffer b = ByteBuffer.allocate(header.length + 19).order(ByteOrder.LITTLE_ENDIAN);
        b.put(header).putInt(5).putInt(6).putInt(7).putInt(8).put((byte) 1).put((byte) 1).put((byte) 0);
        var rb = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/mymodel/infer")).POST(HttpRequest.BodyPublishers.ofByteArray(b.array()))
            .header("Inference-Header-Content-Length", Integer.toString(header.length)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(200, rb.statusCode(), new String(rb.body()));
        int hl = Integer.parseInt(rb.headers().firstValue("Inference-Header-Content-Length").orElseThrow());
        JsonNode h = JSON.readTree(Arrays.copyOf(rb.body(), hl));
        assertEquals("[false,false,true]", h.get("outputs").get(1).get("data").toString());
        ByteBuffer out = ByteBuffer.wrap(rb.body(), hl, 16).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(5f, out.getFloat());
        assertEquals(6f, out.getFloat());
        assertEquals(7f, out.getFloat());
        assertEquals(8f, out.getFloat());
    }

    @Test void badInputIsRefusedNamingTheField() throws Exception {
        String ok = "{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}";
        var r = post("/v2/models/affine/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP64\",\"data\":[1,2,3,4]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("input 'x'") && error(r).contains("FP64") && error(r).contains("FP32"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,5],\"datatype\":\"FP32\",\"data\":[1,2,3,4,5]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("input 'x'") && error(r).contains("dimension 1"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("input 'x'") && error(r).contains("3 elements"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,\"a\",3,4]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("element 1"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("input 'x'") && error(r).contains("missing"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[" + ok + ",{\"name\":\"z\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("'z'"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[" + ok + "],\"outputs\":[{\"name\":\"nope\"}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("output 'nope'"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP17\",\"data\":[1,2,3,4]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("FP17"), error(r));
        r = post("/v2/models/affine/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("not valid JSON"), error(r));
        r = post("/v2/models/mymodel/infer", "{\"inputs\":[{\"name\":\"input0\",\"shape\":[2,2],\"datatype\":\"UINT32\",\"data\":[1,2,3,-4]},"
            + "{\"name\":\"input1\",\"shape\":[3],\"datatype\":\"BOOL\",\"data\":[true,true,true]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("input 'input0'") && error(r).contains("element 3"), error(r));
        assertEquals(404, post("/v2/models/nosuch/infer", "{\"inputs\":[" + ok + "]}").statusCode());
        assertEquals(404, post("/v2/models/affine/versions/2/infer", "{\"inputs\":[" + ok + "]}").statusCode());
        // A tensor over the per-tensor limit (256 KiB) is refused before its data is read.
        r = post("/v2/models/affine/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[100000,4],\"datatype\":\"FP32\",\"data\":[]}]}");
        assertEquals(413, r.statusCode());
        // A body over the server's limit (1 MiB).
        byte[] big = new byte[(1 << 20) + 10];
        Arrays.fill(big, (byte) ' ');
        // The client asks before sending (Expect: 100-continue), as clients of large uploads should: the server refuses on
        // the Content-Length alone. Sent blindly, the body races the server's close after its early 413, and the
        // unread bytes make the client's TCP stack reset the connection, sometimes before it read the 413.
        var rb = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/affine/infer")).expectContinue(true)
                .POST(HttpRequest.BodyPublishers.ofByteArray(big)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(413, rb.statusCode());
        // Headers over the server's limit (8 KiB here).
        var rh = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/affine/infer")).POST(HttpRequest.BodyPublishers.ofString("{}"))
            .header("X-Padding", "p".repeat(12_000)).build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(413, rh.statusCode(), new String(rh.body()));
        // Binary data that does not match what the header claims.
        var bad = http.send(HttpRequest.newBuilder(URI.create(base + "/v2/models/affine/infer"))
            .POST(HttpRequest.BodyPublishers.ofString("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"parameters\":{\"binary_data_size\":12}}]}abcdefghijkl"))
            .header("Inference-Header-Content-Length", "95").build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(400, bad.statusCode());
        assertTrue(error(bad).contains("input 'x'") && error(bad).contains("binary_data_size"), error(bad));
        // The server still serves after all that.
        assertEquals(200, post("/v2/models/affine/infer", "{\"inputs\":[" + ok + "]}").statusCode());
    }

    @Test void repositoryApiAndMetrics() throws Exception {
        JsonNode idx = json(post("/v2/repository/index", ""));
        assertTrue(idx.toString().contains("\"name\":\"later\"") && idx.toString().contains("UNAVAILABLE"), idx.toString());
        assertEquals(404, post("/v2/models/later/infer", "{\"inputs\":[]}").statusCode());
        assertEquals(200, post("/v2/repository/models/later/load", "").statusCode());
        var r = post("/v2/models/later/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\",\"data\":[1,2,3,4]}]}");
        assertEquals(200, r.statusCode(), new String(r.body()));
        assertTrue(json(post("/v2/repository/index", "{\"ready\":true}")).toString().contains("\"name\":\"later\",\"version\":\"1\",\"state\":\"READY\""));
        assertEquals(200, post("/v2/repository/models/later/unload", "").statusCode());
        assertEquals(404, post("/v2/models/later/infer", "{\"inputs\":[]}").statusCode());
        assertEquals(404, post("/v2/repository/models/later/unload", "").statusCode());
        assertEquals(404, post("/v2/repository/models/nosuch/load", "").statusCode());
        // Path tricks never reach the file system: no route (404) or a refused name (400).
        for (String trick : new String[] {"..%2F..%2Fetc", "%2E%2E", "a%2Fb"}) {
            int code = post("/v2/repository/models/" + trick + "/load", "").statusCode();
            assertTrue(code == 400 || code == 404, trick + " gave " + code);
        }
        String metrics = new String(get("/metrics").body());
        assertTrue(metrics.contains("sluice_requests_total{model=\"later\"} 1"), metrics);
        assertTrue(metrics.contains("sluice_request_duration_seconds_bucket{model=\"later\",le=\"+Inf\"} 1"), metrics);
        assertTrue(metrics.contains("# TYPE sluice_queue_depth gauge"), metrics);
        assertTrue(metrics.contains("sluice_swaps_total 0"), metrics);
        assertTrue(metrics.contains("sluice_device_memory_bytes"), metrics);
    }

    @Test void symlinkOutOfTheRepositoryIsRefused() throws Exception {
        Path outside = Files.createTempDirectory("outside");
        TestRepo.affine(outside, "evil", 1, 3);
        Files.createSymbolicLink(repo.resolve("evil"), outside.resolve("evil"));
        var r = post("/v2/repository/models/evil/load", "");
        assertEquals(400, r.statusCode());
        assertTrue(error(r).contains("outside the model repository"), error(r));
        Files.delete(repo.resolve("evil"));
    }
}
