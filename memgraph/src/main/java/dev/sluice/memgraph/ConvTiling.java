package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.ConvGroups;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Conv / sluice.FusedConv / sluice.FusedConvAdd (1-D or 2-D, float32 or float16: {@link Tiling#viaFloat32}), by images x
 * output channels x output rows (x columns when the width is a multiple of 16; a 1-D conv by its output length where
 * its path allows, {@link #lengthBand}): a tile computes channels
 * {@code [c0, c1)} of output rows {@code [r0, r1)}, reading the input rows those output rows see (the window's
 * halo, {@link RowBands.Band}), the input channels of those output channels' groups (all of them for group 1),
 * the weight and bias rows of its channels and, for FusedConvAdd, the same box of its residual (input 3, of the
 * output's shape). It runs the conv with the band's own top and bottom pads (the real pad where the band meets the
 * image's edge, 0 inside) and, for a grouped conv, with its number of groups. SAME_UPPER / SAME_LOWER convs are tiled
 * as the explicit pads they stand for ({@link #explicitPads}). Rows and channels are cut together, the grid chosen by
 * the bytes a tile needs ({@link BoxTiles}): a patch embedding (3 input channels, kernel 16, stride 16) whose channel
 * tiles each read the whole image reads only its rows' patches by rows.
 *
 * <p>Bits: the conv computes every output element as a dot product over (input channel, kernel position) of
 * its group. On the direct and depthwise paths (2-D, group 1 or one input channel per group, a kernel of more than one
 * tap or a stride: {@link #positionFree}) that is one FMA chain from zero, then bias and activation in vector lanes,
 * whatever the element's position, the tile's size or its channel count, so bands may start on any row. Elsewhere
 * (grouped convs through im2col and Gemm32, pointwise ones) the order may depend on where the element sits among
 * the output positions modulo the widest vector, and a product of one output channel or one output position takes
 * Gemm32's matrix-vector path (another order): there row bands start where {@code r0 * W} is a multiple of 16
 * ({@link RowBands}) and no band holds one output position. A group-1 conv's channel blocks hold at least two channels
 * (a grouped conv's blocks are whole groups, whose products are the whole node's, and carry the whole node's group count,
 * {@link ConvGroups#WHOLE_GROUPS}, so that a block of one group takes the grouped path and not a group-1 conv's).
 * FusedConvAdd adds its residual element by element after the conv (ResidualAdd, or PointwiseConv's epilogue with the same operations), so a box
 * of the sum is the box of the conv plus the box of the residual.
 *
 * <p>A float32 2-D group-1 conv that is not pointwise is also cut along its input channels ({@link ReductionCut}):
 * ConvKernels runs it direct, every output element one FMA chain over (input channel, ky, kx) from zero, which a
 * tile over a block of input channels continues from the partial sums of the blocks before it; the bias and the
 * activation go to the last block, and so does a FusedConvAdd's residual (its earlier blocks run as FusedConv
 * without bias or activation, the partial sums at input 4). Blocks hold at least two channels (one would take the
 * depthwise path). Not a float16 conv: its partial sums would be handed from block to block as float16, rounded
 * after every block where the whole conv rounds once, and the kernel refuses them; it is cut by the other axes only.
 */
record ConvTiling(Node node, Shape output, RowBands.Form rows, RowBands.Band columns, long groupOut, long groupIn, long group,
                  List<Cut> cuts, Shape xShape, Shape wShape, String x, String w, String b, long kIn, String res) implements OpTiling {

    static ConvTiling of(Graph g, Node n, Shape os) {
        if (!isConv(n) || (os.rank() != 4 && os.rank() != 3) || n.inputs().size() < 2 || !Tiling.viaFloat32(g.typeOf(n.outputs().getFirst()).dtype())) return null;
        String x = n.inputs().get(0), w = n.inputs().get(1), b = n.inputs().size() > 2 ? n.inputs().get(2) : "";
        String res = residual(g, n, os);
        if (res == null) return null;
        Shape xs = OpTiling.shapeOf(g, x), ws = OpTiling.shapeOf(g, w);
        int r = os.rank();
        if (xs.rank() != r || ws.rank() != r || g.initializers().containsKey(x)) return null;
        n = explicitPads(n, xs, ws);
        if (n == null) return null;
        long group = n.attributes().getInt("group", 1), m = ws.dim(0), c = xs.dim(1);
        if (group <= 0 || m % group != 0 || c % group != 0 || os.dim(1) != m) return null;
        long groupOut = m / group, groupIn = c / group;
        List<Cut> cuts = new ArrayList<>();
        if (os.dim(0) > 1) cuts.add(new Cut(0, 1, 1)); // images of a batch are convolved one by one
        if (group == 1 ? m >= 4 : group >= 2) cuts.add(new Cut(1, group == 1 ? 2 : groupOut, group == 1 ? 2 : groupOut));
        // group-1 pointwise convs are PointwiseTiling's (by flat positions)
        boolean pointwise = group == 1 && pointwise(n, ws);
        if (pointwise && PointwiseTiling.of(g, n, os) != null) return null;
        long positions = os.product(2, r);
        RowBands.Form f = r == 4 && (!pointwise || positions >= POINTWISE_POSITIONS) ? RowBands.form(g, n) : null;
        if (f != null && f.bands().getFirst().input() == 0 && f.rows() == os.dim(2)) {
            long least = os.dim(3) >= 2 ? 1 : 2;
            if (pointwise) least = Math.max(least, (POINTWISE_POSITIONS + os.dim(3) - 1) / os.dim(3));
            // where every element's bits are its own (the direct and depthwise paths), a band may start on any row
            long unit = positionFree(n, xs, ws, group) ? 1 : f.unit();
            if (os.dim(2) > Math.max(unit, least)) cuts.add(new Cut(2, unit, least));
        } else f = null;
        RowBands.Band cb = pointwise ? null : columnBand(n, xs, ws, os);
        boolean windows = cb != null && r == 3;
        if (cb != null) cuts.add(windows ? new Cut(r - 1, 1, 2) : new Cut(r - 1, LANES, 2));
        // a 1-D conv on the direct or depthwise path, by its output length (lengthBand)
        RowBands.Band lb = cb == null && !pointwise ? lengthBand(n, xs, ws, os, group) : null;
        if (lb != null) { cuts.add(new Cut(2, LANES, LENGTH_LEAST)); cb = lb; }
        long kIn = group == 1 && r == 4 && !pointwise && c >= 4 && BoxTiles.dtype(g, x) == DType.FLOAT32 && BoxTiles.dtype(g, w) == DType.FLOAT32 ? c : 0;
        if (kIn > 0) cuts.add(new Cut(r, 1, 2)); // last: the K tiles of an output box run one after another
        if (cuts.isEmpty()) return null;
        return new ConvTiling(n, kIn > 0 ? ReductionCut.extend(os, kIn) : os, f, cb, groupOut, groupIn, group, List.copyOf(cuts), xs, ws, x, w, b, kIn, res);
    }

    /**
     * The conv with SAME_UPPER / SAME_LOWER padding written as the explicit pads it stands for (as the kernel's window
     * geometry reckons them: the output {@code ceil(in / s)}, the total pad split with its smaller half first for
     * SAME_UPPER, last for SAME_LOWER), so the same geometry, path and bits, which a tile then adjusts at its edges; the
     * node itself when it has no auto_pad or VALID; null for an auto_pad or attributes the kernel does not take.
     */
    private static Node explicitPads(Node n, Shape xs, Shape ws) {
        String autoPad = n.attributes().getString("auto_pad", "NOTSET");
        if (autoPad.equals("NOTSET") || autoPad.equals("VALID")) return n;
        if (!autoPad.equals("SAME_UPPER") && !autoPad.equals("SAME_LOWER")) return null;
        int sp = xs.rank() - 2;
        long[] st = n.attributes().getInts("strides"), dl = n.attributes().getInts("dilations");
        if ((st != null && st.length != sp) || (dl != null && dl.length != sp)) return null;
        long[] pads = new long[2 * sp];
        for (int i = 0; i < sp; i++) {
            long in = xs.dim(i + 2), s = st == null ? 1 : st[i], d = dl == null ? 1 : dl[i];
            if (s <= 0 || d <= 0) return null;
            long o = (in + s - 1) / s, total = Math.max(0, (o - 1) * s + (ws.dim(i + 2) - 1) * d + 1 - in), small = total / 2;
            pads[i] = autoPad.equals("SAME_UPPER") ? small : total - small;
            pads[sp + i] = total - pads[i];
        }
        Map<String, Attr> a = new LinkedHashMap<>(n.attributes().asMap());
        a.remove("auto_pad");
        a.put("pads", new Attr.Ints(pads));
        return new Node(n.name(), n.opType(), n.domain(), n.inputs(), n.outputs(), new Attributes(a));
    }

    /** Conv, sluice.FusedConv or sluice.FusedConvAdd. */
    static boolean isConv(Node n) {
        return switch (n.opType()) {
            case "Conv" -> n.domain().isEmpty();
            case "FusedConv", "FusedConvAdd" -> n.domain().equals("sluice");
            default -> false;
        };
    }

    /**
     * The residual a sluice.FusedConvAdd adds (its input 3, of the output's shape, sliced with the output box), "" for
     * a conv without one, or null when the node has the wrong inputs or its residual cannot be sliced so: a constant,
     * another type, or the conv's own input or weight (one value read by two different boxes).
     */
    static String residual(Graph g, Node n, Shape os) {
        boolean add = n.opType().equals("FusedConvAdd");
        if (n.inputs().size() > (add ? 4 : 3)) return null;
        if (!add) return "";
        if (n.inputs().size() != 4) return null;
        String res = n.inputs().get(3);
        if (res.isEmpty() || g.initializers().containsKey(res) || n.inputs().subList(0, 3).contains(res)) return null;
        var t = g.typeOf(res);
        if (t == null || !t.isStatic() || t.dtype() != DType.FLOAT32 || !t.shape().toShape().equals(os)) return null;
        return res;
    }

    /**
     * Whether ConvKernels sends the conv, and every band or column block of it, to a path whose every output element is
     * one FMA chain over its taps from zero, then bias and activation in vector lanes (DirectConv, DepthwiseConv), so
     * that an element's bits depend on neither where its band starts nor how many positions a tile has: a 2-D conv of
     * group 1 or one input channel per group whose kernel is wider than one tap or strided (a band of a 1x1 stride-1 conv
     * would be pointwise, PointwiseConv's or a GEMM's depending on its positions).
     */
    static boolean positionFree(Node n, Shape xs, Shape ws, long group) {
        if (xs.rank() != 4) return false;
        if (!(group == 1 || (ws.dim(1) == 1 && group == xs.dim(1)))) return false;
        if (ws.dim(2) > 1 || ws.dim(3) > 1) return true;
        long[] st = n.attributes().getInts("strides");
        if (st != null) for (long v : st) if (v != 1) return true;
        return false;
    }

    @Override public Box outputBox(Box tile) { return kIn > 0 ? ReductionCut.outputBox(tile) : tile; }

    /** Positions from which a pointwise conv runs PointwiseConv: two of its register tiles of 3 vectors, at the widest (16 floats). */
    static final long POINTWISE_POSITIONS = 2 * 3 * 16;

    /** 1x1 kernel, stride 1, no padding: every output position reads its own input position. */
    static boolean pointwise(Node n, Shape ws) {
        for (int a = 2; a < ws.rank(); a++) if (ws.dim(a) != 1) return false;
        long[] st = n.attributes().getInts("strides"), pads = n.attributes().getInts("pads");
        if (st != null) for (long v : st) if (v != 1) return false;
        if (pads != null && !n.attributes().getString("auto_pad", "NOTSET").equals("VALID")) for (long v : pads) if (v != 0) return false;
        return true;
    }

    /** Output positions stay on the same vector lanes when column blocks start on multiples of this. */
    static final int LANES = 16;

    /**
     * The input columns output columns read, when the last axis may be cut: for a 2-D conv whose output width is a
     * multiple of {@link #LANES} (so that a block of columns keeps every position's lane in every row). Null
     * otherwise, or when a block could fall wholly in the padding.
     */
    private static RowBands.Band columnBand(Node n, Shape xs, Shape ws, Shape os) {
        int r = os.rank(), sp = r - 2;
        long width = os.dim(r - 1);
        // 1-D convs take Gemm32 through im2col in panels of positions wider than one vector, whose partial last
        // panel sums in another order: a block of columns would move positions between full and partial panels
        // (BoxTilingTest found it). 2-D ones go direct, where only a position's lane matters, as for row bands.
        // Except a 1-D conv of one input channel with a long kernel and no padding or dilation (a filter bank over a
        // waveform, oww's melspectrogram): ConvKernels reads its windows in place as a transposed B of Gemm32's
        // blocked path, whose bits depend on K only, for blocks of at least two positions (and channels).
        long[] st = n.attributes().getInts("strides"), dl = n.attributes().getInts("dilations"), pads = n.attributes().getInts("pads");
        if (r == 3 && windowsAreRows(n, xs, ws, dl, pads) && width >= 4) {
            long s = st == null ? 1 : st[0], ext = ws.dim(2);
            if (s <= 0 || (xs.dim(2) - ext) / s + 1 != width) return null;
            return new RowBands.Band(0, n.inputs().getFirst(), s, 1, 0, ext, xs.dim(2), 0);
        }
        if (r != 4 || width < 2 * LANES || width % LANES != 0) return null;
        long s = st == null ? 1 : st[sp - 1], d = dl == null ? 1 : dl[sp - 1];
        boolean valid = n.attributes().getString("auto_pad", "NOTSET").equals("VALID");
        long begin = pads == null || valid ? 0 : pads[sp - 1], end = pads == null || valid ? 0 : pads[2 * sp - 1];
        long[] ks = n.attributes().getInts("kernel_shape");
        if (ks != null && ks[sp - 1] != ws.dim(r - 1)) return null;
        long ext = (ws.dim(r - 1) - 1) * d + 1;
        if (s <= 0 || d <= 0 || begin >= ext || end >= ext) return null;
        if ((xs.dim(r - 1) + begin + end - ext) / s + 1 != width) return null;
        return new RowBands.Band(0, n.inputs().getFirst(), s, 1, begin, ext, xs.dim(r - 1), 0);
    }

    /** Output positions up to which ConvKernels sends a 1-D group-1 conv to NarrowConv (its MAX_OUT). */
    static final long NARROW_MAX_OUT = 8;

    /** Least output positions of a length block of a 1-D conv: one more than NarrowConv takes. */
    static final long LENGTH_LEAST = NARROW_MAX_OUT + 1;

    /**
     * The input window a block of output positions of a 1-D conv reads, when the conv may be cut along its output
     * length: output positions {@code [o0, o1)} read input positions {@code [o0 * s - pad, (o1 - 1) * s - pad + (k - 1) * d + 1)}
     * clipped to the input, and run with the block's own pads (the real one where the window meets an end of the
     * input, 0 inside), so that every output element sees the same taps, weights and zeros as in the whole conv.
     * Null unless ConvKernels sends the whole conv and every block of at least {@link #LENGTH_LEAST} positions (of any
     * channel block) to a path whose output element is one FMA chain over its taps from zero, then bias and
     * activation in vector lanes, independent of its position and of the call's length (DirectConv for group 1,
     * DepthwiseConv or DirectConv's depthwise loop for one input channel per group; both on the 1-D geometry seen
     * as one row, {@code WindowGeometry.as2d}):
     * <ul>
     *   <li>more than {@link #NARROW_MAX_OUT} output positions (fewer go to NarrowConv, whose gather differs; blocks
     *       keep at least {@link #LENGTH_LEAST});</li>
     *   <li>group 1, or one input channel per group (depthwise); other grouped convs run im2col + Gemm32 in chunks of
     *       positions, whose panels and scalar tails depend on where a position falls;</li>
     *   <li>not a one-tap stride-1 kernel (its unpadded inner blocks would be pointwise convs: PointwiseConv or a
     *       GEMM), and not one input channel with a kernel of {@link #WINDOW_ROWS_MIN_KERNEL} taps or more and no
     *       dilation (its unpadded inner blocks would be read as rows by Gemm32: {@code windowsAreRows}).</li>
     * </ul>
     * Blocks start on multiples of {@link #LANES} positions besides, so a position keeps its vector lane.
     */
    private static RowBands.Band lengthBand(Node n, Shape xs, Shape ws, Shape os, long group) {
        if (os.rank() != 3 || os.dim(2) <= LENGTH_LEAST) return null;
        long c = xs.dim(1), k = ws.dim(2);
        if (!(group == 1 || (ws.dim(1) == 1 && group == c))) return null;
        long[] st = n.attributes().getInts("strides"), dl = n.attributes().getInts("dilations"), pads = n.attributes().getInts("pads");
        long[] ks = n.attributes().getInts("kernel_shape");
        if ((st != null && st.length != 1) || (dl != null && dl.length != 1) || (pads != null && pads.length != 2) || (ks != null && (ks.length != 1 || ks[0] != k))) return null;
        long s = st == null ? 1 : st[0], d = dl == null ? 1 : dl[0];
        if (s <= 0 || d <= 0 || (k == 1 && s == 1)) return null;
        if (group == 1 && c == 1 && k >= WINDOW_ROWS_MIN_KERNEL && d == 1) return null;
        boolean valid = n.attributes().getString("auto_pad", "NOTSET").equals("VALID");
        long begin = pads == null || valid ? 0 : pads[0], end = pads == null || valid ? 0 : pads[1];
        long ext = (k - 1) * d + 1;
        // a block wholly in the padding would read no input
        if (begin < 0 || end < 0 || begin >= ext || end >= ext) return null;
        if ((xs.dim(2) + begin + end - ext) / s + 1 != os.dim(2)) return null;
        return new RowBands.Band(0, n.inputs().getFirst(), s, 1, begin, ext, xs.dim(2), 0);
    }

    /** Shortest kernel ConvKernels reads as rows of the input (its WINDOW_ROWS_MIN_KERNEL). */
    static final long WINDOW_ROWS_MIN_KERNEL = 32;

    /** One input channel, a 1-D kernel of at least {@link #WINDOW_ROWS_MIN_KERNEL} taps, no padding or dilation, group 1. */
    private static boolean windowsAreRows(Node n, Shape xs, Shape ws, long[] dl, long[] pads) {
        if (xs.dim(1) != 1 || ws.dim(1) != 1 || ws.dim(2) < WINDOW_ROWS_MIN_KERNEL || n.attributes().getInt("group", 1) != 1) return false;
        if (dl != null && dl[0] != 1) return false;
        boolean valid = n.attributes().getString("auto_pad", "NOTSET").equals("VALID");
        return valid || pads == null || (pads[0] == 0 && pads[1] == 0);
    }

    @Override public Map<String, Box> boxes(Box tile) {
        Box out = outputBox(tile);
        boolean kBlock = kIn > 0 && !(ReductionCut.first(tile) && ReductionCut.last(tile));
        long[] kb = kBlock ? ReductionCut.block(tile) : null;
        long c0 = out.lo(1), c1 = out.hi(1), r0 = rows == null ? 0 : out.lo(2), r1 = rows == null ? 0 : out.hi(2);
        Map<String, Box> m = new LinkedHashMap<>();
        Box xb = Box.whole(xShape).with(0, out.lo(0), out.hi(0));
        if (group > 1) xb = xb.with(1, c0 / groupOut * groupIn, c1 / groupOut * groupIn);
        if (rows != null) {
            long[] ab = rows.bands().getFirst().rowsFor(r0, r1);
            xb = xb.with(2, ab[0], ab[1]);
        }
        int last = out.rank() - 1;
        if (columns != null) {
            long[] ab = columns.rowsFor(out.lo(last), out.hi(last));
            xb = xb.with(last, ab[0], ab[1]);
        }
        if (kBlock) xb = xb.with(1, kb[0], kb[1]);
        if (!xb.isWhole()) m.put(x, xb);
        // the residual, added after the sum: the output box of it, with K cut the last K tile's alone (gathered by it, whole
        // box or not, since the first tile, which loads what is read whole, does not read it)
        if (!res.isEmpty() && (kBlock ? ReductionCut.last(tile) : !out.isWhole())) m.put(res, out);
        if (kBlock) {
            m.put(w, Box.whole(wShape).with(0, c0, c1).with(1, kb[0], kb[1]));
            // the bias is the last K tile's alone: gathered by it
            if (!b.isEmpty() && ReductionCut.last(tile)) m.put(b, new Box(new long[] {wShape.dim(0)}, new long[] {c0}, new long[] {c1}));
            ReductionCut.partial(m, node, tile);
        } else if (c0 != 0 || c1 != output.dim(1)) {
            m.put(w, Box.whole(wShape).with(0, c0, c1));
            if (!b.isEmpty()) m.put(b, new Box(new long[] {wShape.dim(0)}, new long[] {c0}, new long[] {c1}));
        }
        return m;
    }

    @Override public Node node(Box tile) {
        Box out = outputBox(tile);
        Map<String, Attr> a = new LinkedHashMap<>(node.attributes().asMap());
        if (rows != null && (out.lo(2) != 0 || out.hi(2) != output.dim(2))) {
            RowBands.Band band = rows.bands().getFirst();
            long top = Math.max(0, -band.start(out.lo(2))), bottom = Math.max(0, band.end(out.hi(2)) - band.rows());
            long[] pads = node.attributes().getInts("pads");
            if (pads == null || node.attributes().getString("auto_pad", "NOTSET").equals("VALID")) pads = new long[4];
            a.remove("auto_pad");
            a.put("pads", new Attr.Ints(new long[] {top, pads[1], bottom, pads[3]}));
        }
        int last = out.rank() - 1, sp = out.rank() - 2;
        if (columns != null && (out.lo(last) != 0 || out.hi(last) != output.dim(last))) {
            boolean valid = a.containsKey("auto_pad") && node.attributes().getString("auto_pad", "NOTSET").equals("VALID");
            long[] pads = valid || !a.containsKey("pads") ? new long[2 * sp] : ((Attr.Ints) a.get("pads")).values().clone();
            a.remove("auto_pad");
            pads[sp - 1] = Math.max(0, -columns.start(out.lo(last)));
            pads[2 * sp - 1] = Math.max(0, columns.end(out.hi(last)) - columns.rows());
            a.put("pads", new Attr.Ints(pads));
        }
        if (group > 1) {
            // the tile's own groups, and the whole conv's count, which picks the kernel's loop: a tile of one group
            // would be a group-1 conv, summed by the direct loop in another order (wav2vec2's positional conv)
            a.put("group", new Attr.Int((out.hi(1) - out.lo(1)) / groupOut));
            a.put(ConvGroups.WHOLE_GROUPS, new Attr.Int(group));
        }
        if (kIn > 0) {
            if (res.isEmpty()) return ReductionCut.tileNode(node, a, tile, 3, List.of(2), List.of());
            // FusedConvAdd: the partial sums after the residual (input 4); K tiles before the last are the conv alone
            // (FusedConv without bias, activation or residual), the last adds bias, residual and activation
            Node t = ReductionCut.tileNode(node, a, tile, 4, List.of(2, 3), List.of());
            return ReductionCut.last(tile) ? t : new Node(t.name(), "FusedConv", "sluice", t.inputs(), t.outputs(), t.attributes());
        }
        return new Node(node.name(), node.opType(), node.domain(), node.inputs(), node.outputs(), new Attributes(a));
    }
}
