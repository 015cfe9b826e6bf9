package dev.sluice.runtime.serve;

import io.helidon.common.buffers.BufferData;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.spi.ServerConnection;
import io.helidon.webserver.spi.ServerConnectionSelector;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;

/**
 * Tells the REST front end when an HTTP client has gone away while its request waits. Helidon's handler API does
 * not expose the connection, so this selector stands in front of Helidon's own HTTP/1 selector: it hands every
 * connection to it unchanged and remembers the connection's context under its id until the connection ends.
 *
 * <p>{@link #watch} starts one read of the connection on a virtual thread, through the connection's own
 * {@code DataReader}: bytes that arrive (a pipelined next request) stay buffered there for the connection, and
 * end of stream marks the client {@linkplain Watched#gone() gone}. Invariant: only one thread reads a connection at
 * a time. The handler thread does not read while it waits for the engine, and before it returns it
 * {@linkplain Watched#settle() settles} the watch, waiting for that read to end (the client's next request or its
 * leaving), so the connection's next read never runs beside the watch's. An idle keep-alive connection thus
 * parks one virtual thread more, in the read it would have made anyway.
 */
final class ClientWatch implements ServerConnectionSelector {
    private final ServerConnectionSelector http1;
    private final Map<String, ConnectionContext> connections = new ConcurrentHashMap<>();

    ClientWatch(ServerConnectionSelector http1) { this.http1 = http1; }

    @Override public int bytesToIdentifyConnection() { return http1.bytesToIdentifyConnection(); }

    @Override public Support supports(BufferData data) { return http1.supports(data); }

    @Override public Set<String> supportedApplicationProtocols() { return http1.supportedApplicationProtocols(); }

    @Override public ServerConnection connection(ConnectionContext ctx) {
        ServerConnection c = http1.connection(ctx);
        String id = ctx.childSocketId();
        connections.put(id, ctx);
        return new ServerConnection() {
            @Override public void handle(Semaphore requestSemaphore) throws InterruptedException {
                try {
                    c.handle(requestSemaphore);
                } finally {
                    connections.remove(id);
                }
            }

            @Override public void handle(io.helidon.common.concurrency.limits.Limit limit) throws InterruptedException {
                try {
                    c.handle(limit);
                } finally {
                    connections.remove(id);
                }
            }

            @Override public Duration idleTime() { return c.idleTime(); }

            @Override public void close(boolean interrupt) { c.close(interrupt); }
        };
    }

    /** A watched connection: {@link #gone()} turns true once its client has closed it. */
    interface Watched {
        boolean gone();

        /** Waits until the watch no longer reads the connection (call once, from the handler, before it returns). */
        void settle();
    }

    static final Watched UNWATCHED = new Watched() {
        @Override public boolean gone() { return false; }

        @Override public void settle() {}
    };

    /** Starts watching the connection {@code socketId} (a request's {@code socketId()}); never gone if it is unknown. */
    Watched watch(String socketId) {
        ConnectionContext ctx = connections.get(socketId);
        if (ctx == null) return UNWATCHED;
        CountDownLatch done = new CountDownLatch(1);
        boolean[] gone = new boolean[1];
        Thread.ofVirtual().name("sluice-client-watch-" + socketId).start(() -> {
            try {
                ctx.dataReader().pullData(); // returns with the client's next bytes buffered, or throws at end of stream
            } catch (RuntimeException e) {
                synchronized (gone) { gone[0] = true; }
            } finally {
                done.countDown();
            }
        });
        return new Watched() {
            @Override public boolean gone() {
                synchronized (gone) { return gone[0]; }
            }

            @Override public void settle() {
                try {
                    done.await();
                } catch (InterruptedException e) {
                    // The server is stopping: close the connection, which ends the watch's read, and let the connection
                    // find it closed (as an idle connection would) rather than fail its request on the interrupt.
                    ctx.serverSocket().close();
                    try {
                        done.await(5, java.util.concurrent.TimeUnit.SECONDS);
                    } catch (InterruptedException again) {
                        Thread.currentThread().interrupt();
                    }
                }
            }
        };
    }

    /** Connections open now (for tests). */
    int open() { return connections.size(); }
}
