package dev.sluice.offload.cuda;

import dev.sluice.kernels.SluiceException;

/** A CUDA driver call failed; the message names the call and the CUDA error code. */
public class CudaException extends SluiceException {
    public CudaException(String message) { super(message); }
}
