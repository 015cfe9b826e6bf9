package dev.sluice.kernels;

/** Root of Sluice's errors: each message names what went wrong and where (file, node, op or input). */
public class SluiceException extends RuntimeException {
    public SluiceException(String message) { super(message); }
    public SluiceException(String message, Throwable cause) { super(message, cause); }
}
