package dev.sluice.runtime.serve;

import java.time.Duration;

/**
 * {@code sluice serve} running: the engine with its REST and (optionally) gRPC front ends. Closing it shuts down
 * gracefully: the front ends stop taking requests, the engine answers what it had admitted, then everything closes.
 */
public final class InferenceServer implements AutoCloseable {
    private final Engine engine;
    private final RestFrontEnd rest;
    private final GrpcFrontEnd grpc;
    private final AutoCloseable residency;

    /** @param grpcPort the gRPC port (0: any free one), or -1 for no gRPC front end */
    public InferenceServer(Engine engine, String host, int port, int grpcPort, Limits limits, AutoCloseable residency) {
        this.engine = engine;
        this.residency = residency;
        this.rest = new RestFrontEnd(engine, host, port, limits);
        GrpcFrontEnd g = null;
        try {
            if (grpcPort >= 0) g = new GrpcFrontEnd(engine, host, grpcPort, limits);
        } catch (RuntimeException e) {
            rest.close();
            throw e;
        }
        this.grpc = g;
    }

    public Engine engine() { return engine; }

    public int port() { return rest.port(); }

    /** The gRPC port, or -1 when gRPC is off. */
    public int grpcPort() { return grpc == null ? -1 : grpc.port(); }

    @Override public void close() {
        // Engine first: new requests get 503 while admitted ones finish and their answers go out.
        engine.shutdown(Duration.ofSeconds(30));
        if (grpc != null) grpc.close();
        rest.close();
        if (residency != null) {
            try {
                residency.close();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
