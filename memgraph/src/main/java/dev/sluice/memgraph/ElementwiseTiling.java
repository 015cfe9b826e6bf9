package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Elementwise ops, broadcasting included (Add, Max, Where, Exp, ...): a tile computes a range of output rows
 * along the outermost axis longer than 1, reading the matching slice of each input (all of an axis an input
 * broadcasts along, see {@link OpTiling#broadcastBox}).
 *
 * <p>Bits: element i of the output is f(element i of each input) whatever the tile. For the {@link #EXACT} and
 * {@link #UNARY} ops that is the end of it, and tiles are boxes cut on any axes. The others (Div, Pow, Mean, ...) may take a vector
 * path for most elements and a scalar tail for the rest, whose results need not agree (approximations, a
 * reciprocal): their tiles are contiguous runs of the output along the outermost axis longer than 1, starting at
 * multiples of 16 elements (the widest float vector), so every element takes the same path as in the whole node
 * and the inner structure of every broadcast (below the cut axis) is the whole node's. Where one index of that axis
 * is itself a run of a multiple of 16 elements (unit 1), a tile of one index is the whole node of that index's
 * slice, whose own outermost axis longer than 1 is the next one: runs along it are exact by the same argument, so
 * the next axis is a cut too, inside one index of the axes before it ({@link #allows}); and so on inwards. A
 * [2, 16, 512] Pow thus goes down to runs of 16 elements, where it stopped at [1, 16, 512].
 */
record ElementwiseTiling(Node node, Shape output, List<Cut> cuts, Map<String, Shape> shapes, boolean runs) implements OpTiling {
    /**
     * Ops whose every element is one correctly rounded operation (or none) on its inputs' elements, the same in a
     * vector lane as in a scalar tail (Java's vector ops are the scalar IEEE ops lane by lane): any box will do.
     */
    static final Set<String> EXACT = Set.of("Add", "Sub", "Mul", "Max", "Min", "Sum", "Relu", "Neg", "Abs", "PRelu", "LeakyRelu",
        "Clip", "Where", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Sqrt", "Floor",
        "Ceil", "Sign", "IsNaN", "Cast",
        "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift", "BitCast");

    /**
     * Unary ops whose kernel (ElementwiseUnaryOps' UnaryKernel) computes each element from its input value alone by one
     * code path whatever its position: VectorMath's float32 forms run their tail under a mask with the same vector code
     * (its invariant), the other ops are scalar loops. So any box will do for them too, as for {@link #EXACT}.
     */
    static final Set<String> UNARY = Set.of("Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Exp", "Log", "Reciprocal", "Round", "Erf",
        "Elu", "Selu", "Softplus", "Softsign", "Sin", "Cos", "Gelu", "Swish", "IsInf", "Celu", "ThresholdedRelu", "Shrink");

    static final Set<String> OPS = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Mod",
        "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Clip", "Neg", "Abs", "Exp", "Log",
        "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Erf", "Elu", "Selu", "Softplus", "Softsign", "Sin", "Cos",
        "Where", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Cast", "IsNaN", "Gelu",
        "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitShift", "BitCast", "Swish", "SwiGLU", "IsInf", "Celu",
        "ThresholdedRelu", "Shrink");

    static ElementwiseTiling of(Graph g, Node n, Shape os) {
        if (!n.domain().isEmpty() || !OPS.contains(n.opType())) return null;
        Map<String, Shape> shapes = new LinkedHashMap<>();
        for (String v : n.inputs()) {
            if (v.isEmpty()) continue;
            Shape s = OpTiling.shapeOf(g, v);
            if (s.rank() > os.rank()) return null;
            for (int j = 0; j < s.rank(); j++) {
                long o = os.dim(j + os.rank() - s.rank());
                if (s.dim(j) != 1 && s.dim(j) != o) return null;
            }
            shapes.put(v, s);
        }
        List<Cut> cuts = new java.util.ArrayList<>();
        if (EXACT.contains(n.opType()) || UNARY.contains(n.opType())) {
            for (int a = 0; a < os.rank(); a++) if (os.dim(a) > 1) cuts.add(new Cut(a, 1, 1));
        } else {
            for (int axis = 0; axis < os.rank(); axis++) {
                if (os.dim(axis) == 1) continue;
                long unit = 16 / gcd(os.product(axis + 1, os.rank()), 16);
                if (os.dim(axis) >= 2 * unit) cuts.add(new Cut(axis, unit, 1));
                if (unit != 1) break; // an index of this axis is no run of a multiple of 16: the axes inside stay whole
            }
        }
        boolean runs = !(EXACT.contains(n.opType()) || UNARY.contains(n.opType()));
        return cuts.isEmpty() ? null : new ElementwiseTiling(n, os, List.copyOf(cuts), shapes, runs);
    }

    /** For the ops cut by runs: an axis is cut only inside one index of every cut axis before it (the tile stays a run). */
    @Override public boolean allows(long[] block) {
        if (!runs) return true;
        for (int c = 1; c < block.length; c++) {
            if (block[c] >= output.dim(cuts.get(c).axis())) continue;
            for (int e = 0; e < c; e++) if (block[e] != 1) return false;
        }
        return true;
    }

    @Override public Map<String, Box> boxes(Box out) {
        Map<String, Box> r = new LinkedHashMap<>();
        for (var e : shapes.entrySet()) {
            Box b = OpTiling.broadcastBox(e.getValue(), out);
            if (b != null) r.put(e.getKey(), b);
        }
        return r;
    }

    @Override public Node node(Box out) { return node; }

    private static long gcd(long a, long b) { return b == 0 ? a : gcd(b, a % b); }
}
