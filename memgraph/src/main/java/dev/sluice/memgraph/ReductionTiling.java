package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Ops that combine elements along some axes of their first input and keep the others apart: Reduce* and
 * ArgMax / ArgMin, the global pools, windowed pools (MaxPool, AveragePool, LpPool: per plane), Softmax /
 * LogSoftmax / Hardmax, and the same-shape folds along one axis: LpNormalization, CumSum / CumProd (axis a constant).
 * A tile computes a box of the output on the axes that are not combined, reading the
 * same ranges of those axes of the input and all of the combined ones.
 *
 * <p>Bits: every output element is folded from the same input elements in the same order as in the whole
 * node (the kernels walk each output's elements in memory order, and a box keeps that order), so a tile is
 * bit-identical whatever its ranges. Softmax-like ops are cut only on axes before their axis, which both the
 * old (flattened from axis) and new (one axis) semantics leave independent; where the graph is known to be of opset 13
 * on (PlanRewrite's mark), after it too, in blocks of two or more positions (one position would send the kernel to its
 * contiguous-row vector form, another summation). What is not split: one output
 * element's own fold (its whole run of combined elements is one piece; partial folds in another association
 * would change the bits), so a reduction of everything to one value stays whole.
 */
record ReductionTiling(Node node, Shape output, String input, Shape inShape, int[] outAxisOf, List<Cut> cuts) implements OpTiling {
    static final Set<String> REDUCE = Set.of("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
        "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare");
    static final Set<String> GLOBAL = Set.of("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "MaxPool", "AveragePool", "LpPool");
    static final Set<String> SOFTMAX = Set.of("Softmax", "LogSoftmax", "Hardmax");

    static ReductionTiling of(Graph g, Node n, Shape os) {
        if (!n.domain().isEmpty() || n.inputs().isEmpty() || n.inputs().getFirst().isEmpty()) return null;
        String op = n.opType();
        String x = n.inputs().getFirst();
        Shape xs = OpTiling.shapeOf(g, x);
        int r = xs.rank();
        boolean[] combined = new boolean[r];
        boolean keep = true;
        long least = 1;
        if (REDUCE.contains(op) || op.equals("ArgMax") || op.equals("ArgMin")) {
            long[] axes = null;
            if (op.startsWith("Arg")) axes = new long[] {n.attributes().getInt("axis", 0)};
            else if (n.attributes().has("axes")) axes = n.attributes().getInts("axes");
            else if (n.inputs().size() > 1 && !n.inputs().get(1).isEmpty()) {
                Tensor a = g.initializers().get(n.inputs().get(1));
                if (a == null) return null;
                axes = a.toLongArray();
            }
            if (axes == null || axes.length == 0) {
                if (n.attributes().getInt("noop_with_empty_axes", 0) != 0) return null;
                java.util.Arrays.fill(combined, true);
            }
            else for (long a : axes) {
                if (a < -r || a >= r) return null;
                combined[(int) (a < 0 ? a + r : a)] = true;
            }
            keep = n.attributes().getInt("keepdims", 1) != 0;
        } else if (GLOBAL.contains(op)) {
            if (r < 3) return null;
            for (int j = 2; j < r; j++) combined[j] = true;
        } else if (SOFTMAX.contains(op)) {
            long a = n.attributes().has("axis") ? n.attributes().getInt("axis", 1) : Math.min(1, r - 1);
            if (a < -r || a >= r) return null;
            // opset 13 on (PlanRewrite's mark): the axis alone; its kernel walks each (outer, inner) position by the same
            // scalar loop while the positions after the axis are two or more, so blocks along those axes keep two
            boolean axisOnly = n.attributes().getInt(PlanRewrite.AXIS_ONLY, 0) != 0;
            for (int j = (int) (a < 0 ? a + r : a); j < r; j++) combined[j] = !axisOnly || j == (a < 0 ? a + r : a);
            if (axisOnly) least = 2;
        } else if (op.equals("LpNormalization") || op.equals("CumSum") || op.equals("CumProd")) {
            long a;
            if (op.equals("LpNormalization")) {
                a = n.attributes().getInt("axis", -1);
            } else {
                Tensor t = n.inputs().size() > 1 ? g.initializers().get(n.inputs().get(1)) : null;
                if (t == null || t.elementCount() != 1 || !t.dtype().isInteger()) return null;
                a = t.getLong(0);
            }
            if (a < -r || a >= r) return null;
            combined[(int) (a < 0 ? a + r : a)] = true;
        } else return null;
        int[] outAxisOf = new int[r];
        int o = 0;
        for (int j = 0; j < r; j++) {
            if (combined[j]) { outAxisOf[j] = keep ? o++ : -1; continue; }
            outAxisOf[j] = o++;
        }
        if (o != os.rank()) return null;
        List<Cut> cuts = new ArrayList<>();
        for (int j = 0; j < r; j++) {
            if (combined[j] || outAxisOf[j] < 0) continue;
            if (os.dim(outAxisOf[j]) != xs.dim(j)) return null;
            long l = j > firstCombined(combined) ? least : 1;
            if (xs.dim(j) >= 2 * l) cuts.add(new Cut(outAxisOf[j], 1, l));
        }
        return new ReductionTiling(n, os, x, xs, outAxisOf, List.copyOf(cuts));
    }

    /** The first combined axis (the rank when none). */
    private static int firstCombined(boolean[] combined) {
        for (int j = 0; j < combined.length; j++) if (combined[j]) return j;
        return combined.length;
    }

    @Override public Map<String, Box> boxes(Box out) {
        long[] lo = new long[inShape.rank()], hi = inShape.dims();
        boolean whole = true;
        for (Cut c : cuts) {
            for (int j = 0; j < outAxisOf.length; j++) {
                if (outAxisOf[j] != c.axis()) continue;
                lo[j] = out.lo(c.axis());
                hi[j] = out.hi(c.axis());
                if (lo[j] != 0 || hi[j] != inShape.dim(j)) whole = false;
            }
        }
        Map<String, Box> m = new LinkedHashMap<>();
        if (!whole) m.put(input, new Box(inShape.dims(), lo, hi));
        return m;
    }

    @Override public Node node(Box out) { return node; }
}
