package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Parallelism;
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
 * <p>Why floats give the integer bits: every factor is an integer, and as long as every partial sum stays below
 * 2^24 in magnitude, where every integer is a float, no product, FMA or addition is ever rounded, whatever order
 * the micro-kernel adds them in. Two paths keep that bound:
 * <ul>
 *   <li>the usual one: {@link Int8Panels} holds the weight as bytes and sums {@code a * v} over the whole depth
 *       in one pass, then subtracts {@code zp' * rowsum(a)}; exact when {@code 255 * max_row(Σ|a|) < 2^24}
 *       ({@link #int8PassExact}), which dynamically quantized activations (clustered near their zero point)
 *       meet by far;</li>
 *   <li>otherwise: B minus its zero points as floats, Gemm32 over runs of {@link #RUN} = 256 of the depth
 *       (each below 256 * 255^2 < 2^24), each run's product added into int32 accumulators, which wrap on
 *       overflow as ONNX's int32 output does. Its float packs are made on first use.</li>
 * </ul>
 * The Java Vector API has no integer dot product (VNNI's vpdpbusd, AVX2's vpmaddubsw), and an IntVector
 * multiply and add costs two instructions where one FMA does: the float units are the fastest exact path on
 * every vector shape the JVM picks at run time. A constant B is packed once per weight tensor ({@link #packed}).
 * The hot loops are monomorphic static methods, reached from no call site that other kernels share.
 */
final class QuantGemm {
    private QuantGemm() {}

    /** Depth of one exact run: at most 2^24 / 255^2 = 258 products; Gemm32's KC, so a run is one packed block. */
    static final int RUN = 256;
    private static final VectorSpecies<Float> FS = Gemm32.SPECIES;
    private static final VectorSpecies<Integer> IS = VectorSpecies.of(int.class, FS.vectorShape());
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** 1.5 * 2^23: adding and subtracting it rounds a float of magnitude below 2^22 to an integer, ties to even. */
    private static final float ROUNDER = 12582912f;

    static {
        if (RUN > Gemm32.KC || (long) RUN * 255 * 255 >= (1L << 24)) throw new AssertionError("RUN must be one exact KC block");
    }

    /**
     * A constant B (k x n), kept as 8-bit numbers in {@link Int8Panels} for the usual single exact pass. For
     * operands too large for it, B minus its zero points is also packed as floats for Gemm32, run by run of
     * {@link #RUN}, the first time such operands come (at least two columns wide: a zero column pads n = 1, so
     * that Gemm32 never takes its matrix-vector path, which reads B unpacked).
     */
    static final class PackedWeight {
        final int k, n, width;
        final Int8Panels panels;
        /** The zero-point tensor it was packed with (a weight reused with other zero points is packed again). */
        final Tensor zeroPoint;
        private final MemorySegment source;
        private final long sourceOff;
        private final boolean unsigned;
        private final float[] zps;
        private volatile Gemm32.Packed[] runs;

        private PackedWeight(Tensor b, long off, int k, int n, Tensor zp) {
            checkEightBit("B", b.dtype());
            if (zp != null && zp.elementCount() != 1 && zp.elementCount() != n) {
                throw new KernelException("b_zero_point of shape " + zp.shape() + " for " + n + " columns");
            }
            this.k = k;
            this.n = n;
            this.width = Math.max(n, 2);
            this.zeroPoint = zp;
            this.source = b.data();
            this.sourceOff = off;
            this.unsigned = b.dtype() == DType.UINT8;
            this.zps = new float[n];
            for (int j = 0; j < n; j++) zps[j] = zp == null ? 0 : zp.getLong(zp.elementCount() == 1 ? 0 : j);
            this.panels = new Int8Panels(source, off, b.dtype(), k, n, zps);
        }

        /** Rows [q0, q1) of B minus its zero points as floats, {@code width} to a row. */
        private float[] converted(int q0, int q1) {
            float[] f = new float[Math.toIntExact((long) (q1 - q0) * width)];
            for (int q = q0; q < q1; q++) {
                long row = sourceOff + (long) q * n;
                int o = (q - q0) * width;
                for (int j = 0; j < n; j++) {
                    byte v = source.get(ValueLayout.JAVA_BYTE, row + j);
                    f[o + j] = (unsigned ? v & 0xFF : v) - zps[j];
                }
            }
            return f;
        }

        Gemm32.Packed[] runs() {
            Gemm32.Packed[] r = runs;
            if (r == null) {
                int count = (k + RUN - 1) / RUN;
                r = new Gemm32.Packed[count];
                for (int i = 0; i < count; i++) {
                    int k0 = i * RUN, kc = Math.min(RUN, k - k0);
                    r[i] = Gemm32.packB(false, kc, width, MemorySegment.ofArray(converted(k0, k0 + kc)), 0, width);
                }
                runs = r;
            }
            return r;
        }
    }

    /** Packed weights per constant B tensor, dropped with the tensor (identity keys). */
    private static final Map<Tensor, PackedWeight> CACHE = Collections.synchronizedMap(new WeakHashMap<>());

    /** The packed form of the constant 2-D B with zero points {@code zp} (null, one, or one per column), cached. */
    static PackedWeight packed(Tensor b, Tensor zp) {
        PackedWeight p = CACHE.get(b);
        if (p != null && p.zeroPoint == zp) return p;
        p = new PackedWeight(b, 0, (int) b.shape().dim(0), (int) b.shape().dim(1), zp);
        CACHE.put(b, p);
        return p;
    }

    /** B (k x n at element {@code off} of b) minus its zero points, packed now (a B that is not constant). */
    static PackedWeight pack(Tensor b, long off, int k, int n, Tensor zp) {
        return new PackedWeight(b, off, k, n, zp);
    }

    static void checkEightBit(String what, DType t) {
        if (t != DType.UINT8 && t != DType.INT8) throw new KernelException(what + " must be uint8 or int8, got " + t);
    }

    /** Per-thread scratch: [0] the operand A, [1] one run's float product; and the int32 accumulators. */
    private static final class Scratch {
        float[] a = new float[0], c = new float[0];
        int[] acc = new int[0];

        float[] panel = new float[0], tile = new float[0], rowSum = new float[0];

        float[] a(int size) { return a.length >= size ? a : (a = new float[size]); }
        float[] panel(int size) { return panel.length >= size ? panel : (panel = new float[size]); }
        float[] tile(int size) { return tile.length >= size ? tile : (tile = new float[size]); }
        float[] rowSum(int size) { return rowSum.length >= size ? rowSum : (rowSum = new float[size]); }
        float[] c(int size) { return c.length >= size ? c : (c = new float[size]); }
        int[] acc(int size) { return acc.length >= size ? acc : (acc = new int[size]); }
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** This thread's A operand buffer of at least {@code size} floats (rows x k, exact integers). */
    static float[] operand(int size) { return SCRATCH.get().a(size); }

    /** This thread's accumulator buffer of at least {@code size} ints. */
    static int[] accumulators(int size) { return SCRATCH.get().acc(size); }

    /** The largest row sum of |a| over {@code rows} rows of k floats from {@code aOff} (exact: integers). */
    static float maxRowL1(float[] a, int aOff, int rows, int k) {
        float max = 0;
        for (int i = 0; i < rows; i++) {
            int o = aOff + i * k, l = FS.length(), q = 0;
            FloatVector s = FloatVector.zero(FS);
            for (; q <= k - l; q += l) s = s.add(FloatVector.fromArray(FS, a, o + q).abs());
            float[] lanes = new float[l];
            s.intoArray(lanes, 0);
            float sum = 0;
            for (float v : lanes) sum += v;
            for (; q < k; q++) sum += Math.abs(a[o + q]);
            max = Math.max(max, sum);
        }
        return max;
    }

    /**
     * acc (rows x n, row-major from {@code accOff}) = A x W, where A is rows x k floats holding exact integers
     * of magnitude at most 255, row-major from {@code aOff} in {@code a} (which must have room for at least two
     * rows: a single row is multiplied with a zero second row). Runs sequentially on this thread: in one pass
     * over the 8-bit panels when {@link #int8PassExact}, else run by run into int32.
     */
    static void multiply(float[] a, int aOff, int rows, PackedWeight w, int[] acc, int accOff) {
        int k = w.k, n = w.n, width = w.width;
        if (rows <= 0) return;
        if (k == 0) {
            java.util.Arrays.fill(acc, accOff, accOff + rows * n, 0);
            return;
        }
        int mRows = Math.max(rows, 2);
        if (rows == 1) java.util.Arrays.fill(a, aOff + k, aOff + 2 * k, 0f);
        float[] c = SCRATCH.get().c(mRows * width);
        MemorySegment as = MemorySegment.ofArray(a), cs = MemorySegment.ofArray(c);
        if (int8PassExact(maxRowL1(a, aOff, rows, k))) {
            if (aOff != 0) System.arraycopy(a, aOff, a, 0, rows * k);
            multiplyInt8(a, rows, w.panels, null, cs, 0);
            accumulate(c, n, acc, accOff, rows, n, true);
            return;
        }
        Gemm32.Packed[] runs = w.runs();
        for (int r = 0; r < runs.length; r++) {
            int k0 = r * RUN, kc = Math.min(RUN, k - k0);
            Gemm32.sgemm(false, false, mRows, width, kc, 1f, as, aOff + k0, k, null, MemorySegment.NULL, 0, width, runs[r],
                    0f, cs, 0, width, Parallelism.SEQUENTIAL);
            accumulate(c, width, acc, accOff, rows, n, r == 0);
        }
    }

    /**
     * Whether the 8-bit panels' single float pass is exact for rows whose |a| sums are at most {@code maxRowL1}:
     * every partial sum, the zero-point correction and the result stay below 2^24 (|v|, |zp'| <= 128, |b - zp| <= 255).
     */
    static boolean int8PassExact(float maxRowL1) { return (double) maxRowL1 * 255 < (1 << 24); }

    /**
     * y (rows [0, m) of the block whose first output row is {@code yRow0}, n wide) = ((A x V) - zp' x rowsum(A)) * s:
     * the exact integer products by 8-bit panels, then the Cast and the scale (none when {@code s} is null: y then
     * holds the integers). A is m rows of k floats from {@code as[0]}; the caller has checked {@link #int8PassExact}.
     */
    static void multiplyInt8(float[] as, int m, Int8Panels w, float[] s, MemorySegment y, long yRow0) {
        int k = w.k, n = w.n, nr = Int8Panels.NR, tiles = (m + Int8Panels.MR - 1) / Int8Panels.MR;
        Scratch sc = SCRATCH.get();
        float[] ap = sc.panel(tiles * k * Int8Panels.MR), tile = sc.tile(Int8Panels.MR * nr), rowSum = sc.rowSum(tiles * Int8Panels.MR);
        // A in 4-row panels, [tile][q][4], rows past m zero; and each row's sum
        for (int t = 0; t < tiles; t++) {
            for (int r = 0; r < Int8Panels.MR; r++) {
                int i = t * Int8Panels.MR + r, o = t * k * Int8Panels.MR + r;
                float sum = 0;
                if (i < m) {
                    for (int q = 0; q < k; q++) {
                        float v = as[i * k + q];
                        ap[o + q * Int8Panels.MR] = v;
                        sum += v;
                    }
                } else {
                    for (int q = 0; q < k; q++) ap[o + q * Int8Panels.MR] = 0f;
                }
                rowSum[i] = sum;
            }
        }
        for (int p = 0; p < w.panels; p++) {
            int j0 = p * nr, cols = Math.min(nr, n - j0);
            for (int t = 0; t < tiles; t++) {
                w.tile(ap, t * k * Int8Panels.MR, p, tile);
                int rows = Math.min(Int8Panels.MR, m - t * Int8Panels.MR);
                for (int r = 0; r < rows; r++) {
                    int i = t * Int8Panels.MR + r;
                    finishRow(tile, r * nr, w.zeroPoints, s, j0, cols, rowSum[i], y, (yRow0 + i) * n + j0);
                }
            }
        }
    }

    /** y[c] = (tile[c] - zp'[j0 + c] * rowSum) * s[j0 + c] for c in [0, cols) (no scale when s is null). */
    private static void finishRow(float[] tile, int to, float[] zp, float[] s, int j0, int cols, float rowSum, MemorySegment y, long yo) {
        int l = FS.length(), c = 0;
        FloatVector rs = FloatVector.broadcast(FS, rowSum);
        for (; c <= cols - l; c += l) {
            FloatVector acc = FloatVector.fromArray(FS, tile, to + c).sub(FloatVector.fromArray(FS, zp, j0 + c).mul(rs));
            if (s != null) acc = acc.mul(FloatVector.fromArray(FS, s, j0 + c));
            acc.intoMemorySegment(y, (yo + c) * 4, ORDER);
        }
        for (; c < cols; c++) {
            float acc = tile[to + c] - zp[j0 + c] * rowSum;
            y.setAtIndex(F, yo + c, s == null ? acc : acc * s[j0 + c]);
        }
    }

    /** acc = (or +=) the exact integers of one run's float product. */
    private static void accumulate(float[] c, int width, int[] acc, int accOff, int rows, int n, boolean first) {
        int lanes = IS.length();
        for (int i = 0; i < rows; i++) {
            int co = i * width, ao = accOff + i * n, j = 0;
            for (; j <= n - lanes; j += lanes) {
                IntVector v = (IntVector) FloatVector.fromArray(FS, c, co + j).convert(VectorOperators.F2I, 0);
                if (!first) v = v.add(IntVector.fromArray(IS, acc, ao + j));
                v.intoArray(acc, ao + j);
            }
            for (; j < n; j++) acc[ao + j] = first ? (int) c[co + j] : acc[ao + j] + (int) c[co + j];
        }
    }

    /** Row {@code i}'s A operand from an 8-bit tensor: a - a_zp, as floats. */
    static void operandRow(MemorySegment a, long off, boolean unsigned, int k, float zp, float[] out, int outOff) {
        for (int q = 0; q < k; q++) {
            byte v = a.get(ValueLayout.JAVA_BYTE, off + q);
            out[outOff + q] = (unsigned ? v & 0xFF : v) - zp;
        }
    }

    // ---- DynamicQuantizeLinear, fused ---------------------------------------------------------------------

    /** The range of x with 0 in it: {min, max}; or null when x holds a NaN or an infinity. */
    static float[] range(MemorySegment x, long n) {
        int l = FS.length();
        FloatVector lo = FloatVector.zero(FS), hi = FloatVector.zero(FS), nan = FloatVector.zero(FS);
        long i = 0;
        for (; i <= n - l; i += l) {
            FloatVector v = FloatVector.fromMemorySegment(FS, x, i * 4, ORDER);
            lo = lo.min(v);
            hi = hi.max(v);
            nan = nan.add(v.mul(0f)); // NaN once any element is NaN or infinite
        }
        float min = lo.reduceLanes(VectorOperators.MIN), max = hi.reduceLanes(VectorOperators.MAX);
        boolean bad = nan.test(VectorOperators.IS_NAN).anyTrue();
        for (; i < n; i++) {
            float v = x.getAtIndex(F, i);
            if (v < min) min = v;
            if (v > max) max = v;
            bad |= Float.isNaN(v * 0f);
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
        for (; q <= len - l; q += l) {
            FloatVector v = FloatVector.fromMemorySegment(FS, x, (off + q) * 4, ORDER).div(scale);
            v = v.add(ROUNDER).sub(ROUNDER).max(loQ).min(hiQ);
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

    /** y[j] = float(acc[j]) * s[j] for one row, the Cast and the Mul by the combined scale. */
    static void dequantizeRow(int[] acc, int accOff, float[] s, int n, MemorySegment y, long yOff) {
        int l = FS.length(), j = 0;
        for (; j <= n - l; j += l) {
            FloatVector v = (FloatVector) IntVector.fromArray(IS, acc, accOff + j).convert(VectorOperators.I2F, 0);
            v.mul(FloatVector.fromArray(FS, s, j)).intoMemorySegment(y, (yOff + j) * 4, ORDER);
        }
        for (; j < n; j++) y.setAtIndex(F, yOff + j, (float) acc[accOff + j] * s[j]);
    }
}
