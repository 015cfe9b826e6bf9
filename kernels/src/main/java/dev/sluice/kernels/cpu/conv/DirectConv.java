package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.core.ScratchPool;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Direct 2-D convolution without im2col: the input is copied once into zero-padded "phase planes" in which
 * every kernel tap reads a contiguous run, and a register-tile kernel (like Gemm32's micro-kernel, with B
 * loaded straight from the planes instead of packed) sums over all taps.
 *
 * <p>Phase planes: for strides (sh, sw) each input channel is split into sh x sw planes of hq x wq floats,
 * plane (py, px) holding padded input rows py, py + sh, ... and columns px, px + sw, ... . Output position
 * (oy, ox) is flattened as {@code j = oy * wq + ox}; tap (ky, kx) then reads its plane at {@code j + const},
 * so one output tile of consecutive j is one contiguous vector load per tap, whatever the stride, dilation
 * or padding. Columns ox in [ow, wq) and the rounding of j up to whole tiles are computed and dropped.
 * Planes no tap reads (three of a 1x1 stride-2 conv's four) are not filled: a kept position's taps read only
 * their own plane's interior, so what such a plane holds reaches only dropped positions, lane by lane.
 *
 * <p>Summation order: every output element is {@code fma(w, x, acc)} over its taps in the weight's order
 * (input channel, ky, kx) starting from zero, then the bias is added and the activation applied in the
 * output buffer, in vector lanes for every element (the activation's scalar form gives the bits of any of
 * its lanes), before the rows are copied out. That order does not depend on the tile, the task split, the thread count or the number of
 * output channels in the call, so a conv split by output channels (memgraph's channel tiles) gives the same
 * bits as the whole conv.
 */
final class DirectConv {
    private DirectConv() {}

    static final VectorSpecies<Float> S = Gemm32.SPECIES;
    private static final int L = S.length();
    /** Output positions per register tile of the group-1 kernel: two vectors. */
    static final int NT = 2 * L;
    /** Output positions per depthwise tile: four vectors, for four independent FMA chains. */
    private static final int DW_TILE = 4 * L;

    /**
     * Layout of one channel's phase planes and where the taps read: {@code tap[ky * kw + kx]} is the offset
     * of that tap's first read within a channel's {@code chanStride} floats; {@code jt} is the flattened
     * output length rounded up to whole tiles, {@code length} what a buffer of {@code channels} channels needs
     * so that every tile's reads stay inside it.
     */
    record Planes(int sh, int sw, int hq, int wq, int oh, int ow, int[] tap, int chanStride, int jt, int length, boolean[] read) {
        static Planes of(WindowGeometry g, int channels, int tile) {
            int kh = g.kernel()[0], kw = g.kernel()[1], sh = g.strides()[0], sw = g.strides()[1];
            int dh = g.dilations()[0], dw = g.dilations()[1], oh = g.out()[0], ow = g.out()[1];
            int hq = oh + (kh - 1) * dh / sh, wq = ow + (kw - 1) * dw / sw;
            int plane = Math.multiplyExact(hq, wq), chanStride = Math.multiplyExact(sh * sw, plane);
            int[] tap = new int[kh * kw];
            boolean[] read = new boolean[sh * sw];
            int maxTap = 0;
            for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                    int ty = ky * dh, tx = kx * dw;
                    int t = ((ty % sh) * sw + tx % sw) * plane + (ty / sh) * wq + tx / sw;
                    tap[ky * kw + kx] = t;
                    read[(ty % sh) * sw + tx % sw] = true;
                    maxTap = Math.max(maxTap, t);
                }
            }
            int jt = roundUp(Math.multiplyExact(oh, wq), tile);
            // reads reach jt past the last tap, plus one tile for tiles that start inside the last row
            int length = Math.max(Math.multiplyExact(channels, chanStride), (channels - 1) * chanStride + maxTap + jt + tile);
            return new Planes(sh, sw, hq, wq, oh, ow, tap, chanStride, jt, length, read);
        }
    }

    private static int roundUp(int v, int unit) { return (v + unit - 1) / unit * unit; }

    /** One zero-padded input row, for splitting it into column phases (strided convs). */
    private static final ThreadLocal<float[][]> ROW = ThreadLocal.withInitial(() -> new float[1][0]);

    /**
     * Copies input plane {@code xo} (h x w floats of x) into its phase planes at {@code dst[base ..]}. The plane
     * comes in with one bulk copy and its rows go on by array copies: a segment copy per row costs tens of
     * nanoseconds whatever its length, more than the row itself on 64-wide and narrower planes.
     */
    static void fill(MemorySegment x, long xo, WindowGeometry g, Planes p, float[] dst, int base) {
        float[] in = ScratchPool.take(g.in()[0] * g.in()[1]);
        try {
            fill(x, xo, g, p, dst, base, in);
        } finally {
            ScratchPool.give(in);
        }
    }

    /** The same, staging the plane in {@code in} (at least h x w floats). */
    private static void fill(MemorySegment x, long xo, WindowGeometry g, Planes p, float[] dst, int base, float[] in) {
        MemorySegment.copy(x, NnArrays.F32, xo * 4, in, 0, g.in()[0] * g.in()[1]);
        fill(in, g, p, dst, base);
    }

    /** Floats of phase planes below which the channels are filled on the calling thread alone. */
    private static final long FILL_PARALLEL = 1 << 16;

    /**
     * Fills the phase planes of input channels [0, c) of image {@code xo}: in a few chunks of channels, one
     * staging buffer per chunk (one per channel cost more than small planes' rows), in parallel when the planes
     * are large enough. Strided and small planes left this copy on the calling thread while the other waited:
     * 100 us of a 0.35 ms 256 -> 512 channel 3x3 stride-2 conv on 14 x 14 at two threads.
     */
    private static void fillAll(MemorySegment x, long xo, int c, WindowGeometry g, Planes p, float[] src, Parallelism par) {
        int inSize = g.in()[0] * g.in()[1];
        int chunks = (long) c * p.chanStride < FILL_PARALLEL ? 1 : Math.min(c, 2 * par.threads());
        int per = (c + chunks - 1) / chunks;
        par.forEach((c + per - 1) / per, (long) per * p.chanStride, t -> {
            float[] in = ScratchPool.take(inSize);
            try {
                for (int ci = t * per; ci < Math.min(c, (t + 1) * per); ci++) {
                    fill(x, xo + (long) ci * inSize, g, p, src, ci * p.chanStride, in);
                }
            } finally {
                ScratchPool.give(in);
            }
        });
    }

    /** The same from the plane at {@code in[0 .. h * w)}. */
    private static void fill(float[] in, WindowGeometry g, Planes p, float[] dst, int base) {
        int h = g.in()[0], wd = g.in()[1], pt = g.padBegin()[0], pl = g.padBegin()[1];
        int sh = p.sh, sw = p.sw, hq = p.hq, wq = p.wq, plane = hq * wq;
        if (sw == 1) {
            // column xq reads input column xq - pl: valid for xq in [a, b)
            int a = Math.min(pl, wq), b = Math.max(a, Math.min(wq, pl + wd));
            for (int py = 0; py < sh; py++) {
                if (!p.read[py]) continue;
                for (int yq = 0; yq < hq; yq++) {
                    int iy = yq * sh + py - pt, row = base + py * plane + yq * wq;
                    if (iy < 0 || iy >= h) {
                        java.util.Arrays.fill(dst, row, row + wq, 0f);
                        continue;
                    }
                    java.util.Arrays.fill(dst, row, row + a, 0f);
                    if (b > a) System.arraycopy(in, iy * wd + a - pl, dst, row + a, b - a);
                    java.util.Arrays.fill(dst, row + b, row + wq, 0f);
                }
            }
            return;
        }
        // strided columns: the padded row r (r[i] = input column i - pl, zero outside) has phase px's column
        // xq at r[xq * sw + px], so each row is padded once and then split into its sw phases
        int width = wq * sw;
        float[][] rb = ROW.get();
        if (rb[0].length < width) rb[0] = new float[width];
        float[] r = rb[0];
        int a = Math.min(pl, width), b = Math.max(a, Math.min(width, pl + wd));
        for (int py = 0; py < sh; py++) {
            boolean anyRead = false, allRead = true;
            for (int px = 0; px < sw; px++) {
                anyRead |= p.read[py * sw + px];
                allRead &= p.read[py * sw + px];
            }
            if (!anyRead) continue;
            for (int yq = 0; yq < hq; yq++) {
                int iy = yq * sh + py - pt, row = base + py * sw * plane + yq * wq;
                if (iy < 0 || iy >= h) {
                    for (int px = 0; px < sw; px++) {
                        if (p.read[py * sw + px]) java.util.Arrays.fill(dst, row + px * plane, row + px * plane + wq, 0f);
                    }
                    continue;
                }
                java.util.Arrays.fill(r, 0, a, 0f);
                if (b > a) System.arraycopy(in, iy * wd + a - pl, r, a, b - a);
                java.util.Arrays.fill(r, b, width, 0f);
                if (sw == 2 && allRead) {
                    splitPairs(r, wq, dst, row, row + plane);
                } else {
                    for (int px = 0; px < sw; px++) {
                        if (!p.read[py * sw + px]) continue;
                        for (int q = 0, at = row + px * plane; q < wq; q++) dst[at + q] = r[q * sw + px];
                    }
                }
            }
        }
    }

    /** Lane i of a vector pair's even (odd) elements: its source lane within whichever vector holds it. */
    private static final VectorShuffle<Float> EVEN = VectorShuffle.fromOp(S, i -> 2 * i % L),
            ODD = VectorShuffle.fromOp(S, i -> (2 * i + 1) % L);
    /** The upper half of the lanes: filled from the second vector of a pair. */
    private static final VectorMask<Float> UPPER = VectorMask.fromLong(S, ((1L << L) - 1) & ~((1L << (L / 2)) - 1));

    /** even[e0 + q] = r[2q], odd[o0 + q] = r[2q + 1] for q in [0, n): a plain copy, split by vector permutes. */
    private static void splitPairs(float[] r, int n, float[] dst, int e0, int o0) {
        int q = 0;
        for (; q + L <= n; q += L) {
            FloatVector v0 = FloatVector.fromArray(S, r, 2 * q), v1 = FloatVector.fromArray(S, r, 2 * q + L);
            v0.rearrange(EVEN).blend(v1.rearrange(EVEN), UPPER).intoArray(dst, e0 + q);
            v0.rearrange(ODD).blend(v1.rearrange(ODD), UPPER).intoArray(dst, o0 + q);
        }
        for (; q < n; q++) {
            dst[e0 + q] = r[2 * q];
            dst[o0 + q] = r[2 * q + 1];
        }
    }

    // ------------------------------------------------------------------ group 1

    /** Floats of output a task buffers before writing them out: about 32 KiB, to stay in the L1/L2 caches. */
    private static final int OUT_TILE = 1 << 13;

    /** Fewest output positions in a task's or a sub-chunk's rows: rounding them up to whole tiles wastes < 1/4. */
    private static final int MIN_SPAN = 4 * NT;

    /**
     * Fewest output positions a task computes per pass over its row blocks: four wide tiles. With many output
     * channels OUT_TILE alone allowed one or two rows (64 positions at 128 channels), all in narrow tiles.
     */
    private static final int SUB_SPAN = 4 * 6 * L;

    /** Rows of the register tile for m output channels: 4 when that pads fewer rows than 6. */
    static int rowsPerTile(int m) { return roundUp(m, 4) < roundUp(m, 6) ? 4 : 6; }

    /** Packed filters per constant weight tensor (identity keys), dropped with the tensor. */
    private static final java.util.Map<Object, PackedFilter> FILTERS =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** The weight as MR-row panels, {@code data[(block * kk + p) * mr + r] = W[block * mr + r][p]}, zero rows past m. */
    private record PackedFilter(float[] data, int m, int kk, int mr, long address) {}

    private static float[] packedFilter(Object key, MemorySegment w, int m, int kk, int mr) {
        long addr = w.isNative() ? w.address() : System.identityHashCode(w.heapBase().orElse(null));
        if (key != null) {
            PackedFilter f = FILTERS.get(key);
            if (f != null && f.m == m && f.kk == kk && f.mr == mr && f.address == addr) return f.data;
        }
        float[] data = pack(w, 0, m, kk, mr, false);
        if (key != null) FILTERS.put(key, new PackedFilter(data, m, kk, mr, addr));
        return data;
    }

    /**
     * Packs an m x kk matrix at element {@code off} of w, stored row-major or ({@code transposed}) as kk x m,
     * into MR-row panels: {@code data[(block * kk + p) * mr + r] = A[block * mr + r][p]}, zero rows past m.
     */
    static float[] pack(MemorySegment w, long off, int m, int kk, int mr, boolean transposed) {
        int blocks = (m + mr - 1) / mr;
        float[] data = new float[Math.multiplyExact(blocks * mr, kk)];
        if (!transposed) {
            float[] rowBuf = new float[kk];
            for (int o = 0; o < m; o++) {
                MemorySegment.copy(w, NnArrays.F32, (off + (long) o * kk) * 4, rowBuf, 0, kk);
                int at = (o / mr) * kk * mr + o % mr;
                for (int p = 0; p < kk; p++) data[at + p * mr] = rowBuf[p];
            }
        } else {
            float[] colBuf = new float[m];
            for (int p = 0; p < kk; p++) {
                MemorySegment.copy(w, NnArrays.F32, (off + (long) p * m) * 4, colBuf, 0, m);
                for (int o = 0; o < m; o++) data[(o / mr) * kk * mr + p * mr + o % mr] = colBuf[o];
            }
        }
        return data;
    }

    /**
     * Float32 2-D convolution with one group: x is N x C x H x W, w is M x C x kh x kw, y N x M x oh x ow.
     * A non-null {@code wKey} marks w as constant: its packed panels are cached under that key.
     */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m,
                     WindowGeometry g, Parallelism par, Activation act, Object wKey) {
        conv(x, w, bias, y, n, c, m, g, par, act, wKey, false);
    }

    /**
     * The same; with {@code partial}, y holds the sums of the input channels before x's (a K tile, see
     * PartialSums) and every output element's FMA chain continues from them instead of from zero.
     */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m,
                     WindowGeometry g, Parallelism par, Activation act, Object wKey, boolean partial) {
        int ks = g.kernel()[0] * g.kernel()[1], kk = Math.multiplyExact(c, ks);
        int mr = rowsPerTile(m);
        Planes p = Planes.of(g, c, NT);
        float[] wp = packedFilter(wKey, w, m, kk, mr);
        int[] tap = new int[kk];
        for (int ci = 0; ci < c; ci++) for (int t = 0; t < ks; t++) tap[ci * ks + t] = ci * p.chanStride + p.tap[t];
        int blocks = (m + mr - 1) / mr, oh = p.oh, wq = p.wq;
        int inSize = g.in()[0] * g.in()[1], outSize = oh * p.ow;
        // Tasks: chunks of output rows x chunks of row blocks, each with its own output buffer, written out
        // (bias, activation) by the task itself, so a conv is one parallel call. Within a task the tiles are
        // the outer loop: a tile's plane rows stay in cache across the row blocks.
        long work = (long) blocks * mr * oh * wq * kk;
        int want = work < Parallelism.INLINE_WORK ? 1 : 4 * par.threads();
        // row chunks of at least MIN_SPAN positions (a chunk is rounded up to whole tiles), blocks for the rest
        int minRows = (MIN_SPAN + wq - 1) / wq, minSubRows = (SUB_SPAN + wq - 1) / wq;
        int rowChunks = Math.max(1, Math.min(want, oh / minRows));
        int blockChunks = Math.min(blocks, (want + rowChunks - 1) / rowChunks);
        int rowsPer = (oh + rowChunks - 1) / rowChunks, blocksPer = (blocks + blockChunks - 1) / blockChunks;
        int nr = (oh + rowsPer - 1) / rowsPer, nb = (blocks + blocksPer - 1) / blocksPer;
        float[] src = ScratchPool.take(p.length);
        try {
            for (int ni = 0; ni < n; ni++) {
                long xo = (long) ni * c * inSize, yo = (long) ni * m * outSize;
                fillAll(x, xo, c, g, p, src, par);
                java.util.Arrays.fill(src, c * p.chanStride, p.length, 0f);
                par.forEach(nr * nb, work / ((long) nr * nb), t -> {
                    int oy0 = (t % nr) * rowsPer, oy1 = Math.min(oh, oy0 + rowsPer);
                    int b0 = (t / nr) * blocksPer, b1 = Math.min(blocks, b0 + blocksPer);
                    // a few output rows at a time: their buffer stays in L1/L2 between the tiles and writeRows
                    int rows = (b1 - b0) * mr, sub = Math.min(oy1 - oy0, Math.max(minSubRows, OUT_TILE / (rows * wq)));
                    int cap = roundUp(sub * wq, NT);
                    float[] out = ScratchPool.take(Math.multiplyExact(rows, cap));
                    try {
                        for (int s0 = oy0; s0 < oy1; s0 += sub) {
                            // whole vectors, not whole tiles: on small planes (a few rows of 2-8 columns) rounding
                            // to NT positions computed up to twice the positions kept; a last half tile takes L
                            int s1 = Math.min(oy1, s0 + sub), len = roundUp((s1 - s0) * wq, L);
                            if (partial) {
                                for (int o = b0 * mr; o < Math.min(m, b1 * mr); o++) {
                                    for (int oy = s0; oy < s1; oy++) {
                                        MemorySegment.copy(y, NnArrays.F32, (yo + (long) o * outSize + (long) oy * p.ow) * 4,
                                                out, (o - b0 * mr) * len + (oy - s0) * wq, p.ow);
                                    }
                                }
                            }
                            tiles(src, tap, kk, wp, mr, b0, b1, s0 * wq, len, out, 0, len, partial);
                            for (int o = b0 * mr; o < Math.min(m, b1 * mr); o++) {
                                writeRows(out, (o - b0 * mr) * len, len, p, s0, s1, y, yo + (long) o * outSize,
                                        bias == null ? 0f : bias[o], act);
                            }
                        }
                    } finally {
                        ScratchPool.give(out);
                    }
                });
            }
        } finally {
            ScratchPool.give(src);
        }
    }

    /**
     * Copies output rows [oy0, oy1) of one channel from its flattened buffer (row oy0 at {@code oo}) into y,
     * after adding the bias and applying the activation there over {@code span} floats (a multiple of the
     * tile width, covering the rows): whole vectors, padding columns and slack included, instead of each row
     * on its own, whose rows narrower than a vector (8 or 4 columns) would all go through the activation's
     * scalar remainder. The rows are then compacted in the buffer (dropping the padding columns; the buffer's
     * contents are spent) and leave in one segment copy, not one per row.
     */
    private static void writeRows(float[] out, int oo, int span, Planes p, int oy0, int oy1, MemorySegment y, long yo,
                                  float bias, Activation act) {
        int ow = p.ow, wq = p.wq;
        act.biasAndApply(out, oo, span, bias);
        // row r moves from oo + r * wq down to oo + r * ow (ow <= wq): in increasing order no row is overwritten
        // before it has moved
        if (wq != ow) for (int r = 1; r < oy1 - oy0; r++) System.arraycopy(out, oo + r * wq, out, oo + r * ow, ow);
        MemorySegment.copy(out, oo, y, NnArrays.F32, (yo + (long) oy0 * ow) * 4, (oy1 - oy0) * ow);
    }

    /**
     * Row blocks [b0, b1) x positions [j0, j0 + len) of the direct product (len a multiple of NT) into out,
     * block b0's first row at {@code oo}, rows {@code ldo} apart. The tiles are the outer loop: a tile's
     * source rows stay in cache across the row blocks.
     */
    private static void tiles(float[] src, int[] tap, int kk, float[] wp, int mr, int b0, int b1, int j0, int len,
                              float[] out, int oo, int ldo, boolean partial) {
        int jj = 0;
        if (DirectConvTiles.WIDE) {
            // the wide tiles first: per tap 4 (6) broadcasts feed 24 FMAs instead of 12 in tile4 / tile6
            int wt = (mr == 6 ? 4 : 6) * L;
            for (; jj + wt <= len; jj += wt) {
                for (int b = b0; b < b1; b++) {
                    int at = oo + (b - b0) * mr * ldo + jj;
                    if (mr == 6) DirectConvTiles.tile6x4(src, tap, kk, j0 + jj, wp, b * kk * 6, out, at, ldo, partial);
                    else DirectConvTiles.tile4x6(src, tap, kk, j0 + jj, wp, b * kk * 4, out, at, ldo, partial);
                }
            }
            // four rows: a last 4-vector run (a 7 x 7 plane's 63 positions) in one tile instead of two
            if (mr == 4 && jj + 4 * L <= len) {
                for (int b = b0; b < b1; b++) DirectConvTiles.tile4x4(src, tap, kk, j0 + jj, wp, b * kk * 4, out, oo + (b - b0) * mr * ldo + jj, ldo, partial);
                jj += 4 * L;
            }
        }
        for (; jj + NT <= len; jj += NT) {
            for (int b = b0; b < b1; b++) {
                int at = oo + (b - b0) * mr * ldo + jj;
                if (mr == 6) DirectConvTiles.tile6(src, tap, kk, j0 + jj, wp, b * kk * 6, out, at, ldo, partial);
                else DirectConvTiles.tile4(src, tap, kk, j0 + jj, wp, b * kk * 4, out, at, ldo, partial);
            }
        }
        // a last half tile (len a multiple of L): the same FMA chains, one vector wide
        if (jj < len) {
            for (int b = b0; b < b1; b++) halfTile(src, tap, kk, j0 + jj, wp, b * kk * mr, mr, out, oo + (b - b0) * mr * ldo + jj, ldo, partial);
        }
    }

    /**
     * {@code mr} output channels x L positions, for the last positions of a run: per element the same chain
     * of FMAs over the taps as tile6 and tile4, so a position gets the same bits in a whole tile or a half.
     * Six accumulators at most: fewer independent chains than a whole tile, but it runs once per run of tiles.
     */
    private static void halfTile(float[] src, int[] tap, int kk, int j, float[] wp, int wo, int mr, float[] out, int oo,
                                 int ldo, boolean partial) {
        // one method per row count: six accumulators that only some calls use, merged across the branches, were
        // boxed by C2 on every FMA (EfficientNet's stem: ~1 MB of vector boxes per run)
        if (mr == 6) halfTile6(src, tap, kk, j, wp, wo, out, oo, ldo, partial);
        else halfTile4(src, tap, kk, j, wp, wo, out, oo, ldo, partial);
    }

    private static void halfTile6(float[] src, int[] tap, int kk, int j, float[] wp, int wo, float[] out, int oo,
                                  int ldo, boolean partial) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        if (partial) {
            c0 = FloatVector.fromArray(S, out, oo);
            c1 = FloatVector.fromArray(S, out, oo + ldo);
            c2 = FloatVector.fromArray(S, out, oo + 2 * ldo);
            c3 = FloatVector.fromArray(S, out, oo + 3 * ldo);
            c4 = FloatVector.fromArray(S, out, oo + 4 * ldo);
            c5 = FloatVector.fromArray(S, out, oo + 5 * ldo);
        }
        for (int q = 0; q < kk; q++) {
            FloatVector b = FloatVector.fromArray(S, src, tap[q] + j);
            c0 = FloatVector.broadcast(S, wp[wo]).fma(b, c0);
            c1 = FloatVector.broadcast(S, wp[wo + 1]).fma(b, c1);
            c2 = FloatVector.broadcast(S, wp[wo + 2]).fma(b, c2);
            c3 = FloatVector.broadcast(S, wp[wo + 3]).fma(b, c3);
            c4 = FloatVector.broadcast(S, wp[wo + 4]).fma(b, c4);
            c5 = FloatVector.broadcast(S, wp[wo + 5]).fma(b, c5);
            wo += 6;
        }
        c0.intoArray(out, oo);
        c1.intoArray(out, oo + ldo);
        c2.intoArray(out, oo + 2 * ldo);
        c3.intoArray(out, oo + 3 * ldo);
        c4.intoArray(out, oo + 4 * ldo);
        c5.intoArray(out, oo + 5 * ldo);
    }

    private static void halfTile4(float[] src, int[] tap, int kk, int j, float[] wp, int wo, float[] out, int oo,
                                  int ldo, boolean partial) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0;
        if (partial) {
            c0 = FloatVector.fromArray(S, out, oo);
            c1 = FloatVector.fromArray(S, out, oo + ldo);
            c2 = FloatVector.fromArray(S, out, oo + 2 * ldo);
            c3 = FloatVector.fromArray(S, out, oo + 3 * ldo);
        }
        for (int q = 0; q < kk; q++) {
            FloatVector b = FloatVector.fromArray(S, src, tap[q] + j);
            c0 = FloatVector.broadcast(S, wp[wo]).fma(b, c0);
            c1 = FloatVector.broadcast(S, wp[wo + 1]).fma(b, c1);
            c2 = FloatVector.broadcast(S, wp[wo + 2]).fma(b, c2);
            c3 = FloatVector.broadcast(S, wp[wo + 3]).fma(b, c3);
            wo += 4;
        }
        c0.intoArray(out, oo);
        c1.intoArray(out, oo + ldo);
        c2.intoArray(out, oo + 2 * ldo);
        c3.intoArray(out, oo + 3 * ldo);
    }

    /**
     * A matrix product with the same tiles: {@code out[r * ld + j] = sum_ci A[r][ci] * x[xo + ci * n + j]} for
     * r below the padded row count of {@code wp} (packed by {@link #pack} with {@code mr} rows) and j below
     * ld = n rounded up to NT (positions past n hold garbage). For ConvTranspose's columns.
     */
    static void product(MemorySegment x, long xo, int c, int n, float[] wp, int rows, int mr, float[] out, int ld,
                        Parallelism par) {
        int blocks = (rows + mr - 1) / mr, tilesN = ld / NT;
        int[] tap = new int[c];
        for (int ci = 0; ci < c; ci++) tap[ci] = ci * n;
        long work = (long) blocks * mr * ld * c;
        int want = work < Parallelism.INLINE_WORK ? 1 : 4 * par.threads();
        int jChunks = Math.min(tilesN, want), bChunks = Math.min(blocks, (want + jChunks - 1) / jChunks);
        int tilesPer = (tilesN + jChunks - 1) / jChunks, blocksPer = (blocks + bChunks - 1) / bChunks;
        int nj = (tilesN + tilesPer - 1) / tilesPer, nb = (blocks + blocksPer - 1) / blocksPer;
        float[] src = ScratchPool.take(c * n + ld);
        try {
            MemorySegment.copy(x, NnArrays.F32, xo * 4, src, 0, c * n);
            java.util.Arrays.fill(src, c * n, c * n + ld, 0f);
            par.forEach(nj * nb, work / ((long) nj * nb), t -> {
                int j0 = (t % nj) * tilesPer * NT, len = Math.min(ld - j0, tilesPer * NT);
                int b0 = (t / nj) * blocksPer, b1 = Math.min(blocks, b0 + blocksPer);
                tiles(src, tap, c, wp, mr, b0, b1, j0, len, out, b0 * mr * ld + j0, ld, false);
            });
        } finally {
            ScratchPool.give(src);
        }
    }

    // ------------------------------------------------------------------ depthwise

    /**
     * Float32 2-D convolution with one input channel per group (group = C, M = C x multiplier) over wide
     * planes ({@link DepthwiseConv} sends them here). A task takes a chunk of channels and one scratch buffer
     * whose phase planes it zeroes once: at stride 1 in the columns the padding positions are the same for
     * every channel, so per channel only the input rows are copied into the planes' interior, straight from x
     * by vectors (no staging copy, no per-row call). Each output row is computed into its compact place in a
     * band of rows (no padding columns computed, no compaction pass), the band biased and activated in whole
     * vectors while in cache and copied out in one piece. Strided columns fill each channel's planes whole.
     */
    static void depthwise(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m,
                          WindowGeometry g, Parallelism par, Activation act) {
        int mg = m / c, ks = g.kernel()[0] * g.kernel()[1];
        Planes p = Planes.of(g, 1, DW_TILE);
        int inSize = g.in()[0] * g.in()[1], oh = p.oh, ow = p.ow, outSize = oh * ow, planes = n * c;
        if (planes == 0 || outSize == 0 || mg == 0) return;
        int bandRows = Math.max(1, Math.min(oh, DW_BAND / ow));
        int bandLen = roundUp(bandRows * ow + L, Activation.LANES);
        long perPlane = (long) mg * outSize * ks + inSize;
        int want = (double) perPlane * planes < Parallelism.INLINE_WORK ? 1 : 4 * par.threads();
        int per = (planes + want - 1) / want, chunks = (planes + per - 1) / per;
        boolean interior = p.sw == 1;
        par.forEach(chunks, perPlane * per, t -> {
            float[] buf = ScratchPool.take(p.length + bandLen + ks + inSize + L);
            int band = p.length, wo = band + bandLen;
            try {
                if (interior) java.util.Arrays.fill(buf, 0, p.length, 0f);
                int q0 = t * per, q1 = Math.min(planes, q0 + per);
                for (int q = q0; q < q1; q++) {
                    int ci = q % c;
                    if (interior) {
                        fillInterior(x, (long) q * inSize, g, p, buf, wo + ks);
                    } else {
                        fill(x, (long) q * inSize, g, p, buf, 0);
                        java.util.Arrays.fill(buf, p.chanStride, p.length, 0f);
                    }
                    for (int o = ci * mg; o < (ci + 1) * mg; o++) {
                        MemorySegment.copy(w, NnArrays.F32, (long) o * ks * 4, buf, wo, ks);
                        long yo = ((long) (q / c) * m + o) * outSize;
                        float b = bias == null ? 0f : bias[o];
                        for (int r0 = 0; r0 < oh; r0 += bandRows) {
                            int r1 = Math.min(oh, r0 + bandRows);
                            for (int oy = r0; oy < r1; oy++) depthwiseRow(buf, p.tap, ks, buf, wo, oy * p.wq, ow, buf, band + (oy - r0) * ow);
                            int len = (r1 - r0) * ow;
                            act.biasAndApply(buf, band, roundUp(len, Activation.LANES), b);
                            MemorySegment.copy(buf, band, y, NnArrays.F32, (yo + (long) r0 * ow) * 4, len);
                        }
                    }
                }
            } finally {
                ScratchPool.give(buf);
            }
        });
    }

    /** Output floats of a band of depthwise rows: 8 KiB, so the band is still in L1 when it is activated and copied. */
    private static final int DW_BAND = 2048;

    /**
     * One output row of a depthwise channel: {@code ow} positions from flattened position j into out[oo ..],
     * in whole vectors, the last one running up to L - 1 floats past the row (into the next row's place, which
     * that row then overwrites, or the band's slack).
     */
    private static void depthwiseRow(float[] src, int[] tap, int ks, float[] w, int wo, int j, int ow, float[] out, int oo) {
        int nv = (ow + L - 1) / L;
        if (ks == 9) {
            DepthwiseConv.taps9(src, tap, w, wo, j, nv, out, oo);
            return;
        }
        int v = 0;
        for (; v + 4 <= nv; v += 4) DepthwiseConv.tile4(src, tap, ks, w, wo, j + v * L, out, oo + v * L);
        switch (nv - v) {
            case 3 -> DepthwiseConv.tile3(src, tap, ks, w, wo, j + v * L, out, oo + v * L);
            case 2 -> DepthwiseConv.tile2(src, tap, ks, w, wo, j + v * L, out, oo + v * L);
            case 1 -> DepthwiseConv.tile1(src, tap, ks, w, wo, j + v * L, out, oo + v * L);
            default -> { }
        }
    }

    /**
     * Copies input plane {@code xo} (h x w floats of x) into the interior of its phase planes at dst[0 ..] when
     * the columns have stride 1: exactly the positions that hold input, the same for every channel, so padding
     * zeroed once stays zero. The plane comes into the staging area at dst[stage ..] in one bulk copy, its rows
     * then go on by vectors.
     */
    private static void fillInterior(MemorySegment x, long xo, WindowGeometry g, Planes p, float[] dst, int stage) {
        int h = g.in()[0], wd = g.in()[1], pt = g.padBegin()[0], pl = g.padBegin()[1];
        int sh = p.sh, hq = p.hq, wq = p.wq, plane = hq * wq;
        int a = Math.min(pl, wq), b = Math.max(a, Math.min(wq, pl + wd)), len = b - a;
        if (len == 0) return;
        MemorySegment.copy(x, NnArrays.F32, xo * 4, dst, stage, h * wd);
        VectorMask<Float> tail = S.indexInRange(0, len % L == 0 ? L : len % L);
        int body = (len - 1) / L * L;
        for (int iy = 0; iy < h; iy++) {
            int yq = (iy + pt) / sh, py = (iy + pt) % sh;
            if (yq >= hq) break;
            int from = stage + iy * wd + a - pl, at = py * plane + yq * wq + a;
            for (int k = 0; k < body; k += L) FloatVector.fromArray(S, dst, from + k).intoArray(dst, at + k);
            FloatVector last = FloatVector.fromArray(S, dst, from + body, tail);
            // one plane (sh = 1), rows in increasing order: the last vector goes whole, its zero lanes landing on
            // padding, on the next row's interior (written after it) or on the planes' slack; a masked store
            // costs far more than a masked load
            if (sh == 1) last.intoArray(dst, at + body);
            else last.intoArray(dst, at + body, tail);
        }
    }

    private static final java.nio.ByteOrder ORDER = java.nio.ByteOrder.nativeOrder();
}
