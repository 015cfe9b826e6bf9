package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Pointwise convolution (1x1 kernel, stride 1, no padding, group 1): per image the small-K product
 * {@code Y[m x hw] = W[m x c] X[c x hw]}, where the input rows X[ci][*] are already contiguous over the
 * positions. A register tile of {@link #MR} output channels x {@link #NV} vectors of positions loops over the
 * input channels, broadcasting the packed weights and loading X straight from the input segment (no copy of
 * the input, no packing of X); the tile stores its sums straight into y, and the bias and activation are
 * applied to each row piece right after, while it is in cache. Positions past the last whole tile run in the
 * same tile over a gathered copy of their input, except whole vectors of them, which run in a one-vector tile
 * straight from x. The weight is packed once per constant weight tensor.
 *
 * <p>Summation order: every output element is {@code fma(w, x, acc)} over the input channels in order,
 * starting from zero; then the bias is added and the activation applied, both by the vector code of
 * {@link Activation} for every element (a row's last partial vector goes through a padded copy, never the
 * scalar tail, whose HardSwish rounds differently). None of this depends on the tile, the task split, the
 * thread count, the number of output channels or positions in the call, or the element's position, so a conv
 * split by output channels or by bands of output rows (memgraph's tiles) gives the same bits as the whole.
 */
final class PointwiseConv {
    private PointwiseConv() {}

    private static final VectorSpecies<Float> S = Gemm32.SPECIES;
    private static final int L = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** Lanes of Activation's vector code: a row piece whose length is a multiple of it never takes a scalar tail. */
    private static final int AL = FloatVector.SPECIES_PREFERRED.length();
    /** Output channels per register tile: 8 with 32 vector registers (AVX-512), else 4 (see panelHeight). */
    static final int MR = L >= 16 ? 8 : 4;
    /** Vectors of positions per register tile: MR x NV accumulators plus NV loads and a broadcast fit the registers. */
    private static final int NV = 3;
    /** Positions per register tile. */
    static final int NT = NV * L;
    /** Fewest multiply-adds a parallel task should carry: below, handing it out costs a noticeable share. */
    private static final long MIN_TASK_WORK = 1L << 15;

    /**
     * The default of whether ConvKernels sends group-1 pointwise convs here: {@link dev.sluice.kernels.KernelOptions}'
     * default ({@code -Dsluice.conv.pointwise}, on); a registry's kernels use its own options.
     * Alone this kernel is 1.2-2.5x faster than DirectConv on det's shapes; in whole det runs at 2 threads on
     * a quiet host it won all five alternating bench pairs (ratio to ORT 1.26-1.55 against 1.47-1.84).
     */
    static final boolean ENABLED = dev.sluice.kernels.KernelOptions.defaults().pointwiseConv();

    /**
     * Whether ConvKernels sends a pointwise conv over {@code positions} output positions here: from two whole
     * tiles on, or, with eight-row panels, whole vectors of positions from one vector on (they run in whole
     * tiles and one-vector tiles straight from x: 96 -> 96 channels at 8 x 8, 21 against 13 us, one thread).
     * Otherwise positions past the last whole tile run mostly through the gathered tail, 5-10x slower than
     * DirectConv on ppocr-rec's 1x1 (SE) and 1x40 convs. DirectConv's chains are the same (fma over the
     * input channels from zero, then bias and activation in vector lanes), so either side gives the same bits.
     */
    static boolean takes(int positions) {
        return positions >= 2 * NT || MR == 8 && positions >= L && positions % L == 0;
    }

    /** True for a geometry whose every output position reads exactly its own input position. */
    static boolean applies(WindowGeometry g) {
        for (int i = 0; i < g.rank(); i++) {
            if (g.kernel()[i] != 1 || g.strides()[i] != 1 || g.padBegin()[i] != 0 || g.padEnd()[i] != 0) return false;
        }
        return true;
    }

    // ------------------------------------------------------------------ packed weights

    /**
     * The weight as panels of MR rows: {@code data[panel * MR * c + p * h + r] = W[panel * MR + r][p]} for panel
     * height h (= MR), zero rows past m.
     */
    private record Packed(float[] data, int m, int c, long address) {}

    /** Packed weights per constant weight tensor (identity keys), dropped with the tensor. */
    static final java.util.Map<Object, Packed> PACKED =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    private static float[] packed(Object key, MemorySegment w, int m, int c) {
        long addr = w.isNative() ? w.address() : System.identityHashCode(w.heapBase().orElse(null));
        if (key != null) {
            Packed p = PACKED.get(key);
            if (p != null && p.m == m && p.c == c && p.address == addr) return p.data;
        }
        float[] data = pack(w, m, c);
        if (key != null) PACKED.put(key, new Packed(data, m, c, addr));
        return data;
    }

    private static int panels(int m) { return (m + MR - 1) / MR; }

    /**
     * Rows every panel's tile computes: MR, the last panel too (its rows past m are zero weights). One register
     * tile per machine, not a second one for remainders: a kernel that runs only on a last panel or a tail is
     * called too rarely for the JIT to compile it soon, and until then its vector code is boxed and runs
     * 20-100x slower (measured: a 24 -> 28 channel layer at 64 x 64 took ~1 ms instead of 0.1 for tens of seconds
     * on a loaded host). The wasted rows cost at most MR - 1 rows of arithmetic per layer.
     */
    private static int panelHeight(int panel, int m) { return MR; }

    static float[] pack(MemorySegment w, int m, int c) {
        int panels = panels(m);
        float[] data = new float[Math.multiplyExact(panels * MR, c)];
        float[] row = new float[c];
        for (int o = 0; o < m; o++) {
            MemorySegment.copy(w, NnArrays.F32, (long) o * c * 4, row, 0, c);
            int panel = o / MR, h = panelHeight(panel, m), at = panel * MR * c + o % MR;
            for (int p = 0; p < c; p++) data[at + p * h] = row[p];
        }
        return data;
    }

    // ------------------------------------------------------------------ the convolution

    /**
     * y[ni, o, j] = act(bias[o] + sum_ci w[o, ci] x[ni, ci, j]) over hw positions j; x is N x C x hw, w M x C,
     * y N x M x hw. A non-null {@code wKey} marks w as constant: its packed panels are cached under that key.
     */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int hw,
                     Parallelism par, Activation act, Object wKey) {
        conv(x, w, bias, y, n, c, m, hw, par, act, wKey, null, Activation.NONE);
    }

    /**
     * Whether {@link #conv} can take a residual block's tail into its tile epilogue: the conv itself has no
     * activation (FusedConvAdd's conv never has) and the activation after the add is none or Relu.
     */
    static boolean takesResidual(Activation act, Activation after) {
        return act.kind() == Activation.Kind.NONE
            && (after.kind() == Activation.Kind.NONE || after.kind() == Activation.Kind.RELU);
    }

    /**
     * The same, and with a non-null {@code res} (N x M x hw like y; {@link #takesResidual} must hold) the residual
     * block's tail too: {@code y = after((conv + bias) + res)}, added in the tile epilogue while the sums are in
     * registers instead of in a second pass over y. Per element these are ResidualAdd's operations in its order
     * (the sum rounded once, Relu applied to {@code sum + 0} in vector lanes), so the same bits.
     */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int hw,
                     Parallelism par, Activation act, Object wKey, MemorySegment res, Activation after) {
        if (res != null && !takesResidual(act, after)) throw new IllegalArgumentException("no fused residual for " + act + " then " + after);
        float[] wp = packed(wKey, w, m, c);
        int panels = panels(m), tiles = (hw + NT - 1) / NT;
        long work = (long) m * c * hw;
        // tasks: chunks of positions (at least two tiles each, for the reuse of the weight panel) x chunks of
        // panels (for the layers with few positions), about four per thread, none tiny
        int want = (int) Math.max(1, Math.min(4L * par.threads(), work * n / MIN_TASK_WORK));
        int pChunks = Math.max(1, Math.min(want, tiles / 2));
        int bChunks = Math.max(1, Math.min(panels, (want + pChunks - 1) / pChunks));
        int tilesPer = (tiles + pChunks - 1) / pChunks, panelsPer = (panels + bChunks - 1) / bChunks;
        int np = (tiles + tilesPer - 1) / tilesPer, nb = (panels + panelsPer - 1) / panelsPer;
        // positions per inner step: the step's input rows stay in L2 across the panels, a panel's output rows
        // in L1 between its tiles and the bias / activation pass
        int step = Math.max(1, Math.min(Math.min(tilesPer, 1024 / NT), (1 << 15) / Math.max(c, 1) / NT)) * NT;
        Epilogue e = res == null ? Epilogue.of(bias, act, panels * MR) : Epilogue.residual(bias, after, panels * MR, res);
        // the activations the tile cannot apply: a pass over each panel's rows after its tiles
        boolean finish = res == null && e.mode == RAW && (bias != null || act.kind() != Activation.Kind.NONE);
        int tasks = n * np * nb;
        par.forEach(tasks, work / tasks, t -> {
            int pi = t % np, bi = (t / np) % nb, ni = t / np / nb;
            int p0 = pi * tilesPer * NT, p1 = Math.min(hw, p0 + tilesPer * NT);
            int k0 = bi * panelsPer, k1 = Math.min(panels, k0 + panelsPer);
            long xo = (long) ni * c * hw, yo = (long) ni * m * hw;
            float[] pad = finish ? new float[AL] : null;
            Tail tail = null;
            for (int s0 = p0; s0 < p1; s0 += step) {
                int s1 = Math.min(p1, s0 + step), whole = s0 + (s1 - s0) / NT * NT;
                // whole vectors past the last whole tile (hw is mostly a multiple of L, so all of the rest) run in
                // a one-vector tile straight from x; only a last partial vector is gathered
                int vec = MR == 8 ? whole + (s1 - whole) / L * L : whole;
                if (vec < s1) {
                    if (tail == null) tail = Tail.forThread(c);
                    tail.gather(x, xo, c, hw, vec, s1);
                }
                for (int k = k0; k < k1; k++) {
                    int r0 = k * MR, rows = Math.min(MR, m - r0), h = panelHeight(k, m);
                    long yr = yo + (long) r0 * hw;
                    tiles(x, xo, c, hw, wp, k * MR * c, h, rows, s0, whole, y, yr, e, r0);
                    if (whole < vec) vectors(x, xo, c, hw, wp, k * MR * c, rows, whole, vec, y, yr, e, r0);
                    if (vec < s1) tail.run(wp, k * MR * c, h, rows, y, yr, hw, e, r0);
                    if (finish) {
                        for (int r = 0; r < rows; r++) {
                            finish(y, yr + (long) r * hw + s0, s1 - s0, bias == null ? 0f : bias[r0 + r], act, pad);
                        }
                    }
                }
            }
        });
    }

    /**
     * A K tile of a pointwise conv (see PartialSums): y holds the sums over the input channels before x's, and every
     * element's FMA chain continues over x's c channels in order, then, where given, the bias and activation are
     * applied by Activation's vector code for every element ({@link #finish}, the bits of {@link #conv}'s epilogue).
     * The chains are those {@link #conv} computes, continued, so channel blocks chained this way give its bits; only
     * K tiles run this (the untiled conv never does), so it favours plainness over speed.
     */
    static void convPartial(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int hw,
                            Parallelism par, Activation act) {
        float[] wv = new float[Math.multiplyExact(m, c)];
        MemorySegment.copy(w, NnArrays.F32, 0, wv, 0, wv.length);
        boolean finish = bias != null || act.kind() != Activation.Kind.NONE;
        par.forEach(n * m, (long) c * hw, t -> {
            int ni = t / m, o = t % m;
            long xo = (long) ni * c * hw, yo = ((long) ni * m + o) * hw;
            int j = 0;
            for (; j + L <= hw; j += L) {
                FloatVector acc = FloatVector.fromMemorySegment(S, y, (yo + j) * 4, ORDER);
                for (int ci = 0; ci < c; ci++) {
                    acc = FloatVector.broadcast(S, wv[o * c + ci]).fma(FloatVector.fromMemorySegment(S, x, (xo + (long) ci * hw + j) * 4, ORDER), acc);
                }
                acc.intoMemorySegment(y, (yo + j) * 4, ORDER);
            }
            for (; j < hw; j++) {
                float acc = y.getAtIndex(NnArrays.F32, yo + j);
                for (int ci = 0; ci < c; ci++) acc = Math.fma(wv[o * c + ci], x.getAtIndex(NnArrays.F32, xo + (long) ci * hw + j), acc);
                y.setAtIndex(NnArrays.F32, yo + j, acc);
            }
            if (finish) finish(y, yo, hw, bias == null ? 0f : bias[o], act, new float[AL]);
        });
    }

    /** Positions [s0, s1), whole tiles, of one panel's rows (the first at element {@code yo} of y). */
    private static void tiles(MemorySegment x, long xo, int c, int hw, float[] wp, int wo, int h, int rows, int s0, int s1,
                              MemorySegment y, long yo, Epilogue e, int r0) {
        long xs = (long) hw * 4;
        boolean epi = e.mode != RAW;
        for (int j = s0; j < s1; j += NT) {
            if (h == 8) tile8(x, (xo + j) * 4, xs, c, wp, wo, y, (yo + j) * 4, xs, rows);
            else tile4(x, (xo + j) * 4, xs, c, wp, wo, y, (yo + j) * 4, xs, rows);
            if (epi) epilogue(y, (yo + j) * 4, xs, rows, e, r0);
            else if (e.res != null) residual(y, (yo + j) * 4, xs, rows, NT, e, r0);
        }
    }

    /**
     * Positions [s0, s1), whole vectors, of one panel's eight rows: {@link #tile8x1} per vector, then the same
     * epilogue or residual tail as a whole tile's (per element the same operations, so the same bits).
     */
    private static void vectors(MemorySegment x, long xo, int c, int hw, float[] wp, int wo, int rows, int s0, int s1,
                                MemorySegment y, long yo, Epilogue e, int r0) {
        long xs = (long) hw * 4;
        for (int j = s0; j < s1; j += L) {
            tile8x1(x, (xo + j) * 4, xs, c, wp, wo, y, (yo + j) * 4, xs, rows);
            if (e.mode != RAW) epilogue1(y, (yo + j) * 4, xs, rows, e, r0);
            else if (e.res != null) residual(y, (yo + j) * 4, xs, rows, L, e, r0);
        }
    }

    /**
     * The positions past a step's last whole tile: their input rows gathered once into a tile-wide buffer, so
     * that the ordinary tile runs on them (no masked loads, which C2 does not always compile to vector code),
     * each panel's sums put in a small buffer and the valid columns copied to y.
     */
    private static final class Tail {
        /**
         * One per worker thread, grown to the widest input seen and reused across convs and runs (a task's body
         * runs no nested parallel call, so a thread uses one at a time): a fresh one per task was most of a
         * CNN's steady-state heap allocation (ppocr-det: 3.6 of 3.8 MB a run), hence young collections.
         */
        private static final ThreadLocal<Tail[]> MINE = ThreadLocal.withInitial(() -> new Tail[1]);

        static Tail forThread(int c) {
            Tail[] slot = MINE.get();
            if (slot[0] == null || slot[0].capacity < Math.max(1, c) * NT) slot[0] = new Tail(c);
            slot[0].c = c;
            return slot[0];
        }

        /**
         * Native, like the tensors the tiles read everywhere else: a heap segment here as well would give the
         * tiles' segment accesses a second receiver class, and their compiled code the slower bimorphic checks
         * in every conv (measured: a 24 -> 24 layer at 64 x 64 43 against 24 us after a tail had run).
         */
        final MemorySegment inSeg, outSeg;
        final int capacity;
        int c;
        int j0, len;

        Tail(int c) {
            this.c = c;
            capacity = Math.max(1, c) * NT;
            inSeg = java.lang.foreign.Arena.ofAuto().allocate(capacity * 4L, 64);
            outSeg = java.lang.foreign.Arena.ofAuto().allocate(MR * NT * 4L, 64);
        }

        void gather(MemorySegment x, long xo, int c, int hw, int j0, int j1) {
            this.j0 = j0;
            this.len = j1 - j0;
            for (int ci = 0; ci < c; ci++) MemorySegment.copy(x, (xo + (long) ci * hw + j0) * 4, inSeg, ci * NT * 4L, len * 4L);
        }

        void run(float[] wp, int wo, int h, int rows, MemorySegment y, long yo, int hw, Epilogue e, int r0) {
            long s = NT * 4L;
            // the ordinary tile over the whole buffer (columns past len hold stale inputs, never copied out): up
            // to three times a short tail's arithmetic, but the same compiled kernel as the body (see panelHeight)
            if (h == 8) tile8(inSeg, 0, s, c, wp, wo, outSeg, 0, s, rows);
            else tile4(inSeg, 0, s, c, wp, wo, outSeg, 0, s, rows);
            if (e.mode != RAW) epilogue(outSeg, 0, s, rows, e, r0);
            for (int r = 0; r < rows; r++) MemorySegment.copy(outSeg, r * NT * 4L, y, (yo + (long) r * hw + j0) * 4, len * 4L);
            // the residual after the copy, where y's positions are res's: each lane's operations, one by one
            if (e.res != null) residual(y, (yo + j0) * 4, hw * 4L, rows, len, e, r0);
        }
    }

    /**
     * y[off .. off+len) = act(y + bias) by Activation's vector code for every element: the whole vectors in
     * place, the last partial one through {@code pad} (AL floats).
     */
    private static void finish(MemorySegment y, long off, int len, float bias, Activation act, float[] pad) {
        int body = len / AL * AL, tail = len - body;
        if (body > 0) act.biasAndApply(y, off, body, bias);
        if (tail > 0) {
            long at = (off + body) * 4;
            MemorySegment.copy(y, NnArrays.F32, at, pad, 0, tail);
            java.util.Arrays.fill(pad, tail, AL, 0f);
            act.biasAndApply(pad, 0, AL, bias);
            MemorySegment.copy(pad, 0, y, NnArrays.F32, at, tail);
        }
    }

    /** What a tile does to its sums before storing them: nothing, add the bias, or add it and apply Relu / HardSwish. */
    private static final int RAW = 0, BIAS = 1, RELU = 2, HARD_SWISH = 3;

    /**
     * The tile's epilogue: {@code mode}, the bias per row padded with zeros to whole panels (zeros without a
     * bias), HardSwish's alpha and beta. Activations other than Relu and HardSwish leave the tile raw (RAW)
     * and go through {@link #finish}.
     */
    private record Epilogue(int mode, float[] bias, float p, float q, MemorySegment res, boolean resBias, boolean resRelu) {
        Epilogue(int mode, float[] bias, float p, float q) { this(mode, bias, p, q, null, false, false); }

        /**
         * A residual block's tail (mode RAW: the tile stores raw sums, then {@link #residual} adds the bias where
         * there is one, the residual, and applies Relu where {@code after} is Relu).
         */
        static Epilogue residual(float[] bias, Activation after, int rows, MemorySegment res) {
            float[] b = new float[rows];
            if (bias != null) System.arraycopy(bias, 0, b, 0, bias.length);
            return new Epilogue(RAW, b, 0f, 0f, res, bias != null, after.kind() == Activation.Kind.RELU);
        }

        static Epilogue of(float[] bias, Activation act, int rows) {
            int mode = switch (act.kind()) {
                case NONE -> bias == null ? RAW : BIAS;
                case RELU -> RELU;
                case HARD_SWISH -> HARD_SWISH;
                default -> RAW;
            };
            float[] b = new float[rows];
            if (mode != RAW && bias != null) System.arraycopy(bias, 0, b, 0, bias.length);
            return new Epilogue(mode, b, act.alpha(), act.beta());
        }
    }

    /**
     * The epilogue of one tile's rows [0, rows) x NT positions, in place in y (just stored, so in L1): the
     * bias, then Relu or HardSwish, with Activation's vector arithmetic (so the same bits as its pass).
     */
    private static void epilogue(MemorySegment y, long yb, long ys, int rows, Epilogue e, int r0) {
        float[] eb = e.bias;
        int mode = e.mode;
        float p = e.p, q = e.q;
        for (int r = 0; r < rows; r++, yb += ys) {
            float b = eb[r0 + r];
            FloatVector a0 = FloatVector.fromMemorySegment(S, y, yb, ORDER).add(b);
            FloatVector a1 = FloatVector.fromMemorySegment(S, y, yb + 4L * L, ORDER).add(b);
            FloatVector a2 = FloatVector.fromMemorySegment(S, y, yb + 8L * L, ORDER).add(b);
            if (mode == RELU) {
                a0 = a0.blend(0f, a0.compare(VectorOperators.LT, 0f));
                a1 = a1.blend(0f, a1.compare(VectorOperators.LT, 0f));
                a2 = a2.blend(0f, a2.compare(VectorOperators.LT, 0f));
            } else if (mode == HARD_SWISH) {
                a0 = a0.mul(a0.fma(p, q).min(1f).max(0f));
                a1 = a1.mul(a1.fma(p, q).min(1f).max(0f));
                a2 = a2.mul(a2.fma(p, q).min(1f).max(0f));
            }
            a0.intoMemorySegment(y, yb, ORDER);
            a1.intoMemorySegment(y, yb + 4L * L, ORDER);
            a2.intoMemorySegment(y, yb + 8L * L, ORDER);
        }
    }

    /** {@link #epilogue} over one vector of positions: per lane the same operations. */
    private static void epilogue1(MemorySegment y, long yb, long ys, int rows, Epilogue e, int r0) {
        float[] eb = e.bias;
        int mode = e.mode;
        float p = e.p, q = e.q;
        for (int r = 0; r < rows; r++, yb += ys) {
            FloatVector a0 = FloatVector.fromMemorySegment(S, y, yb, ORDER).add(eb[r0 + r]);
            if (mode == RELU) a0 = a0.blend(0f, a0.compare(VectorOperators.LT, 0f));
            else if (mode == HARD_SWISH) a0 = a0.mul(a0.fma(p, q).min(1f).max(0f));
            a0.intoMemorySegment(y, yb, ORDER);
        }
    }

    /**
     * A residual block's tail over rows [0, rows) x cols positions of y in place, the residual read at the same
     * byte offsets: {@code v = y + bias} (where the conv has a bias: the BIAS epilogue's add), {@code v = v + r}
     * (ResidualAdd's add), then for Relu {@code v + 0} and lanes below zero set to zero (Activation's Relu, as
     * ResidualAdd applies it). Whole vectors, then the positions past them one by one with the same operations
     * (a float add rounds the same in a lane and alone; the Relu select has no rounding), so an element's bits
     * do not depend on where it falls.
     */
    private static void residual(MemorySegment y, long yb, long ys, int rows, int cols, Epilogue e, int r0) {
        MemorySegment res = e.res;
        float[] eb = e.bias;
        boolean hasBias = e.resBias, relu = e.resRelu;
        int whole = cols / L * L;
        for (int r = 0; r < rows; r++, yb += ys) {
            float b = eb[r0 + r];
            for (int i = 0; i < whole; i += L) {
                long at = yb + 4L * i;
                FloatVector a = FloatVector.fromMemorySegment(S, y, at, ORDER);
                if (hasBias) a = a.add(b);
                a = a.add(FloatVector.fromMemorySegment(S, res, at, ORDER));
                if (relu) {
                    a = a.add(0f);
                    a = a.blend(0f, a.compare(VectorOperators.LT, 0f));
                }
                a.intoMemorySegment(y, at, ORDER);
            }
            for (int i = whole; i < cols; i++) {
                long at = yb + 4L * i;
                float a = y.get(NnArrays.F32, at);
                if (hasBias) a = a + b;
                a = a + res.get(NnArrays.F32, at);
                if (relu) {
                    a = a + 0f;
                    if (a < 0f) a = 0f;
                }
                y.set(NnArrays.F32, at, a);
            }
        }
    }

    // ------------------------------------------------------------------ register tiles

    /**
     * Eight output channels x NT positions: {@code y[r][j..] = sum_ci wp[wo + ci * 8 + r] * x[ci][j..]}, x read at
     * byte {@code xb} with {@code xs} bytes per channel, y written at byte {@code yb}, {@code ys} bytes per row;
     * only the first {@code rows} rows are stored.
     */
    private static void tile8(MemorySegment x, long xb, long xs, int c, float[] wp, int wo, MemorySegment y, long yb, long ys,
                              int rows) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        FloatVector c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
        FloatVector c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
        for (int q = 0; q < c; q++) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, x, xb, ORDER);
            FloatVector b1 = FloatVector.fromMemorySegment(S, x, xb + 4L * L, ORDER);
            FloatVector b2 = FloatVector.fromMemorySegment(S, x, xb + 8L * L, ORDER);
            FloatVector a = FloatVector.broadcast(S, wp[wo]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01); c02 = a.fma(b2, c02);
            a = FloatVector.broadcast(S, wp[wo + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11); c12 = a.fma(b2, c12);
            a = FloatVector.broadcast(S, wp[wo + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21); c22 = a.fma(b2, c22);
            a = FloatVector.broadcast(S, wp[wo + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31); c32 = a.fma(b2, c32);
            a = FloatVector.broadcast(S, wp[wo + 4]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41); c42 = a.fma(b2, c42);
            a = FloatVector.broadcast(S, wp[wo + 5]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51); c52 = a.fma(b2, c52);
            a = FloatVector.broadcast(S, wp[wo + 6]);
            c60 = a.fma(b0, c60); c61 = a.fma(b1, c61); c62 = a.fma(b2, c62);
            a = FloatVector.broadcast(S, wp[wo + 7]);
            c70 = a.fma(b0, c70); c71 = a.fma(b1, c71); c72 = a.fma(b2, c72);
            xb += xs;
            wo += 8;
        }
        long v1 = 4L * L, v2 = 8L * L;
        c00.intoMemorySegment(y, yb, ORDER); c01.intoMemorySegment(y, yb + v1, ORDER); c02.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 2) return;
        yb += ys;
        c10.intoMemorySegment(y, yb, ORDER); c11.intoMemorySegment(y, yb + v1, ORDER); c12.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 3) return;
        yb += ys;
        c20.intoMemorySegment(y, yb, ORDER); c21.intoMemorySegment(y, yb + v1, ORDER); c22.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 4) return;
        yb += ys;
        c30.intoMemorySegment(y, yb, ORDER); c31.intoMemorySegment(y, yb + v1, ORDER); c32.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 5) return;
        yb += ys;
        c40.intoMemorySegment(y, yb, ORDER); c41.intoMemorySegment(y, yb + v1, ORDER); c42.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 6) return;
        yb += ys;
        c50.intoMemorySegment(y, yb, ORDER); c51.intoMemorySegment(y, yb + v1, ORDER); c52.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 7) return;
        yb += ys;
        c60.intoMemorySegment(y, yb, ORDER); c61.intoMemorySegment(y, yb + v1, ORDER); c62.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 8) return;
        yb += ys;
        c70.intoMemorySegment(y, yb, ORDER); c71.intoMemorySegment(y, yb + v1, ORDER); c72.intoMemorySegment(y, yb + v2, ORDER);
    }

    /** Eight output channels x one vector of positions: {@link #tile8}'s sums for one vector (same chains, same bits). */
    private static void tile8x1(MemorySegment x, long xb, long xs, int c, float[] wp, int wo, MemorySegment y, long yb, long ys,
                                int rows) {
        FloatVector c0 = FloatVector.zero(S), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
        for (int q = 0; q < c; q++) {
            FloatVector b = FloatVector.fromMemorySegment(S, x, xb, ORDER);
            c0 = FloatVector.broadcast(S, wp[wo]).fma(b, c0);
            c1 = FloatVector.broadcast(S, wp[wo + 1]).fma(b, c1);
            c2 = FloatVector.broadcast(S, wp[wo + 2]).fma(b, c2);
            c3 = FloatVector.broadcast(S, wp[wo + 3]).fma(b, c3);
            c4 = FloatVector.broadcast(S, wp[wo + 4]).fma(b, c4);
            c5 = FloatVector.broadcast(S, wp[wo + 5]).fma(b, c5);
            c6 = FloatVector.broadcast(S, wp[wo + 6]).fma(b, c6);
            c7 = FloatVector.broadcast(S, wp[wo + 7]).fma(b, c7);
            xb += xs;
            wo += 8;
        }
        c0.intoMemorySegment(y, yb, ORDER);
        if (rows < 2) return;
        c1.intoMemorySegment(y, yb += ys, ORDER);
        if (rows < 3) return;
        c2.intoMemorySegment(y, yb += ys, ORDER);
        if (rows < 4) return;
        c3.intoMemorySegment(y, yb += ys, ORDER);
        if (rows < 5) return;
        c4.intoMemorySegment(y, yb += ys, ORDER);
        if (rows < 6) return;
        c5.intoMemorySegment(y, yb += ys, ORDER);
        if (rows < 7) return;
        c6.intoMemorySegment(y, yb += ys, ORDER);
        if (rows < 8) return;
        c7.intoMemorySegment(y, yb += ys, ORDER);
    }

    /** Four output channels x NT positions (every panel on narrow vectors, where MR = 4). */
    private static void tile4(MemorySegment x, long xb, long xs, int c, float[] wp, int wo, MemorySegment y, long yb, long ys,
                              int rows) {
        FloatVector c00 = FloatVector.zero(S), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
        for (int q = 0; q < c; q++) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, x, xb, ORDER);
            FloatVector b1 = FloatVector.fromMemorySegment(S, x, xb + 4L * L, ORDER);
            FloatVector b2 = FloatVector.fromMemorySegment(S, x, xb + 8L * L, ORDER);
            FloatVector a = FloatVector.broadcast(S, wp[wo]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01); c02 = a.fma(b2, c02);
            a = FloatVector.broadcast(S, wp[wo + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11); c12 = a.fma(b2, c12);
            a = FloatVector.broadcast(S, wp[wo + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21); c22 = a.fma(b2, c22);
            a = FloatVector.broadcast(S, wp[wo + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31); c32 = a.fma(b2, c32);
            xb += xs;
            wo += 4;
        }
        long v1 = 4L * L, v2 = 8L * L;
        c00.intoMemorySegment(y, yb, ORDER); c01.intoMemorySegment(y, yb + v1, ORDER); c02.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 2) return;
        yb += ys;
        c10.intoMemorySegment(y, yb, ORDER); c11.intoMemorySegment(y, yb + v1, ORDER); c12.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 3) return;
        yb += ys;
        c20.intoMemorySegment(y, yb, ORDER); c21.intoMemorySegment(y, yb + v1, ORDER); c22.intoMemorySegment(y, yb + v2, ORDER);
        if (rows < 4) return;
        yb += ys;
        c30.intoMemorySegment(y, yb, ORDER); c31.intoMemorySegment(y, yb + v1, ORDER); c32.intoMemorySegment(y, yb + v2, ORDER);
    }
}
