package dev.sluice.kernels.cpu;

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
import java.util.ArrayList;
import java.util.List;

/**
 * RNN, GRU and LSTM (ONNX opsets 7..22): every direction, both layouts, sequence_lens, initial states,
 * peepholes, clip, input_forget, linear_before_reset and the activation attributes.
 *
 * <p>The computation runs in double on layout-0 copies of the inputs; the input projection X·Wᵀ of all time
 * steps is one matrix product per direction, the recurrent part one matrix-vector product per step.
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

    RecurrentKernel(Cell cell) { this.cell = cell; }

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
        int g = cell.gates;
        int gh = g * hidden;
        if (wt.shape().dim(0) != numDir || wt.shape().dim(1) != gh || wt.shape().dim(2) != in) {
            throw new KernelException("W has shape " + wt.shape() + ", expected [" + numDir + "," + gh + "," + in + "]");
        }
        if (rt.shape().dim(0) != numDir || rt.shape().dim(1) != gh) {
            throw new KernelException("R has shape " + rt.shape() + ", expected [" + numDir + "," + gh + "," + hidden + "]");
        }

        double[] x = xt.toDoubleArray();
        if (layout != 0) x = swapFirstTwo(x, batch, seq, in);
        double[] w = doubles(ctx, 1);
        double[] r = doubles(ctx, 2);
        double[] bias = present(ctx, 3) ? doubles(ctx, 3) : null;
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
        double[] initH = present(ctx, 5) ? state(ctx.input(5), layout, numDir, batch, hidden, "initial_h") : new double[stateSize];
        double[] initC = cell == Cell.LSTM && present(ctx, 6)
                ? state(ctx.input(6), layout, numDir, batch, hidden, "initial_c") : new double[stateSize];
        double[] peep = cell == Cell.LSTM && present(ctx, 7) ? ctx.input(7).toDoubleArray() : null;
        if (peep != null && peep.length != numDir * 3 * hidden) {
            throw new KernelException("P has shape " + ctx.input(7).shape() + ", expected [" + numDir + "," + 3 * hidden + "]");
        }
        double clip = at.has("clip") ? at.getFloat("clip", 0f) : Double.POSITIVE_INFINITY;
        GateActivation[] acts = GateActivation.parse(at, cell.defaultActivations, numDir);
        boolean linearBeforeReset = at.getInt("linear_before_reset", 0) != 0;
        boolean inputForget = at.getInt("input_forget", 0) != 0;

        double[] y = new double[seq * numDir * batch * hidden];
        double[] yh = new double[stateSize];
        double[] yc = new double[stateSize];
        double[] xw = new double[seq * batch * gh];
        double[] hr = new double[gh];
        double[] rh = new double[hidden];
        double[] h = new double[hidden];
        double[] c = new double[hidden];
        double[] hNew = new double[hidden];
        int per = cell.defaultActivations.length;
        for (int d = 0; d < numDir; d++) {
            boolean reverse = reverseOnly || d == 1;
            int wOff = d * gh * in, rOff = d * gh * hidden;
            // input projection of every time step and batch row at once
            LocalGemm.multiplyTransposedB(x, 0, seq * batch, in, w, wOff, gh, xw, 0, false);
            if (bias != null) {
                int bOff = d * 2 * gh;
                for (int row = 0; row < seq * batch; row++) {
                    for (int j = 0; j < gh; j++) {
                        // GRU with linear_before_reset keeps Rbh apart: it is scaled by the reset gate
                        double rb = cell == Cell.GRU && linearBeforeReset && j >= 2 * hidden ? 0 : bias[bOff + gh + j];
                        xw[row * gh + j] += bias[bOff + j] + rb;
                    }
                }
            }
            double[] rbh = new double[hidden];
            if (cell == Cell.GRU && bias != null) System.arraycopy(bias, d * 2 * gh + gh + 2 * hidden, rbh, 0, hidden);
            GateActivation f = acts[d * per];
            GateActivation ga = per > 1 ? acts[d * per + 1] : null;
            GateActivation ha = per > 2 ? acts[d * per + 2] : null;
            for (int b = 0; b < batch; b++) {
                int sOff = (d * batch + b) * hidden;
                System.arraycopy(initH, sOff, h, 0, hidden);
                System.arraycopy(initC, sOff, c, 0, hidden);
                int len = lens[b];
                for (int s = 0; s < len; s++) {
                    int t = reverse ? len - 1 - s : s;
                    int xo = (t * batch + b) * gh;
                    switch (cell) {
                        case RNN -> {
                            LocalGemm.multiplyTransposedB(h, 0, 1, hidden, r, rOff, gh, hr, 0, false);
                            for (int j = 0; j < hidden; j++) hNew[j] = f.apply(clip(xw[xo + j] + hr[j], clip));
                        }
                        case GRU -> {
                            LocalGemm.multiplyTransposedB(h, 0, 1, hidden, r, rOff, gh, hr, 0, false);
                            double[] zr = new double[2 * hidden];
                            for (int j = 0; j < 2 * hidden; j++) zr[j] = f.apply(clip(xw[xo + j] + hr[j], clip));
                            if (linearBeforeReset) {
                                for (int j = 0; j < hidden; j++) {
                                    double hh = ga.apply(clip(xw[xo + 2 * hidden + j] + zr[hidden + j] * (hr[2 * hidden + j] + rbh[j]), clip));
                                    double z = zr[j];
                                    hNew[j] = (1 - z) * hh + z * h[j];
                                }
                            } else {
                                for (int j = 0; j < hidden; j++) rh[j] = zr[hidden + j] * h[j];
                                // (r ⊙ h) · Rhᵀ: only the rows of R for the hidden gate
                                LocalGemm.multiplyTransposedB(rh, 0, 1, hidden, r, rOff + 2 * hidden * hidden, hidden, hr, 2 * hidden, false);
                                for (int j = 0; j < hidden; j++) {
                                    double hh = ga.apply(clip(xw[xo + 2 * hidden + j] + hr[2 * hidden + j], clip));
                                    double z = zr[j];
                                    hNew[j] = (1 - z) * hh + z * h[j];
                                }
                            }
                        }
                        case LSTM -> {
                            LocalGemm.multiplyTransposedB(h, 0, 1, hidden, r, rOff, gh, hr, 0, false);
                            int pOff = d * 3 * hidden;
                            for (int j = 0; j < hidden; j++) {
                                double pi = peep == null ? 0 : peep[pOff + j];
                                double po = peep == null ? 0 : peep[pOff + hidden + j];
                                double pf = peep == null ? 0 : peep[pOff + 2 * hidden + j];
                                double gi = f.apply(clip(xw[xo + j] + hr[j] + pi * c[j], clip));
                                double gf = inputForget ? 1 - gi : f.apply(clip(xw[xo + 2 * hidden + j] + hr[2 * hidden + j] + pf * c[j], clip));
                                double gc = ga.apply(clip(xw[xo + 3 * hidden + j] + hr[3 * hidden + j], clip));
                                double cNew = gf * c[j] + gi * gc;
                                double go = f.apply(clip(xw[xo + hidden + j] + hr[hidden + j] + po * cNew, clip));
                                c[j] = cNew;
                                hNew[j] = go * ha.apply(clip(cNew, clip));
                            }
                        }
                    }
                    System.arraycopy(hNew, 0, h, 0, hidden);
                    System.arraycopy(h, 0, y, ((t * numDir + d) * batch + b) * hidden, hidden);
                }
                System.arraycopy(h, 0, yh, sOff, hidden);
                System.arraycopy(c, 0, yc, sOff, hidden);
            }
        }

        DType dt = xt.dtype();
        int outs = Math.min(ctx.outputCount(), cell.outputs);
        for (int i = 0; i < outs; i++) {
            if (i == 0) {
                Shape s = layout == 0 ? Shape.of(seq, numDir, batch, hidden) : Shape.of(batch, seq, numDir, hidden);
                Tensor o = ctx.output(0, dt, s);
                if (layout == 0) write(o, y);
                else {
                    // [seq, dir, batch, H] -> [batch, seq, dir, H]
                    long k = 0;
                    for (int b = 0; b < batch; b++)
                        for (int t = 0; t < seq; t++)
                            for (int d = 0; d < numDir; d++)
                                for (int j = 0; j < hidden; j++) o.setDouble(k++, y[((t * numDir + d) * batch + b) * hidden + j]);
                }
            } else {
                double[] st = i == 1 ? yh : yc;
                Shape s = layout == 0 ? Shape.of(numDir, batch, hidden) : Shape.of(batch, numDir, hidden);
                Tensor o = ctx.output(i, dt, s);
                write(o, layout == 0 ? st : swapFirstTwo(st, numDir, batch, hidden));
            }
        }
    }

    /** Double copies of initializer weights, made once per tensor (initializers never change). */
    private static final java.util.Map<Tensor, double[]> CONSTANT_DOUBLES =
        java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** Input i as doubles; for an initializer, the copy made on first use (same values, so same results). */
    private static double[] doubles(ExecContext ctx, int i) {
        Tensor t = ctx.input(i);
        if (!ctx.inputIsInitializer(i)) return t.toDoubleArray();
        double[] v = CONSTANT_DOUBLES.get(t);
        if (v == null) {
            v = t.toDoubleArray();
            CONSTANT_DOUBLES.put(t, v);
        }
        return v;
    }

    private static boolean present(ExecContext ctx, int i) { return ctx.inputCount() > i && ctx.hasInput(i); }

    private static double clip(double v, double c) { return v > c ? c : v < -c ? -c : v; }

    private static void write(Tensor o, double[] v) {
        for (int i = 0; i < v.length; i++) o.setDouble(i, v[i]);
    }

    /** [a, b, n] -> [b, a, n]. */
    private static double[] swapFirstTwo(double[] v, int a, int b, int n) {
        double[] r = new double[v.length];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < b; j++) System.arraycopy(v, (i * b + j) * n, r, (j * a + i) * n, n);
        return r;
    }

    /** An initial state in layout-0 order [dir, batch, H]. */
    private static double[] state(Tensor t, int layout, int numDir, int batch, int hidden, String name) {
        if (t.elementCount() != (long) numDir * batch * hidden) {
            throw new KernelException(name + " has shape " + t.shape() + ", expected " + numDir * batch * hidden + " elements");
        }
        double[] v = t.toDoubleArray();
        return layout == 0 ? v : swapFirstTwo(v, batch, numDir, hidden);
    }
}
