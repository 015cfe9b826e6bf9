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
 *   <li>{@link Kind#HIDDEN_UNITS}: LSTM / GRU (with linear_before_reset) / RNN whose gate weights are too large
 *       for the budget, one direction, layout 0: one tile per time step and block of hidden units. The block is
 *       cells {@code [start, end)} of the flat (step, unit) grid of {@code total} = steps x hidden, inside one
 *       step: step {@code start / hidden}, units {@code [start % hidden, start % hidden + end - start)}
 *       ({@link #unitStep}, {@link #unitStart}). The task runs {@link #unitNode}: the sluice-domain block form
 *       of the op, reading only the rows of W / R / B / P of those units' gates (blocks copied from the host
 *       copies, {@link #unitBlock}), the step of X, the whole h of the previous step and its c, and writing its
 *       units' columns of Y's step (a view) and of the step's whole state buffers, which all blocks of the step
 *       fill before any tile of the next step reads them. Tiles run step after step (a reverse node from the
 *       last step), blocks in ascending order within a step; {@code index} is the order of execution.</li>
 *   <li>{@link Kind#OUTPUT_BOX}: any node whose op family has an {@link OpTiling}, split when nothing else fits its
 *       device: the tile computes {@link #box} of the output (the boxes are disjoint and cover it). As for output
 *       rows, it reads the boxes {@link OpTiling#boxes} names (gathered by {@link Task.Transfer}s with a box from the
 *       inputs' host copies) and its other inputs whole, runs {@link OpTiling#node} into a fresh buffer of the box's
 *       extents, and a D2H box transfer scatters that into the output's host copy.</li>
 * </ul>
 * Tiles of one node run one after another (the first places the output, the last publishes it), so the
 * output is written by exactly one task at a time (for output rows: the scatters into the host copy are chained).
 */
public record Tile(Kind kind, int index, int count, long start, long end, long total, Box box) {
    public enum Kind { GATHER_ROWS, OUTPUT_COLUMNS, OUTPUT_CHANNELS, ELEMENTS, TIME_STEPS, HIDDEN_UNITS, OUTPUT_ROWS, OUTPUT_BOX }

    /** A tile of any kind but {@link Kind#OUTPUT_BOX} (no box). */
    public Tile(Kind kind, int index, int count, long start, long end, long total) {
        this(kind, index, count, start, end, total, null);
    }

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

    /** Inputs of a recurrent op that hold rows per gate and unit, split by {@link Kind#HIDDEN_UNITS} tiles: W, R, B, P. */
    public static final java.util.List<Integer> GATE_INPUTS = java.util.List.of(1, 2, 3, 7);

    /** The hidden size of a recurrent node (R's last dimension; R must have a static shape). */
    public static long hidden(Graph g, Node n) { return g.typeOf(n.inputs().get(2)).shape().toShape().dim(2); }

    /** The time step of a {@link Kind#HIDDEN_UNITS} tile of a node of that hidden size. */
    public static long unitStep(Tile t, long hidden) { return t.start() / hidden; }

    /** The first hidden unit of a {@link Kind#HIDDEN_UNITS} tile. */
    public static long unitStart(Tile t, long hidden) { return t.start() % hidden; }

    /** The name of the block of gate input {@code v} (W, R, B or P) of split node {@code node}'s units from {@code j0}. */
    public static String unitBlock(String v, int node, long j0) { return v + "#units" + node + "." + j0; }

    /**
     * The node a {@link Kind#HIDDEN_UNITS} tile runs: {@link #stepNode}'s inputs and outputs, as the sluice-domain
     * {@code <op>Block} op with {@code hidden_block = [j0, j1)}, reading the blocks of W / R / B / P by their names.
     */
    public static Node unitNode(Node n, long hidden, Tile t, int node) {
        Node s = stepNode(n);
        long j0 = unitStart(t, hidden);
        java.util.List<String> in = new java.util.ArrayList<>(s.inputs());
        for (int k : GATE_INPUTS) if (k < in.size() && !in.get(k).isEmpty()) in.set(k, unitBlock(in.get(k), node, j0));
        java.util.Map<String, dev.sluice.kernels.Attr> at = new java.util.LinkedHashMap<>(n.attributes().asMap());
        at.put("hidden_block", new dev.sluice.kernels.Attr.Ints(new long[] {j0, j0 + t.end() - t.start()}));
        return new Node(n.name(), n.opType() + "Block", "sluice", in, s.outputs(), new dev.sluice.kernels.Attributes(at));
    }
}
