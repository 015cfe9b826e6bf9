package dev.sluice.kernels;

/** A tensor element type Sluice cannot hold or an op cannot compute on. */
public class UnsupportedDTypeException extends SluiceException {
    public UnsupportedDTypeException(String message) { super(message); }
}
