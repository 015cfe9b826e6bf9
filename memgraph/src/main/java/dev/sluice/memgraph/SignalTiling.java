package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The signal transforms, by the axes a transform does not mix.
 *
 * <p>STFT: a box of the output [batch, frames, bins, 2] over batches and frames reads those batches of the signal
 * and the samples its frames cover, [f0·step, (f1 - 1)·step + frame_length), and runs the same STFT on them; the
 * tile's signal holds exactly f1 - f0 frames. DFT: a box over the axes other than the transformed one and the
 * component axis reads the same box of the input, all of those two axes, and runs the same DFT.
 *
 * <p>Bits: every frame (every lane of a DFT) is transformed on its own, by the same plan, from the same samples,
 * whichever tile it falls in, so the tiles are the whole node's output bit for bit. The boxes depend on frame_step
 * and frame_length (STFT) and on the axis (DFT), so those must be constants: a node whose are not, or a DFT whose
 * axis depends on the opset (no axis attribute or input, on a rank where opset 17's default 1 and opset 20's -2
 * differ), is not tiled.
 */
record SignalTiling(Node node, Shape output, String input, Shape inShape, int axis, long step, long frameLength)
        implements OpTiling {
    static SignalTiling of(Graph g, Node n, Shape os) {
        if (!n.domain().isEmpty() || n.inputs().isEmpty() || n.inputs().getFirst().isEmpty()) return null;
        String x = n.inputs().getFirst();
        Shape xs = OpTiling.shapeOf(g, x);
        return switch (n.opType()) {
            case "STFT" -> stft(g, n, os, x, xs);
            case "DFT" -> dft(g, n, os, x, xs);
            default -> null;
        };
    }

    private static SignalTiling stft(Graph g, Node n, Shape os, String x, Shape xs) {
        if (xs.rank() != 3 || os.rank() != 4) return null;
        Long step = constant(g, n, 1);
        Long fl = constant(g, n, 3);
        if (fl == null && present(n, 3)) return null;
        if (fl == null && present(n, 2)) {
            Shape w = OpTiling.shapeOf(g, n.inputs().get(2));
            if (w.rank() == 1) fl = w.dim(0);
        }
        if (step == null || fl == null || step < 1 || fl < 1 || xs.dim(1) < fl) return null;
        if (os.dim(1) != (xs.dim(1) - fl) / step + 1) return null;
        return new SignalTiling(n, os, x, xs, -1, step, fl);
    }

    private static SignalTiling dft(Graph g, Node n, Shape os, String x, Shape xs) {
        int r = xs.rank();
        if (r < 2 || os.rank() != r) return null;
        Long axis;
        if (present(n, 2)) axis = constant(g, n, 2);
        else if (n.attributes().has("axis")) axis = n.attributes().getInt("axis", 1);
        else axis = r == 3 ? 1L : null; // opset 17's default 1 and opset 20's -2 agree only at rank 3
        if (axis == null) return null;
        long a = axis < 0 ? axis + r : axis;
        if (a < 0 || a > r - 2) return null;
        if (present(n, 1) && constant(g, n, 1) == null) return null;
        return new SignalTiling(n, os, x, xs, (int) a, -1, -1);
    }

    private static boolean present(Node n, int i) { return i < n.inputs().size() && !n.inputs().get(i).isEmpty(); }

    /** Input i as a one-element integer initializer, else null. */
    private static Long constant(Graph g, Node n, int i) {
        if (!present(n, i)) return null;
        Tensor t = g.initializers().get(n.inputs().get(i));
        return t == null || t.elementCount() != 1 || !t.dtype().isInteger() ? null : t.getLong(0);
    }

    private boolean isStft() { return step > 0; }

    @Override public List<Cut> cuts() {
        List<Cut> c = new ArrayList<>();
        for (int a = 0; a < output.rank() - 1; a++) {
            boolean mixed = isStft() ? a > 1 : a == axis;
            if (!mixed && output.dim(a) > 1) c.add(new Cut(a, 1, 1));
        }
        return c;
    }

    @Override public Map<String, Box> boxes(Box out) {
        int r = inShape.rank();
        long[] lo = new long[r], hi = inShape.dims();
        if (isStft()) {
            lo[0] = out.lo(0);
            hi[0] = out.hi(0);
            lo[1] = out.lo(1) * step;
            hi[1] = (out.hi(1) - 1) * step + frameLength;
        } else {
            for (int a = 0; a < r - 1; a++) {
                if (a == axis) continue;
                lo[a] = out.lo(a);
                hi[a] = out.hi(a);
            }
        }
        Box b = new Box(inShape.dims(), lo, hi);
        return b.isWhole() ? Map.of() : Map.of(input, b);
    }

    @Override public Node node(Box out) { return node; }
}
