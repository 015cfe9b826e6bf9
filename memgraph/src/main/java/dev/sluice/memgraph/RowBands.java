package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Spatial splits ({@link Tile.Kind#OUTPUT_ROWS}): a node with a 4-D NCHW output whose output rows depend on a
 * band of rows of its activation inputs is computed band by band. A tile gathers, for each banded input, the
 * input rows its output rows read (the halo of a window included) from the input's host copy into a band
 * buffer, runs the node's own kernel on those bands, and scatters its output band into the output's host
 * copy. So such a node needs its small inputs (weights, per-channel constants), one input band per banded
 * input and one output band at once, not its whole activations.
 *
 * <p>Which nodes, and how output rows {@code [r0, r1)} map to rows of a banded input (see {@link Band}):
 * <ul>
 *   <li>Conv / sluice.FusedConv / sluice.FusedConvAdd (its residual banded row for row), any group (depthwise
 *       included), explicit or VALID pads: input rows
 *       {@code [r0 * s - pad, (r1 - 1) * s - pad + (k - 1) * d + 1)}, clipped to the image. The band runs with
 *       its own top and bottom pads ({@link #tileNode}): 0 inside the image, the real pad where the band meets
 *       the image's edge, so every output element sees the same receptive field, weights and zero padding as
 *       in the whole conv.</li>
 *   <li>ConvTranspose / sluice.FusedConvTranspose whose kernel height equals its stride (no overlap, no pads): input rows
 *       {@code [r0 / s, r1 / s)}, bands on multiples of s.</li>
 *   <li>Resize, nearest, asymmetric, floor, by an integer height factor f given as a constant scale: input
 *       rows {@code [r0 / f, r1 / f)}, bands on multiples of f.</li>
 *   <li>Row-preserving ops: the float32 and float16 elementwise ops of {@link Tiling#ELEMENTWISE} (inputs of the output's
 *       shape are banded; inputs constant along the height, e.g. a per-channel scale, are read whole),
 *       BatchNormalization (inference), sluice.ChannelScaleResidual (its per-channel gate read whole), and
 *       Concat on any axis but the height.</li>
 * </ul>
 *
 * <p>Bit-identity with the whole node rests on each output element's value depending only on its receptive
 * field, the weights and the pads, and on the kernels' vector lanes falling on the same elements in a band as
 * in the whole: every band starts at an output row {@code r0} with {@code r0 * W} a multiple of 16 elements, so
 * that the band's positions along the flattened rows agree with the whole's modulo the widest vector (Gemm32's
 * matrix-vector path for one output channel, and activations, finish a run of columns with a scalar tail); for
 * elementwise ops also every plane ({@code H * W}) is a multiple of 16, so that positions agree across planes.
 * No band of a conv-like op holds a single output element (a one-column GEMM sums in another order).
 *
 * <p>Float16 (see {@link Tiling#viaFloat32}): convs and ConvTranspose compute it on their float32 path and round each
 * element once, BatchNormalization and the elementwise ops element by element through double, so its bands are
 * the whole node's as float32 ones are; band bytes count its 2-byte elements. sluice.ChannelScaleResidual stays
 * float32 (its kernel's only type).
 */
public final class RowBands {
    /** Band starts keep {@code r0 * W} a multiple of this many elements (the widest float vector). */
    static final int LANE_UNIT = 16;

    private RowBands() {}

    /**
     * One input read band by band. Output rows {@code [r0, r1)} read its rows
     * {@code [floor(r0 * num / den) - pad, floor((r1 - 1) * num / den) - pad + extent)}, clipped to
     * {@code [0, rows)}. {@code rowBytes}: one row across every plane (N * C * W elements).
     */
    public record Band(int input, String value, long num, long den, long pad, long extent, long rows, long rowBytes) {
        /** First input row that output row r0 reads, before clipping (negative in the top padding). */
        public long start(long r0) { return Math.floorDiv(r0 * num, den) - pad; }

        /** One past the last input row that output rows up to r1 read, before clipping (past rows in the bottom padding). */
        public long end(long r1) { return Math.floorDiv((r1 - 1) * num, den) - pad + extent; }

        /** The input rows {@code [a, b)} that output rows {@code [r0, r1)} read, clipped to the input. */
        public long[] rowsFor(long r0, long r1) { return new long[] {Math.max(0, start(r0)), Math.min(rows, end(r1))}; }
    }

    /**
     * A node's row split: its output rows, the multiple band starts keep, bytes of one output row (all planes),
     * its banded inputs, the indices of the inputs it reads whole and their bytes (each value once).
     */
    record Form(long rows, long width, long unit, long outRowBytes, List<Band> bands, List<Integer> whole, long wholeBytes) {}

    /**
     * The node's row split, or null when it has none: a property of the op alone (whether the builder uses it is
     * {@link TilingOptions#rows()}'s choice, made where it plans).
     */
    static Form form(Graph g, Node n) {
        if (n.outputs().size() != 1 || n.outputs().getFirst().isEmpty() || !n.subgraphs().isEmpty()) return null;
        var ot = g.typeOf(n.outputs().getFirst());
        if (!ot.isStatic()) return null;
        Shape os = ot.shape().toShape();
        if (os.rank() != 4 || os.elementCount() == 0 || os.dim(2) < 2) return null;
        String key = (n.domain().isEmpty() ? "" : n.domain() + ":") + n.opType();
        return switch (key) {
            case "Conv", "sluice:FusedConv" -> convForm(g, n, os, ot.dtype(), false);
            case "sluice:FusedConvAdd" -> convForm(g, n, os, ot.dtype(), true);
            case "ConvTranspose", "sluice:FusedConvTranspose" -> transposeForm(g, n, os, ot.dtype());
            case "sluice:ChannelScaleResidual" -> {
                // x banded, the gate s (one value per batch and channel) read whole; x must be the output's shape
                var xt = g.typeOf(n.inputs().get(0));
                var st = g.typeOf(n.inputs().get(1));
                if (ot.dtype() != DType.FLOAT32 || xt == null || !xt.isStatic() || !xt.shape().toShape().equals(os)
                    || st == null || !st.isStatic() || st.shape().toShape().rank() != 4 || st.shape().toShape().dim(2) != 1) yield null;
                yield sameRows(g, n, os, ot.dtype(), Set.of(0), true);
            }
            case "Resize" -> resizeForm(g, n, os, ot.dtype());
            case "BatchNormalization" -> {
                // float16 too: an element is x * a + b through double, by itself ({@link Tiling#viaFloat32})
                if (n.attributes().getInt("training_mode", 0) != 0 || !Tiling.viaFloat32(ot.dtype())) yield null;
                yield sameRows(g, n, os, ot.dtype(), Set.of(0), true);
            }
            case "Concat" -> {
                long axis = n.attributes().getInt("axis", 1);
                if (axis == 2 || axis == -2) yield null;
                Set<Integer> all = new java.util.HashSet<>();
                for (int k = 0; k < n.inputs().size(); k++) all.add(k);
                yield sameRows(g, n, os, ot.dtype(), all, false);
            }
            default -> {
                // float16 too: its elements are computed one by one through double, by scalar code
                if (!n.domain().isEmpty() || !Tiling.ELEMENTWISE.contains(n.opType()) || !Tiling.viaFloat32(ot.dtype())) yield null;
                Set<Integer> banded = new java.util.HashSet<>();
                for (int k = 0; k < n.inputs().size(); k++) {
                    String v = n.inputs().get(k);
                    if (v.isEmpty()) continue;
                    var t = g.typeOf(v);
                    if (t == null || !t.isStatic()) yield null;
                    Shape s = t.shape().toShape();
                    if (s.equals(os)) banded.add(k);
                    else if (s.rank() >= 2 && s.dim(s.rank() - 2) != 1) yield null; // varies along the height: not whole
                }
                yield banded.isEmpty() ? null : sameRows(g, n, os, ot.dtype(), banded, true);
            }
        };
    }

    /** Smallest {@code u} with {@code u * w} a multiple of {@link #LANE_UNIT}. */
    private static long laneRows(long w) { return LANE_UNIT / gcd(w, LANE_UNIT); }

    /**
     * A conv's row split; with {@code residual} (sluice.FusedConvAdd) its input 3, of the output's shape, is banded
     * as well, row for row (not when it is the conv's own input, which a band reads with a halo).
     */
    private static Form convForm(Graph g, Node n, Shape os, DType dt, boolean residual) {
        if (n.inputs().size() < 2 || !Tiling.viaFloat32(dt)) return null;
        Band rb = null;
        if (residual) {
            if (n.inputs().size() != 4) return null;
            String r = n.inputs().get(3);
            var rt = r.isEmpty() ? null : g.typeOf(r);
            if (rt == null || r.equals(n.inputs().get(0)) || g.initializers().containsKey(r) || !rt.isStatic()
                || rt.dtype() != DType.FLOAT32 || !rt.shape().toShape().equals(os)) return null;
            rb = new Band(3, r, 1, 1, 0, 1, os.dim(2), os.dim(0) * os.dim(1) * os.dim(3) * dt.byteSize());
        }
        var xt = g.typeOf(n.inputs().get(0));
        var wt = g.typeOf(n.inputs().get(1));
        if (xt == null || wt == null || !xt.isStatic() || !wt.isStatic()) return null;
        Shape xs = xt.shape().toShape(), ws = wt.shape().toShape();
        if (xs.rank() != 4 || ws.rank() != 4 || xt.dtype() != dt) return null;
        if (g.initializers().containsKey(n.inputs().get(0))) return null;
        Attributes at = n.attributes();
        String autoPad = at.getString("auto_pad", "NOTSET");
        if (!autoPad.equals("NOTSET") && !autoPad.equals("VALID")) return null;
        long[] ks = at.getInts("kernel_shape");
        if (ks != null && (ks.length != 2 || ks[0] != ws.dim(2))) return null;
        long s = first(at.getInts("strides"), 2, 1), d = first(at.getInts("dilations"), 2, 1);
        long[] pads = at.getInts("pads");
        if (pads != null && pads.length != 4) return null;
        long pad = autoPad.equals("VALID") || pads == null ? 0 : pads[0];
        if (s <= 0 || d <= 0) return null;
        // a band whose rows all fall in the padding would read no input rows
        if (pads != null && (pads[0] >= (ws.dim(2) - 1) * d + 1 || pads[2] >= (ws.dim(2) - 1) * d + 1)) return null;
        Band b = new Band(0, n.inputs().get(0), s, 1, pad, (ws.dim(2) - 1) * d + 1, xs.dim(2), xs.dim(0) * xs.dim(1) * xs.dim(3) * dt.byteSize());
        // the input's height must give the output's, as the conv computes it
        if ((xs.dim(2) + pad + (pads == null || autoPad.equals("VALID") ? 0 : pads[2]) - b.extent()) / s + 1 != os.dim(2)) return null;
        return withWhole(g, n, os, dt, rb == null ? List.of(b) : List.of(b, rb), laneRows(os.dim(3)));
    }

    private static Form transposeForm(Graph g, Node n, Shape os, DType dt) {
        if (n.inputs().size() < 2 || !Tiling.viaFloat32(dt)) return null;
        var xt = g.typeOf(n.inputs().get(0));
        var wt = g.typeOf(n.inputs().get(1));
        if (xt == null || wt == null || !xt.isStatic() || !wt.isStatic()) return null;
        Shape xs = xt.shape().toShape(), ws = wt.shape().toShape();
        if (xs.rank() != 4 || ws.rank() != 4 || xt.dtype() != dt || g.initializers().containsKey(n.inputs().get(0))) return null;
        Attributes at = n.attributes();
        if (!at.getString("auto_pad", "NOTSET").equals("NOTSET") || at.has("output_shape")) return null;
        long s = first(at.getInts("strides"), 2, 1);
        if (s != ws.dim(2) || first(at.getInts("dilations"), 2, 1) != 1 || !zeros(at.getInts("pads")) || !zeros(at.getInts("output_padding"))) return null;
        if (os.dim(2) != xs.dim(2) * s) return null;
        // bands on multiples of s whose output and input positions both stay on vector lanes
        long u = s;
        while ((u * os.dim(3)) % LANE_UNIT != 0 || ((u / s) * xs.dim(3)) % LANE_UNIT != 0) u += s;
        Band b = new Band(0, n.inputs().get(0), 1, s, 0, 1, xs.dim(2), xs.dim(0) * xs.dim(1) * xs.dim(3) * dt.byteSize());
        return withWhole(g, n, os, dt, List.of(b), u);
    }

    private static Form resizeForm(Graph g, Node n, Shape os, DType dt) {
        Attributes at = n.attributes();
        if (n.inputs().size() < 3 || (n.inputs().size() > 3 && !n.inputs().get(3).isEmpty()) || at.has("axes")) return null;
        if (!at.getString("mode", "nearest").equals("nearest") || !at.getString("coordinate_transformation_mode", "half_pixel").equals("asymmetric")
            || !at.getString("nearest_mode", "round_prefer_floor").equals("floor")) return null;
        Tensor scales = g.initializers().get(n.inputs().get(2));
        if (scales == null || scales.elementCount() != 4 || scales.dtype() != DType.FLOAT32) return null;
        var xt = g.typeOf(n.inputs().get(0));
        if (xt == null || !xt.isStatic() || g.initializers().containsKey(n.inputs().get(0))) return null;
        Shape xs = xt.shape().toShape();
        if (xs.rank() != 4 || xt.dtype() != dt) return null;
        double[] f = scales.toDoubleArray();
        if (f[0] != 1 || f[1] != 1 || f[2] < 1 || f[2] != Math.rint(f[2])) return null;
        long fh = (long) f[2];
        if (os.dim(2) != xs.dim(2) * fh) return null;
        Band b = new Band(0, n.inputs().get(0), 1, fh, 0, 1, xs.dim(2), xs.dim(0) * xs.dim(1) * xs.dim(3) * dt.byteSize());
        return withWhole(g, n, os, dt, List.of(b), fh); // a gather: no arithmetic, no lanes to keep
    }

    /**
     * Output row r reads row r of the inputs in {@code banded} (each of the output's height); the others are
     * read whole. {@code lanes}: arithmetic whose vector lanes must fall on the same elements (planes of 16s).
     */
    private static Form sameRows(Graph g, Node n, Shape os, DType dt, Set<Integer> banded, boolean lanes) {
        List<Band> bands = new ArrayList<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty() || !banded.contains(k)) continue;
            var t = g.typeOf(v);
            if (t == null || !t.isStatic()) return null;
            Shape s = t.shape().toShape();
            if (s.rank() != 4 || s.dim(2) != os.dim(2) || t.dtype() != dt) return null;
            if (lanes && (s.dim(2) * s.dim(3)) % LANE_UNIT != 0) return null;
            bands.add(new Band(k, v, 1, 1, 0, 1, s.dim(2), s.dim(0) * s.dim(1) * s.dim(3) * dt.byteSize()));
        }
        if (bands.isEmpty() || (lanes && (os.dim(2) * os.dim(3)) % LANE_UNIT != 0)) return null;
        return withWhole(g, n, os, dt, bands, lanes ? laneRows(os.dim(3)) : 1);
    }

    private static Form withWhole(Graph g, Node n, Shape os, DType dt, List<Band> bands, long unit) {
        Set<String> bandedValues = new java.util.HashSet<>();
        Set<Integer> bandedInputs = new java.util.HashSet<>();
        for (Band b : bands) { bandedValues.add(b.value()); bandedInputs.add(b.input()); }
        List<Integer> whole = new ArrayList<>();
        Set<String> seen = new java.util.HashSet<>();
        long bytes = 0;
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty() || bandedInputs.contains(k)) continue;
            if (bandedValues.contains(v)) return null; // one value read both by bands and whole
            whole.add(k);
            if (!seen.add(v)) continue;
            Tensor c = g.initializers().get(v);
            if (c != null) bytes += Tensor.blockBytes(c.byteSize());
            else {
                var t = g.typeOf(v);
                if (t == null || !t.isStatic()) return null;
                bytes += Tensor.blockBytes(Tensor.byteSize(t.dtype(), t.shape().toShape()));
            }
        }
        long outRowBytes = os.dim(0) * os.dim(1) * os.dim(3) * dt.byteSize();
        return new Form(os.dim(2), os.dim(3), unit, outRowBytes, List.copyOf(bands), List.copyOf(whole), bytes);
    }

    /**
     * Where bands of {@code rows} output rows start, then the height: every {@code rows} from 0, except that
     * a last band of a single output element joins the one before (a one-column GEMM sums in another order).
     */
    static long[] edges(Form f, long rows) {
        List<Long> e = new ArrayList<>();
        for (long r = 0; r < f.rows(); r += rows) e.add(r);
        if (e.size() > 1 && (f.rows() - e.getLast()) * f.width() < 2) e.removeLast();
        e.add(f.rows());
        return e.stream().mapToLong(Long::longValue).toArray();
    }

    /** Bytes band {@code [r0, r1)} holds on the device at once: whole inputs, one band per banded value, the output band. */
    static long tileNeed(Form f, long r0, long r1) {
        long s = f.wholeBytes() + outBandBlock(f, r0, r1);
        for (long v : bandBlocks(f, r0, r1).values()) s += v;
        return s;
    }

    /**
     * The blocks band {@code [r0, r1)} gathers, by banded value (its rows with the window's halo; a value banded twice
     * is gathered once, as its first band says). With {@link #outBandBlock} and the whole inputs, all a band holds: the
     * one reckoning that sizing ({@link #tileNeed}, so the minimum budget) and the band's placement (BandTileTasks) share.
     */
    static Map<String, Long> bandBlocks(Form f, long r0, long r1) {
        Map<String, Long> per = new LinkedHashMap<>();
        for (Band b : f.bands()) {
            long[] ab = b.rowsFor(r0, r1);
            per.putIfAbsent(b.value(), Tensor.blockBytes(Math.max(0, ab[1] - ab[0]) * b.rowBytes()));
        }
        return per;
    }

    /** The block of output band {@code [r0, r1)}. */
    static long outBandBlock(Form f, long r0, long r1) { return Tensor.blockBytes((r1 - r0) * f.outRowBytes()); }

    /** Bytes the bands of {@code edges} copy in: every band's rows of each banded value (halos again each time), and the whole inputs once. */
    static long gathered(Form f, long[] edges) {
        long[][] bands = new long[edges.length - 1][];
        for (int t = 0; t + 1 < edges.length; t++) bands[t] = new long[] {edges[t], edges[t + 1]};
        return gathered(f, bands);
    }

    /** As {@link #gathered(Form, long[])} for bands {@code {r0, r1}} that may overlap (a band chain's, {@code BandChains}). */
    static long gathered(Form f, long[][] bands) {
        long s = f.wholeBytes();
        for (long[] r : bands) {
            Map<String, Long> per = new LinkedHashMap<>();
            for (Band b : f.bands()) {
                long[] ab = b.rowsFor(r[0], r[1]);
                per.put(b.value(), Math.max(0, ab[1] - ab[0]) * b.rowBytes());
            }
            for (long v : per.values()) s += v;
        }
        return s;
    }

    /**
     * The multiple a band's first row (and its end, unless the end is the height) must be on for the node to compute each
     * of its elements as its whole run does, wherever the band lies: 1 for a conv on a position-free path
     * ({@link ConvTiling#positionFree}: every element one FMA chain from zero whatever its position), else the form's
     * unit (vector lanes on the same elements; a ConvTranspose or Resize band on whole input rows).
     */
    static long anyBandUnit(Graph g, Node n, Form f) {
        String op = n.opType();
        if (!(op.equals("Conv") || op.equals("FusedConv") || op.equals("FusedConvAdd"))) return f.unit();
        Shape xs = g.typeOf(n.inputs().get(0)).shape().toShape(), ws = g.typeOf(n.inputs().get(1)).shape().toShape();
        return ConvTiling.positionFree(n, xs, ws, n.attributes().getInt("group", 1)) ? 1 : f.unit();
    }

    /** The most any band of {@code edges} needs. */
    static long need(Form f, long[] edges) {
        long m = 0;
        for (int t = 0; t + 1 < edges.length; t++) m = Math.max(m, tileNeed(f, edges[t], edges[t + 1]));
        return m;
    }

    /** The narrowest bands allowed: one unit, at most {@link Tiling#MAX_TILES} bands. */
    static long narrowest(Form f) {
        long rows = Math.max(f.unit(), (f.rows() + Tiling.MAX_TILES - 1) / Tiling.MAX_TILES);
        return (rows + f.unit() - 1) / f.unit() * f.unit();
    }

    /** The widest bands (a multiple of the unit, at least two bands) whose need is at most {@code target}; else the narrowest. */
    static long bandRows(Form f, long target) {
        long best = narrowest(f);
        for (long rows = best; rows < f.rows(); rows += f.unit()) {
            if (need(f, edges(f, rows)) <= target) best = rows;
            else break;
        }
        return best;
    }

    /** The least the node needs at once split into row bands, or {@code Long.MAX_VALUE} when it has no row split. */
    static long smallestNeed(Graph g, Node n) {
        Form f = form(g, n);
        if (f == null || narrowest(f) >= f.rows()) return Long.MAX_VALUE;
        return need(f, edges(f, narrowest(f)));
    }

    /**
     * The node a band of output rows runs: a Conv / FusedConv with the band's own top and bottom pads (the real
     * pad where the band meets an edge of the image, else 0) and explicit pads; any other node as it is.
     */
    public static Node tileNode(Graph g, Node n, Tile tile) {
        if (!(n.opType().equals("Conv") || n.opType().equals("FusedConv") || n.opType().equals("FusedConvAdd"))) return n;
        Form f = form(g, n);
        if (f == null) throw new MemGraphException("node " + n.label() + " has no row split", -1);
        Band b = f.bands().getFirst();
        long top = Math.max(0, -b.start(tile.start())), bottom = Math.max(0, b.end(tile.end()) - b.rows());
        long[] pads = n.attributes().getInts("pads");
        if (pads == null || n.attributes().getString("auto_pad", "NOTSET").equals("VALID")) pads = new long[4];
        Map<String, Attr> a = new LinkedHashMap<>(n.attributes().asMap());
        a.remove("auto_pad");
        a.put("pads", new Attr.Ints(new long[] {top, pads[1], bottom, pads[3]}));
        return new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(a));
    }

    private static long first(long[] v, int len, long dflt) {
        if (v == null) return dflt;
        return v.length == len ? v[0] : -1;
    }

    private static boolean zeros(long[] v) {
        if (v == null) return true;
        for (long x : v) if (x != 0) return false;
        return true;
    }

    private static long gcd(long a, long b) { return b == 0 ? a : gcd(b, a % b); }
}
