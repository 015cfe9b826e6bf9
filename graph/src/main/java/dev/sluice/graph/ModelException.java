package dev.sluice.graph;

import dev.sluice.kernels.SluiceException;

/** A model that cannot be read or is inconsistent; the message names the file and the part at fault. */
public class ModelException extends SluiceException {
    public ModelException(String message) { super(message); }
    public ModelException(String message, Throwable cause) { super(message, cause); }
}
