package dev.sluice.runtime.serve;

import dev.sluice.kernels.SluiceException;
import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.helidon.webserver.http1.Http1Config;
import io.helidon.webserver.http1.Http1ConnectionSelector;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The v2 REST front end on Helidon SE's web server: health, metadata, inference (JSON and the binary tensor
 * data extension), the repository API and {@code /metrics}. Helidon parses HTTP and enforces the body and
 * header bounds (413 for a body over the limit); this class maps paths to the {@link Engine} and every
 * {@link ServeException} to its status with a {@code {"error": ...}} body.
 */
public final class RestFrontEnd implements AutoCloseable {
    static final HeaderName HEADER_LENGTH = HeaderNames.create("Inference-Header-Content-Length");
    static final String SERVER_NAME = "sluice";
    static final String SERVER_VERSION = "0.1.0";
    static final List<String> EXTENSIONS = List.of("binary_tensor_data", "model_repository", "metrics");

    private final Engine engine;
    private final Limits limits;
    private final WebServer server;
    private final ClientWatch watch;

    public RestFrontEnd(Engine engine, String host, int port, Limits limits) {
        this.engine = engine;
        this.limits = limits;
        this.server = WebServer.builder()
            .host(host)
            .port(port)
            .maxPayloadSize(limits.maxBodyBytes())
            .shutdownHook(false)
            .shutdownGracePeriod(Duration.ofSeconds(5))
            // Helidon refuses headers over its own cap with a 400 before routing; the cap sits well above our limit so
            // that the filter below can answer what the protocol asks for, 413, naming the limit.
            .addConnectionSelector(watch = new ClientWatch(Http1ConnectionSelector.builder()
                .config(Http1Config.builder().maxHeadersSize(Math.max(4 * limits.maxHeaderBytes(), 64 << 10)).build()).build()))
            .routing(this::routes)
            .build()
            .start();
    }

    public int port() { return server.port(); }

    private void routes(HttpRouting.Builder r) {
        r.addFilter((chain, req, res) -> {
            long bytes = 0;
            for (var h : req.headers()) bytes += h.name().length() + h.values().length() + 4;
            if (bytes > limits.maxHeaderBytes()) {
                send(res, 413, JsonProtocol.error("the request headers have " + bytes + " bytes, over the limit of " + limits.maxHeaderBytes()));
                return;
            }
            chain.proceed();
        });
        r.get("/v2/health/live", (req, res) -> json(res, 200, "{\"live\":true}"));
        r.get("/v2/health/ready", (req, res) -> {
            boolean ok = engine.ready();
            json(res, ok ? 200 : 503, "{\"ready\":" + ok + "}");
        });
        r.get("/v2", (req, res) -> handle(res, () -> send(res, 200, JsonProtocol.serverMetadata(SERVER_NAME, SERVER_VERSION, EXTENSIONS))));
        r.get("/v2/models/{m}", (req, res) -> handle(res, () -> metadata(req, res, null)));
        r.get("/v2/models/{m}/versions/{v}", (req, res) -> handle(res, () -> metadata(req, res, param(req, "v"))));
        r.get("/v2/models/{m}/ready", (req, res) -> handle(res, () -> ready(req, res, null)));
        r.get("/v2/models/{m}/versions/{v}/ready", (req, res) -> handle(res, () -> ready(req, res, param(req, "v"))));
        r.post("/v2/models/{m}/infer", (req, res) -> watched(req, client -> handle(res, () -> infer(req, res, null, client))));
        r.post("/v2/models/{m}/versions/{v}/infer", (req, res) -> watched(req, client -> handle(res, () -> infer(req, res, param(req, "v"), client))));
        r.post("/v2/repository/index", (req, res) -> handle(res, () -> {
            boolean readyOnly = JsonProtocol.readyOnly(body(req));
            send(res, 200, JsonProtocol.repositoryIndex(engine.index(readyOnly)));
        }));
        r.post("/v2/repository/models/{m}/load", (req, res) -> handle(res, () -> {
            body(req);
            engine.load(param(req, "m"));
            send(res, 200, new byte[0]);
        }));
        r.post("/v2/repository/models/{m}/unload", (req, res) -> handle(res, () -> {
            body(req);
            engine.unload(param(req, "m"));
            send(res, 200, new byte[0]);
        }));
        r.get("/metrics", (req, res) -> {
            res.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
            res.send(engine.metrics().render());
        });
    }

    private void metadata(ServerRequest req, ServerResponse res, String version) {
        send(res, 200, JsonProtocol.modelMetadata(engine.metadata(param(req, "m"), version)));
    }

    private void ready(ServerRequest req, ServerResponse res, String version) {
        String m = param(req, "m");
        engine.instance(m, version); // 404 for a model or version that is not loaded
        boolean ok = engine.modelReady(m, version);
        json(res, ok ? 200 : 503, "{\"name\":\"" + m + "\",\"ready\":" + ok + "}");
    }

    private void infer(ServerRequest req, ServerResponse res, String version, ClientWatch.Watched client) throws Exception {
        long headerLength = -1;
        var h = req.headers().first(HEADER_LENGTH);
        if (h.isPresent()) {
            try {
                headerLength = Long.parseLong(h.get().trim());
            } catch (NumberFormatException e) {
                throw ServeException.badRequest("Inference-Header-Content-Length must be a byte count, got '" + h.get() + "'");
            }
            if (headerLength < 0) throw ServeException.badRequest("Inference-Header-Content-Length must not be negative");
        }
        byte[] body = body(req);
        if (body.length > limits.maxBodyBytes()) throw ServeException.tooLarge("the body has " + body.length + " bytes, over the limit of " + limits.maxBodyBytes());
        InferRequest r = JsonProtocol.parseInfer(param(req, "m"), version, body, headerLength, limits);
        Engine.Admitted a = engine.infer(r);
        InferResponse out;
        try {
            out = await(a, client, r.model());
        } catch (InterruptedException e) {
            a.cancel();
            throw e;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw e;
        }
        JsonProtocol.Encoded enc = JsonProtocol.encodeInfer(out, r);
        if (enc.jsonHeaderLength() >= 0) {
            res.header(HEADER_LENGTH, Integer.toString(enc.jsonHeaderLength()));
            res.header(HeaderNames.CONTENT_TYPE, "application/octet-stream");
            res.status(Status.OK_200);
            res.send(enc.body());
        } else {
            send(res, 200, enc.body());
        }
    }

    /**
     * Runs an inference handler with its connection watched, then (its answer sent) waits until the watch has let go of
     * the connection: the client's next request or its leaving, which the connection's own read then finds.
     */
    private void watched(ServerRequest req, java.util.function.Consumer<ClientWatch.Watched> handler) {
        // A connection that closes after this answer is not watched: its client may wait for that close before it sends
        // or closes anything, while the settled watch would wait for the client.
        boolean closes = req.headers().contains(HeaderNames.CONNECTION) && req.headers().get(HeaderNames.CONNECTION).allValues().stream()
            .anyMatch(v -> v.equalsIgnoreCase("close")) || "1.0".equals(req.prologue().protocolVersion());
        ClientWatch.Watched client = closes ? ClientWatch.UNWATCHED : watch.watch(req.socketId());
        try {
            handler.accept(client);
        } finally {
            client.settle();
        }
    }

    /** How often a waiting handler looks whether its client is still there. */
    static final long WATCH_MILLIS = 20;

    /**
     * Waits for the answer; when the client closes its connection first, withdraws the request if it has not started
     * (counted as cancelled in {@code /metrics}) and gives up on it either way: nobody is left to answer.
     */
    private InferResponse await(Engine.Admitted a, ClientWatch.Watched client, String model) throws Exception {
        client.start(); // the body has been read whole: from now on only the watch reads the connection
        while (true) {
            try {
                return a.result().get(WATCH_MILLIS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                if (client.gone()) {
                    if (a.cancel()) engine.metrics().cancelled(model);
                    throw new ServeException(ServeException.Kind.CANCELLED, "the client closed its connection before the answer");
                }
            }
        }
    }

    interface Body {
        void run() throws Exception;
    }

    private static void handle(ServerResponse res, Body b) {
        try {
            b.run();
        } catch (ServeException e) {
            send(res, e.kind().http, JsonProtocol.error(e.getMessage()));
        } catch (SluiceException e) {
            send(res, 400, JsonProtocol.error(e.getMessage()));
        } catch (Exception e) {
            send(res, 500, JsonProtocol.error("internal error: " + e));
        }
    }

    /** The request body, empty when there is none. */
    private static byte[] body(ServerRequest req) {
        return req.content().hasEntity() ? req.content().as(byte[].class) : new byte[0];
    }

    private static String param(ServerRequest req, String name) { return req.path().pathParameters().get(name); }

    private static void json(ServerResponse res, int status, String body) {
        send(res, status, body.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    private static void send(ServerResponse res, int status, byte[] body) {
        res.status(Status.create(status));
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(body);
    }

    @Override public void close() { server.stop(); }
}
