package dev.sluice.kernels.cpu.linalg;

import dev.sluice.kernels.Parallelism;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Single-precision GEMM, {@code C = alpha * op(A) * op(B) + beta * C}, row-major, for every kernel that
 * multiplies matrices (MatMul, Gemm, Conv, ConvTranspose, and later recurrent, quantized and fused ops).
 *
 * <p>Goto-style blocking: B is packed in KC x NR column panels, A in MC x KC blocks of MR-row panels, and an
 * MR x NR register-tile micro-kernel of Vector API FMAs runs over them. Packing makes the inner loop read
 * contiguous memory whatever the transposes and leading dimensions are, and absorbs alpha. Operands are
 * {@link MemorySegment}s (native tensor memory or heap segments over float[]); offsets and leading
 * dimensions count elements, not bytes.
 *
 * <p>Parallel calls split C into a grid of independent sub-products, each packing its own operands: the
 * redundant packing is O(MK + KN) per task against O(MNK) work, and no synchronisation is needed.
 */
public final class Gemm32 {
    private Gemm32() {}

    /** The machine's preferred vectors, at most 512 bits (AVX-512: 16 floats; AVX2: 8). */
    public static final VectorSpecies<Float> SPECIES =
            FloatVector.SPECIES_PREFERRED.length() > 16 ? FloatVector.SPECIES_512 : FloatVector.SPECIES_PREFERRED;
    private static final int L = SPECIES.length();
    /**
     * The register tile. With 512-bit vectors (AVX-512, 32 registers): 4 rows x 6 vectors, 24 accumulators,
     * 6 B vectors and a broadcast. Broadcasts of A, not FMAs, bound the loop on this CPU: measured in
     * registers, 12 x 2 vectors (12 broadcasts per 24 FMAs) ran at 84% of the FMA peak, 6 x 4 at 92%, 4 x 6
     * at 95%. With AVX2's 16 registers: 6 rows x 2 vectors (12 accumulators). The bits depend on neither.
     */
    private static final boolean WIDE = L >= 16;
    public static final int MR = WIDE ? 4 : 6;
    /** Vectors per tile row. */
    private static final int NV = WIDE ? 6 : 2;
    public static final int NR = NV * L;
    /**
     * Depth of one packed block. Fixed: every element of C is summed in KC-long runs from zero, added to C
     * run after run (on the matrix-vector path in runs of GEMV_KC), so the bits depend on k and KC only, never on the M/N split or
     * the thread count, and a product cut along K at multiples of KC, each part continuing from the C the parts
     * before left (beta 1), gives the same bits (PartialSums).
     */
    public static final int KC = dev.sluice.kernels.PartialSums.GEMM_K_RUN;
    /**
     * The matrix-vector path's K run: longer than KC because each run ends in a lane-by-lane sum (a run of KC
     * made a long dot product 1.25x slower, measured; four chains per run were far slower under C2). A multiple
     * of KC, so cuts at its multiples suit both paths.
     */
    public static final int GEMV_KC = dev.sluice.kernels.PartialSums.GEMV_K_RUN;
    private static final int MC = 120 / MR * MR;
    private static final int NC = 2048 / NR * NR;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** Below this many multiply-adds a parallel split costs more than it saves. */
    private static final long PARALLEL_MIN_FLOPS = 1L << 20;

    /** Per-thread packing buffers, reused across calls so the hot path does not allocate. */
    private static final ThreadLocal<float[][]> BUFFERS =
            ThreadLocal.withInitial(() -> new float[][] {new float[MC * KC], new float[KC * NC], new float[MR * NR]});

    /** {@code C = alpha * op(A) * op(B) + beta * C} on float arrays; see the segment overload. */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                      float beta, float[] c, int cOff, int ldc, Parallelism par) {
        sgemm(transA, transB, m, n, k, alpha, MemorySegment.ofArray(a), aOff, lda, MemorySegment.ofArray(b), bOff, ldb,
                beta, MemorySegment.ofArray(c), cOff, ldc, par);
    }

    /**
     * {@code C = alpha * op(A) * op(B) + beta * C} where op(A) is m x k and op(B) is k x n. A is stored
     * row-major with leading dimension lda as m x k (or k x m when transA), likewise B. When beta is 0, C is
     * not read (it may hold garbage, even NaN). {@code par} may be {@link Parallelism#SEQUENTIAL} when the
     * caller already runs in parallel.
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                      float beta, MemorySegment c, long cOff, int ldc, Parallelism par) {
        sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, null, b, bOff, ldb, null, beta, c, cOff, ldc, par);
    }

    /**
     * The same with either operand optionally pre-packed ({@link #packA}, {@link #packB}; null: pack here).
     * A pre-packed operand gives the same bits as packing on the fly: the layout and the summation order are
     * the same. A pre-packed A must have been packed with alpha 1 and alpha must be 1.
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                      MemorySegment a, long aOff, int lda, Packed pa, MemorySegment b, long bOff, int ldb, Packed pb,
                      float beta, MemorySegment c, long cOff, int ldc, Parallelism par) {
        if (m <= 0 || n <= 0) return;
        if (pa != null && (pa.outer != m || pa.k != k || alpha != 1f)) pa = null;
        if (pb != null && (pb.outer != n || pb.k != k)) pb = null;
        int threads = par == null ? 1 : par.threads();
        if ((m == 1 || n == 1) && k > 0 && alpha != 0f) {
            gemv(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, threads > 1 ? par : null);
            return;
        }
        if (threads <= 1 || (long) m * n * Math.max(k, 1) < PARALLEL_MIN_FLOPS) {
            block(transA, transB, m, n, k, alpha, a, aOff, lda, pa, 0, b, bOff, ldb, pb, 0, beta, c, cOff, ldc);
            return;
        }
        int want = threads * 2;
        int maxTn = (n + NR - 1) / NR, maxTm = (m + MR - 1) / MR;
        int tn = Math.min(maxTn, want);
        int tm = Math.min(maxTm, (want + tn - 1) / tn);
        // chunk sizes rounded to whole tiles so only the last chunk has partial tiles
        int nChunk = roundUp((n + tn - 1) / tn, NR), mChunk = roundUp((m + tm - 1) / tm, MR);
        tn = (n + nChunk - 1) / nChunk;
        tm = (m + mChunk - 1) / mChunk;
        int ftn = tn, fnChunk = nChunk, fmChunk = mChunk;
        Packed fpa = pa, fpb = pb;
        par.forEach(tm * tn, t -> {
            int i0 = (t / ftn) * fmChunk, j0 = (t % ftn) * fnChunk;
            int mi = Math.min(fmChunk, m - i0), nj = Math.min(fnChunk, n - j0);
            long aSub = aOff + (transA ? i0 : (long) i0 * lda);
            long bSub = bOff + (transB ? (long) j0 * ldb : j0);
            block(transA, transB, mi, nj, k, alpha, a, aSub, lda, fpa, i0, b, bSub, ldb, fpb, j0, beta,
                    c, cOff + (long) i0 * ldc + j0, ldc);
        });
    }

    /**
     * A whole operand packed once, as {@link #block} would pack it block by block: per KC-deep block
     * (at {@code pc * padded}), the panels of MR rows (A) or NR columns (B) one after another, zero-padded.
     */
    public static final class Packed {
        final float[] data;
        final int outer, k, padded;
        final boolean isA;
        /** Where it was packed from (for the cache's check). */
        long srcAddress, srcOff;
        int ld;

        private Packed(boolean isA, int outer, int k) {
            this.isA = isA;
            this.outer = outer;
            this.k = k;
            this.padded = roundUp(outer, isA ? MR : NR);
            this.data = new float[Math.toIntExact((long) padded * k)];
        }

        /** Offset of the panel holding row (A) or column (B) {@code i}, a multiple of MR / NR, in block pc. */
        int offset(int pc, int i, int kc) { return pc * padded + i * kc; }
    }

    /** op(A) (m x k) packed with alpha 1, for repeated products with the same constant A. */
    static Packed packA(boolean transA, int m, int k, MemorySegment a, long aOff, int lda) {
        Packed p = new Packed(true, m, k);
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            packA(transA, a, aOff, lda, 0, m, pc, kc, 1f, p.data, p.offset(pc, 0, kc));
        }
        return p;
    }

    /** op(B) (k x n) packed, for repeated products with the same constant B. */
    public static Packed packB(boolean transB, int k, int n, MemorySegment b, long bOff, int ldb) {
        Packed p = new Packed(false, n, k);
        for (int pc = 0; pc < k; pc += KC) {
            int kc = Math.min(KC, k - pc);
            packB(transB, b, bOff, ldb, pc, kc, 0, n, p.data, p.offset(pc, 0, kc));
        }
        return p;
    }

    /**
     * op(B) (k x n) packed as {@link #packB(boolean, int, int, MemorySegment, long, int)} packs it (the same floats
     * in the same places), its KC-deep blocks packed in parallel: for a B used once by a parallel product, whose
     * tasks would otherwise each pack the same B again (a strided, transposed B costs about as much to pack as
     * its share of the arithmetic).
     */
    public static Packed packB(boolean transB, int k, int n, MemorySegment b, long bOff, int ldb, Parallelism par) {
        Packed p = new Packed(false, n, k);
        int blocks = (k + KC - 1) / KC;
        // work per block: a strided, scattered copy per element, counted as four multiply-adds
        par.forEach(blocks, 4L * KC * n, t -> {
            int pc = t * KC, kc = Math.min(KC, k - pc);
            packB(transB, b, bOff, ldb, pc, kc, 0, n, p.data, p.offset(pc, 0, kc));
        });
        return p;
    }

    /** Packed weights per constant tensor, dropped with the tensor. Tensor equality is identity. */
    private static final java.util.Map<Object, Packed[]> CACHE =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /**
     * The packed form of a constant tensor used as A ({@code asA}) or B, from the cache or packed now.
     * {@code key} (the weight tensor) must not change while it lives, as a model's weights do not; the source
     * address and geometry are checked too, so a tensor used another way is simply packed again.
     */
    public static Packed cached(Object key, boolean asA, boolean trans, int outer, int k, MemorySegment src, long off, int ld) {
        int role = (asA ? 2 : 0) + (trans ? 1 : 0);
        Packed[] slot = CACHE.get(key);
        Packed p = slot == null ? null : slot[role];
        long addr = src.isNative() ? src.address() : System.identityHashCode(src.heapBase().orElse(null));
        if (p != null && p.outer == outer && p.k == k && p.srcAddress == addr && p.srcOff == off && p.ld == ld) return p;
        p = asA ? packA(trans, outer, k, src, off, ld) : packB(trans, k, outer, src, off, ld);
        p.srcAddress = addr;
        p.srcOff = off;
        p.ld = ld;
        synchronized (CACHE) {
            CACHE.computeIfAbsent(key, x -> new Packed[4])[role] = p;
        }
        return p;
    }

    private static int roundUp(int v, int unit) { return (v + unit - 1) / unit * unit; }

    /**
     * The float[] behind a heap segment (im2col buffers, float[] callers), or null for native memory. Vector
     * loads and stores through a heap segment measured ~4x slower than through native memory or the array
     * itself, so the packing and C-update loops use the array when there is one.
     */
    private static float[] floats(MemorySegment s) {
        return s.heapBase().orElse(null) instanceof float[] f && (s.address() & 3) == 0 ? f : null;
    }

    /** Element index in {@link #floats}' array of the segment's element 0. */
    private static long base(MemorySegment s) { return s.address() >> 2; }

    /**
     * Matrix-vector products (one row or one column of C): a register tile of several rows would waste most of its
     * FMAs, so these stream the matrix once, vectorized along its contiguous axis.
     */
    private static void gemv(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc, Parallelism par) {
        // as y = alpha * M v + beta * y: M is len x k, stored rows-contiguous (dot) or columns-contiguous (axpy)
        int len;
        float[] v = new float[k];
        MemorySegment mat;
        long mOff;
        int ldm;
        boolean rowsContiguous;
        long cStride;
        if (m == 1) {
            len = n;
            for (int p = 0; p < k; p++) v[p] = a.getAtIndex(F, aOff + (transA ? (long) p * lda : p));
            mat = b; mOff = bOff; ldm = ldb;
            rowsContiguous = transB; // op(B)^T rows are B's rows when transposed
            cStride = 1;
        } else {
            len = m;
            for (int p = 0; p < k; p++) v[p] = b.getAtIndex(F, bOff + (transB ? p : (long) p * ldb));
            mat = a; mOff = aOff; ldm = lda;
            rowsContiguous = !transA;
            cStride = ldc;
        }
        int chunk = Math.max(4 * L, roundUp((len + 7) / 8, L));
        int chunks = (len + chunk - 1) / chunk;
        // K in runs of GEMV_KC, like the blocked path's KC runs: each run summed from zero and added to C, so a product
        // cut along K at multiples of GEMV_KC (each part continuing from the C the parts before it left, beta 1) has these bits
        java.util.function.IntConsumer body = t -> {
            int j0 = t * chunk, j1 = Math.min(len, j0 + chunk);
            float[] acc = new float[j1 - j0];
            if (rowsContiguous) {
                // one row of the matrix after the other, its K runs in order: the row streams once, and the run
                // sums are added to C's element as addRun would (alpha * run + scale * C), kept in a local
                float[] lanes = new float[L];
                for (int j = j0; j < j1; j++) {
                    long row = mOff + (long) j * ldm, ci = cOff + j * cStride;
                    float sum = 0f;
                    for (int pc = 0; pc < k; pc += GEMV_KC) {
                        float r = alpha * dot(mat, row + pc, v, pc, Math.min(GEMV_KC, k - pc), lanes);
                        sum = pc > 0 ? r + sum : beta == 0f ? r : r + beta * c.getAtIndex(F, ci);
                    }
                    c.setAtIndex(F, ci, sum);
                }
                return;
            }
            for (int pc = 0; pc < k; pc += GEMV_KC) {
                axpyStrip(v, pc, Math.min(GEMV_KC, k - pc), mat, mOff + (long) pc * ldm + j0, ldm, acc, j1 - j0);
                addRun(acc, j1 - j0, alpha, pc == 0 ? beta : 1f, c, cOff + j0 * cStride, cStride);
            }
        };
        if (par != null && (long) len * k >= PARALLEL_MIN_FLOPS) par.forEach(chunks, body);
        else for (int t = 0; t < chunks; t++) body.accept(t);
    }

    /**
     * c[i * stride] = alpha * acc[i] + scale * c[i * stride] for i in [0, n) (just alpha * acc[i] when scale is 0):
     * one K run added to C. Vector lanes do the same float multiplies and add as the scalar loop, so the bits do not
     * depend on which elements go which way.
     */
    private static void addRun(float[] acc, int n, float alpha, float scale, MemorySegment c, long cOff, long stride) {
        int i = 0;
        if (stride == 1) {
            for (; i + L <= n; i += L) {
                long at = (cOff + i) * 4;
                FloatVector r = FloatVector.fromArray(SPECIES, acc, i).mul(alpha);
                if (scale != 0f) r = r.add(FloatVector.fromMemorySegment(SPECIES, c, at, ORDER).mul(scale));
                r.intoMemorySegment(c, at, ORDER);
            }
        }
        for (; i < n; i++) {
            long ci = cOff + i * stride;
            float r = alpha * acc[i];
            c.setAtIndex(F, ci, scale == 0f ? r : r + scale * c.getAtIndex(F, ci));
        }
    }

    /**
     * Sum of x[off..off+k) * v[v0..v0+k), in a fixed order. The lanes are summed one by one, not with
     * {@code reduceLanes(ADD)}, whose order is unspecified for floats and differs between the interpreter
     * and C2's intrinsic: the same product would give other bits once the JIT compiled this method.
     */
    private static float dot(MemorySegment x, long off, float[] v, int v0, int k, float[] lanes) {
        FloatVector s = FloatVector.zero(SPECIES);
        int p = 0;
        for (; p <= k - L; p += L) {
            s = FloatVector.fromMemorySegment(SPECIES, x, (off + p) * 4, ORDER).fma(FloatVector.fromArray(SPECIES, v, v0 + p), s);
        }
        s.intoArray(lanes, 0);
        float r = 0f;
        for (int i = 0; i < L; i++) r += lanes[i];
        for (; p < k; p++) r += x.getAtIndex(F, off + p) * v[v0 + p];
        return r;
    }

    /**
     * acc[0..n) = sum over p in [0, k) of v[v0 + p] * x[off + p * ldx + (0..n)], each element in p order, skipping v[p] = 0:
     * the same operations, in the same order, as one axpy per p over an accumulator array, but with the
     * accumulators of 4 vectors held in registers across p (an array round trip per p bound the loop on
     * store-to-load forwarding). The scalar tail multiplies and adds separately, as it always did.
     */
    private static void axpyStrip(float[] v, int v0, int k, MemorySegment x, long off, int ldx, float[] acc, int n) {
        int j = 0;
        for (; j + 4 * L <= n; j += 4 * L) {
            FloatVector a0 = FloatVector.zero(SPECIES), a1 = a0, a2 = a0, a3 = a0;
            for (int p = 0; p < k; p++) {
                float s = v[v0 + p];
                if (s == 0f) continue;
                FloatVector sv = FloatVector.broadcast(SPECIES, s);
                long o = (off + (long) p * ldx + j) * 4;
                a0 = FloatVector.fromMemorySegment(SPECIES, x, o, ORDER).fma(sv, a0);
                a1 = FloatVector.fromMemorySegment(SPECIES, x, o + 4L * L, ORDER).fma(sv, a1);
                a2 = FloatVector.fromMemorySegment(SPECIES, x, o + 8L * L, ORDER).fma(sv, a2);
                a3 = FloatVector.fromMemorySegment(SPECIES, x, o + 12L * L, ORDER).fma(sv, a3);
            }
            a0.intoArray(acc, j); a1.intoArray(acc, j + L); a2.intoArray(acc, j + 2 * L); a3.intoArray(acc, j + 3 * L);
        }
        for (; j + L <= n; j += L) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            for (int p = 0; p < k; p++) {
                float s = v[v0 + p];
                if (s == 0f) continue;
                a0 = FloatVector.fromMemorySegment(SPECIES, x, (off + (long) p * ldx + j) * 4, ORDER).fma(FloatVector.broadcast(SPECIES, s), a0);
            }
            a0.intoArray(acc, j);
        }
        for (; j < n; j++) {
            float r = 0f;
            for (int p = 0; p < k; p++) {
                float s = v[v0 + p];
                if (s != 0f) r += s * x.getAtIndex(F, off + (long) p * ldx + j);
            }
            acc[j] = r;
        }
    }

    /**
     * The sequential blocked product of one C block. With a pre-packed A (B), the block's rows (columns)
     * start at row {@code aRow0} (column {@code bCol0}) of the packed operand, a multiple of MR (NR).
     */
    private static void block(boolean transA, boolean transB, int m, int n, int k, float alpha,
                              MemorySegment a, long aOff, int lda, Packed pa, int aRow0,
                              MemorySegment b, long bOff, int ldb, Packed pb, int bCol0,
                              float beta, MemorySegment c, long cOff, int ldc) {
        scaleC(m, n, beta, c, cOff, ldc);
        if (k <= 0 || alpha == 0f) return;
        float[][] bufs = BUFFERS.get();
        float[] tile = bufs[2];
        float[] cArr = floats(c);
        for (int jc = 0; jc < n; jc += NC) {
            int nc = Math.min(NC, n - jc);
            for (int pc = 0; pc < k; pc += KC) {
                int kc = Math.min(KC, k - pc);
                float[] bp;
                int bBase;
                if (pb != null) {
                    bp = pb.data;
                    bBase = pb.offset(pc, bCol0 + jc, kc);
                } else {
                    bp = bufs[1];
                    bBase = 0;
                    packB(transB, b, bOff, ldb, pc, kc, jc, nc, bp, 0);
                }
                for (int ic = 0; ic < m; ic += MC) {
                    int mc = Math.min(MC, m - ic);
                    float[] ap;
                    int aBase;
                    if (pa != null) {
                        ap = pa.data;
                        aBase = pa.offset(pc, aRow0 + ic, kc);
                    } else {
                        ap = bufs[0];
                        aBase = 0;
                        packA(transA, a, aOff, lda, ic, mc, pc, kc, alpha, ap, 0);
                    }
                    for (int jr = 0; jr < nc; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        int bo = bBase + jr * kc;
                        for (int ir = 0; ir < mc; ir += MR) {
                            int mr = Math.min(MR, mc - ir);
                            int ao = aBase + ir * kc;
                            long co = cOff + (long) (ic + ir) * ldc + jc + jr;
                            micro(kc, ap, ao, bp, bo, tile, nr);
                            addTile(tile, mr, nr, c, cArr, co, ldc);
                        }
                    }
                }
            }
        }
    }

    /**
     * C = beta * C over the block (C = 0 when beta is 0, whatever C held). The zeroing writes through C itself, not
     * through a slice per row: {@code asSlice} makes a segment object per row, which C2 removes only when it
     * inlines {@code fill} into this method, and whether it does depends on what it compiled before (in a warm
     * silero-vad JVM it did not: over half of the model's per-run garbage was these slices).
     */
    private static void scaleC(int m, int n, float beta, MemorySegment c, long cOff, int ldc) {
        if (beta == 1f) return;
        if (beta == 0f) {
            zeroRows(m, n, c, cOff, ldc);
            return;
        }
        for (int i = 0; i < m; i++) {
            long row = cOff + (long) i * ldc;
            for (int j = 0; j < n; j++) c.setAtIndex(F, row + j, beta * c.getAtIndex(F, row + j));
        }
    }

    /** C[0, m) x [0, n) = +0f: whole vectors of zeros, then the columns past the last one (on the array when C has one). */
    private static void zeroRows(int m, int n, MemorySegment c, long cOff, int ldc) {
        float[] arr = floats(c);
        if (arr != null) {
            int row = Math.toIntExact(base(c) + cOff);
            for (int i = 0; i < m; i++, row += ldc) java.util.Arrays.fill(arr, row, row + n, 0f);
            return;
        }
        FloatVector zero = FloatVector.zero(SPECIES);
        int whole = n / L * L;
        for (int i = 0; i < m; i++) {
            long row = cOff + (long) i * ldc;
            for (int j = 0; j < whole; j += L) zero.intoMemorySegment(c, (row + j) * 4, ORDER);
            for (int j = whole; j < n; j++) c.setAtIndex(F, row + j, 0f);
        }
    }

    /** Packs op(B)[pc:pc+kc, jc:jc+nc] as NR-wide column panels, each kc rows of NR, zero-padded. */
    private static void packB(boolean transB, MemorySegment b, long bOff, int ldb, int pc, int kc, int jc, int nc, float[] bp,
                              int dst) {
        for (int jr = 0; jr < nc; jr += NR) {
            int nr = Math.min(NR, nc - jr);
            int j = jc + jr;
            if (!transB) {
                // whole vectors straight from the segment (a bulk copy per 96-float row costs more than it moves)
                int whole = nr / L * L;
                float[] arr = floats(b);
                for (int p = 0; p < kc; p++) {
                    long src = bOff + (long) (pc + p) * ldb + j;
                    if (arr != null) {
                        int s0 = Math.toIntExact(base(b) + src);
                        for (int q = 0; q < whole; q += L) FloatVector.fromArray(SPECIES, arr, s0 + q).intoArray(bp, dst + q);
                        for (int q = whole; q < nr; q++) bp[dst + q] = arr[s0 + q];
                    } else {
                        for (int q = 0; q < whole; q += L) {
                            FloatVector.fromMemorySegment(SPECIES, b, (src + q) * 4, ORDER).intoArray(bp, dst + q);
                        }
                        for (int q = whole; q < nr; q++) bp[dst + q] = b.getAtIndex(F, src + q);
                    }
                    for (int q = nr; q < NR; q++) bp[dst + q] = 0f;
                    dst += NR;
                }
            } else {
                // op(B)[p, j] = B[j, p]: walk each stored row once, scattering into the panel
                for (int q = 0; q < nr; q++) {
                    long src = bOff + (long) (j + q) * ldb + pc;
                    for (int p = 0; p < kc; p++) bp[dst + p * NR + q] = b.getAtIndex(F, src + p);
                }
                if (nr < NR) {
                    for (int p = 0; p < kc; p++) for (int q = nr; q < NR; q++) bp[dst + p * NR + q] = 0f;
                }
                dst += kc * NR;
            }
        }
    }

    /** Packs alpha * op(A)[ic:ic+mc, pc:pc+kc] as MR-row panels, each kc columns of MR, zero-padded. */
    private static void packA(boolean transA, MemorySegment a, long aOff, int lda, int ic, int mc, int pc, int kc,
                              float alpha, float[] ap, int dst) {
        float[] arr = floats(a);
        long ab = arr == null ? 0 : base(a);
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            int i = ic + ir;
            if (!transA) {
                // row by row: each row of A is read once, contiguously
                for (int r = 0; r < mr; r++) {
                    long src = aOff + (long) (i + r) * lda + pc;
                    if (arr != null) {
                        int s0 = Math.toIntExact(ab + src);
                        for (int p = 0; p < kc; p++) ap[dst + p * MR + r] = alpha * arr[s0 + p];
                    } else {
                        for (int p = 0; p < kc; p++) ap[dst + p * MR + r] = alpha * a.getAtIndex(F, src + p);
                    }
                }
            } else {
                for (int p = 0; p < kc; p++) {
                    long src = aOff + (long) (pc + p) * lda + i;
                    if (arr != null) {
                        int s0 = Math.toIntExact(ab + src);
                        for (int r = 0; r < mr; r++) ap[dst + p * MR + r] = alpha * arr[s0 + r];
                    } else {
                        for (int r = 0; r < mr; r++) ap[dst + p * MR + r] = alpha * a.getAtIndex(F, src + r);
                    }
                }
            }
            if (mr < MR) {
                for (int p = 0; p < kc; p++) for (int r = mr; r < MR; r++) ap[dst + p * MR + r] = 0f;
            }
            dst += kc * MR;
        }
    }

    /**
     * The MR x NR product of one A panel and one B panel over kc, into {@code tile} (row-major, NR wide), each
     * element an FMA chain from zero in k order: the bits do not depend on the tile's shape, so edge tiles (on
     * zero-padded panels) and full tiles agree. {@code nr}: the panel's real columns; a narrow edge panel
     * gets a narrower kernel. The tile is a float[] and the caller updates C: vector accumulators that met a
     * MemorySegment access in the same compiled method measured ~100x slower under C2.
     */
    private static void micro(int kc, float[] ap, int ao, float[] bp, int bo, float[] tile, int nr) {
        if (!WIDE) micro6x2(kc, ap, ao, bp, bo, tile);
        else if (nr <= 2 * L) micro4x2(kc, ap, ao, bp, bo, tile);
        else micro4x6(kc, ap, ao, bp, bo, tile);
    }

    /** 4 x 6 vectors (AVX-512). Indexes are linear in p, so C2 hoists the range checks. */
    private static void micro4x6(int kc, float[] ap, int ao, float[] bp, int bo, float[] tile) {
        FloatVector c00 = FloatVector.zero(SPECIES), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
        for (int p = 0; p < kc; p++) {
            int a = ao + p * 4, b = bo + p * (6 * 16);
            FloatVector b0 = FloatVector.fromArray(SPECIES, bp, b), b1 = FloatVector.fromArray(SPECIES, bp, b + 16);
            FloatVector b2 = FloatVector.fromArray(SPECIES, bp, b + 32), b3 = FloatVector.fromArray(SPECIES, bp, b + 48);
            FloatVector b4 = FloatVector.fromArray(SPECIES, bp, b + 64), b5 = FloatVector.fromArray(SPECIES, bp, b + 80);
            FloatVector x = FloatVector.broadcast(SPECIES, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            c03 = x.fma(b3, c03); c04 = x.fma(b4, c04); c05 = x.fma(b5, c05);
            x = FloatVector.broadcast(SPECIES, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            c13 = x.fma(b3, c13); c14 = x.fma(b4, c14); c15 = x.fma(b5, c15);
            x = FloatVector.broadcast(SPECIES, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            c23 = x.fma(b3, c23); c24 = x.fma(b4, c24); c25 = x.fma(b5, c25);
            x = FloatVector.broadcast(SPECIES, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
            c33 = x.fma(b3, c33); c34 = x.fma(b4, c34); c35 = x.fma(b5, c35);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, 16); c02.intoArray(tile, 32);
        c03.intoArray(tile, 48); c04.intoArray(tile, 64); c05.intoArray(tile, 80);
        c10.intoArray(tile, 96); c11.intoArray(tile, 112); c12.intoArray(tile, 128);
        c13.intoArray(tile, 144); c14.intoArray(tile, 160); c15.intoArray(tile, 176);
        c20.intoArray(tile, 192); c21.intoArray(tile, 208); c22.intoArray(tile, 224);
        c23.intoArray(tile, 240); c24.intoArray(tile, 256); c25.intoArray(tile, 272);
        c30.intoArray(tile, 288); c31.intoArray(tile, 304); c32.intoArray(tile, 320);
        c33.intoArray(tile, 336); c34.intoArray(tile, 352); c35.intoArray(tile, 368);
    }

    /** The first 2 vectors of a 4 x 6 tile (AVX-512), for edge panels of at most 2 vectors' columns. */
    private static void micro4x2(int kc, float[] ap, int ao, float[] bp, int bo, float[] tile) {
        FloatVector c00 = FloatVector.zero(SPECIES), c01 = c00, c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int p = 0; p < kc; p++) {
            int a = ao + p * 4, b = bo + p * (6 * 16);
            FloatVector b0 = FloatVector.fromArray(SPECIES, bp, b), b1 = FloatVector.fromArray(SPECIES, bp, b + 16);
            FloatVector x = FloatVector.broadcast(SPECIES, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(SPECIES, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(SPECIES, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(SPECIES, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, 16);
        c10.intoArray(tile, 96); c11.intoArray(tile, 112);
        c20.intoArray(tile, 192); c21.intoArray(tile, 208);
        c30.intoArray(tile, 288); c31.intoArray(tile, 304);
    }

    /** 6 x 2 vectors: 12 accumulators, for 16-register files (AVX2). */
    private static void micro6x2(int kc, float[] ap, int ao, float[] bp, int bo, float[] tile) {
        FloatVector c00 = FloatVector.zero(SPECIES), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        for (int p = 0; p < kc; p++) {
            int a = ao + p * 6, b = bo + p * NR;
            FloatVector b0 = FloatVector.fromArray(SPECIES, bp, b);
            FloatVector b1 = FloatVector.fromArray(SPECIES, bp, b + L);
            FloatVector x = FloatVector.broadcast(SPECIES, ap[a]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(SPECIES, ap[a + 1]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(SPECIES, ap[a + 2]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(SPECIES, ap[a + 3]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(SPECIES, ap[a + 4]);
            c40 = x.fma(b0, c40); c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(SPECIES, ap[a + 5]);
            c50 = x.fma(b0, c50); c51 = x.fma(b1, c51);
        }
        c00.intoArray(tile, 0); c01.intoArray(tile, L);
        c10.intoArray(tile, NR); c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR); c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR); c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR); c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR); c51.intoArray(tile, 5 * NR + L);
    }

    /**
     * C[mr x nr] += tile: whole vectors, then the columns past the last one element by element. {@code cArr}:
     * C's array ({@link #floats}) or null, {@code co} C's element index in the segment.
     */
    private static void addTile(float[] tile, int mr, int nr, MemorySegment c, float[] cArr, long co, int ldc) {
        int whole = nr / L * L;
        if (cArr != null) {
            int row = Math.toIntExact(base(c) + co);
            for (int r = 0, t = 0; r < mr; r++, row += ldc, t += NR) {
                for (int q = 0; q < whole; q += L) {
                    FloatVector.fromArray(SPECIES, cArr, row + q).add(FloatVector.fromArray(SPECIES, tile, t + q)).intoArray(cArr, row + q);
                }
                for (int q = whole; q < nr; q++) cArr[row + q] += tile[t + q];
            }
            return;
        }
        for (int r = 0; r < mr; r++) {
            long row = co + (long) r * ldc;
            int t = r * NR;
            for (int q = 0; q < whole; q += L) {
                long off = (row + q) * 4;
                FloatVector.fromMemorySegment(SPECIES, c, off, ORDER).add(FloatVector.fromArray(SPECIES, tile, t + q))
                        .intoMemorySegment(c, off, ORDER);
            }
            for (int q = whole; q < nr; q++) c.setAtIndex(F, row + q, c.getAtIndex(F, row + q) + tile[t + q]);
        }
    }
}
