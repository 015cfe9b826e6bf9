package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The exact integer product of the quantized matmuls (MatMulInteger, QLinearMatMul and the fused dynamic
 * chain): {@code acc[i][j] = Σ_q (a[i][q] - a_zp) (b[q][j] - b_zp[j])} over 8-bit operands (u8 or s8 each)
 * into int32, computed on the float FMA units.
 *
 * <p>Why floats give the integer bits: the weight is kept as signed bytes v ({@link Int8Panels}, b - zp = v - zp'),
 * A as floats a = a8 - a_zp (|a| <= 255), and the micro-kernel sums a * v in float over blocks of at most
 * {@link #BLOCK} = 512 steps of the depth: every partial sum is an integer of magnitude at most 512 * 255 * 128 =
 * 16,711,680 < 2^24, where every integer is a float, so nothing is rounded whatever the operands and whatever
 * order the FMAs run in. Each
 * block's tile is converted to int32 and added up there, and {@code zp' * Σ a} is subtracted in int32: int32
 * arithmetic throughout, which wraps as ONNX's int32 output does.
 *
 * <p>Why not integer vectors (measured, one thread, CPU time, an L1-resident 4-row tile; see
 * {@code bench/RESULTS.md}): the Java Vector API has no integer dot product (VNNI's vpdpbusd, AVX2's
 * vpmaddubsw), and a short-widening kernel (u8 x u8 in 16-bit lanes, then the pair sums split into two int32
 * accumulators: multiply, add, shift, add per 32 products) runs at the speed of this float kernel, with twice
 * the weight bytes or extra widening; C2 does not auto-vectorize a short dot-product reduction (MulAddS2I) at
 * all. The float FMA units are the fastest exact path the JVM reaches, on every vector shape it picks at run
 * time. Weights stay int8, a quarter of a float packing, and widen in the micro-kernel (faster than Gemm32 on
 * float weights). The hot loops are monomorphic static methods, reached from no call site that other kernels share.
 */
final class QuantGemm {
    private QuantGemm() {}

    /**
     * Depth of one exact float block: 512 * 255 * 128 < 2^24, the largest power of two that keeps it so (a 32 KiB
     * weight block, which stays in L1; 256 measured 3-5% slower: twice the tile stores and int32 conversions).
     */
    static final int BLOCK = 512;
    private static final VectorSpecies<Float> FS = Gemm32.SPECIES;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer, ties to even. */
    private static final float ROUNDER = 12582912f;

    static {
        if ((long) BLOCK * 255 * 128 >= (1L << 24)) throw new AssertionError("BLOCK must keep a block's float sums exact");
    }

    /** A B (k x n) as 8-bit panels, with the zero-point tensor it was packed with (null, one, or one per column). */
    static final class PackedWeight {
        final int k, n;
        final Int8Panels panels;
        /** The zero-point tensor it was packed with (a weight reused with other zero points is packed again). */
        final Tensor zeroPoint;

        private PackedWeight(Tensor b, long off, int k, int n, Tensor zp) {
            checkEightBit("B", b.dtype());
            if (zp != null && zp.elementCount() != 1 && zp.elementCount() != n) {
                throw new KernelException("b_zero_point of shape " + zp.shape() + " for " + n + " columns");
            }
            this.k = k;
            this.n = n;
            this.zeroPoint = zp;
            float[] zps = new float[n];
            for (int j = 0; j < n; j++) zps[j] = zp == null ? 0 : zp.getLong(zp.elementCount() == 1 ? 0 : j);
            this.panels = new Int8Panels(b.data(), off, b.dtype(), k, n, zps);
        }
    }

    /** Packed weights per constant B tensor, dropped with the tensor (identity keys). */
    private static final Map<Tensor, PackedWeight> CACHE = Collections.synchronizedMap(new WeakHashMap<>());

    /** The packed form of the constant 2-D B with zero points {@code zp} (null, one, or one per column), cached. */
    static PackedWeight packed(Tensor b, Tensor zp) {
        PackedWeight p = CACHE.get(b);
        if (p != null && p.zeroPoint == zp) return p;
        // one packer per weight at a time: a second thread must not read bytes the first has just released
        synchronized (b) {
            p = CACHE.get(b);
            if (p != null && p.zeroPoint == zp) return p;
            // packed again (other zero points): the bytes must be there, written back if a packed copy replaced them
            dev.sluice.kernels.WeightRelease.restore(b);
            p = new PackedWeight(b, 0, (int) b.shape().dim(0), (int) b.shape().dim(1), zp);
            CACHE.put(b, p);
            Int8Panels panels = p.panels;
            boolean unsigned = b.dtype() == DType.UINT8;
            dev.sluice.kernels.WeightRelease.packed(b, dst -> panels.unpack(dst, unsigned));
            return p;
        }
    }

    /** B (k x n at element {@code off} of b) packed now (a B that is not constant). */
    static PackedWeight pack(Tensor b, long off, int k, int n, Tensor zp) {
        return new PackedWeight(b, off, k, n, zp);
    }

    static void checkEightBit(String what, DType t) {
        if (t != DType.UINT8 && t != DType.INT8) throw new KernelException(what + " must be uint8 or int8, got " + t);
    }

    /** Per-thread scratch: the operand A, and one register tile as floats (a block's sums) and as int32 (the total). */
    private static final class Scratch {
        float[] a = new float[0], tile = new float[Int8Panels.MR * Int8Panels.NR];
        int[] itile = new int[Int8Panels.MR * Int8Panels.NR];
        /** The tile's row offsets into A (a row past the operand's end: the zero row). */
        int[] rowOffsets = new int[Int8Panels.MR];

        float[] a(int size) { return a.length >= size ? a : (a = new float[size]); }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * This thread's buffer for an A of {@code rows} rows of k floats followed by one zero row (the micro-kernel's
     * stand-in for the rows a last row tile lacks), the zero row written.
     */
    static float[] operandWithZeroRow(int rows, int k) {
        if ((long) (rows + 1) * k > Integer.MAX_VALUE - 16) {
            throw new KernelException("quantized matmul operand of " + rows + " rows x " + k + " is too large for one product (at most 2^31 elements)");
        }
        float[] a = SCRATCH.get().a((rows + 1) * k);
        java.util.Arrays.fill(a, rows * k, (rows + 1) * k, 0f);
        return a;
    }

    /** The number of row tiles ({@link Int8Panels#MR} rows each) that cover {@code rows} rows. */
    static int tiles(int rows) { return (rows + Int8Panels.MR - 1) / Int8Panels.MR; }

    /** out[i] = the sum of row i of A (rows of k exact-integer floats, |a| <= 255), exactly: block by block into int32. */
    static void rowSums(float[] a, int rows, int k, int[] out) {
        int l = FS.length();
        for (int i = 0; i < rows; i++) {
            int o = i * k, sum = 0;
            for (int q0 = 0; q0 < k; q0 += BLOCK) {
                int q1 = Math.min(k, q0 + BLOCK), q = q0;
                FloatVector v = FloatVector.zero(FS);
                for (; q <= q1 - l; q += l) v = v.add(FloatVector.fromArray(FS, a, o + q));
                // lanes added in a fixed order (the sums are exact integers anyway; this keeps the JIT guard simple)
                float s = 0;
                for (int j = 0; j < l; j++) s += v.lane(j);
                for (; q < q1; q++) s += a[o + q];
                sum += (int) s;
            }
            out[i] = sum;
        }
    }

    /**
     * The block of the product made of row tiles [t0, t1) and weight panels [p0, p1):
     * {@code acc = (A x V) - zp' x rowsum(A)}, exactly in int32; then either y = float(acc) * s (the Cast and the
     * scale; {@code acc} null, y's row i at {@code (yRow0 + i) * n}), or the integers themselves into {@code acc}
     * (row i at {@code accOff + i * n}). A is m rows of k floats, row-major from 0, with a zero row after them (at
     * m * k); {@code rowSum} holds each row's exact sum ({@link #rowSums}). Blocks of distinct tiles or panels
     * write disjoint parts of the output, so threads may run them at once.
     */
    static void multiply(float[] a, int[] rowSum, int m, Int8Panels w, int t0, int t1, int p0, int p1,
                         float[] s, MemorySegment y, long yRow0, int[] acc, int accOff) {
        int k = w.k, n = w.n, nr = Int8Panels.NR, mr = Int8Panels.MR, zero = m * k;
        Scratch sc = SCRATCH.get();
        float[] tile = sc.tile;
        int[] itile = sc.itile, o = sc.rowOffsets;
        for (int p = p0; p < p1; p++) {
            int j0 = p * nr, cols = Math.min(nr, n - j0);
            for (int t = t0; t < t1; t++) {
                int i0 = t * mr, rows = Math.min(mr, m - i0);
                for (int r = 0; r < mr; r++) o[r] = r < rows ? (i0 + r) * k : zero;
                // k = 0 runs one empty block: a zero tile
                for (int q0 = 0; q0 == 0 || q0 < k; q0 += BLOCK) {
                    w.tile(a, o, p, q0, Math.min(k, q0 + BLOCK), tile);
                    addToInt(tile, itile, q0 == 0);
                }
                for (int r = 0; r < rows; r++) {
                    int i = i0 + r;
                    if (acc == null) finishRow(itile, r * nr, w.zeroPoints, s, j0, cols, rowSum[i], y, (yRow0 + i) * n + j0);
                    else finishRow(itile, r * nr, w.zeroPoints, j0, cols, rowSum[i], acc, accOff + i * n + j0);
                }
            }
        }
    }

    /** itile = (or +=) the exact integers of one block's float tile. */
    private static void addToInt(float[] tile, int[] itile, boolean first) {
        for (int c = 0, l = FS.length(); c < tile.length; c += l) {
            IntVector v = (IntVector) FloatVector.fromArray(FS, tile, c).convert(VectorOperators.F2I, 0);
            if (!first) v = v.add(IntVector.fromArray(IS, itile, c));
            v.intoArray(itile, c);
        }
    }

    /** y[c] = float(itile[c] - zp'[j0 + c] * rowSum) * s[j0 + c] for c in [0, cols). */
    private static void finishRow(int[] itile, int to, int[] zp, float[] s, int j0, int cols, int rowSum, MemorySegment y, long yo) {
        int l = FS.length(), c = 0;
        IntVector rs = IntVector.broadcast(IS, rowSum);
        for (; c <= cols - l; c += l) {
            IntVector v = IntVector.fromArray(IS, itile, to + c).sub(IntVector.fromArray(IS, zp, j0 + c).mul(rs));
            FloatVector f = (FloatVector) v.convert(VectorOperators.I2F, 0);
            f.mul(FloatVector.fromArray(FS, s, j0 + c)).intoMemorySegment(y, (yo + c) * 4, ORDER);
        }
        for (; c < cols; c++) y.setAtIndex(F, yo + c, (float) (itile[to + c] - zp[j0 + c] * rowSum) * s[j0 + c]);
    }

    /** acc[ao + c] = itile[c] - zp'[j0 + c] * rowSum for c in [0, cols). */
    private static void finishRow(int[] itile, int to, int[] zp, int j0, int cols, int rowSum, int[] acc, int ao) {
        int l = IS.length(), c = 0;
        IntVector rs = IntVector.broadcast(IS, rowSum);
        for (; c <= cols - l; c += l) {
            IntVector.fromArray(IS, itile, to + c).sub(IntVector.fromArray(IS, zp, j0 + c).mul(rs)).intoArray(acc, ao + c);
        }
        for (; c < cols; c++) acc[ao + c] = itile[to + c] - zp[j0 + c] * rowSum;
    }

    /** Row {@code i}'s A operand from an 8-bit tensor: a - a_zp, as floats. */
    static void operandRow(MemorySegment a, long off, boolean unsigned, int k, float zp, float[] out, int outOff) {
        for (int q = 0; q < k; q++) {
            byte v = a.get(ValueLayout.JAVA_BYTE, off + q);
            out[outOff + q] = (unsigned ? v & 0xFF : v) - zp;
        }
    }

    // ---- DynamicQuantizeLinear, fused ---------------------------------------------------------------------

    /**
     * The range of x with 0 in it: {min, max}; or null when x holds a NaN or an infinity.
     *
     * <p>Why compares and blends rather than the vectors' MIN and MAX: those follow Math.min's rules for NaN and
     * -0.0, a sequence of several instructions per lane-wise min on x86, and the loop ran at a third of this
     * speed (measured, 24,576 floats). NaN and infinities are caught apart (v - v is NaN exactly for them), so
     * the comparisons only ever see finite values, where a strict compare picks the same value as Math.min
     * except between -0.0 and 0.0, which give the same scale and zero point. Two accumulators each, to halve the
     * loop-carried chains.
     */
    static float[] range(MemorySegment x, long n) {
        int l = FS.length();
        FloatVector lo0 = FloatVector.zero(FS), hi0 = lo0, lo1 = lo0, hi1 = lo0, bad0 = lo0, bad1 = lo0;
        long i = 0;
        for (; i <= n - 2 * l; i += 2 * l) {
            FloatVector v = FloatVector.fromMemorySegment(FS, x, i * 4, ORDER), w = FloatVector.fromMemorySegment(FS, x, (i + l) * 4, ORDER);
            lo0 = lo0.blend(v, v.compare(VectorOperators.LT, lo0));
            hi0 = hi0.blend(v, v.compare(VectorOperators.GT, hi0));
            lo1 = lo1.blend(w, w.compare(VectorOperators.LT, lo1));
            hi1 = hi1.blend(w, w.compare(VectorOperators.GT, hi1));
            bad0 = bad0.add(v.sub(v)); // NaN once any element is NaN or infinite
            bad1 = bad1.add(w.sub(w));
        }
        float min = 0, max = 0;
        for (int j = 0; j < l; j++) {
            min = Math.min(min, Math.min(lo0.lane(j), lo1.lane(j)));
            max = Math.max(max, Math.max(hi0.lane(j), hi1.lane(j)));
        }
        boolean bad = bad0.add(bad1).test(VectorOperators.IS_NAN).anyTrue();
        for (; i < n; i++) {
            float v = x.getAtIndex(F, i);
            if (v < min) min = v;
            if (v > max) max = v;
            bad |= Float.isNaN(v - v);
        }
        return bad ? null : new float[] {min, max};
    }

    /** DynamicQuantizeLinear's scale for a range that contains 0 (1 for an empty range, as ONNX Runtime reports). */
    static float scale(float min, float max) { return max == min ? 1f : (max - min) / 255f; }

    /**
     * Whether {@link #quantizeRow}'s rounding trick holds for x in [min, max] at this scale: |x / scale| stays far
     * below 2^22 (it is at most 255 unless the scale underflowed for a range of subnormals).
     */
    static boolean roundsExactly(float min, float max, float scale) {
        return scale > 0 && Math.max(max, -min) / scale < 1e6f;
    }

    /** DynamicQuantizeLinear's zero point: round(-min / scale), saturated to [0, 255]. */
    static float zeroPoint(float min, float scale) {
        return QuantizeKernels.saturate(Math.rint((0f - min) / scale), 0, DType.UINT8);
    }

    /**
     * The operand of a dynamically quantized row: {@code clamp(rint(x / scale) + zp, 0, 255) - zp}, the uint8
     * DynamicQuantizeLinear gives minus its zero point, exactly (x finite, |x / scale| below 2^22).
     */
    static void quantizeRow(MemorySegment x, long off, int len, float scale, float zp, float[] out, int outOff) {
        int l = FS.length(), q = 0;
        float hiQ = 255f - zp, loQ = -zp;
        FloatVector hiQv = FloatVector.broadcast(FS, hiQ), loQv = FloatVector.broadcast(FS, loQ);
        for (; q <= len - l; q += l) {
            FloatVector v = FloatVector.fromMemorySegment(FS, x, (off + q) * 4, ORDER).div(scale);
            v = v.add(ROUNDER).sub(ROUNDER);
            // clamped by compares and blends (v is finite here): the vectors' MAX and MIN follow Math.max's NaN and
            // -0.0 rules, several instructions each; the two differ only in the sign of a zero, which no sum sees
            v = v.blend(loQv, v.compare(VectorOperators.LT, loQv));
            v = v.blend(hiQv, v.compare(VectorOperators.GT, hiQv));
            v.intoArray(out, outOff + q);
        }
        for (; q < len; q++) {
            float r = (float) Math.rint(x.getAtIndex(F, off + q) / scale);
            out[outOff + q] = Math.min(Math.max(r, loQ), hiQ);
        }
    }

    /** The same for an x with NaN or infinities: DynamicQuantizeLinear's scalar rule (NaN quantizes to 0). */
    static void quantizeRowScalar(MemorySegment x, long off, int len, float scale, float zp, float[] out, int outOff) {
        for (int q = 0; q < len; q++) {
            long v = QuantizeKernels.saturate(Math.rint(x.getAtIndex(F, off + q) / scale), (long) zp, DType.UINT8);
            out[outOff + q] = v - zp;
        }
    }
}
