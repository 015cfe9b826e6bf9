package dev.sluice.kernels;

import java.lang.foreign.MemorySegment;

/**
 * Continuing a product from partial sums over an earlier part of its reduction (K) axis: the contract between a
 * tiling that cuts K and the kernels that sum over it. A node carrying the attribute {@value #ATTRIBUTE} = i reads
 * input i as the partial output of the same product over the K blocks before its own, and its kernel continues
 * every output element's sum from that value instead of from zero, in the order the whole product would have
 * used (Gemm32: one more K run added to C; DirectConv and PointwiseConv: the FMA chain over input channels
 * continued). So K tiles chained this way give the whole product's bits. A tile that continues from partial sums
 * never adds a bias or applies an activation except where the whole product does (the tiling drops them from the
 * tiles before the last, or, for Gemm's C added first, from the tiles after the first).
 */
public final class PartialSums {
    private PartialSums() {}

    /**
     * Gemm32's K run (its KC): every element of a GEMM is summed in runs of this many products from zero, each run
     * added to C in order, so a GEMM cut along K continues bit for bit only at multiples of it.
     */
    public static final int GEMM_K_RUN = 256;

    /** Gemm32's K run on its matrix-vector path (one row or one column of C): a multiple of {@link #GEMM_K_RUN}. */
    public static final int GEMV_K_RUN = 4 * GEMM_K_RUN;

    /** The attribute naming the input that holds the partial sums. */
    public static final String ATTRIBUTE = "sluice_accumulate";

    /**
     * The attribute that asks a float16 product (MatMul, Gemm) for its float32 values, not rounded: the kernels compute
     * float16 by widening its operands to float32 and summing on the float32 path, then round each element once; with
     * this attribute set they skip that rounding and output float32. A float16 product cut along K keeps its partial
     * sums in this float32 form from tile to tile, and a Cast to float16 after the last rounds once, as the whole
     * product does (both round with {@link Float#floatToFloat16}).
     */
    public static final String FLOAT32_OUTPUT = "sluice_float32_out";

    /** Whether the node asks for its float32 values ({@link #FLOAT32_OUTPUT}). */
    public static boolean float32Output(dev.sluice.kernels.Attributes a) { return a.getInt(FLOAT32_OUTPUT, 0) != 0; }

    /** The index of the partial-sums input, or -1 for a node that starts from zero. */
    public static int input(ExecContext ctx) {
        int i = (int) ctx.attributes().getInt(ATTRIBUTE, -1);
        if (i >= 0 && (i >= ctx.inputCount() || !ctx.hasInput(i))) {
            throw new KernelException(ctx.opType() + " " + ctx.nodeName() + ": partial sums input " + i + " is missing");
        }
        return i;
    }

    /**
     * Copies the partial sums (input {@link #input}) into y, the float32 output the kernel then accumulates into;
     * false, copying nothing, for a node that starts from zero.
     */
    public static boolean load(ExecContext ctx, Tensor y) {
        int i = input(ctx);
        if (i < 0) return false;
        Tensor p = ctx.input(i);
        if (p.dtype() != DType.FLOAT32 || y.dtype() != DType.FLOAT32 || p.elementCount() != y.elementCount()) {
            throw new KernelException(ctx.opType() + " " + ctx.nodeName() + ": partial sums " + p.type() + " do not fit the output " + y.type());
        }
        MemorySegment from = p.data(), to = y.data();
        if (from.address() != to.address() || !from.isNative()) MemorySegment.copy(from, 0, to, 0, y.byteSize());
        return true;
    }
}
