package dev.sluice.graph;

import dev.sluice.kernels.SluiceException;

/** Types or shapes that do not fit an operator; the message names the node and op. */
public class ShapeException extends SluiceException {
    public ShapeException(String message) { super(message); }
    public ShapeException(String message, Throwable cause) { super(message, cause); }
}
