package dev.sluice.kernels.cpu.linalg;

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
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.ArrayList;
import java.util.List;

/**
 * Einsum by direct evaluation: every label gets a loop, output labels outermost, the rest summed. Handles
 * ellipsis broadcasting, repeated labels (diagonals) and the implicit output form. It is a reference path:
 * models that need speed express their contractions as MatMul.
 */
final class EinsumKernel implements OpKernel {
    /** Labels are chars 'A'..'z'; ellipsis axes get labels from this base upward. */
    private static final int ELLIPSIS_BASE = 200;

    /** The parsed equation for concrete input ranks: each operand's axis labels and the output labels. */
    private record Equation(int[][] inputs, int[] output) {
        static Equation parse(String eq, int[] ranks) {
            String s = eq.replace(" ", "");
            String lhs = s, rhs = null;
            int arrow = s.indexOf("->");
            if (arrow >= 0) { lhs = s.substring(0, arrow); rhs = s.substring(arrow + 2); }
            String[] terms = lhs.split(",", -1);
            if (terms.length != ranks.length) {
                throw new KernelException("Einsum equation '" + eq + "' has " + terms.length + " operands, got " + ranks.length + " inputs");
            }
            int ellRank = 0;
            for (int i = 0; i < terms.length; i++) {
                if (terms[i].contains("...")) ellRank = Math.max(ellRank, ranks[i] - (terms[i].length() - 3));
            }
            int[][] in = new int[terms.length][];
            int[] count = new int[ELLIPSIS_BASE + 64];
            for (int i = 0; i < terms.length; i++) {
                in[i] = labels(terms[i], ranks[i], ellRank, eq);
                if (in[i].length != ranks[i]) throw new KernelException("Einsum term '" + terms[i] + "' does not match rank " + ranks[i]);
                for (int l : in[i]) count[l]++;
            }
            int[] out;
            if (rhs != null) {
                out = labels(rhs, -1, ellRank, eq);
            } else {
                List<Integer> o = new ArrayList<>();
                for (int e = 0; e < ellRank; e++) o.add(ELLIPSIS_BASE + e);
                for (char c = 'A'; c <= 'z'; c++) if (Character.isLetter(c) && count[c] == 1) o.add((int) c);
                out = o.stream().mapToInt(Integer::intValue).toArray();
            }
            return new Equation(in, out);
        }

        /** Axis labels of one term; its ellipsis covers the last (rank - letters) of the ellRank broadcast axes. */
        private static int[] labels(String term, int rank, int ellRank, String eq) {
            List<Integer> r = new ArrayList<>();
            int e = term.indexOf("...");
            String letters = e >= 0 ? term.substring(0, e) + term.substring(e + 3) : term;
            int ellHere = e < 0 ? 0 : rank < 0 ? ellRank : rank - letters.length();
            for (int i = 0; i < term.length(); i++) {
                if (i == e) {
                    for (int k = ellRank - ellHere; k < ellRank; k++) r.add(ELLIPSIS_BASE + k);
                    i += 2;
                    continue;
                }
                char c = term.charAt(i);
                if (!Character.isLetter(c) || c > 'z') throw new KernelException("bad character '" + c + "' in Einsum equation '" + eq + "'");
                r.add((int) c);
            }
            return r.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    @Override public List<TensorType> infer(InferContext ctx) {
        String eq = ctx.attributes().getString("equation", null);
        if (eq == null) throw new KernelException("Einsum needs an equation");
        int n = ctx.inputCount();
        int[] ranks = new int[n];
        DType dt = null;
        for (int i = 0; i < n; i++) {
            TensorType t = ctx.inputType(i);
            if (dt == null) dt = t.dtype();
            if (!t.shape().hasRank()) return List.of(new TensorType(dt, SymShape.UNKNOWN_RANK));
            ranks[i] = t.shape().rank();
        }
        Equation e = Equation.parse(eq, ranks);
        List<Dim> out = new ArrayList<>();
        for (int l : e.output) {
            // a known size other than 1 wins (1 may broadcast), then a symbol, then 1
            Dim known = null, other = null;
            boolean allOne = true;
            for (int i = 0; i < n; i++) {
                for (int ax = 0; ax < e.inputs[i].length; ax++) {
                    if (e.inputs[i][ax] != l) continue;
                    Dim c = ctx.inputType(i).shape().dim(ax);
                    if (c.isKnown() && c.value() != 1) known = c;
                    else if (!c.isKnown()) { other = other == null || other.equals(c) ? c : Dim.UNKNOWN; allOne = false; }
                }
            }
            out.add(known != null ? known : other != null ? other : allOne ? Dim.of(1) : Dim.UNKNOWN);
        }
        return List.of(new TensorType(dt, new SymShape(out)));
    }

    @Override public void execute(ExecContext ctx) {
        int n = ctx.inputCount();
        Tensor[] in = new Tensor[n];
        int[] ranks = new int[n];
        for (int i = 0; i < n; i++) { in[i] = ctx.input(i); ranks[i] = in[i].rank(); }
        Equation e = Equation.parse(ctx.attributes().getString("equation", ""), ranks);
        // size of each label; ellipsis axes broadcast from 1
        long[] size = new long[ELLIPSIS_BASE + 64];
        java.util.Arrays.fill(size, -1);
        for (int i = 0; i < n; i++) {
            for (int ax = 0; ax < ranks[i]; ax++) {
                int l = e.inputs[i][ax];
                long d = in[i].shape().dim(ax);
                if (size[l] < 0 || size[l] == 1) size[l] = d;
                else if (d != size[l] && !(d == 1 && l >= ELLIPSIS_BASE)) {
                    throw new KernelException("Einsum label '" + label(l) + "' has sizes " + size[l] + " and " + d);
                }
            }
        }
        List<Integer> all = new ArrayList<>();
        for (int l : e.output) {
            if (size[l] < 0) throw new KernelException("Einsum output label '" + label(l) + "' does not occur in any input");
            all.add(l);
        }
        for (int i = 0; i < n; i++) for (int l : e.inputs[i]) if (!all.contains(l)) all.add(l);
        int nl = all.size(), no = e.output.length;
        long[] dims = new long[nl];
        for (int j = 0; j < nl; j++) dims[j] = size[all.get(j)];
        // stride of each loop label in each operand (summed over repeated labels: the diagonal)
        long[][] strides = new long[n][nl];
        for (int i = 0; i < n; i++) {
            long[] st = in[i].shape().strides();
            for (int ax = 0; ax < ranks[i]; ax++) {
                if (in[i].shape().dim(ax) == 1 && dims[all.indexOf(e.inputs[i][ax])] != 1) continue;
                strides[i][all.indexOf(e.inputs[i][ax])] += st[ax];
            }
        }
        long[] od = new long[no];
        for (int j = 0; j < no; j++) od[j] = dims[j];
        DType dt = in[0].dtype();
        Tensor y = ctx.output(0, dt, Shape.of(od));
        double[][] vals = new double[n][];
        for (int i = 0; i < n; i++) vals[i] = NnArrays.doubles(in[i]);
        long outCount = y.elementCount();
        long sumCount = 1;
        for (int j = no; j < nl; j++) sumCount *= dims[j];
        int[] idx = new int[nl];
        for (long o = 0; o < outCount; o++) {
            long rem = o;
            for (int j = no - 1; j >= 0; j--) { idx[j] = (int) (rem % dims[j]); rem /= dims[j]; }
            for (int j = no; j < nl; j++) idx[j] = 0;
            double acc = 0;
            for (long s = 0; s < sumCount; s++) {
                double prod = 1;
                for (int i = 0; i < n; i++) {
                    long p = 0;
                    for (int j = 0; j < nl; j++) p += idx[j] * strides[i][j];
                    prod *= vals[i][(int) p];
                }
                acc += prod;
                for (int j = nl - 1; j >= no; j--) {
                    if (++idx[j] < dims[j]) break;
                    idx[j] = 0;
                }
            }
            y.setDouble(o, acc);
        }
    }

    private static String label(int l) { return l >= ELLIPSIS_BASE ? "..." : String.valueOf((char) l); }
}
