package dev.sluice.runtime;

import dev.sluice.kernels.SluiceException;

/** Inputs that do not match the model: unknown or missing name, wrong dtype or shape. */
public class InputException extends SluiceException {
    public InputException(String message) { super(message); }
}
