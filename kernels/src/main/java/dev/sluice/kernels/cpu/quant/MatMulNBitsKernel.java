package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * com.microsoft MatMulNBits: {@code Y = A x W^T + bias} for float32 A [..., K] and a weight W [N, K] stored in
 * blocks of {@code block_size} values along K, 4 bits per value ({@code bits} = 4; other widths are refused).
 *
 * <p>Layout (the ONNX Runtime contrib spec): B is uint8 [N, k_blocks, block_size * bits / 8], k_blocks =
 * ceil(K / block_size) (the last block padded past K), values packed from the low bits of each byte up; scales
 * float32 [N * k_blocks]; zero_points either uint8 packed the same way, [N * ceil(k_blocks * bits / 8)] (each
 * column's row starting on a byte), or float32 [N * k_blocks]; absent, the zero point is 2^(bits-1). Weight
 * {@code W[n][k] = (q - zp) * scale} in float32. g_idx (act-order groups) is not supported and says so.
 * accuracy_level is ignored: the product is float32 throughout.
 *
 * <p>Each thread dequantizes one weight column (K floats) at a time and dots every row of A with it, so the 4-bit
 * weight is never expanded as a whole.
 */
final class MatMulNBitsKernel implements OpKernel {
    private static final VectorSpecies<Float> FS = Gemm32.SPECIES;

    @Override
    public List<TensorType> infer(InferContext ctx) {
        SymShape a = ctx.inputType(0).shape();
        if (!a.hasRank()) return List.of(TensorType.of(DType.FLOAT32, SymShape.UNKNOWN_RANK));
        List<Dim> out = new ArrayList<>(a.dims());
        out.set(out.size() - 1, Dim.of(ctx.attributes().getInt("N")));
        return List.of(TensorType.of(ctx.inputType(0).dtype(), new SymShape(out)));
    }

    @Override
    public void execute(ExecContext ctx) {
        String where = ctx.opType() + " '" + ctx.nodeName() + "'";
        if (ctx.inputCount() < 3) throw new KernelException(where + " needs at least 3 inputs, got " + ctx.inputCount());
        var at = ctx.attributes();
        for (String name : new String[] {"K", "N", "block_size"}) {
            if (!at.has(name)) throw new KernelException(where + " needs the attribute " + name);
        }
        long kl = at.getInt("K"), nl = at.getInt("N"), bsl = at.getInt("block_size"), bits = at.getInt("bits", 4);
        if (bits != 4) throw new KernelException(where + ": bits=" + bits + " is not supported (only 4)");
        if (bsl < 16 || Long.bitCount(bsl) != 1) throw new KernelException(where + ": block_size must be a power of 2 and at least 16, got " + bsl);
        if (kl < 1 || nl < 1) throw new KernelException(where + ": K and N must be positive, got " + kl + ", " + nl);
        Tensor a = ctx.input(0), b = ctx.input(1), scales = ctx.input(2);
        Tensor zps = ctx.inputCount() > 3 && ctx.hasInput(3) ? ctx.input(3) : null;
        if (ctx.inputCount() > 4 && ctx.hasInput(4)) throw new KernelException(where + ": g_idx (act-order groups) is not supported");
        Tensor bias = ctx.inputCount() > 5 && ctx.hasInput(5) ? ctx.input(5) : null;
        int k = Math.toIntExact(kl), n = Math.toIntExact(nl), bs = (int) bsl, blocks = (k + bs - 1) / bs;
        int blob = bs * (int) bits / 8;
        if (a.dtype() != DType.FLOAT32) throw new KernelException(where + ": A must be float32, got " + a.dtype());
        if (a.rank() < 1 || a.shape().dim(a.rank() - 1) != k) throw new KernelException(where + ": A " + a.shape() + " must end in K = " + k);
        if (b.dtype() != DType.UINT8 || b.elementCount() != (long) n * blocks * blob) {
            throw new KernelException(where + ": B must be uint8 [" + n + ", " + blocks + ", " + blob + "], got " + b.type());
        }
        if (scales.dtype() != DType.FLOAT32 || scales.elementCount() != (long) n * blocks) {
            throw new KernelException(where + ": scales must be float32 of " + n * blocks + " (N x k_blocks), got " + scales.type());
        }
        int zpRow = (blocks * (int) bits + 7) / 8;
        if (zps != null) {
            boolean packed = zps.dtype() == DType.UINT8 && zps.elementCount() == (long) n * zpRow;
            boolean real = zps.dtype() == DType.FLOAT32 && zps.elementCount() == (long) n * blocks;
            if (!packed && !real) {
                throw new KernelException(where + ": zero_points must be uint8 of " + n * zpRow + " (packed) or float32 of " + n * blocks + ", got " + zps.type());
            }
        }
        if (bias != null && (bias.dtype() != DType.FLOAT32 || bias.elementCount() != n)) {
            throw new KernelException(where + ": bias must be float32 of " + n + ", got " + bias.type());
        }
        long[] od = a.shape().dims();
        od[od.length - 1] = n;
        Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(od));
        int rows = Math.toIntExact(a.elementCount() / k);
        if (rows == 0) return;
        MemorySegment ad = a.data(), bd = b.data(), yd = y.data();
        float[] bv = bias == null ? null : bias.toFloatArray();
        // A on the heap once: every column's dot product reads all of it
        float[] av = new float[Math.multiplyExact(rows, k)];
        MemorySegment.copy(ad, ValueLayout.JAVA_FLOAT, 0, av, 0, av.length);
        Parallelism par = ctx.parallelism();
        int chunks = (long) rows * n * k >= (1L << 18) ? Math.min(par.threads(), n) : 1, per = (n + chunks - 1) / chunks;
        int ib = (int) bits, mask = (1 << ib) - 1, perByte = 8 / ib;
        par.forEach(chunks, t -> {
            float[] w = new float[k];
            for (int j = t * per, end = Math.min(n, j + per); j < end; j++) {
                // dequantize column j
                for (int blk = 0; blk < blocks; blk++) {
                    float scale = scales.getFloat((long) j * blocks + blk);
                    float zp;
                    if (zps == null) zp = 1 << (ib - 1);
                    else if (zps.dtype() == DType.FLOAT32) zp = zps.getFloat((long) j * blocks + blk);
                    else {
                        int byteVal = zps.data().get(ValueLayout.JAVA_BYTE, (long) j * zpRow + blk / perByte) & 0xFF;
                        zp = (byteVal >> (blk % perByte * ib)) & mask;
                    }
                    long base = ((long) j * blocks + blk) * blob;
                    for (int q = blk * bs, qEnd = Math.min(k, q + bs), i = 0; q < qEnd; q++, i++) {
                        int byteVal = bd.get(ValueLayout.JAVA_BYTE, base + i / perByte) & 0xFF;
                        int v = (byteVal >> (i % perByte * ib)) & mask;
                        w[q] = ((float) v - zp) * scale;
                    }
                }
                for (int r = 0; r < rows; r++) {
                    float s = dot(av, r * k, w, k);
                    yd.setAtIndex(ValueLayout.JAVA_FLOAT, (long) r * n + j, bv == null ? s : s + bv[j]);
                }
            }
        });
    }

    private static float dot(float[] a, int ao, float[] w, int k) {
        int l = FS.length(), q = 0;
        FloatVector acc = FloatVector.zero(FS);
        for (; q <= k - l; q += l) acc = FloatVector.fromArray(FS, a, ao + q).fma(FloatVector.fromArray(FS, w, q), acc);
        // lanes added in a fixed order: a float reduceLanes(ADD) sums in an order that changes with compilation
        float s = 0;
        for (int j = 0; j < l; j++) s += acc.lane(j);
        for (; q < k; q++) s += a[ao + q] * w[q];
        return s;
    }
}
