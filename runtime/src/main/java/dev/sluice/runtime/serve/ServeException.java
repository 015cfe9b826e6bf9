package dev.sluice.runtime.serve;

import dev.sluice.kernels.SluiceException;

/**
 * A request the server refuses or could not serve, with the protocol status it maps to on each front end.
 * The message names what is wrong and where (the input, the field, the model).
 */
public final class ServeException extends SluiceException {
    /** The closed family of failures, each with its HTTP status and gRPC status code name. */
    public enum Kind {
        BAD_REQUEST(400, "INVALID_ARGUMENT"),
        NOT_FOUND(404, "NOT_FOUND"),
        TOO_LARGE(413, "RESOURCE_EXHAUSTED"),
        OVERLOADED(429, "RESOURCE_EXHAUSTED"),
        UNAVAILABLE(503, "UNAVAILABLE"),
        CANCELLED(499, "CANCELLED"),
        INTERNAL(500, "INTERNAL");

        public final int http;
        public final String grpc;

        Kind(int http, String grpc) {
            this.http = http;
            this.grpc = grpc;
        }
    }

    private final Kind kind;

    public ServeException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public ServeException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() { return kind; }

    public static ServeException badRequest(String m) { return new ServeException(Kind.BAD_REQUEST, m); }

    public static ServeException notFound(String m) { return new ServeException(Kind.NOT_FOUND, m); }

    public static ServeException tooLarge(String m) { return new ServeException(Kind.TOO_LARGE, m); }
}
