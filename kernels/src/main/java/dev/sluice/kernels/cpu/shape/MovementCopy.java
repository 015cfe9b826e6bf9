package dev.sluice.kernels.cpu.shape;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The one data-movement engine of the shape family: copies a strided view of one tensor into a strided view of
 * another without looking at element values. Transpose, Slice, Expand, Tile, Pad, DepthToSpace and friends are all
 * a choice of strides. Contiguous inner runs go through {@link MemorySegment#copy}; the rest moves raw elements of
 * the dtype's width, so every dtype (bool and float16 included) is copied bit for bit.
 */
final class MovementCopy {
    private MovementCopy() {}

    // unaligned layouts: planned blocks may be heap segments whose byte[] base gives no alignment guarantee
    private static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong L = ValueLayout.JAVA_LONG_UNALIGNED;

    /**
     * For every index tuple {@code i} of {@code dims}: {@code dst[dstOff + sum i_k*dstStr_k] = src[srcOff + sum
     * i_k*srcStr_k]}. Offsets and strides count elements; both tensors must have the same dtype.
     */
    static void copy(Tensor src, long srcOff, long[] srcStr, Tensor dst, long dstOff, long[] dstStr, long[] dims) {
        copy(src, srcOff, srcStr, dst, dstOff, dstStr, dims, Parallelism.SEQUENTIAL);
    }

    /** As {@link #copy(Tensor, long, long[], Tensor, long, long[], long[])}, split over workers when large. */
    static void copy(Tensor src, long srcOff, long[] srcStr, Tensor dst, long dstOff, long[] dstStr, long[] dims,
                     Parallelism par) {
        int es = src.dtype().byteSize();
        // drop unit dims and merge neighbours that are contiguous on both sides, so runs get as long as possible
        int n = dims.length;
        long[] d = new long[n], ss = new long[n], ds = new long[n];
        int r = 0;
        long total = 1;
        for (int k = 0; k < n; k++) {
            if (dims[k] == 0) return;
            total *= dims[k];
            if (dims[k] == 1) continue;
            d[r] = dims[k]; ss[r] = srcStr[k]; ds[r] = dstStr[k]; r++;
        }
        int m = 0;
        for (int k = 0; k < r; k++) {
            if (m > 0 && ss[m - 1] == ss[k] * d[k] && ds[m - 1] == ds[k] * d[k]) {
                d[m - 1] *= d[k]; ss[m - 1] = ss[k]; ds[m - 1] = ds[k];
            } else {
                d[m] = d[k]; ss[m] = ss[k]; ds[m] = ds[k]; m++;
            }
        }
        if (m == 0) { element(src.data(), srcOff, dst.data(), dstOff, es); return; }
        int chunks = (int) Math.min(d[0], Math.min((long) par.threads() * 4, total * es / PARALLEL_BYTES));
        if (chunks <= 1) {
            coalesced(src.data(), srcOff, ss, dst.data(), dstOff, ds, d, m, es, d[0]);
            return;
        }
        // split the outermost dim: chunks write disjoint parts of dst
        long per = Math.ceilDiv(d[0], chunks);
        int mm = m;
        par.forEach(chunks, k -> {
            long a = k * per, b = Math.min(d[0], a + per);
            if (a < b) coalesced(src.data(), srcOff + a * ss[0], ss, dst.data(), dstOff + a * ds[0], ds, d, mm, es, b - a);
        });
    }

    /** Below this many bytes a copy stays on the calling thread. */
    private static final long PARALLEL_BYTES = 1 << 18;

    /** The copy on coalesced dims d[0..m) with d[0] replaced by {@code first}. */
    private static void coalesced(MemorySegment s, long srcOff, long[] ss, MemorySegment t, long dstOff, long[] ds,
                                  long[] d, int m, int es, long first) {
        if (m == 2 && es == 4 && ss[0] == 1 && ds[1] == 1 && ss[1] > 1
                && transpose4(s, srcOff, ss[1], t, dstOff, ds[0], first, d[1])) {
            return;
        }
        long inner = m == 1 ? first : d[m - 1], is = ss[m - 1], id = ds[m - 1];
        boolean run = is == 1 && id == 1;
        int outer = m - 1;
        long[] ctr = new long[outer];
        long sp = srcOff, dp = dstOff;
        while (true) {
            if (run) MemorySegment.copy(s, sp * es, t, dp * es, inner * es);
            else strided(s, sp, is, t, dp, id, inner, es);
            int k = outer - 1;
            while (k >= 0) {
                long dk = k == 0 ? first : d[k];
                ctr[k]++; sp += ss[k]; dp += ds[k];
                if (ctr[k] < dk) break;
                sp -= ss[k] * dk; dp -= ds[k] * dk; ctr[k] = 0; k--;
            }
            if (k < 0) return;
        }
    }

    /** Copies {@code src} into {@code dst} read through source strides, writing {@code dst} densely from 0. */
    static void gather(Tensor src, long srcOff, long[] srcStr, Tensor dst, long[] dims) {
        copy(src, srcOff, srcStr, dst, 0, rowMajor(dims), dims);
    }

    static void gather(Tensor src, long srcOff, long[] srcStr, Tensor dst, long[] dims, Parallelism par) {
        copy(src, srcOff, srcStr, dst, 0, rowMajor(dims), dims, par);
    }

    static long[] rowMajor(long[] dims) {
        long[] s = new long[dims.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) { s[i] = acc; acc *= dims[i]; }
        return s;
    }

    /** Copies {@code count} contiguous elements. */
    static void run(Tensor src, long srcOff, Tensor dst, long dstOff, long count) {
        int es = src.dtype().byteSize();
        if (count > 0) MemorySegment.copy(src.data(), srcOff * es, dst.data(), dstOff * es, count * es);
    }

    /** Copies one element. */
    static void element(Tensor src, long srcIdx, Tensor dst, long dstIdx) {
        element(src.data(), srcIdx, dst.data(), dstIdx, src.dtype().byteSize());
    }

    /** Sets {@code count} elements from {@code dstOff} to the one element {@code value[valueIdx]} (same dtype). */
    static void fill(Tensor dst, long dstOff, long count, Tensor value, long valueIdx) {
        if (count <= 0) return;
        int es = dst.dtype().byteSize();
        MemorySegment t = dst.data();
        element(value.data(), valueIdx, t, dstOff, es);
        // doubling copies: log(count) bulk copies instead of count element stores
        long done = 1;
        while (done < count) {
            long k = Math.min(done, count - done);
            MemorySegment.copy(t, dstOff * es, t, (dstOff + done) * es, k * es);
            done += k;
        }
    }

    static void zero(Tensor dst, long off, long count) {
        int es = dst.dtype().byteSize();
        if (count > 0) dst.data().asSlice(off * es, count * es).fill((byte) 0);
    }

    private static final VectorSpecies<Integer> IS = IntVector.SPECIES_PREFERRED.length() > 16 ? IntVector.SPECIES_512 : IntVector.SPECIES_PREFERRED;
    private static final int IL = IS.length();
    /** Source elements a {@link #transpose4} band copies to the heap at most (256 KiB of 4-byte elements). */
    private static final int BAND = 1 << 16;
    /** Per-thread bands and index maps of {@link #transpose4}. */
    private static final ThreadLocal<int[]> BAND_BUF = ThreadLocal.withInitial(() -> new int[BAND]);

    /**
     * A 2-D transpose of 4-byte elements: {@code t[dp + a * dRow + b] = s[sp + a + b * sRow]} for a in [0, rows),
     * b in [0, cols) (a matrix whose rows are {@code sRow} apart, written column by column: Transpose of the last two
     * axes, NCHW to NHWC and back). Element by element every read of the plain loop lands {@code sRow} elements from
     * the last; here bands of source rows are copied to the heap in one bulk copy, and each output row's run is read
     * from the band by vector gathers and stored whole. Raw bits move (ints), as in every other path. False (nothing
     * copied) when even a band of one vector's rows would not fit the buffer: the caller's loop then runs.
     */
    private static boolean transpose4(MemorySegment s, long sp, long sRow, MemorySegment t, long dp, long dRow, long rows, long cols) {
        if (cols < IL || rows > BAND || (IL - 1) * sRow + rows > BAND) return false;
        int band = (int) Math.max(IL, Math.min(cols / IL * IL, (BAND - rows) / sRow + 1) / IL * IL);
        int[] buf = BAND_BUF.get();
        int[] map = new int[IL];
        for (int l = 0; l < IL; l++) map[l] = (int) (l * sRow);
        int r = (int) rows, sr = (int) sRow;
        for (long b0 = 0; b0 < cols; b0 += band) {
            int nb = (int) Math.min(band, cols - b0);
            int span = (nb - 1) * sr + r;
            MemorySegment.copy(s, I, (sp + b0 * sRow) * 4, buf, 0, span);
            int whole = nb / IL * IL;
            for (int a = 0; a < r; a++) {
                long out = (dp + a * dRow + b0) * 4;
                int b = 0;
                for (; b < whole; b += IL) {
                    IntVector.fromArray(IS, buf, a + b * sr, map, 0).intoMemorySegment(t, out + b * 4L, ORDER);
                }
                for (; b < nb; b++) t.set(I, out + b * 4L, buf[a + b * sr]);
            }
        }
        return true;
    }

    private static final java.nio.ByteOrder ORDER = java.nio.ByteOrder.nativeOrder();

    private static void strided(MemorySegment s, long sp, long is, MemorySegment t, long dp, long id, long n, int es) {
        switch (es) {
            case 1 -> { for (long i = 0; i < n; i++) t.set(ValueLayout.JAVA_BYTE, dp + i * id, s.get(ValueLayout.JAVA_BYTE, sp + i * is)); }
            case 2 -> { for (long i = 0; i < n; i++) t.setAtIndex(S, dp + i * id, s.getAtIndex(S, sp + i * is)); }
            case 4 -> { for (long i = 0; i < n; i++) t.setAtIndex(I, dp + i * id, s.getAtIndex(I, sp + i * is)); }
            case 8 -> { for (long i = 0; i < n; i++) t.setAtIndex(L, dp + i * id, s.getAtIndex(L, sp + i * is)); }
            default -> { for (long i = 0; i < n; i++) MemorySegment.copy(s, (sp + i * is) * es, t, (dp + i * id) * es, es); }
        }
    }

    private static void element(MemorySegment s, long si, MemorySegment t, long di, int es) {
        switch (es) {
            case 1 -> t.set(ValueLayout.JAVA_BYTE, di, s.get(ValueLayout.JAVA_BYTE, si));
            case 2 -> t.setAtIndex(S, di, s.getAtIndex(S, si));
            case 4 -> t.setAtIndex(I, di, s.getAtIndex(I, si));
            case 8 -> t.setAtIndex(L, di, s.getAtIndex(L, si));
            default -> MemorySegment.copy(s, si * es, t, di * es, es);
        }
    }
}
