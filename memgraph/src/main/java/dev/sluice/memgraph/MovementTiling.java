package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Ops that only move elements, and those that keep some axes untouched, by output boxes:
 * <ul>
 *   <li>Transpose: a box of the output is the input's box on the permuted axes, and the tile runs the Transpose on it.</li>
 *   <li>Reshape, Flatten, Squeeze, Unsqueeze and Identity keep the elements' flat order: a tile is a flat range of the
 *       output, read from the same flat range of the data input (the shape input is not needed), and runs an Identity.</li>
 *   <li>Concat: a box on the axes other than the concatenation axis (all of that one) reads the same box of every
 *       input, and runs the Concat on them.</li>
 *   <li>Slice whose every step is 1 ({@link Kind#WINDOW}): output index {@code o} along a sliced axis is input index
 *       {@code start + o} (start after the kernel's clamping, negative starts counted from the end), so any box of the
 *       output reads the same box shifted by the starts, and runs an Identity: each tile reads only its slab.</li>
 *   <li>Slice with other steps (negative ones included), Pad, Resize ({@link Kind#UNTOUCHED}): cut along the axes the
 *       op leaves as they are (not sliced, not padded, scale 1 and the same length), each tile running the node itself
 *       on the input's box with those axes cut and the others whole. The op's constants (starts, pads, scales, sizes)
 *       name only axes the tile has whole, so they hold for the tile as for the node. A Resize given sizes of every axis
 *       (the untouched ones' too) would give a tile the whole sizes: it is cut only in its {@code axes} form, which
 *       {@link PlanRewrite} gives it (same scales, so the same coordinates). Pad and Resize do arithmetic or
 *       fill per element from that element's own line along the touched axes (Resize's separable pass skips an axis of
 *       scale 1; its sums run over the taps of one output coordinate), never across an untouched axis.</li>
 * </ul>
 * No arithmetic across a cut, so any box is bit-identical. Not split: a Slice whose starts, ends, axes or steps, a Pad
 * whose pads, a Resize whose scales or sizes are computed at run time (the tile's input box must be known when
 * planning); a Resize with a region of interest (tf_crop_and_resize) or Upsample.
 */
record MovementTiling(Node node, Kind kind, Shape output, String input, Shape inShape, int[] perm, int concatAxis,
                      Map<String, Shape> parts, long[] starts, Set<Integer> untouched) implements OpTiling {
    static final Set<String> RESHAPES = Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity");

    /** How a tile's input box follows from its output box. */
    enum Kind { FLAT, CONCAT, TRANSPOSE, WINDOW, UNTOUCHED }

    static MovementTiling of(Graph g, Node n, Shape os) {
        if (!n.domain().isEmpty() || n.inputs().isEmpty() || n.inputs().getFirst().isEmpty()) return null;
        String x = n.inputs().getFirst();
        Shape xs = OpTiling.shapeOf(g, x);
        if (g.typeOf(x).dtype() != g.typeOf(n.outputs().getFirst()).dtype()) return null;
        if (RESHAPES.contains(n.opType())) {
            if (xs.elementCount() != os.elementCount()) return null;
            Shape f = Shape.of(os.elementCount());
            return new MovementTiling(n, Kind.FLAT, f, x, Shape.of(xs.elementCount()), null, -1, Map.of(), null, Set.of());
        }
        switch (n.opType()) {
            case "Concat" -> {
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
                return new MovementTiling(n, Kind.CONCAT, os, x, xs, null, (int) (a < 0 ? a + r : a), parts, null, Set.of());
            }
            case "Transpose" -> {
                if (n.inputs().size() != 1) return null;
                int r = xs.rank();
                long[] p = n.attributes().getInts("perm");
                if (p != null && p.length != r) return null;
                int[] perm = new int[r];
                for (int j = 0; j < r; j++) perm[j] = p == null ? r - 1 - j : (int) p[j];
                for (int j = 0; j < r; j++) if (perm[j] < 0 || perm[j] >= r || os.dim(j) != xs.dim(perm[j])) return null;
                return new MovementTiling(n, Kind.TRANSPOSE, os, x, xs, perm, -1, Map.of(), null, Set.of());
            }
            case "Slice" -> { return slice(g, n, x, xs, os); }
            case "Pad" -> { return pad(g, n, x, xs, os); }
            case "Resize" -> { return resize(g, n, x, xs, os); }
            default -> { return null; }
        }
    }

    /** A constant's values as longs; null when v is absent (empty name) or computed at run time; {@code none} when absent. */
    private static long[] constLongs(Graph g, Node n, int k, long[] none) {
        if (k >= n.inputs().size() || n.inputs().get(k).isEmpty()) return none;
        Tensor c = g.initializers().get(n.inputs().get(k));
        return c == null || c.dtype().isFloatingPoint() ? null : c.toLongArray();
    }

    private static final long[] ABSENT = new long[0];

    /** Slice: by windows when every step is 1, else along the axes it does not slice. */
    private static MovementTiling slice(Graph g, Node n, String x, Shape xs, Shape os) {
        int r = xs.rank();
        if (os.rank() != r) return null;
        long[] st, en, ax, sp;
        if (n.inputs().size() == 1) { // before opset 10: attributes, no steps
            Attributes a = n.attributes();
            st = a.getInts("starts");
            en = a.getInts("ends");
            ax = a.has("axes") ? a.getInts("axes") : ABSENT;
            sp = ABSENT;
        } else {
            st = constLongs(g, n, 1, null);
            en = constLongs(g, n, 2, null);
            ax = constLongs(g, n, 3, ABSENT);
            sp = constLongs(g, n, 4, ABSENT);
        }
        if (st == null || en == null || ax == null || sp == null || st.length != en.length) return null;
        if (ax != ABSENT && ax.length != st.length || sp != ABSENT && sp.length != st.length || st.length > r) return null;
        long[] start = new long[r];
        boolean[] touched = new boolean[r];
        boolean unitSteps = true;
        for (int i = 0; i < st.length; i++) {
            long a = ax == ABSENT ? i : ax[i] < 0 ? ax[i] + r : ax[i];
            if (a < 0 || a >= r || touched[(int) a]) return null;
            long step = sp == ABSENT ? 1 : sp[i];
            if (step == 0) return null; // the kernel refuses it, naming the node
            long[] range = range(st[i], en[i], step, xs.dim((int) a));
            if (range[1] != os.dim((int) a)) return null;
            touched[(int) a] = true;
            start[(int) a] = range[0];
            if (step != 1) unitSteps = false;
        }
        for (int a = 0; a < r; a++) if (!touched[a] && xs.dim(a) != os.dim(a)) return null;
        if (unitSteps) return new MovementTiling(n, Kind.WINDOW, os, x, xs, null, -1, Map.of(), start, Set.of());
        return untouched(n, x, xs, os, touched);
    }

    /** For one axis of length dim: {first index, length} as the Slice kernel clamps them (ONNX's rules). */
    static long[] range(long start, long end, long step, long dim) {
        if (start < 0) start += dim;
        if (end < 0) end += dim;
        if (step > 0) {
            start = Math.clamp(start, 0, dim);
            end = Math.clamp(end, 0, dim);
            return new long[] {start, end > start ? Math.ceilDiv(end - start, step) : 0};
        }
        start = Math.clamp(start, 0, dim - 1);
        end = Math.clamp(end, -1, dim - 1);
        return new long[] {start, start > end ? Math.ceilDiv(start - end, -step) : 0};
    }

    /** Pad (any mode): along the axes it pads by nothing at either end. */
    private static MovementTiling pad(Graph g, Node n, String x, Shape xs, Shape os) {
        int r = xs.rank();
        if (os.rank() != r) return null;
        long[] pads;
        long[] axes = ABSENT;
        if (n.inputs().size() == 1) {
            Attributes a = n.attributes();
            pads = a.has("pads") ? a.getInts("pads") : a.getInts("paddings");
        } else {
            pads = constLongs(g, n, 1, null);
            axes = constLongs(g, n, 3, ABSENT);
        }
        if (pads == null || axes == null) return null;
        int count = axes == ABSENT ? r : axes.length;
        if (pads.length != 2 * count) return null;
        boolean[] touched = new boolean[r];
        for (int i = 0; i < count; i++) {
            long a = axes == ABSENT ? i : axes[i] < 0 ? axes[i] + r : axes[i];
            if (a < 0 || a >= r) return null;
            if (pads[i] != 0 || pads[i + count] != 0) touched[(int) a] = true;
        }
        for (int a = 0; a < r; a++) if (!touched[a] && xs.dim(a) != os.dim(a)) return null;
        return untouched(n, x, xs, os, touched);
    }

    /**
     * Resize (opset 11 on: roi, scales, sizes inputs) without a region of interest: along the axes it leaves at scale 1
     * and their length. With sizes, only in the axes form that lists the resized axes alone.
     */
    private static MovementTiling resize(Graph g, Node n, String x, Shape xs, Shape os) {
        int r = xs.rank();
        Attributes at = n.attributes();
        if (os.rank() != r || n.inputs().size() < 3 || at.getString("coordinate_transformation_mode", "half_pixel").equals("tf_crop_and_resize")) return null;
        if (!at.getString("keep_aspect_ratio_policy", "stretch").equals("stretch")) return null;
        // nearest with tf_half_pixel_for_nn and rounding up maps index o of a scale-1 axis to o + 1: not untouched
        if (at.getString("mode", "nearest").equals("nearest") && at.getString("coordinate_transformation_mode", "half_pixel").equals("tf_half_pixel_for_nn")) return null;
        String scalesName = n.inputs().get(2), sizesName = n.inputs().size() > 3 ? n.inputs().get(3) : "";
        Tensor scales = scalesName.isEmpty() ? null : g.initializers().get(scalesName);
        Tensor sizes = sizesName.isEmpty() ? null : g.initializers().get(sizesName);
        boolean byScales = scales != null && scales.elementCount() > 0;
        boolean bySizes = sizes != null && sizes.elementCount() > 0;
        if (byScales == bySizes) return null; // computed, or both: the kernel decides
        if (!scalesName.isEmpty() && scales == null || !sizesName.isEmpty() && sizes == null) return null;
        long[] axes = at.has("axes") ? at.getInts("axes") : null;
        int count = (int) (byScales ? scales.elementCount() : sizes.elementCount());
        if (axes == null ? count != r : axes.length != count) return null;
        // sizes of every axis would keep the untouched ones' whole lengths in the tile
        if (bySizes && axes == null) return null;
        double[] s = byScales ? scales.toDoubleArray() : null;
        long[] z = bySizes ? sizes.toLongArray() : null;
        boolean[] touched = new boolean[r];
        for (int j = 0; j < count; j++) {
            long a = axes == null ? j : axes[j] < 0 ? axes[j] + r : axes[j];
            if (a < 0 || a >= r) return null;
            touched[(int) a] = byScales ? s[j] != 1.0 : true;
        }
        for (int a = 0; a < r; a++) if (!touched[a] && xs.dim(a) != os.dim(a)) return null;
        return untouched(n, x, xs, os, touched);
    }

    private static MovementTiling untouched(Node n, String x, Shape xs, Shape os, boolean[] touched) {
        Set<Integer> free = new java.util.LinkedHashSet<>();
        for (int a = 0; a < touched.length; a++) if (!touched[a]) free.add(a);
        if (free.isEmpty()) return null;
        return new MovementTiling(n, Kind.UNTOUCHED, os, x, xs, null, -1, Map.of(), null, Set.copyOf(free));
    }

    @Override public List<Cut> cuts() {
        List<Cut> c = new ArrayList<>();
        for (int a = 0; a < output.rank(); a++) {
            if (output.dim(a) <= 1 || a == concatAxis || kind == Kind.UNTOUCHED && !untouched.contains(a)) continue;
            c.add(new Cut(a, 1, 1));
        }
        return c;
    }

    @Override public Map<String, Box> boxes(Box out) {
        switch (kind) {
            case FLAT -> { return out.isWhole() ? Map.of() : Map.of(input, new Box(inShape.dims(), out.lo(), out.hi())); }
            case CONCAT -> {
                Map<String, Box> m = new java.util.LinkedHashMap<>();
                for (var e : parts.entrySet()) {
                    Box b = out.with(concatAxis, 0, output.dim(concatAxis));
                    Box own = new Box(e.getValue().dims(), b.lo(), withAxis(b.hi(), concatAxis, e.getValue().dim(concatAxis)));
                    if (!own.isWhole()) m.put(e.getKey(), own);
                }
                return m;
            }
            case TRANSPOSE -> {
                long[] lo = new long[inShape.rank()], hi = new long[inShape.rank()];
                for (int j = 0; j < perm.length; j++) { lo[perm[j]] = out.lo(j); hi[perm[j]] = out.hi(j); }
                Box b = new Box(inShape.dims(), lo, hi);
                return b.isWhole() ? Map.of() : Map.of(input, b);
            }
            case WINDOW -> {
                long[] lo = new long[inShape.rank()], hi = new long[inShape.rank()];
                for (int a = 0; a < lo.length; a++) { lo[a] = starts[a] + out.lo(a); hi[a] = starts[a] + out.hi(a); }
                Box b = new Box(inShape.dims(), lo, hi);
                return b.isWhole() ? Map.of() : Map.of(input, b);
            }
            default -> {
                Box b = Box.whole(inShape);
                for (int a : untouched) b = b.with(a, out.lo(a), out.hi(a));
                return b.isWhole() ? Map.of() : Map.of(input, b);
            }
        }
    }

    private static long[] withAxis(long[] v, int axis, long value) {
        long[] r = v.clone();
        r[axis] = value;
        return r;
    }

    @Override public Node node(Box out) {
        if (kind != Kind.FLAT && kind != Kind.WINDOW) return node;
        return new Node(node.name(), "Identity", "", List.of(input), node.outputs(), Attributes.EMPTY);
    }
}
