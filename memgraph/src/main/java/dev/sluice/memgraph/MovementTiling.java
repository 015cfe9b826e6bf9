package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Ops that only move elements. Transpose: a box of the output is the input's box on the permuted axes, and
 * the tile runs the Transpose on it. Reshape, Flatten, Squeeze, Unsqueeze and Identity keep the elements'
 * flat order: a tile is a flat range of the output, read from the same flat range of the data input (the
 * shape input is not needed), and runs an Identity. Concat: a box on the axes other than the concatenation axis
 * (all of that one) reads the same box of every input, and runs the Concat on them. No arithmetic, so any box
 * is bit-identical.
 */
record MovementTiling(Node node, Shape output, String input, Shape inShape, int[] perm, boolean flat, int concatAxis,
                      Map<String, Shape> parts) implements OpTiling {
    static final Set<String> RESHAPES = Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity");

    static MovementTiling of(Graph g, Node n, Shape os) {
        if (!n.domain().isEmpty() || n.inputs().isEmpty() || n.inputs().getFirst().isEmpty()) return null;
        String x = n.inputs().getFirst();
        Shape xs = OpTiling.shapeOf(g, x);
        if (g.typeOf(x).dtype() != g.typeOf(n.outputs().getFirst()).dtype()) return null;
        if (RESHAPES.contains(n.opType())) {
            if (xs.elementCount() != os.elementCount()) return null;
            Shape f = Shape.of(os.elementCount());
            return new MovementTiling(n, f, x, Shape.of(xs.elementCount()), null, true, -1, Map.of());
        }
        if (n.opType().equals("Concat")) {
            long a = n.attributes().getInt("axis", 0);
            int r = os.rank();
            if (a < -r || a >= r) return null;
            Map<String, Shape> parts = new java.util.LinkedHashMap<>();
            for (String v : n.inputs()) {
                if (v.isEmpty()) return null;
                Shape s = OpTiling.shapeOf(g, v);
                if (s.rank() != r) return null;
                parts.put(v, s);
            }
            return new MovementTiling(n, os, x, xs, null, false, (int) (a < 0 ? a + r : a), parts);
        }
        if (!n.opType().equals("Transpose") || n.inputs().size() != 1) return null;
        int r = xs.rank();
        long[] p = n.attributes().getInts("perm");
        int[] perm = new int[r];
        for (int j = 0; j < r; j++) perm[j] = p == null ? r - 1 - j : (int) p[j];
        for (int j = 0; j < r; j++) if (perm[j] < 0 || perm[j] >= r || os.dim(j) != xs.dim(perm[j])) return null;
        return new MovementTiling(n, os, x, xs, perm, false, -1, Map.of());
    }

    @Override public List<Cut> cuts() {
        List<Cut> c = new ArrayList<>();
        for (int a = 0; a < output.rank(); a++) if (output.dim(a) > 1 && a != concatAxis) c.add(new Cut(a, 1, 1));
        return c;
    }

    @Override public Map<String, Box> boxes(Box out) {
        if (flat) return out.isWhole() ? Map.of() : Map.of(input, new Box(inShape.dims(), out.lo(), out.hi()));
        if (concatAxis >= 0) {
            Map<String, Box> m = new java.util.LinkedHashMap<>();
            for (var e : parts.entrySet()) {
                Box b = out.with(concatAxis, 0, output.dim(concatAxis));
                Box own = new Box(e.getValue().dims(), b.lo(), withAxis(b.hi(), concatAxis, e.getValue().dim(concatAxis)));
                if (!own.isWhole()) m.put(e.getKey(), own);
            }
            return m;
        }
        long[] lo = new long[inShape.rank()], hi = new long[inShape.rank()];
        for (int j = 0; j < perm.length; j++) { lo[perm[j]] = out.lo(j); hi[perm[j]] = out.hi(j); }
        Box b = new Box(inShape.dims(), lo, hi);
        return b.isWhole() ? Map.of() : Map.of(input, b);
    }

    private static long[] withAxis(long[] v, int axis, long value) {
        long[] r = v.clone();
        r[axis] = value;
        return r;
    }

    @Override public Node node(Box out) {
        if (!flat) return node;
        return new Node(node.name(), "Identity", "", List.of(input), node.outputs(), Attributes.EMPTY);
    }
}
