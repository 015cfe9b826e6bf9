package dev.sluice.kernels.cpu.conv;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.ConvGroups;
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
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.NnArrays;
import dev.sluice.kernels.PartialSums;
import dev.sluice.kernels.cpu.core.WindowGeometry;
import dev.sluice.kernels.cpu.linalg.Gemm32;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Conv on float32 (other float types convert through float32); ConvTranspose is {@link ConvTransposeKernels}.
 *
 * <p>Conv lowers to GEMM: pointwise convolutions multiply the weights by the input directly; the rest build
 * im2col columns one chunk of output positions at a time (so the column buffer stays cache-sized instead
 * of kernel-size times the image), and depthwise convolutions, where GEMM would have a single row, run
 * direct loops.
 */
final class ConvKernels {
    private ConvKernels() {}

    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[2][0]);

    /** Thread-local scratch array {@code slot} of at least n floats (contents undefined). */
    static float[] scratch(int slot, int n) {
        float[][] s = SCRATCH.get();
        if (s[slot].length < n) s[slot] = new float[Math.max(n, s[slot].length * 3 / 2)];
        return s[slot];
    }

    static long[] kernelShape(Attributes at, long[] wDims) {
        long[] k = at.getInts("kernel_shape");
        if (k != null) return k;
        return java.util.Arrays.copyOfRange(wDims, 2, wDims.length);
    }

    static float[] bias(ExecContext ctx, int idx, int m) {
        if (ctx.inputCount() <= idx || !ctx.hasInput(idx)) return null;
        Tensor b = ctx.input(idx);
        if (b.elementCount() != m) throw new KernelException("bias has " + b.elementCount() + " elements, expected " + m);
        return NnArrays.floats(b);
    }

    /** Symbolic spatial output sizes for inference: known only where the input size is. */
    static List<TensorType> inferWindowed(InferContext ctx, boolean transpose) {
        NnArrays.requireOneType(ctx, "X", "W", "B");
        TensorType x = ctx.inputType(0), w = ctx.inputType(1);
        DType dt = x.dtype() != null ? x.dtype() : w.dtype();
        int rank = x.shape().hasRank() ? x.shape().rank() : w.shape().hasRank() ? w.shape().rank() : -1;
        if (rank < 0) return List.of(new TensorType(dt, SymShape.UNKNOWN_RANK));
        if (rank < 3) throw new KernelException(ctx.opType() + " input must have rank >= 3");
        Attributes at = ctx.attributes();
        long group = at.getInt("group", 1);
        int r = rank - 2;
        List<Dim> out = new ArrayList<>();
        out.add(x.shape().hasRank() ? x.shape().dim(0) : Dim.UNKNOWN);
        Dim m = Dim.UNKNOWN;
        if (w.shape().hasRank()) {
            Dim wd = w.shape().dim(transpose ? 1 : 0);
            m = transpose ? (wd.isKnown() ? Dim.of(wd.value() * group) : Dim.UNKNOWN) : wd;
        }
        out.add(m);
        long[] k = at.getInts("kernel_shape");
        if (k == null && w.shape().hasRank()) {
            k = new long[r];
            for (int i = 0; i < r; i++) k[i] = NnArrays.known(w, i + 2);
        }
        long[] in = new long[r];
        for (int i = 0; i < r; i++) in[i] = x.shape().hasRank() ? NnArrays.known(x, i + 2) : -1;
        boolean kKnown = k != null;
        if (kKnown) for (long v : k) kKnown &= v >= 0;
        if (!kKnown) {
            for (int i = 0; i < r; i++) out.add(Dim.UNKNOWN);
        } else {
            int[] o = transpose ? ConvTransposeKernels.TransposeGeometry.of(in, k, at).out() : WindowGeometry.of(in, k, at, false).out();
            for (int v : o) out.add(NnArrays.dimOrUnknown(v));
        }
        return List.of(new TensorType(dt, new SymShape(out)));
    }

    // ------------------------------------------------------------------ Conv

    /**
     * sluice.FusedConv: Conv with the bias and an activation applied to each output block (see Activation).
     * Its weight is a constant (the fusion pass emits it only for initializer weights), so the kernel keeps
     * the weight packed for the GEMM, once per weight tensor, instead of repacking it on every call.
     */
    static final class FusedConv extends Conv {
        FusedConv(boolean pointwise) { super(pointwise); }

        @Override Activation activation(Attributes at) { return Activation.of(at); }
        @Override Object weightKey(ExecContext ctx, Tensor w) { return w; }
    }

    /**
     * sluice.FusedConvAdd: Conv (bias included) plus a same-shape residual input (input 3), then an optional
     * activation: {@code act(conv(x, w) + b + r)}, the Add and activation a fused network's residual block ends
     * with. The conv runs exactly as Conv does (no activation), then {@link ResidualAdd} adds r and applies the
     * activation in one pass over the output: the same operations, in the same order, as the separate Add
     * and activation nodes, so the same bits, without their two extra passes over memory and node dispatches.
     * A pointwise conv on PointwiseConv's path does the add and a Relu in its tile epilogue instead (the same
     * operations per element again), saving that pass too.
     */
    static final class FusedConvAdd extends Conv {
        FusedConvAdd(boolean pointwise) { super(pointwise); }

        @Override Object weightKey(ExecContext ctx, Tensor w) { return w; }

        @Override Tensor residual(ExecContext ctx, Tensor y) {
            if (ctx.inputCount() < 4 || !ctx.hasInput(3)) throw new KernelException("FusedConvAdd needs its residual as input 3");
            Tensor r = ctx.input(3);
            if (r.dtype() != DType.FLOAT32 || y.dtype() != DType.FLOAT32 || !r.shape().equals(y.shape())) {
                throw new KernelException("FusedConvAdd residual " + r.dtype() + r.shape() + " does not match the conv's output "
                        + y.dtype() + y.shape());
            }
            return r;
        }

        @Override Activation after(Attributes at) { return Activation.of(at); }

        @Override void finish(ExecContext ctx, Tensor y) {
            ResidualAdd.apply(y.data(), residual(ctx, y).data(), y.elementCount(), after(ctx.attributes()), ctx.parallelism());
        }
    }

    static class Conv implements OpKernel {
        /** Whether this kernel may take PointwiseConv's loop (the registry's KernelOptions). */
        private final boolean pointwise;

        Conv(boolean pointwise) { this.pointwise = pointwise; }

        @Override public List<TensorType> infer(InferContext ctx) { return inferWindowed(ctx, false); }

        Activation activation(Attributes at) { return Activation.NONE; }

        /** What runs after the convolution on its finished output: nothing for Conv and FusedConv. */
        void finish(ExecContext ctx, Tensor y) {}

        /** The residual {@link #finish} adds (validated against y), or null: none for Conv and FusedConv. */
        Tensor residual(ExecContext ctx, Tensor y) { return null; }

        /** The activation after the residual add (none without one). */
        Activation after(Attributes at) { return Activation.NONE; }

        /**
         * The key under which the weight's packed form may be cached: only for constant weights, which a plain
         * Conv knows from the executor (an initializer is the same tensor, with the same contents, every run).
         * Without it a plain Conv packed its weight again on every run: garbage of the weights' size per run.
         */
        Object weightKey(ExecContext ctx, Tensor w) { return ctx.inputIsInitializer(1) ? w : null; }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), w = ctx.input(1);
            if (x.rank() < 3) throw new KernelException("Conv input must have rank >= 3, got " + x.shape());
            if (w.rank() != x.rank()) throw new KernelException("Conv weight rank " + w.rank() + " differs from input rank " + x.rank());
            NnArrays.requireFloat(x.dtype(), "Conv");
            Attributes at = ctx.attributes();
            int group = Math.toIntExact(at.getInt("group", 1));
            long[] xd = x.shape().dims();
            int n = (int) xd[0], c = (int) xd[1], m = (int) w.shape().dim(0);
            if (group <= 0 || c % group != 0 || m % group != 0 || w.shape().dim(1) * group != c) {
                throw new KernelException("Conv channels do not fit groups: input " + x.shape() + ", weight " + w.shape() + ", group " + group);
            }
            long[] k = kernelShape(at, w.shape().dims());
            for (int i = 0; i < k.length; i++) {
                if (k[i] != w.shape().dim(i + 2)) throw new KernelException("kernel_shape does not match weight " + w.shape());
            }
            WindowGeometry g = WindowGeometry.of(java.util.Arrays.copyOfRange(xd, 2, xd.length), k, at, false);
            long[] od = new long[xd.length];
            od[0] = n;
            od[1] = m;
            for (int i = 0; i < g.rank(); i++) od[i + 2] = g.out()[i];
            Tensor y = ctx.output(0, x.dtype(), Shape.of(od));
            if (y.elementCount() == 0) return;
            float[] b = bias(ctx, 2, m);
            Activation act = activation(at);
            if (PartialSums.input(ctx) >= 0) {
                // a K tile over input channels (see PartialSums): only the direct path continues a chain
                boolean pw = group == 1 && PointwiseConv.applies(g) && pointwise && g.outSize() >= 2 * PointwiseConv.NT;
                if (x.dtype() != DType.FLOAT32 || w.dtype() != DType.FLOAT32 || !(pw || continuesPartialSums(c, group, g))) {
                    throw new KernelException("Conv " + ctx.nodeName() + " cannot continue partial sums (" + x.type() + ", group " + group + ")");
                }
                PartialSums.load(ctx, y);
                if (pw) PointwiseConv.convPartial(x.data(), w.data(), b, y.data(), n, c, m, Math.toIntExact(g.outSize()), ctx.parallelism(), act);
                else DirectConv.conv(x.data(), w.data(), b, y.data(), n, c, m, g.as2d(), ctx.parallelism(), act, weightKey(ctx, w), true);
            } else if (x.dtype() == DType.FLOAT32 && w.dtype() == DType.FLOAT32) {
                // a residual block's tail may go into the conv's own epilogue (the same bits, see PointwiseConv)
                Tensor r = residual(ctx, y);
                if (conv(x.data(), w.data(), b, y.data(), n, c, m, group, wholeGroups(at, group), g, ctx.parallelism(), act,
                        weightKey(ctx, w), pointwise, r == null ? null : r.data(), after(at))) return;
            } else {
                Tensor yf = Tensor.allocate(DType.FLOAT32, y.shape());
                conv(NnArrays.asF32(x).data(), NnArrays.asF32(w).data(), b, yf.data(), n, c, m, group, wholeGroups(at, group), g,
                        ctx.parallelism(), act, null, pointwise, null, Activation.NONE);
                NnArrays.store(y, yf.toFloatArray());
            }
            finish(ctx, y);
        }
    }

    /**
     * The group count of the whole conv this node computes a part of ({@link ConvGroups#WHOLE_GROUPS}), which picks the
     * loop; the node's own otherwise. A tile holds whole groups of the whole conv, so it is at most that count.
     */
    static int wholeGroups(Attributes at, int group) {
        long whole = at.getInt(ConvGroups.WHOLE_GROUPS, group);
        if (whole < group) throw new KernelException("Conv: " + ConvGroups.WHOLE_GROUPS + " " + whole + " is less than its group " + group);
        return Math.toIntExact(whole);
    }

    /**
     * Whether {@link #conv} sends a float32 conv of this geometry to the direct path, whose every output element is
     * one FMA chain over (input channel, ky, kx) from zero: then a conv over the input channels in blocks, each
     * continuing the chain the block before left (a K tile, PartialSums), gives the whole conv's bits. It must
     * not depend on the channel count, which a K tile changes: it holds for 2-D group-1 convs that are not
     * pointwise (a pointwise one may take PointwiseConv or a GEMM depending on positions) over at least two
     * channels (one would be depthwise). Pointwise convs over PointwiseConv's positions continue its chains instead
     * ({@link PointwiseConv#convPartial}).
     */
    static boolean continuesPartialSums(int c, int group, WindowGeometry g0) {
        if (group != 1 || c < 2 || g0.rank() != 2 || NarrowConv.applies(g0)) return false;
        boolean pointwise = g0.kernelSize() == 1;
        for (int i = 0; i < g0.rank(); i++) pointwise &= g0.strides()[i] == 1 && g0.padBegin()[i] == 0 && g0.padEnd()[i] == 0;
        return !pointwise;
    }

    /** Float32 convolution of NC[spatial] x into NM[spatial] y, weights M x C/group x kernel. */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int group,
                     WindowGeometry g0, Parallelism par) {
        conv(x, w, bias, y, n, c, m, group, g0, par, Activation.NONE);
    }

    /** The same, applying {@code act} after the bias to each output block. */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int group,
                     WindowGeometry g0, Parallelism par, Activation act) {
        conv(x, w, bias, y, n, c, m, group, g0, par, act, null);
    }

    /** The same; a non-null {@code wKey} marks w as constant, its packed form cached under that key. */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int group,
                     WindowGeometry g0, Parallelism par, Activation act, Object wKey) {
        conv(x, w, bias, y, n, c, m, group, g0, par, act, wKey, PointwiseConv.ENABLED);
    }

    /** The same; {@code pointwiseOk} says whether PointwiseConv may run (the kernel's registry options). */
    static void conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int group,
                     WindowGeometry g0, Parallelism par, Activation act, Object wKey, boolean pointwiseOk) {
        conv(x, w, bias, y, n, c, m, group, group, g0, par, act, wKey, pointwiseOk, null, Activation.NONE);
    }

    /**
     * The same; with a non-null residual {@code res} (y's shape) a path that can finish a residual block in its
     * own epilogue, {@code y = after(conv + bias + res)}, does so and the call returns true; false means y holds
     * the conv alone and the caller adds the residual. {@code whole} is the group count of the conv this one is a
     * tile of (its own when it is whole, see {@link ConvGroups#WHOLE_GROUPS}): the loop is chosen by it, so a tile of
     * one group of a grouped conv takes the grouped path (im2col + Gemm32 per group), never a group-1 conv's loops.
     */
    static boolean conv(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int c, int m, int group, int whole,
                        WindowGeometry g0, Parallelism par, Activation act, Object wKey, boolean pointwiseOk,
                        MemorySegment res, Activation after) {
        // a group-1 conv's own loops; not for one group of a grouped conv, which takes the whole conv's (DepthwiseConv
        // for a depthwise conv's group, im2col + Gemm32 otherwise)
        boolean single = group == 1 && whole == 1;
        if (single && c == 1 && windowsAreRows(g0)) { windowRows(x, w, bias, y, n, m, g0, par, act, wKey); return false; }
        if (single && NarrowConv.applies(g0)) { NarrowConv.conv(x, w, bias, y, n, c, m, g0, par, act); return false; }
        WindowGeometry g = g0.as2d();
        int cg = c / group, mg = m / group;
        int inSize = Math.toIntExact(g.inSize()), outSize = Math.toIntExact(g.outSize()), ks = Math.toIntExact(g.kernelSize());
        int kk = cg * ks;
        boolean pointwise = ks == 1;
        for (int i = 0; i < g.rank(); i++) pointwise &= g.strides()[i] == 1 && g.padBegin()[i] == 0 && g.padEnd()[i] == 0;
        if (pointwise && single && pointwiseOk && PointwiseConv.takes(outSize)) {
            boolean fuse = res != null && PointwiseConv.takesResidual(act, after);
            PointwiseConv.conv(x, w, bias, y, n, c, m, outSize, par, act, wKey, fuse ? res : null, after);
            return fuse;
        }
        // one input channel into several maps with group 1 (a spectrogram's or an image's stem): DirectConv's
        // register tile loads each input vector once for 4-6 maps, where DepthwiseConv's per-map tiles load once
        // per FMA (oww's 1 -> 24 channel 3x3 stem: ~22 -> ~13 us). Both sum each element's taps in (ky, kx) order
        // by FMA from zero, then add the bias and apply the activation in vector lanes: the same bits, so a
        // memgraph tile (a depthwise conv's one-group tile, a channel tile of fewer maps) that falls on the
        // other side of this test still matches the whole conv (DirectConvOneChannelTest checks it)
        if (g.rank() == 2 && c == 1 && single && m >= ONE_CHANNEL_DIRECT_MAPS) {
            DirectConv.conv(x, w, bias, y, n, c, m, g, par, act, wKey);
            return false;
        }
        // one input channel per group, group 1 included (a spectrogram's first conv, a depthwise conv's one-group
        // tile): here, so that memgraph's group tiles take the whole conv's path and keep its bits
        if (g.rank() == 2 && cg == 1 && group == c) {
            DepthwiseConv.conv(x, w, bias, y, n, c, m, g, par, act);
            return false;
        }
        // group 1 goes direct, except a pointwise conv over fewer positions than one tile: a matrix-vector product
        if (g.rank() == 2 && single && !(pointwise && outSize < DirectConv.NT)) {
            DirectConv.conv(x, w, bias, y, n, c, m, g, par, act, wKey);
            return false;
        }
        // one group: the whole weight is A (mg x kk); packed once per weight tensor
        Gemm32.Packed pw = wKey != null && single ? Gemm32.cached(wKey, true, false, mg, kk, w, 0, kk) : null;
        if (pointwise) {
            int tasks = n * group;
            boolean across = tasks >= par.threads();
            java.util.function.IntConsumer one = t -> {
                int ni = t / group, gi = t % group;
                long yo = ((long) ni * m + (long) gi * mg) * outSize;
                Gemm32.sgemm(false, false, mg, outSize, cg, 1f, w, (long) gi * mg * cg, cg, pw,
                        x, ((long) ni * c + (long) gi * cg) * inSize, inSize, null, 0f, y, yo, outSize,
                        across ? Parallelism.SEQUENTIAL : par);
                addBias(y, yo, bias, gi * mg, mg, 0, outSize, outSize, act);
            };
            if (across) par.forEach(tasks, (long) mg * outSize * cg, one);
            else for (int t = 0; t < tasks; t++) one.accept(t);
            return false;
        }
        int chunk = Math.max(Gemm32.NR, Math.min(roundUp(outSize, Gemm32.NR), (1 << 17) / Math.max(kk, 1) / Gemm32.NR * Gemm32.NR));
        int chunks = (outSize + chunk - 1) / chunk;
        int tasks = n * group * chunks;
        boolean across = tasks >= par.threads();
        Parallelism inner = across ? Parallelism.SEQUENTIAL : par;
        java.util.function.IntConsumer one = t -> {
            int ci = t % chunks, gi = (t / chunks) % group, ni = t / chunks / group;
            int j0 = ci * chunk, len = Math.min(chunk, outSize - j0);
            // a thread-local buffer only when no parallel call follows: a worker waiting on one may run other tasks
            float[] col = across ? scratch(0, kk * len) : new float[kk * len];
            long xo = ((long) ni * c + (long) gi * cg) * inSize;
            if (g.rank() == 2) im2col2d(x, xo, cg, g, j0, len, col);
            else im2colNd(x, xo, cg, g, j0, len, col);
            long yo = ((long) ni * m + (long) gi * mg) * outSize;
            Gemm32.sgemm(false, false, mg, len, kk, 1f, w, (long) gi * mg * kk, kk, pw,
                    MemorySegment.ofArray(col), 0, len, null, 0f, y, yo + j0, outSize, inner);
            addBias(y, yo, bias, gi * mg, mg, j0, len, outSize, act);
        };
        if (across) par.forEach(tasks, (long) mg * chunk * kk, one);
        else for (int t = 0; t < tasks; t++) one.accept(t);
        return false;
    }

    static int roundUp(int v, int unit) { return (v + unit - 1) / unit * unit; }

    /**
     * Fewest output maps for which a group-1 conv of one input channel goes to DirectConv instead of
     * DepthwiseConv: below, DirectConv's 4-row tiles compute mostly padding rows (4 maps measured a tie).
     */
    static final int ONE_CHANNEL_DIRECT_MAPS = 8;

    /** Shortest kernel {@link #windowRows} takes: shorter ones are NarrowConv's and DirectConv's. */
    static final int WINDOW_ROWS_MIN_KERNEL = 32;

    /**
     * True for a 1-D convolution without padding or dilation and with a long kernel: with one input channel
     * its windows are rows of the input itself, window j starting at j * stride (rows may overlap).
     */
    static boolean windowsAreRows(WindowGeometry g) {
        return g.rank() == 1 && g.dilations()[0] == 1 && g.padBegin()[0] == 0 && g.padEnd()[0] == 0
            && g.kernel()[0] >= WINDOW_ROWS_MIN_KERNEL;
    }

    /**
     * One input channel, 1-D, no padding (a filter bank over a waveform, an STFT written as Conv): y[m, j] =
     * sum_k w[m, k] x[j * stride + k] is the matrix product W (m x K) times the windows, and the windows are
     * the input read as a K-column matrix with leading dimension stride (op(B) = B transposed), so Gemm32 reads
     * them in place: no im2col copy, and none of the 2-D direct kernel's work on a 1 x K tap row.
     */
    private static void windowRows(MemorySegment x, MemorySegment w, float[] bias, MemorySegment y, int n, int m,
                                   WindowGeometry g, Parallelism par, Activation act, Object wKey) {
        int k = g.kernel()[0], stride = g.strides()[0], in = g.in()[0], out = g.out()[0];
        Gemm32.Packed pw = wKey != null ? Gemm32.cached(wKey, true, false, m, k, w, 0, k) : null;
        // a few windows past whole panels (97 = 96 + 1) go one by one (WindowEdge: the same bits); one filter is
        // Gemm32's matrix-vector path, summed otherwise, so it stays whole
        int rem = out % Gemm32.NR, whole = wKey != null && m > 1 && rem <= WindowEdge.MAX_COLS && out > rem ? out - rem : out;
        float[] wt = whole < out ? WindowEdge.transposed(wKey, w, m, k) : null;
        for (int ni = 0; ni < n; ni++) {
            long yo = (long) ni * m * out;
            // the windows packed once for all of the product's parallel tasks (each packed them again otherwise)
            Gemm32.Packed pb = par.threads() > 1 && m > Gemm32.MR && whole > 0
                ? Gemm32.packB(true, k, whole, x, (long) ni * in, stride, par) : null;
            Gemm32.sgemm(false, true, m, whole, k, 1f, w, 0, k, pw, x, (long) ni * in, stride, pb, 0f, y, yo, out, par);
            for (int j = whole; j < out; j++) WindowEdge.column(wt, m, k, x, (long) ni * in + (long) j * stride, y, yo + j, out);
            addBias(y, yo, bias, 0, m, 0, out, out, act);
        }
    }

    private static void addBias(MemorySegment y, long yo, float[] bias, int b0, int rows, int j0, int len, int ld, Activation act) {
        if (bias == null && act.kind() == Activation.Kind.NONE) return;
        if (len == 1 && ld == 1 && act.kind() != Activation.Kind.NONE) {
            // one position per map (a squeeze-and-excitation conv on a pooled 1 x 1 map): the maps are one run, biased
            // per element in vectors, instead of a one-element scalar tail per map; the same bits (a tail applies a
            // lane's arithmetic, and with an activation a missing bias adds 0f in both; without one, a zero bias
            // adds nothing per map, so that case stays below)
            float[] b = new float[rows];
            if (bias != null) System.arraycopy(bias, b0, b, 0, rows);
            act.rowBiasAndApply(y, yo + j0, rows, b);
            return;
        }
        for (int r = 0; r < rows; r++) {
            float bv = bias == null ? 0f : bias[b0 + r];
            act.biasAndApply(y, yo + (long) r * ld + j0, len, bv);
        }
    }

    /** First index o in [lo, hi) with o*s + base >= 0, for s > 0. */
    static int firstValid(int base, int s, int lo, int hi) {
        int o = base >= 0 ? 0 : (-base + s - 1) / s;
        return Math.min(Math.max(o, lo), hi);
    }

    /** One past the last index o in [lo, hi) with o*s + base < limit. */
    static int endValid(int base, int s, int limit, int lo, int hi) {
        if (limit - 1 - base < 0) return lo;
        int o = (limit - 1 - base) / s + 1;
        return Math.max(Math.min(o, hi), lo);
    }

    /** Columns [j0, j0+len) of the im2col matrix (rows: channel x kernel position) for 2-D windows. */
    static void im2col2d(MemorySegment x, long xo, int cg, WindowGeometry g, int j0, int len, float[] col) {
        int h = g.in()[0], wd = g.in()[1], ow = g.out()[1];
        int kh = g.kernel()[0], kw = g.kernel()[1], sh = g.strides()[0], sw = g.strides()[1];
        int dh = g.dilations()[0], dw = g.dilations()[1], ph = g.padBegin()[0], pw = g.padBegin()[1];
        int rows = cg * kh * kw;
        for (int row = 0; row < rows; row++) {
            int ci = row / (kh * kw), rem = row % (kh * kw), ky = rem / kw, kx = rem % kw;
            long plane = xo + (long) ci * h * wd;
            int dst = row * len;
            int base = kx * dw - pw;
            int j = j0, end = j0 + len;
            while (j < end) {
                int oy = j / ow, ox = j % ow;
                int segEnd = Math.min(end, (oy + 1) * ow), oxEnd = ox + (segEnd - j);
                int iy = oy * sh - ph + ky * dh;
                if (iy < 0 || iy >= h) {
                    java.util.Arrays.fill(col, dst, dst + (segEnd - j), 0f);
                } else {
                    int lo = firstValid(base, sw, ox, oxEnd), hi = endValid(base, sw, wd, lo, oxEnd);
                    int p = dst;
                    for (int o = ox; o < lo; o++) col[p++] = 0f;
                    long src = plane + (long) iy * wd + base;
                    if (sw == 1) {
                        // no valid tap (the window lies in the padding): src + lo may be negative, copy nothing
                        if (hi > lo) MemorySegment.copy(x, NnArrays.F32, (src + lo) * 4, col, p, hi - lo);
                        p += hi - lo;
                    } else {
                        for (int o = lo; o < hi; o++) col[p++] = x.getAtIndex(NnArrays.F32, src + (long) o * sw);
                    }
                    for (int o = hi; o < oxEnd; o++) col[p++] = 0f;
                }
                dst += segEnd - j;
                j = segEnd;
            }
        }
    }

    /** im2col for any number of spatial axes (3-D and up), decoding coordinates per element. */
    static void im2colNd(MemorySegment x, long xo, int cg, WindowGeometry g, int j0, int len, float[] col) {
        int r = g.rank(), ks = (int) g.kernelSize();
        int[] in = g.in(), out = g.out(), kern = g.kernel();
        int[] kc = new int[r], oc = new int[r];
        long inSize = g.inSize();
        for (int row = 0; row < cg * ks; row++) {
            int ci = row / ks, kidx = row % ks;
            for (int d = r - 1; d >= 0; d--) { kc[d] = kidx % kern[d]; kidx /= kern[d]; }
            int dst = row * len;
            for (int jj = 0; jj < len; jj++) {
                int j = j0 + jj;
                for (int d = r - 1; d >= 0; d--) { oc[d] = j % out[d]; j /= out[d]; }
                long idx = 0;
                boolean ok = true;
                for (int d = 0; d < r; d++) {
                    int i = oc[d] * g.strides()[d] - g.padBegin()[d] + kc[d] * g.dilations()[d];
                    if (i < 0 || i >= in[d]) { ok = false; break; }
                    idx = idx * in[d] + i;
                }
                col[dst + jj] = ok ? x.getAtIndex(NnArrays.F32, xo + ci * inSize + idx) : 0f;
            }
        }
    }

    // ------------------------------------------------------------------ ConvTranspose
}
