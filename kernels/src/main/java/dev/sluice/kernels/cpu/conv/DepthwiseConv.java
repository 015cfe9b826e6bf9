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
 * Float32 2-D depthwise convolution (group = C, one input channel per group, M = C x multiplier) over
 * phase planes (as {@link DirectConv}'s, see {@link Layout}): each tap of an output channel reads one
 * contiguous run of its input channel's zero-padded planes, so a run of output positions is a few vector
 * FMA chains over the taps.
 *
 * <p>Made for the small planes of mobile nets (hundreds of channels of 10 x 10 or 20 x 20), where per-channel
 * overhead, not arithmetic, costs: a task is a chunk of channels that takes one scratch buffer, zeroes its
 * planes once and then, per channel, only copies the input rows into the planes' interior (the padding
 * positions are the same for every channel, so they stay zero); the tiles are sized to the plane (a few
 * vectors, not a fixed width that is mostly padding on 10 x 10); output rows are compacted in the buffer,
 * biased and activated there in whole vectors, and a group of planes leaves in one copy. Larger planes go
 * by strips of output rows, so
 * a strip's sums are still in cache when they are activated and written; planes of {@link #WIDE} or more
 * output columns at stride 1 in the columns go to {@link DirectConv#depthwise}.
 *
 * <p>Summation order: every output element is {@code fma(w, x, acc)} over its taps in the weight's order
 * (ky, kx) starting from zero, then the bias is added and the activation applied, both in vector lanes for
 * every element (no scalar tail). So an element's bits depend on neither its position in a vector, the
 * strip or tile it falls in, the chunking into tasks, the thread count, nor how many channels or rows the
 * call has: a conv split by channels or bands of rows (memgraph) gives the bits of the whole. (The wide
 * path finishes each row with a scalar tail, by column: also the same in a band as in the whole.)
 */
final class DepthwiseConv {
    private DepthwiseConv() {}

    private static final VectorSpecies<Float> S = Gemm32.SPECIES;
    private static final int L = S.length();
    /** Buffered sums are activated in whole vectors of the activation's own species as well. */
    private static final int ACT_UNIT = Math.max(L, Activation.LANES);
    /** Output positions (flattened, padding columns included) of one strip: about 8 KiB of sums, in L1. */
    private static final int STRIP = 2048;
    /** Vectors per register tile at most: four independent FMA chains hide the FMA latency. */
    private static final int MAX_TILE = 4;
    /**
     * Output widths from which planes go to {@link DirectConv#depthwise} instead: there the per-channel
     * overhead this class saves is small next to the arithmetic, while its staging copies and compaction
     * cost memory traffic (measured in PP-OCRv3 det: 80 and 160 wide planes slower here, 40 wide faster).
     * Only at stride 1 in the columns: strided columns are split into phases here in one pass over the
     * channel (DirectConv splits row by row; 32 x 160 x 160 3x3 stride 2: 217 against 235 us, one thread).
     * A test of the width and stride alone: a band of rows of a conv takes the path of the whole conv.
     */
    private static final int WIDE = 64;
    /** Floats of input or output copied at once for a group of small planes: 16 KiB, in L1 or L2. */
    private static final int GROUP = 4096;

    /**
     * y = act(conv(x, w) + bias) for x N x C x H x W, w M x 1 x kh x kw, y N x M x oh x ow, M a multiple of C;
     * output channel o reads input channel o / (M / C).
     */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m,
                     WindowGeometry g, Parallelism par, Activation act) {
        int mg = m / c, ks = g.kernel()[0] * g.kernel()[1];
        int inSize = g.in()[0] * g.in()[1], outSize = g.out()[0] * g.out()[1];
        int planes = n * c;
        if (planes == 0 || outSize == 0 || mg == 0) return;
        if (g.out()[1] >= WIDE && g.strides()[1] == 1) {
            DirectConv.depthwise(x, w, bias, y, n, c, m, g, par, act);
            return;
        }
        Layout probe = Layout.of(g, 1, 1, 1);
        // chunks of channels: a few per thread for balance, each taking scratch and zeroing its planes once
        long perPlane = (long) mg * probe.oh * probe.wq * ks + (long) probe.chanStride + inSize;
        int want = (double) perPlane * planes < Parallelism.INLINE_WORK ? 1 : 4 * par.threads();
        int per = (planes + want - 1) / want, chunks = (planes + per - 1) / per;
        // fewer planes than tasks wanted (one input channel to many maps, a depthwise conv's one-group tile): a
        // plane's output maps split into parts as well, each part filling the plane again (cheap next to its maps)
        int split = planes >= want ? 1 : Math.min(mg, (want + planes - 1) / planes);
        int kPer = (mg + split - 1) / split, parts = (mg + kPer - 1) / kPer;
        Layout lay = Layout.of(g, per, mg, ks);
        par.forEach(chunks * parts, perPlane * per / parts, task -> {
            int t = task / parts, k0 = task % parts * kPer, k1 = Math.min(mg, k0 + kPer);
            float[] buf = ScratchPool.take(lay.total);
            try {
                // the planes' padding and slack, and the padded rows', are never written again: zero once
                java.util.Arrays.fill(buf, 0, lay.out, 0f);
                if (lay.padded >= 0) java.util.Arrays.fill(buf, lay.padded, lay.padded + lay.paddedLen, 0f);
                int q0 = t * per, q1 = Math.min(planes, q0 + per);
                for (int q = q0; q < q1; q++) {
                    MemorySegment.copy(w, NnArrays.F32, (long) (q % c) * mg * ks * 4, buf, lay.weights + (q - q0) * mg * ks, mg * ks);
                }
                // groups of channels: one bulk copy of their inputs in and, for planes of one strip, of their
                // outputs out (a channel plane q's outputs are planes q * mg .. of y, so both are contiguous)
                for (int g0 = q0; g0 < q1; g0 += lay.group) {
                    int g1 = Math.min(q1, g0 + lay.group);
                    MemorySegment.copy(x, NnArrays.F32, (long) g0 * inSize * 4, buf, lay.in, (g1 - g0) * inSize);
                    for (int q = g0; q < g1; q++) {
                        fillInterior(buf, g, lay, lay.in + (q - g0) * inSize);
                        for (int k = k0; k < k1; k++) {
                            int o = q % c * mg + k, at = ((q - g0) * mg + k) * outSize;
                            channel(buf, lay, lay.weights + ((q - q0) * mg + k) * ks, ks, y, ((long) q * mg + k) * outSize,
                                    lay.rows + at, bias == null ? 0f : bias[o], act);
                        }
                    }
                    if (lay.whole && parts == 1) {
                        MemorySegment.copy(buf, lay.rows, y, NnArrays.F32, (long) g0 * mg * outSize * 4, (g1 - g0) * mg * outSize);
                    } else if (lay.whole) {
                        for (int q = g0; q < g1; q++) {
                            MemorySegment.copy(buf, lay.rows + ((q - g0) * mg + k0) * outSize, y, NnArrays.F32,
                                    ((long) q * mg + k0) * outSize * 4, (k1 - k0) * outSize);
                        }
                    }
                }
            } finally {
                ScratchPool.give(buf);
            }
        });
    }

    /**
     * The phase planes and a task's scratch buffer. For strides (sh, sw) the zero-padded input is split
     * into sh x sw planes of hq x wq floats; plane (py, px), at {@code ((px * sh) + py) * hq * wq}, holds the
     * padded rows py, py + sh, ... and columns px, px + sw, ... . Output position (oy, ox) is flattened as
     * {@code j = oy * wq + ox}, and tap t reads its plane at {@code tap[t] + j}: a contiguous run per tap.
     * Planes are ordered column phase first so that, with padded rows stored by row phase ({@code py * hq +
     * yq}, each wq * sw wide), splitting those rows' flattened floats by column phase (k -> k % sw) gives
     * all the planes at once: one long de-interleave per channel instead of one short one per row.
     *
     * <p>Buffer: the planes with their read slack at 0; the sums of one strip at {@code out} (flattened
     * positions, padding columns included); a group of input channels at {@code in} (each h x w, then a
     * vector of slack); compacted output rows at {@code rows}: a group's whole output planes when a plane is
     * one strip ({@code whole}), else one strip's rows; the padded rows of strided columns at
     * {@code padded} (-1 when sw = 1, or with {@code rowSplit}: rows then go straight into the planes); the
     * chunk's weights at {@code weights}. Padded columns {@code [a, b)} hold input, column i holding input column i - pl.
     */
    private record Layout(int sh, int sw, int hq, int wq, int oh, int ow, int[] tap, int chanStride, int stripRows,
                          boolean whole, int group, int a, int b, int out, int in, int rows, int padded, int paddedLen,
                          int weights, int total, VectorMask<Float> inTail, VectorMask<Float> splitTail, boolean rowSplit) {
        /** For chunks of {@code per} input channels, {@code mg} outputs each, {@code ks} taps. */
        static Layout of(WindowGeometry g, int per, int mg, int ks) {
            int kh = g.kernel()[0], kw = g.kernel()[1], sh = g.strides()[0], sw = g.strides()[1];
            int dh = g.dilations()[0], dw = g.dilations()[1], oh = g.out()[0], ow = g.out()[1];
            int h = g.in()[0], wd = g.in()[1], pl = g.padBegin()[1];
            int hq = oh + (kh - 1) * dh / sh, wq = ow + (kw - 1) * dw / sw;
            int plane = Math.multiplyExact(hq, wq), chanStride = Math.multiplyExact(sh * sw, plane);
            int[] tap = new int[kh * kw];
            int maxTap = 0;
            for (int ky = 0; ky < kh; ky++) {
                for (int kx = 0; kx < kw; kx++) {
                    int ty = ky * dh, tx = kx * dw;
                    tap[ky * kw + kx] = ((tx % sw) * sh + ty % sh) * plane + (ty / sh) * wq + tx / sw;
                    maxTap = Math.max(maxTap, tap[ky * kw + kx]);
                }
            }
            int stripRows = Math.max(1, Math.min(oh, STRIP / wq));
            // planes of one strip go by groups of channels, up to GROUP floats of input or output
            boolean whole = stripRows == oh;
            int group = whole ? Math.max(1, Math.min(per, GROUP / Math.max(h * wd, mg * oh * ow))) : 1;
            // reads: a strip's vectors run up to L - 1 past its last position, oh * wq at most, past each tap
            int planesLen = Math.max(chanStride, maxTap + oh * wq + L);
            int outLen = roundUp(stripRows * wq + L, ACT_UNIT);
            // compacted rows: whole vectors per row, the last one running up to L - 1 past the strip
            int rowsLen = roundUp((whole ? group * mg * oh : stripRows) * ow + L, ACT_UNIT);
            // rows split one by one at stride 2 where each is whole vector pairs, two or more (see fillInterior)
            int width = wq * sw, a = Math.min(pl, width), b = Math.max(a, Math.min(width, pl + wd));
            boolean rowSplit = sw == 2 && (b - a) % (2 * L) == 0 && b - a >= 4 * L;
            // else strided columns go through padded rows; the de-interleave reads whole vector pairs: two vectors of slack
            int paddedLen = sw == 1 || rowSplit ? 0 : chanStride + 2 * L;
            int out = planesLen, in = out + outLen, rows = in + group * h * wd + L, padded = rows + rowsLen;
            int weights = padded + paddedLen, total = Math.addExact(weights, per * mg * ks);
            return new Layout(sh, sw, hq, wq, oh, ow, tap, chanStride, stripRows, whole, group, a, b, out, in, rows,
                    sw == 1 || rowSplit ? -1 : padded, paddedLen, weights, total,
                    S.indexInRange(0, (b - a) % L), S.indexInRange(0, (chanStride / sw) % L), rowSplit);
        }
    }

    private static int roundUp(int v, int unit) { return (v + unit - 1) / unit * unit; }

    /**
     * Copies the input channel at buf[in ..] (h x w) into the interior of its phase planes at buf[0 ..]:
     * exactly the positions that hold input, the same ones for every channel, so the zero padding the task
     * wrote stays. Strided columns go through the padded rows, whose padding likewise stays zero, and are
     * then split by column phase as a whole.
     */
    private static void fillInterior(float[] buf, WindowGeometry g, Layout lay, int in) {
        int h = g.in()[0], wd = g.in()[1], pt = g.padBegin()[0], pl = g.padBegin()[1];
        int sh = lay.sh, sw = lay.sw, hq = lay.hq, width = lay.wq * sw, a = lay.a, len = lay.b - a;
        if (lay.rowSplit) {
            splitRows(buf, g, lay, in);
            return;
        }
        int base = sw == 1 ? 0 : lay.padded;
        // rows in increasing order of where they go (phase by phase): each row's last vector is loaded through
        // the tail mask and stored whole, its zero lanes landing on padding, on a later row's interior (written
        // after it) or on slack past the planes; a masked store costs far more than a masked load
        for (int py = 0; py < sh; py++) {
            for (int yq = 0; yq < hq; yq++) {
                int iy = yq * sh + py - pt;
                if (iy >= 0 && iy < h) copyRowZeroTail(buf, in + iy * wd + a - pl, base + (py * hq + yq) * width + a, len, lay.inTail);
            }
        }
        if (sw == 2) {
            split2(buf, lay.padded, lay.chanStride / 2, buf, 0, lay.chanStride / 2, lay.splitTail);
        } else if (sw > 2) {
            int part = lay.chanStride / sw;
            for (int px = 0; px < sw; px++) {
                for (int k = 0; k < part; k++) buf[px * part + k] = buf[lay.padded + k * sw + px];
            }
        }
    }

    /**
     * fillInterior at stride 2 in the columns when every row is whole vector pairs (Layout.rowSplit): each input
     * row split straight into its two column-phase planes, one pass and no padded copy. Padded column a + 2q
     * (input column a - pl + 2q) goes to column a / 2 + q of phase a % 2, the next one to (a + 1) / 2 + q of the
     * other phase. Rows with a last partial pair stay on the padded rows' single long split: a masked last pair
     * per row cost more than it saves (measured: 16 to 40 wide rows slower).
     */
    private static void splitRows(float[] buf, WindowGeometry g, Layout lay, int in) {
        int h = g.in()[0], wd = g.in()[1], pt = g.padBegin()[0], pl = g.padBegin()[1];
        int sh = lay.sh, hq = lay.hq, a = lay.a, len = lay.b - a;
        int plane = hq * lay.wq;
        for (int py = 0; py < sh; py++) {
            for (int yq = 0; yq < hq; yq++) {
                int iy = yq * sh + py - pt;
                if (iy < 0 || iy >= h) continue;
                int row = py * plane + yq * lay.wq;
                splitRow(buf, in + iy * wd + a - pl, len / 2, buf, row + (a % 2) * sh * plane + a / 2,
                        row + ((a + 1) % 2) * sh * plane + (a + 1) / 2);
            }
        }
    }

    /**
     * dst[at .. at + len) = src[from .. from + len) in vectors, the last one stored through {@code tail}, the
     * mask of {@code len % L} lanes (len is the same for every row of a call); reads up to a vector past.
     */
    private static void copyRow(float[] src, int from, float[] dst, int at, int len, VectorMask<Float> tail) {
        int k = 0;
        for (; k + L <= len; k += L) FloatVector.fromArray(S, src, from + k).intoArray(dst, at + k);
        if (k < len) FloatVector.fromArray(S, src, from + k).intoArray(dst, at + k, tail);
    }

    /** buf[at .. at + len) = buf[from .. from + len), then zeros up to the next whole vector (see fillInterior). */
    private static void copyRowZeroTail(float[] buf, int from, int at, int len, VectorMask<Float> tail) {
        int k = 0;
        for (; k + L <= len; k += L) FloatVector.fromArray(S, buf, from + k).intoArray(buf, at + k);
        if (k < len) FloatVector.fromArray(S, buf, from + k, tail).intoArray(buf, at + k);
    }

    /** Lane i of a vector pair's even (odd) elements: its source lane within whichever vector holds it. */
    private static final VectorShuffle<Float> EVEN = VectorShuffle.fromOp(S, i -> 2 * i % L),
            ODD = VectorShuffle.fromOp(S, i -> (2 * i + 1) % L);
    /** The upper half of the lanes: filled from the second vector of a pair. */
    private static final VectorMask<Float> UPPER = VectorMask.fromLong(S, ((1L << L) - 1) & ~((1L << (L / 2)) - 1));

    /**
     * One row's de-interleave: dst[e0 + q] = r[r0 + 2q], dst[o0 + q] = r[r0 + 2q + 1] for q in [0, n), n a
     * multiple of L, by vector permutes (the same as split2's, without a tail).
     */
    private static void splitRow(float[] r, int r0, int n, float[] dst, int e0, int o0) {
        for (int q = 0; q < n; q += L) {
            FloatVector v0 = FloatVector.fromArray(S, r, r0 + 2 * q), v1 = FloatVector.fromArray(S, r, r0 + 2 * q + L);
            v0.rearrange(EVEN).blend(v1.rearrange(EVEN), UPPER).intoArray(dst, e0 + q);
            v0.rearrange(ODD).blend(v1.rearrange(ODD), UPPER).intoArray(dst, o0 + q);
        }
    }

    /**
     * even[e0 + q] = r[r0 + 2q], odd[o0 + q] = r[r0 + 2q + 1] for q in [0, n), by vector permutes; the last
     * vector is stored through {@code tail} (n % L lanes) and reads r up to 2 * roundUp(n, L).
     */
    private static void split2(float[] r, int r0, int n, float[] dst, int e0, int o0, VectorMask<Float> tail) {
        int q = 0;
        for (; q + L <= n; q += L) {
            FloatVector v0 = FloatVector.fromArray(S, r, r0 + 2 * q), v1 = FloatVector.fromArray(S, r, r0 + 2 * q + L);
            v0.rearrange(EVEN).blend(v1.rearrange(EVEN), UPPER).intoArray(dst, e0 + q);
            v0.rearrange(ODD).blend(v1.rearrange(ODD), UPPER).intoArray(dst, o0 + q);
        }
        if (q < n) {
            FloatVector v0 = FloatVector.fromArray(S, r, r0 + 2 * q), v1 = FloatVector.fromArray(S, r, r0 + 2 * q + L);
            v0.rearrange(EVEN).blend(v1.rearrange(EVEN), UPPER).intoArray(dst, e0 + q, tail);
            v0.rearrange(ODD).blend(v1.rearrange(ODD), UPPER).intoArray(dst, o0 + q, tail);
        }
    }

    /**
     * One output channel from the filled planes, strip by strip of output rows: the strip's sums into the
     * buffer, its rows compacted, bias and activation over whole vectors there. A plane of one strip is
     * compacted at buf[rows ..] and left there for its group's copy into y; a strip of a larger plane goes
     * through the start of the rows area and into y at once ({@code yo}: the channel).
     */
    private static void channel(float[] buf, Layout lay, int wo, int ks, MemorySegment y, long yo, int rows,
                                float bias, Activation act) {
        int wq = lay.wq, ow = lay.ow, oh = lay.oh;
        int[] tap = lay.tap;
        for (int s0 = 0; s0 < oh; s0 += lay.stripRows) {
            int s1 = Math.min(oh, s0 + lay.stripRows);
            int j0 = s0 * wq, nv = ((s1 - s0) * wq - (wq - ow) + L - 1) / L;
            // tiles of up to MAX_TILE vectors; a remainder of 5..7 splits into two tiles of 2..4, not 4 + 1..3
            int v = 0;
            if (ks == 9) {
                taps9(buf, tap, buf, wo, j0, nv, buf, lay.out);
                v = nv;
            }
            while (v < nv) {
                int left = nv - v, take = left <= MAX_TILE ? left : left < 2 * MAX_TILE ? (left + 1) / 2 : MAX_TILE;
                int j = j0 + v * L, oo = lay.out + v * L;
                switch (take) {
                    case 4 -> tile4(buf, tap, ks, buf, wo, j, buf, oo);
                    case 3 -> tile3(buf, tap, ks, buf, wo, j, buf, oo);
                    case 2 -> tile2(buf, tap, ks, buf, wo, j, buf, oo);
                    default -> tile1(buf, tap, ks, buf, wo, j, buf, oo);
                }
                v += take;
            }
            int len = (s1 - s0) * ow, to = lay.whole ? rows : lay.rows;
            // a group's planes follow each other: the spill of one plane's last vectors past its end (and their
            // activation) lands where the next plane is compacted afterwards
            compact(buf, lay.out, wq, buf, to, ow, s1 - s0);
            act.biasAndApply(buf, to, roundUp(len, ACT_UNIT), bias);
            if (!lay.whole) MemorySegment.copy(buf, to, y, NnArrays.F32, (yo + (long) s0 * ow) * 4, len);
        }
    }

    /**
     * dst[to + r * ow + i] = src[from + r * wq + i] for r < rows, i < ow, row by row with System.arraycopy; the
     * floats after {@code rows * ow} keep what they held (the activation pass runs over them too, to a whole
     * vector, and they are never copied out). Not vector loads and stores: inlined into {@link #channel}, a big
     * compile, C2 left the store out of line past its node cutoff and boxed every vector loaded here (about
     * 15 MB per EfficientNet-B0 run).
     */
    private static void compact(float[] src, int from, int wq, float[] dst, int to, int ow, int rows) {
        for (int r = 0; r < rows; r++) System.arraycopy(src, from + r * wq, dst, to + r * ow, ow);
    }

    /**
     * Nine-tap filters (3 x 3 at any stride or dilation): {@code nv} vectors of output from position j, the
     * same sums as the tiles below (out[oo + i] = fma over the taps in order from zero), with the nine tap
     * offsets and weights held in locals across the whole run instead of read from their arrays per tile, and
     * the run's vectors as one counted loop, so the JIT keeps the weights in registers and checks the loads'
     * bounds once per run rather than per load.
     */
    static void taps9(float[] src, int[] tap, float[] w, int wo, int j, int nv, float[] out, int oo) {
        int t0 = tap[0] + j, t1 = tap[1] + j, t2 = tap[2] + j, t3 = tap[3] + j, t4 = tap[4] + j, t5 = tap[5] + j,
            t6 = tap[6] + j, t7 = tap[7] + j, t8 = tap[8] + j;
        FloatVector w0 = FloatVector.broadcast(S, w[wo]), w1 = FloatVector.broadcast(S, w[wo + 1]),
            w2 = FloatVector.broadcast(S, w[wo + 2]), w3 = FloatVector.broadcast(S, w[wo + 3]),
            w4 = FloatVector.broadcast(S, w[wo + 4]), w5 = FloatVector.broadcast(S, w[wo + 5]),
            w6 = FloatVector.broadcast(S, w[wo + 6]), w7 = FloatVector.broadcast(S, w[wo + 7]),
            w8 = FloatVector.broadcast(S, w[wo + 8]);
        int n = nv * L, i = 0;
        for (; i + 4 * L <= n; i += 4 * L) {
            int i1 = i + L, i2 = i + 2 * L, i3 = i + 3 * L;
            FloatVector z = FloatVector.zero(S), x0 = FloatVector.fromArray(S, src, t0 + i);
            FloatVector a0 = w0.fma(x0, z), a1 = w0.fma(FloatVector.fromArray(S, src, t0 + i1), z),
                a2 = w0.fma(FloatVector.fromArray(S, src, t0 + i2), z), a3 = w0.fma(FloatVector.fromArray(S, src, t0 + i3), z);
            a0 = w1.fma(FloatVector.fromArray(S, src, t1 + i), a0);
            a1 = w1.fma(FloatVector.fromArray(S, src, t1 + i1), a1);
            a2 = w1.fma(FloatVector.fromArray(S, src, t1 + i2), a2);
            a3 = w1.fma(FloatVector.fromArray(S, src, t1 + i3), a3);
            a0 = w2.fma(FloatVector.fromArray(S, src, t2 + i), a0);
            a1 = w2.fma(FloatVector.fromArray(S, src, t2 + i1), a1);
            a2 = w2.fma(FloatVector.fromArray(S, src, t2 + i2), a2);
            a3 = w2.fma(FloatVector.fromArray(S, src, t2 + i3), a3);
            a0 = w3.fma(FloatVector.fromArray(S, src, t3 + i), a0);
            a1 = w3.fma(FloatVector.fromArray(S, src, t3 + i1), a1);
            a2 = w3.fma(FloatVector.fromArray(S, src, t3 + i2), a2);
            a3 = w3.fma(FloatVector.fromArray(S, src, t3 + i3), a3);
            a0 = w4.fma(FloatVector.fromArray(S, src, t4 + i), a0);
            a1 = w4.fma(FloatVector.fromArray(S, src, t4 + i1), a1);
            a2 = w4.fma(FloatVector.fromArray(S, src, t4 + i2), a2);
            a3 = w4.fma(FloatVector.fromArray(S, src, t4 + i3), a3);
            a0 = w5.fma(FloatVector.fromArray(S, src, t5 + i), a0);
            a1 = w5.fma(FloatVector.fromArray(S, src, t5 + i1), a1);
            a2 = w5.fma(FloatVector.fromArray(S, src, t5 + i2), a2);
            a3 = w5.fma(FloatVector.fromArray(S, src, t5 + i3), a3);
            a0 = w6.fma(FloatVector.fromArray(S, src, t6 + i), a0);
            a1 = w6.fma(FloatVector.fromArray(S, src, t6 + i1), a1);
            a2 = w6.fma(FloatVector.fromArray(S, src, t6 + i2), a2);
            a3 = w6.fma(FloatVector.fromArray(S, src, t6 + i3), a3);
            a0 = w7.fma(FloatVector.fromArray(S, src, t7 + i), a0);
            a1 = w7.fma(FloatVector.fromArray(S, src, t7 + i1), a1);
            a2 = w7.fma(FloatVector.fromArray(S, src, t7 + i2), a2);
            a3 = w7.fma(FloatVector.fromArray(S, src, t7 + i3), a3);
            a0 = w8.fma(FloatVector.fromArray(S, src, t8 + i), a0);
            a1 = w8.fma(FloatVector.fromArray(S, src, t8 + i1), a1);
            a2 = w8.fma(FloatVector.fromArray(S, src, t8 + i2), a2);
            a3 = w8.fma(FloatVector.fromArray(S, src, t8 + i3), a3);
            a0.intoArray(out, oo + i);
            a1.intoArray(out, oo + i1);
            a2.intoArray(out, oo + i2);
            a3.intoArray(out, oo + i3);
        }
        for (; i < n; i += L) {
            FloatVector a = w0.fma(FloatVector.fromArray(S, src, t0 + i), FloatVector.zero(S));
            a = w1.fma(FloatVector.fromArray(S, src, t1 + i), a);
            a = w2.fma(FloatVector.fromArray(S, src, t2 + i), a);
            a = w3.fma(FloatVector.fromArray(S, src, t3 + i), a);
            a = w4.fma(FloatVector.fromArray(S, src, t4 + i), a);
            a = w5.fma(FloatVector.fromArray(S, src, t5 + i), a);
            a = w6.fma(FloatVector.fromArray(S, src, t6 + i), a);
            a = w7.fma(FloatVector.fromArray(S, src, t7 + i), a);
            a = w8.fma(FloatVector.fromArray(S, src, t8 + i), a);
            a.intoArray(out, oo + i);
        }
    }

    // One tile per vector count, each with its accumulators in registers: out[oo + i] = sum over taps t of
    // w[wo + t] * src[tap[t] + j + i], in tap order from zero.

    static void tile4(float[] src, int[] tap, int ks, float[] w, int wo, int j, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < ks; t++) {
            int s = tap[t] + j;
            FloatVector wv = FloatVector.broadcast(S, w[wo + t]);
            a0 = wv.fma(FloatVector.fromArray(S, src, s), a0);
            a1 = wv.fma(FloatVector.fromArray(S, src, s + L), a1);
            a2 = wv.fma(FloatVector.fromArray(S, src, s + 2 * L), a2);
            a3 = wv.fma(FloatVector.fromArray(S, src, s + 3 * L), a3);
        }
        a0.intoArray(out, oo);
        a1.intoArray(out, oo + L);
        a2.intoArray(out, oo + 2 * L);
        a3.intoArray(out, oo + 3 * L);
    }

    static void tile3(float[] src, int[] tap, int ks, float[] w, int wo, int j, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0;
        for (int t = 0; t < ks; t++) {
            int s = tap[t] + j;
            FloatVector wv = FloatVector.broadcast(S, w[wo + t]);
            a0 = wv.fma(FloatVector.fromArray(S, src, s), a0);
            a1 = wv.fma(FloatVector.fromArray(S, src, s + L), a1);
            a2 = wv.fma(FloatVector.fromArray(S, src, s + 2 * L), a2);
        }
        a0.intoArray(out, oo);
        a1.intoArray(out, oo + L);
        a2.intoArray(out, oo + 2 * L);
    }

    static void tile2(float[] src, int[] tap, int ks, float[] w, int wo, int j, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0;
        for (int t = 0; t < ks; t++) {
            int s = tap[t] + j;
            FloatVector wv = FloatVector.broadcast(S, w[wo + t]);
            a0 = wv.fma(FloatVector.fromArray(S, src, s), a0);
            a1 = wv.fma(FloatVector.fromArray(S, src, s + L), a1);
        }
        a0.intoArray(out, oo);
        a1.intoArray(out, oo + L);
    }

    static void tile1(float[] src, int[] tap, int ks, float[] w, int wo, int j, float[] out, int oo) {
        FloatVector a0 = FloatVector.zero(S);
        for (int t = 0; t < ks; t++) {
            a0 = FloatVector.broadcast(S, w[wo + t]).fma(FloatVector.fromArray(S, src, tap[t] + j), a0);
        }
        a0.intoArray(out, oo);
    }
}
