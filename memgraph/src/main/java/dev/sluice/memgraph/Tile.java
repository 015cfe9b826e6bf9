package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.Shape;

/**
 * One block of a node that was split so that each task fits a small budget: the kernel computes output
 * {@code [start, end)} of {@code total} along the node's split dimension, reading only that block of the
 * weight (a separate initializer, so it is copied to the device on its own and freed right after).
 *
 * <ul>
 *   <li>{@link Kind#GATHER_ROWS}: Gather on axis 0 of a table; the block is table rows {@code [start, end)}
 *       and the task copies the rows whose index falls in it to their places in the whole output.</li>
 *   <li>{@link Kind#OUTPUT_COLUMNS}: MatMul / Gemm with a 2-D weight; the block is the weight's share of
 *       output columns {@code [start, end)}. The node's own kernel computes those columns into a scratch
 *       block on the device, which the task then copies into the output's columns. Block edges are
 *       multiples of {@link Tiling#COLUMN_UNIT} so that every output element is summed over K in the same
 *       order as in the whole product (the kernels' vector tails fall on the same columns), except that a
 *       product of several rows never gets a one-column tile (see {@code Tiling.edges}).</li>
 *   <li>{@link Kind#OUTPUT_CHANNELS}: Conv / sluice.FusedConv with group 1; the block is the weight's (and
 *       bias's) output channels {@code [start, end)}. The node's kernel computes those channels into a scratch
 *       block, which the task copies into the output's channel slices (per batch item, one contiguous run).
 *       No tile has one channel when the node has several (Gemm32's m = 1 path sums in another order).</li>
 *   <li>{@link Kind#ELEMENTS}: a same-shape elementwise node (Add, Mul, Relu, ...); the tile computes elements
 *       {@code [start, end)} (flat, row-major) from the same range of each activation input: a view of its
 *       device buffer when it stays resident, else a range buffer copied from its host copy
 *       ({@link Task.Transfer} with a range). The output is written in place through a view of its range.
 *       Ranges start at multiples of 16 elements (64 bytes): views stay aligned and vector tails fall on the
 *       same elements as in the whole node. Softmax / LogSoftmax over the last axis split the same way by
 *       whole rows ({@link #rowLength}), seen with the node's rank.</li>
 *   <li>{@link Kind#TIME_STEPS}: LSTM / GRU / RNN, forward or reverse, layout 0; the block is time steps
 *       {@code [start, end)} of {@code total}. The task runs the node's own kernel as {@link #stepNode}: the same
 *       op on X's steps {@code [start, end)} (a view of resident X, or a range copied from its host copy, as
 *       for {@link Kind#ELEMENTS}), writing Y's steps in place (a view of the whole Y), starting from the
 *       state the previous tile handed over in small state buffers (its Y_h / Y_c outputs, read as this
 *       tile's initial_h / initial_c; the first tile reads the node's own initial state). sequence_lens is
 *       seen shifted to the tile, {@code clamp(len - start, 0, end - start)}. The kernel computes a step
 *       from the state and that step's input alone (float32 state), so the chain of tiles gives the bits
 *       of the whole node. A reverse node's tiles run from the last steps to the first: {@code index} is
 *       the order of execution, not of time. Bidirectional nodes are not split (their two directions would
 *       need the tiles in opposite orders).</li>
 *   <li>{@link Kind#OUTPUT_ROWS}: a node with a 4-D NCHW output (Conv / FusedConv of any group, some
 *       ConvTranspose and Resize, row-preserving ops; see {@link RowBands}); the block is output rows
 *       {@code [start, end)} of every plane. The task reads, for each banded input, a band buffer holding the
 *       input rows those output rows read (filled from the input's host copy by a {@link Task.Transfer} with
 *       {@code rows}), its other inputs whole, and writes a band buffer of its own (its output), which a
 *       D2H rows transfer then scatters into the output's host copy. Unlike the other kinds, every tile writes
 *       a fresh output buffer, and the node's output exists only on the host afterwards.</li>
 * </ul>
 * Tiles of one node run one after another (the first places the output, the last publishes it), so the
 * output is written by exactly one task at a time (for output rows: the scatters into the host copy are chained).
 */
public record Tile(Kind kind, int index, int count, long start, long end, long total) {
    public enum Kind { GATHER_ROWS, OUTPUT_COLUMNS, OUTPUT_CHANNELS, ELEMENTS, TIME_STEPS, OUTPUT_ROWS }

    /**
     * Softmax / LogSoftmax normalized over the last axis only (an axis that both opset semantics read the same
     * way: explicitly the last, or by default on rank 2): each row of that many elements is computed on its own,
     * so whole rows split like elements. Its row length, else 0.
     */
    public static long rowLength(Graph g, Node n) {
        if (!n.domain().isEmpty() || !(n.opType().equals("Softmax") || n.opType().equals("LogSoftmax")) || n.outputs().isEmpty()) return 0;
        var t = g.typeOf(n.outputs().getFirst());
        if (!t.isStatic()) return 0;
        Shape s = t.shape().toShape();
        int rank = s.rank();
        if (rank < 2) return 0;
        if (n.attributes().has("axis")) {
            long a = n.attributes().getInt("axis", -1);
            if (a != -1 && a != rank - 1) return 0;
        } else if (rank != 2) return 0;
        return s.dim(rank - 1);
    }

    /** LSTM, GRU and RNN: the recurrent ops, split by time steps ({@link Kind#TIME_STEPS}). */
    public static boolean recurrent(Node n) {
        return n.domain().isEmpty() && (n.opType().equals("LSTM") || n.opType().equals("GRU") || n.opType().equals("RNN"));
    }

    /** State tensors a recurrent op carries from step to step: h, and c for an LSTM. */
    public static int stateCount(Node n) { return n.opType().equals("LSTM") ? 2 : 1; }

    /** Where a recurrent op's initial state inputs start (initial_h; initial_c follows for an LSTM). */
    public static final int STATE_INPUT = 5;

    /**
     * The node a {@link Kind#TIME_STEPS} tile runs: the recurrent node with every input slot up to its last
     * state input (initial_h / initial_c, the state handed in) and every state output (Y_h / Y_c, the state
     * handed on) named, so that the kernel reads and produces them. A task's inputs and outputs are aligned
     * with this node's; a -1 buffer marks an absent input or an output nobody reads.
     */
    public static Node stepNode(Node n) {
        int states = stateCount(n);
        java.util.List<String> in = new java.util.ArrayList<>(n.inputs());
        while (in.size() < STATE_INPUT + states) in.add("");
        String y = n.outputs().getFirst().isEmpty() ? n.label() : n.outputs().getFirst();
        for (int s = 0; s < states; s++) if (in.get(STATE_INPUT + s).isEmpty()) in.set(STATE_INPUT + s, y + "#state-in" + s);
        java.util.List<String> out = new java.util.ArrayList<>();
        out.add(n.outputs().getFirst());
        for (int s = 0; s < states; s++) {
            String o = n.outputs().size() > 1 + s ? n.outputs().get(1 + s) : "";
            out.add(o.isEmpty() ? y + "#state-out" + s : o);
        }
        return new Node(n.name(), n.opType(), n.domain(), in, out, n.attributes());
    }
}
