package dev.sluice.kernels.cpu.recurrent;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.VectorMath;
import java.util.ArrayList;
import java.util.List;

/**
 * RNN, GRU and LSTM (ONNX opsets 7..22): every direction, both layouts, sequence_lens, initial states,
 * peepholes, clip, input_forget, linear_before_reset and the activation attributes.
 *
 * <p>The computation runs in float32 on layout-0 copies of the inputs, with the state kept in float32 as ONNX
 * Runtime keeps it, so that a run of steps [t0, t1) from the state after step t0 - 1 gives the same bits as
 * the whole sequence (the memgraph's time-step tiles count on it). Gate weights are packed k-major per
 * direction (once per initializer); the input projection of each step and the recurrent product are FMA
 * chains per gate output, vectorized across the gate outputs ({@link Step}).
 *
 * <p>Registered a second time in the sluice domain as {@code LSTMBlock} / {@code GRUBlock} / {@code RNNBlock}
 * ({@link #blocked}): the op restricted to the hidden units {@code [j0, j1)} of its int attribute
 * {@code hidden_block}, one direction, layout 0, one time step (the next step needs every unit's h). W, R, B and
 * P hold only the rows of those units' gates ({@code [1, gates·(j1 - j0), in]}, {@code [1, gates·(j1 - j0), H]},
 * {@code [1, 2·gates·(j1 - j0)]}, {@code [1, 3·(j1 - j0)]}, each gate's rows in ONNX order); initial_h is the
 * whole state, initial_c whole of which the block's columns are read; Y, Y_h and Y_c have the whole op's shapes
 * and only the block's columns are written, the rest left as the output came. Each unit's gate sums are the
 * same FMA chains in the same order as in the whole op and activations act lane by lane, so a block gives the
 * bits of those units in the whole node whatever its start or width. GRU only with linear_before_reset (without
 * it, h̃ of every unit needs the reset gate of every unit). The memgraph's hidden-unit tiles run it.
 */
final class RecurrentKernel implements OpKernel {
    enum Cell {
        RNN(1, new String[] {"Tanh"}, 2),
        GRU(3, new String[] {"Sigmoid", "Tanh"}, 2),
        LSTM(4, new String[] {"Sigmoid", "Tanh", "Tanh"}, 3);

        final int gates;
        final String[] defaultActivations;
        final int outputs;

        Cell(int gates, String[] defaultActivations, int outputs) {
            this.gates = gates;
            this.defaultActivations = defaultActivations;
            this.outputs = outputs;
        }
    }

    private final Cell cell;
    /** The sluice-domain form that computes a block of hidden units for one step (see the class doc). */
    private final boolean blocked;

    RecurrentKernel(Cell cell) { this(cell, false); }

    RecurrentKernel(Cell cell, boolean blocked) { this.cell = cell; this.blocked = blocked; }

    private static int directions(Attributes at) {
        String d = at.getString("direction", "forward");
        return switch (d) {
            case "forward", "reverse" -> 1;
            case "bidirectional" -> 2;
            default -> throw new KernelException("unknown direction '" + d + "'");
        };
    }

    @Override
    public List<TensorType> infer(InferContext ctx) {
        Attributes at = ctx.attributes();
        int numDir = directions(at);
        int layout = (int) at.getInt("layout", 0);
        TensorType x = ctx.inputType(0);
        Dim seq = Dim.UNKNOWN, batch = Dim.UNKNOWN;
        if (x.shape().hasRank() && x.shape().rank() == 3) {
            seq = x.shape().dim(layout == 0 ? 0 : 1);
            batch = x.shape().dim(layout == 0 ? 1 : 0);
        }
        Dim hidden = Dim.UNKNOWN;
        if (at.has("hidden_size")) hidden = Dim.of(at.getInt("hidden_size"));
        else {
            TensorType r = ctx.inputType(2);
            if (r.shape().hasRank() && r.shape().rank() == 3) hidden = r.shape().dim(2);
        }
        Dim nd = Dim.of(numDir);
        DType dt = x.dtype();
        List<TensorType> out = new ArrayList<>();
        for (int i = 0; i < ctx.outputCount(); i++) {
            SymShape s;
            if (i == 0) s = layout == 0 ? SymShape.of(seq, nd, batch, hidden) : SymShape.of(batch, seq, nd, hidden);
            else s = layout == 0 ? SymShape.of(nd, batch, hidden) : SymShape.of(batch, nd, hidden);
            out.add(TensorType.of(dt, s));
        }
        return out;
    }

    @Override
    public void execute(ExecContext ctx) {
        Attributes at = ctx.attributes();
        int numDir = directions(at);
        boolean reverseOnly = at.getString("direction", "forward").equals("reverse");
        int layout = (int) at.getInt("layout", 0);
        Tensor xt = ctx.input(0), wt = ctx.input(1), rt = ctx.input(2);
        if (xt.rank() != 3 || wt.rank() != 3 || rt.rank() != 3) {
            throw new KernelException(cell + " expects X, W and R of rank 3, got " + xt.shape() + ", " + wt.shape() + ", " + rt.shape());
        }
        int seq = (int) xt.shape().dim(layout == 0 ? 0 : 1);
        int batch = (int) xt.shape().dim(layout == 0 ? 1 : 0);
        int in = (int) xt.shape().dim(2);
        int hidden = (int) rt.shape().dim(2);
        if (at.has("hidden_size") && at.getInt("hidden_size") != hidden) {
            throw new KernelException("hidden_size " + at.getInt("hidden_size") + " does not match R " + rt.shape());
        }
        // The units this call computes: all of them, or the op's block (the sluice-domain form).
        int j0 = 0, units = hidden;
        if (blocked) {
            long[] blk = at.has("hidden_block") ? at.getInts("hidden_block") : new long[0];
            if (blk.length != 2 || blk[0] < 0 || blk[1] <= blk[0] || blk[1] > hidden) {
                throw new KernelException(cell + "Block needs hidden_block [j0, j1) inside [0, " + hidden + "), got " + java.util.Arrays.toString(blk));
            }
            j0 = (int) blk[0];
            units = (int) (blk[1] - blk[0]);
            if (numDir != 1 || layout != 0) throw new KernelException(cell + "Block runs one direction in layout 0");
            if (units < hidden && seq > 1) throw new KernelException(cell + "Block of " + units + " of " + hidden + " units runs one step, got " + seq);
            if (units < hidden && cell == Cell.GRU && at.getInt("linear_before_reset", 0) == 0) {
                throw new KernelException("GRUBlock needs linear_before_reset: without it every unit's reset gate enters every unit's h̃");
            }
        }
        int g = cell.gates;
        int gh = g * units;
        if (wt.shape().dim(0) != numDir || wt.shape().dim(1) != gh || wt.shape().dim(2) != in) {
            throw new KernelException("W has shape " + wt.shape() + ", expected [" + numDir + "," + gh + "," + in + "]");
        }
        if (rt.shape().dim(0) != numDir || rt.shape().dim(1) != gh) {
            throw new KernelException("R has shape " + rt.shape() + ", expected [" + numDir + "," + gh + "," + hidden + "]");
        }

        float[] x = xt.toFloatArray();
        if (layout != 0) x = swapFirstTwo(x, batch, seq, in);
        float[] bias = present(ctx, 3) ? floats(ctx, 3) : null;
        if (bias != null && bias.length != numDir * 2 * gh) {
            throw new KernelException("B has shape " + ctx.input(3).shape() + ", expected [" + numDir + "," + 2 * gh + "]");
        }
        int[] lens = new int[batch];
        if (present(ctx, 4)) {
            Tensor sl = ctx.input(4);
            if (sl.elementCount() != batch) throw new KernelException("sequence_lens has shape " + sl.shape() + " for batch " + batch);
            for (int b = 0; b < batch; b++) {
                long v = sl.getLong(b);
                if (v < 0 || v > seq) throw new KernelException("sequence_lens[" + b + "] = " + v + " outside [0, " + seq + "]");
                lens[b] = (int) v;
            }
        } else {
            java.util.Arrays.fill(lens, seq);
        }
        int stateSize = numDir * batch * hidden;
        float[] h0 = present(ctx, 5) ? state(ctx.input(5), layout, numDir, batch, hidden, "initial_h") : new float[stateSize];
        float[] c0 = cell == Cell.LSTM && present(ctx, 6)
                ? state(ctx.input(6), layout, numDir, batch, hidden, "initial_c") : new float[stateSize];
        float[] peep = cell == Cell.LSTM && present(ctx, 7) ? ctx.input(7).toFloatArray() : null;
        if (peep != null && peep.length != numDir * 3 * units) {
            throw new KernelException("P has shape " + ctx.input(7).shape() + ", expected [" + numDir + "," + 3 * hidden + "]");
        }
        float clip = at.has("clip") ? at.getFloat("clip", 0f) : Float.POSITIVE_INFINITY;
        GateActivation[] acts = GateActivation.parse(at, cell.defaultActivations, numDir);
        boolean linearBeforeReset = at.getInt("linear_before_reset", 0) != 0;
        boolean inputForget = at.getInt("input_forget", 0) != 0;
        float[] wPacked = packed(ctx, 1, numDir, gh, in);
        float[] rPacked = packed(ctx, 2, numDir, gh, hidden);

        // Outputs of the units computed, packed ([..., units]); written to their columns at the end.
        float[] y = new float[seq * numDir * batch * units];
        float[] yh = new float[numDir * batch * units];
        float[] yc = new float[numDir * batch * units];
        int per = cell.defaultActivations.length;
        for (int d = 0; d < numDir; d++) {
            boolean reverse = reverseOnly || d == 1;
            Step step = new Step(cell, hidden, j0, units, rPacked, d * hidden * gh, peep, d * 3 * units, clip,
                acts[d * per], per > 1 ? acts[d * per + 1] : null, per > 2 ? acts[d * per + 2] : null,
                linearBeforeReset, inputForget);
            float[] b0 = new float[gh];
            if (bias != null) {
                int bOff = d * 2 * gh;
                for (int j = 0; j < gh; j++) {
                    // GRU with linear_before_reset keeps Rbh apart: it is scaled by the reset gate
                    boolean apart = cell == Cell.GRU && linearBeforeReset && j >= 2 * units;
                    b0[j] = apart ? bias[bOff + j] : bias[bOff + j] + bias[bOff + gh + j];
                    if (apart) step.rbh[j - 2 * units] = bias[bOff + gh + j];
                }
            }
            // the input projection of every time step and batch row: each row on its own (see Step.project)
            float[] xw = new float[seq * batch * gh];
            for (int row = 0; row < seq * batch; row++) {
                System.arraycopy(b0, 0, xw, row * gh, gh);
                Step.project(x, row * in, in, wPacked, d * in * gh, gh, 0, gh, xw, row * gh);
            }
            for (int b = 0; b < batch; b++) {
                int sOff = (d * batch + b) * hidden;
                System.arraycopy(h0, sOff, step.h, 0, hidden);
                System.arraycopy(c0, sOff + j0, step.c, 0, units);
                int len = lens[b];
                for (int s = 0; s < len; s++) {
                    int t = reverse ? len - 1 - s : s;
                    step.run(xw, (t * batch + b) * gh);
                    System.arraycopy(step.h, j0, y, ((t * numDir + d) * batch + b) * units, units);
                }
                int bOut = (d * batch + b) * units;
                System.arraycopy(step.h, j0, yh, bOut, units);
                System.arraycopy(step.c, 0, yc, bOut, units);
            }
        }

        DType dt = xt.dtype();
        int outs = Math.min(ctx.outputCount(), cell.outputs);
        for (int i = 0; i < outs; i++) {
            if (i == 0) {
                Shape s = layout == 0 ? Shape.of(seq, numDir, batch, hidden) : Shape.of(batch, seq, numDir, hidden);
                Tensor o = ctx.output(0, dt, s);
                if (units < hidden) writeColumns(o, y, j0, units, hidden);
                else if (layout == 0) write(o, y);
                else {
                    // [seq, dir, batch, H] -> [batch, seq, dir, H]
                    long k = 0;
                    for (int b = 0; b < batch; b++)
                        for (int t = 0; t < seq; t++)
                            for (int d = 0; d < numDir; d++)
                                for (int j = 0; j < hidden; j++) o.setFloat(k++, y[((t * numDir + d) * batch + b) * hidden + j]);
                }
            } else {
                float[] st = i == 1 ? yh : yc;
                Shape s = layout == 0 ? Shape.of(numDir, batch, hidden) : Shape.of(batch, numDir, hidden);
                Tensor o = ctx.output(i, dt, s);
                if (units < hidden) writeColumns(o, st, j0, units, hidden);
                else write(o, layout == 0 ? st : swapFirstTwo(st, numDir, batch, hidden));
            }
        }
    }

    /**
     * One time step of one direction, the only code that computes a step: a whole-sequence run and a run of
     * any range of steps (a memgraph tile, which starts from the state the previous tile handed over) call it
     * alike. The state is float32, as ONNX Runtime keeps it, so that a tile hands it on exactly through the
     * node's own Y_h / Y_c outputs. Every gate sum is one FMA chain per element: the step's projection
     * (bias + x·Wᵀ, {@link #project}) first, then h·Rᵀ over k in order, so its bits depend on the values
     * alone, not on how many steps or rows a call covers.
     */
    static final class Step {
        final Cell cell;
        /** H (the length of h, R's k) and the units [j0, j0 + units) this step computes, gh = gates · units. */
        final int hidden, j0, units, gh;
        final float[] r;
        final int rOff;
        final float[] peep;
        final int pOff;
        final float clip;
        final GateActivation f, g, hAct;
        final boolean linearBeforeReset, inputForget;
        /** The state this step reads and replaces: the whole h (only units [j0, j0 + units) replaced), c of those units. */
        final float[] h, c;
        /** GRU with linear_before_reset: Rbh of the units, added to h·Rhᵀ before the reset gate scales it. */
        final float[] rbh;
        private final float[] acc, tmp, hNew;

        Step(Cell cell, int hidden, int j0, int units, float[] r, int rOff, float[] peep, int pOff, float clip, GateActivation f,
             GateActivation g, GateActivation hAct, boolean linearBeforeReset, boolean inputForget) {
            this.cell = cell; this.hidden = hidden; this.j0 = j0; this.units = units; this.gh = cell.gates * units;
            this.r = r; this.rOff = rOff; this.peep = peep;
            this.pOff = pOff; this.clip = clip; this.f = f; this.g = g; this.hAct = hAct;
            this.linearBeforeReset = linearBeforeReset; this.inputForget = inputForget;
            h = new float[hidden];
            c = new float[units];
            rbh = new float[units];
            acc = new float[gh];
            tmp = new float[units];
            hNew = new float[units];
        }

        /**
         * Advances units [j0, j0 + units) of h (and their c) by one step whose input projection is
         * {@code xw[xo, xo + gh)}; the gate sums read the whole h before any unit of it is replaced.
         */
        void run(float[] xw, int xo) {
            int H = hidden, U = units;
            System.arraycopy(xw, xo, acc, 0, gh);
            switch (cell) {
                case RNN -> {
                    project(h, 0, H, r, rOff, gh, 0, U, acc, 0);
                    activate(f, acc, 0, U);
                    System.arraycopy(acc, 0, h, j0, U);
                }
                case GRU -> {
                    project(h, 0, H, r, rOff, gh, 0, 2 * U, acc, 0);
                    activate(f, acc, 0, 2 * U); // z, r
                    if (linearBeforeReset) {
                        System.arraycopy(rbh, 0, tmp, 0, U);
                        project(h, 0, H, r, rOff, gh, 2 * U, 3 * U, tmp, -2 * U);
                        for (int j = 0; j < U; j++) acc[2 * U + j] += acc[U + j] * tmp[j];
                    } else {
                        // (r ⊙ h) · Rhᵀ: only the columns of the hidden gate (every unit: a block never gets here)
                        for (int j = 0; j < H; j++) tmp[j] = acc[H + j] * h[j];
                        project(tmp, 0, H, r, rOff, gh, 2 * H, 3 * H, acc, 0);
                    }
                    activate(g, acc, 2 * U, 3 * U);
                    for (int j = 0; j < U; j++) {
                        float z = acc[j];
                        h[j0 + j] = (1 - z) * acc[2 * U + j] + z * h[j0 + j];
                    }
                }
                case LSTM -> {
                    project(h, 0, H, r, rOff, gh, 0, gh, acc, 0);
                    // gates i, o, f, c at [0, U), [U, 2U), [2U, 3U), [3U, 4U)
                    if (peep != null) {
                        for (int j = 0; j < U; j++) {
                            acc[j] += peep[pOff + j] * c[j];
                            acc[2 * U + j] += peep[pOff + 2 * U + j] * c[j];
                        }
                    }
                    activate(f, acc, 0, U);
                    if (inputForget) for (int j = 0; j < U; j++) acc[2 * U + j] = 1 - acc[j];
                    else activate(f, acc, 2 * U, 3 * U);
                    activate(g, acc, 3 * U, 4 * U);
                    for (int j = 0; j < U; j++) c[j] = acc[2 * U + j] * c[j] + acc[j] * acc[3 * U + j];
                    if (peep != null) for (int j = 0; j < U; j++) acc[U + j] += peep[pOff + U + j] * c[j];
                    activate(f, acc, U, 2 * U);
                    System.arraycopy(c, 0, hNew, 0, U);
                    activate(hAct, hNew, 0, U);
                    for (int j = 0; j < U; j++) h[j0 + j] = acc[U + j] * hNew[j];
                }
            }
        }

        private void activate(GateActivation a, float[] v, int from, int to) {
            if (clip != Float.POSITIVE_INFINITY) {
                for (int j = from; j < to; j++) v[j] = v[j] > clip ? clip : v[j] < -clip ? -clip : v[j];
            }
            a.apply(v, from, to);
        }

        private static final jdk.incubator.vector.VectorSpecies<Float> S = VectorMath.S;
        private static final int L = S.length();

        /**
         * {@code out[outOff + j] = fma chain over k of v[vOff + k] · w[wOff + k·ld + j]} on top of what out holds,
         * for columns j in [j0, j1) of a k-major packed weight (row k holds the k-th input's weight of every gate
         * output). Each element is one FMA chain over k in order, whether a vector lane or the scalar tail
         * computes it (an FMA rounds once either way), so the bits do not depend on j0, j1 or the vector width.
         */
        static void project(float[] v, int vOff, int k, float[] w, int wOff, int ld, int j0, int j1, float[] out, int outOff) {
            int j = j0;
            for (; j + 4 * L <= j1; j += 4 * L) {
                int o = outOff + j;
                jdk.incubator.vector.FloatVector a0 = jdk.incubator.vector.FloatVector.fromArray(S, out, o);
                jdk.incubator.vector.FloatVector a1 = jdk.incubator.vector.FloatVector.fromArray(S, out, o + L);
                jdk.incubator.vector.FloatVector a2 = jdk.incubator.vector.FloatVector.fromArray(S, out, o + 2 * L);
                jdk.incubator.vector.FloatVector a3 = jdk.incubator.vector.FloatVector.fromArray(S, out, o + 3 * L);
                for (int p = 0, wo = wOff + j; p < k; p++, wo += ld) {
                    jdk.incubator.vector.FloatVector x = jdk.incubator.vector.FloatVector.broadcast(S, v[vOff + p]);
                    a0 = jdk.incubator.vector.FloatVector.fromArray(S, w, wo).fma(x, a0);
                    a1 = jdk.incubator.vector.FloatVector.fromArray(S, w, wo + L).fma(x, a1);
                    a2 = jdk.incubator.vector.FloatVector.fromArray(S, w, wo + 2 * L).fma(x, a2);
                    a3 = jdk.incubator.vector.FloatVector.fromArray(S, w, wo + 3 * L).fma(x, a3);
                }
                a0.intoArray(out, o);
                a1.intoArray(out, o + L);
                a2.intoArray(out, o + 2 * L);
                a3.intoArray(out, o + 3 * L);
            }
            for (; j + L <= j1; j += L) {
                int o = outOff + j;
                jdk.incubator.vector.FloatVector a0 = jdk.incubator.vector.FloatVector.fromArray(S, out, o);
                for (int p = 0, wo = wOff + j; p < k; p++, wo += ld) {
                    a0 = jdk.incubator.vector.FloatVector.fromArray(S, w, wo).fma(jdk.incubator.vector.FloatVector.broadcast(S, v[vOff + p]), a0);
                }
                a0.intoArray(out, o);
            }
            for (; j < j1; j++) {
                float a = out[outOff + j];
                for (int p = 0, wo = wOff + j; p < k; p++, wo += ld) a = Math.fma(w[wo], v[vOff + p], a);
                out[outOff + j] = a;
            }
        }
    }

    /** Gate weights packed k-major per direction ([dir][k][gate output]), made once per initializer tensor. */
    private static final java.util.Map<Tensor, float[]> PACKED =
        java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** Input i as floats; for an initializer, the copy made on first use (B: read every call, never changed). */
    private static float[] floats(ExecContext ctx, int i) {
        Tensor t = ctx.input(i);
        if (!ctx.inputIsInitializer(i)) return t.toFloatArray();
        float[] v = CONSTANT_FLOATS.get(t);
        if (v == null) {
            v = t.toFloatArray();
            CONSTANT_FLOATS.put(t, v);
        }
        return v;
    }

    private static final java.util.Map<Tensor, float[]> CONSTANT_FLOATS =
        java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** W or R ([dir, gh, k]) transposed to [dir][k][gh], so that a step's gate outputs are contiguous per input k. */
    private static float[] packed(ExecContext ctx, int i, int numDir, int gh, int k) {
        Tensor t = ctx.input(i);
        boolean constant = ctx.inputIsInitializer(i);
        float[] v = constant ? PACKED.get(t) : null;
        if (v != null) return v;
        float[] src = t.toFloatArray();
        v = new float[numDir * k * gh];
        for (int d = 0; d < numDir; d++)
            for (int j = 0; j < gh; j++)
                for (int p = 0; p < k; p++) v[(d * k + p) * gh + j] = src[(d * gh + j) * k + p];
        if (constant) PACKED.put(t, v);
        return v;
    }

    private static boolean present(ExecContext ctx, int i) { return ctx.inputCount() > i && ctx.hasInput(i); }

    private static void write(Tensor o, float[] v) {
        if (o.dtype() == DType.FLOAT32) {
            java.lang.foreign.MemorySegment.copy(v, 0, o.data(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, v.length);
        } else {
            for (int i = 0; i < v.length; i++) o.setFloat(i, v[i]);
        }
    }

    /**
     * A block's outputs ({@code v}: rows of {@code units} floats) into columns [j0, j0 + units) of the rows of
     * {@code hidden} of o, leaving the other columns as they are.
     */
    private static void writeColumns(Tensor o, float[] v, int j0, int units, int hidden) {
        int rows = v.length / units;
        if (o.elementCount() != (long) rows * hidden) throw new KernelException("output " + o.shape() + " does not hold " + rows + " rows of " + hidden);
        for (int row = 0; row < rows; row++) {
            long at = (long) row * hidden + j0;
            if (o.dtype() == DType.FLOAT32) {
                java.lang.foreign.MemorySegment.copy(v, row * units, o.data(), java.lang.foreign.ValueLayout.JAVA_FLOAT, at * Float.BYTES, units);
            } else {
                for (int j = 0; j < units; j++) o.setFloat(at + j, v[row * units + j]);
            }
        }
    }

    /** [a, b, n] -> [b, a, n]. */
    private static float[] swapFirstTwo(float[] v, int a, int b, int n) {
        float[] r = new float[v.length];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b; j++) System.arraycopy(v, (i * b + j) * n, r, (j * a + i) * n, n);
        return r;
    }

    /** An initial state in layout-0 order [dir, batch, H]. */
    private static float[] state(Tensor t, int layout, int numDir, int batch, int hidden, String name) {
        if (t.elementCount() != (long) numDir * batch * hidden) {
            throw new KernelException(name + " has shape " + t.shape() + ", expected " + numDir * batch * hidden + " elements");
        }
        float[] v = t.toFloatArray();
        return layout == 0 ? v : swapFirstTwo(v, batch, numDir, hidden);
    }
}
