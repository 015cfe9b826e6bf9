package dev.sluice.kernels;

import java.util.List;

/**
 * One ONNX operator: its type inference and its CPU implementation. Implementations are stateless and
 * thread-safe; everything a call needs comes through the context.
 *
 * <p>{@link #infer} must work on symbolic shapes (returning {@link Dim#UNKNOWN} where it cannot tell) and
 * agree with {@link #execute} on static ones. {@link #execute} obtains each output through
 * {@link ExecContext#output}, which may hand out planned memory, so a kernel never keeps an output it did not
 * get from there.
 */
public interface OpKernel {
    /** Output types from input types, attributes and whatever inputs are constants. */
    List<TensorType> infer(InferContext ctx);

    /** Computes the outputs. */
    void execute(ExecContext ctx);

    /**
     * True if output 0 may share memory with input 0 when that input dies here: the kernel reads each input
     * element only before writing the output element of the same index (same-shape elementwise ops).
     */
    default boolean inPlaceSafe() { return false; }

    /**
     * True if, when input {@code i} is a constant weight, {@link #execute} reads its bytes only to pack them, once,
     * into a copy it keeps for the weight's life, whatever the other inputs' shapes, and reports that copy to
     * {@link WeightRelease#packed}: a session may then let the original be released ({@link WeightRelease}).
     */
    default boolean readsOnlyPacked(int i) { return false; }
}
