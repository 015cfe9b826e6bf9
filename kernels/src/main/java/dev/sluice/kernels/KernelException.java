package dev.sluice.kernels;

/** An operator rejected its inputs or attributes (wrong shape, bad attribute, unsupported mode). */
public class KernelException extends SluiceException {
    public KernelException(String message) { super(message); }
    public KernelException(String message, Throwable cause) { super(message, cause); }
}
