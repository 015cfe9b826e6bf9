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
 * <p>A started {@link #watch} makes one read of the connection on a virtual thread, through the connection's own
 * {@code DataReader}: bytes that arrive (a pipelined next request) stay buffered there for the connection, and
 * end of stream marks the client {@linkplain Watched#gone() gone}. Invariant: only one thread reads a connection at
 * a time. The watch starts only after the handler has read the request's body whole, the handler thread does not
 * read while it waits for the engine, and before it returns it
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
        /**
         * Starts the watch's read. Call it only once the request's body has been read whole: until then the handler
         * reads the connection itself.
         */
        void start();

        /** True once the client closed its connection (never before {@link #start()}). */
        boolean gone();

        /** Waits until the watch no longer reads the connection (call once, from the handler, before it returns). */
        void settle();
    }

    static final Watched UNWATCHED = new Watched() {
        @Override public void start() {}

        @Override public boolean gone() { return false; }

        @Override public void settle() {}
    };

    /** A watch of the connection {@code socketId} (a request's {@code socketId()}), not yet started; never gone if it is unknown. */
    Watched watch(String socketId) {
        ConnectionContext ctx = connections.get(socketId);
        return ctx == null ? UNWATCHED : new Read(ctx, socketId);
    }

    /** One read of a connection on a virtual thread, started once the handler is done reading. */
    private static final class Read implements Watched {
        private final ConnectionContext ctx;
        private final String socketId;
        private final CountDownLatch done = new CountDownLatch(1);
        private volatile boolean started;
        private volatile boolean gone;

        Read(ConnectionContext ctx, String socketId) {
            this.ctx = ctx;
            this.socketId = socketId;
        }

        @Override public void start() {
            if (started) return;
            started = true;
            Thread.ofVirtual().name("sluice-client-watch-" + socketId).start(() -> {
                try {
                    ctx.dataReader().pullData(); // returns with the client's next bytes buffered, or throws at end of stream
                } catch (RuntimeException e) {
                    gone = true;
                } finally {
                    done.countDown();
                }
            });
        }

        @Override public boolean gone() { return gone; }

        @Override public void settle() {
            if (!started) return;
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
    }

    /** Connections open now (for tests). */
    int open() { return connections.size(); }
}
