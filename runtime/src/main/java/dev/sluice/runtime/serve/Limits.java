package dev.sluice.runtime.serve;

/**
 * Size bounds on what a client may send; a request over one is refused with 413 before it is parsed further.
 *
 * @param maxBodyBytes   a request body (JSON plus binary tensor data)
 * @param maxHeaderBytes all request headers together
 * @param maxTensorBytes one tensor's elements in raw form
 */
public record Limits(long maxBodyBytes, int maxHeaderBytes, long maxTensorBytes) {
    public Limits {
        if (maxBodyBytes <= 0 || maxHeaderBytes <= 0 || maxTensorBytes <= 0) {
            throw new IllegalArgumentException("limits must be positive: " + maxBodyBytes + ", " + maxHeaderBytes + ", " + maxTensorBytes);
        }
    }

    /** 64 MiB bodies, 16 KiB of headers, 32 MiB tensors. */
    public static Limits defaults() { return new Limits(64L << 20, 16 << 10, 32L << 20); }
}
