package dev.sluice.memgraph;

import dev.sluice.graph.Graph;
import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TilingOptions;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Decomposition of large nodes into tiles (TURNIP's small tasks): a node whose inputs and outputs take more
 * than a quarter of its device's budget, and whose bulk is a constant weight, is split by blocks of that
 * weight, so that the weight streams onto the device block by block, each block's copy can overlap the
 * previous block's kernel, and a budget far below the weight's size still runs the node.
 *
 * <p>Split today: Gather tables by rows, MatMul / Gemm / sluice.FusedMatMul by output columns, Conv /
 * sluice.FusedConv with group 1 by output channels (not grouped or depthwise convs, whose split would cut
 * the input's channels too); their tiles still read the whole activation input and write into the whole
 * output. Same-shape float32 or float16 elementwise nodes ({@link #ELEMENTWISE}) are split by element ranges of their
 * activations: a tile reads a view of a resident input's range, or a range copied from its host copy, and
 * writes its range of the output in place, so such a node needs little more than its output. LSTM / GRU / RNN
 * (one direction, layout 0) are split by time steps ({@link #stepForm}): X is read by step ranges, Y written in
 * place, the state handed from tile to tile; where their gate weights themselves are too large, by step and block
 * of hidden units ({@link #unitSplit}), each tile reading only its units' rows of W / R / B / P. See {@link Tile}.
 *
 * <p>A node that does not fit the device even so (or a conv whose channel tiles would need more than three quarters of
 * it) is split by bands of output rows when it has a 4-D output whose rows depend on bands of input rows
 * ({@link RowBands}): convs of any group, some ConvTranspose and Resize, row-preserving ops. Its activations
 * then go through host memory band by band, so it needs neither its whole input nor its whole output.
 */
final class Tiling {
    /** Column blocks of MatMul / Gemm are multiples of this (the widest float vector), see {@link Tile}. */
    static final int COLUMN_UNIT = 16;
    /** More tiles than this per node cost more in task overhead than they save in memory. */
    static final int MAX_TILES = 256;
    /** Channel blocks hold at least this many channels: Gemm32 takes another summation order for m = 1. */
    static final int CHANNEL_UNIT = 2;

    /** How one node is split: which inputs are replaced by blocks, the blocks' names, and each tile. */
    record Split(int weightInput, int biasInput, List<Tile> tiles, List<String> weightBlocks, List<String> biasBlocks,
                 long scratchBytes, List<Integer> rangedInputs, BoxTiles.Plan box) {
        Split(int weightInput, int biasInput, List<Tile> tiles, List<String> weightBlocks, List<String> biasBlocks,
              long scratchBytes, List<Integer> rangedInputs) {
            this(weightInput, biasInput, tiles, weightBlocks, biasBlocks, scratchBytes, rangedInputs, null);
        }

        /** A split into output boxes ({@link Tile.Kind#OUTPUT_BOX}). */
        static Split of(BoxTiles.Plan p) {
            List<Tile> tiles = new ArrayList<>();
            for (int t = 0; t < p.boxes().size(); t++) {
                tiles.add(new Tile(Tile.Kind.OUTPUT_BOX, t, p.boxes().size(), t, t + 1, p.boxes().size(), p.boxes().get(t)));
            }
            return new Split(-1, -1, tiles, List.of(), List.of(), 0, List.of(), p);
        }
    }

    /**
     * Element ranges start at multiples of this many float32 elements (64 bytes): every range is a
     * {@link Tensor#ALIGNMENT}-aligned view, and a kernel's vector tail falls on the same elements as in the whole.
     * For narrower types see {@link #elementUnit}.
     */
    static final int ELEMENT_UNIT = 16;

    /**
     * Elements a range of type t starts on a multiple of: {@link #ELEMENT_UNIT} (the widest float vector, where the
     * float32 kernels' tails fall), and at least 64 bytes of t, so that every range stays a
     * {@link Tensor#ALIGNMENT}-aligned view (32 float16 elements; 16 float32 elements are 64 bytes already).
     */
    static long elementUnit(DType t) { return Math.max(ELEMENT_UNIT, Tensor.ALIGNMENT / t.byteSize()); }

    /**
     * Whether the CPU kernels of the products and windows these tilings cut (Conv, ConvTranspose, MatMul, Gemm)
     * compute type t on their float32 path: float32 itself, and float16, which they widen to float32 exactly (each
     * element on its own), compute by the very float32 code (the same loops, picked by the same shapes, with the bias
     * and activation in float32) and round to float16 once per element at the end. A tile of a float16 node then
     * computes the float32 values of its part bit for bit as the whole node does (the float32 tilings' invariants)
     * and rounds each alike, so a float16 tile gives the whole node's bits wherever a float32 one does. Not a cut
     * of a sum across tiles (K tiles, {@link ReductionCut}): they hand partial sums over in the output's own type,
     * which for float16 rounds every block's sum (and the kernels refuse to continue float16 partial sums), so those
     * cuts stay float32 only.
     */
    static boolean viaFloat32(DType t) { return t == DType.FLOAT32 || t == DType.FLOAT16; }
    /**
     * Elementwise ops whose element i depends on element i of each input only (float32, no reduction): split
     * by ranges of elements. Inputs are the output's shape, or constants of one element (broadcast).
     */
    static final java.util.Set<String> ELEMENTWISE = java.util.Set.of("Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu",
        "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Clip", "Neg", "Abs", "Exp", "Sqrt", "Swish", "SwiGLU");

    private Tiling() {}

    /** A node's shape of split, before choosing block sizes; null when it cannot be split. */
    private record Form(Tile.Kind kind, int weightInput, int biasInput, long total, long unit, long bytesPerUnit,
                        long scratchPerUnit, long fixedBytes, long rows, int blocks, List<Integer> ranged) {
        Form(Tile.Kind kind, int weightInput, int biasInput, long total, long unit, long bytesPerUnit,
             long scratchPerUnit, long fixedBytes, long rows) {
            this(kind, weightInput, biasInput, total, unit, bytesPerUnit, scratchPerUnit, fixedBytes, rows, 1, List.of());
        }
    }

    /** The node's split by blocks of its weight, element ranges or time steps, as far as {@code o} allows; else null. */
    private static Form form(Graph g, Node n, TilingOptions o) {
        if (Tile.recurrent(n)) return o.steps() ? stepForm(g, n) : null;
        Map<String, Tensor> init = g.initializers();
        if (n.outputs().size() != 1 || n.outputs().getFirst().isEmpty() || !n.subgraphs().isEmpty()) return null;
        if (n.domain().isEmpty() && (ELEMENTWISE.contains(n.opType()) || Tile.rowLength(g, n) > 0)) return o.elements() ? elementForm(g, n) : null;
        switch (n.opType()) {
            case "Gather" -> {
                if (!n.domain().isEmpty() || n.inputs().size() != 2 || n.attributes().getInt("axis", 0) != 0) return null;
                Tensor w = init.get(n.inputs().get(0));
                if (w == null || w.rank() < 1 || w.shape().dim(0) < 2 || init.containsKey(n.inputs().get(1))) return null;
                long rows = w.shape().dim(0);
                long fixed = bytes(g, n.inputs().get(1)) + bytes(g, n.outputs().getFirst());
                return new Form(Tile.Kind.GATHER_ROWS, 0, -1, rows, 1, w.byteSize() / rows, 0, fixed, 1);
            }
            case "MatMul", "Gemm", "FusedMatMul" -> {
                // Unless the columns switch is off (TilingOptions). Bit-identical to the whole node since Gemm32 sums a
                // dot product's vector lanes in a fixed order (RealModelBudgetTest checks it on the zoo).
                // sluice.FusedMatMul (MatMul + column bias + elementwise activation) splits like Gemm.
                boolean fused = n.opType().equals("FusedMatMul");
                if (!n.domain().equals(fused ? "sluice" : "") || !o.columns()) return null;
                boolean gemm = n.opType().equals("Gemm") || fused;
                Tensor w = init.get(n.inputs().get(1));
                // float16 too: MatMul and Gemm compute it on the float32 path and round once ({@link #viaFloat32})
                if (w == null || w.rank() != 2 || !viaFloat32(w.dtype()) || init.containsKey(n.inputs().getFirst())) return null;
                boolean transB = gemm && n.attributes().getInt("transB", 0) != 0;
                long cols = w.shape().dim(transB ? 0 : 1);
                int bias = -1;
                if (gemm && n.inputs().size() > 2 && !n.inputs().get(2).isEmpty()) {
                    Tensor c = init.get(n.inputs().get(2));
                    // Only a bias along the output columns can be split with them.
                    if (c == null || c.elementCount() != cols || c.shape().dim(c.rank() - 1) != cols) return null;
                    bias = 2;
                }
                var outType = g.typeOf(n.outputs().getFirst());
                if (!outType.isStatic() || cols < 2 * COLUMN_UNIT) return null;
                long outBytes = bytes(g, n.outputs().getFirst());
                long fixed = otherInputs(g, n, 1, bias) + outBytes;
                long perCol = w.byteSize() / cols + (bias >= 0 ? init.get(n.inputs().get(2)).byteSize() / cols : 0);
                long rows = outType.shape().toShape().elementCount() / cols;
                return new Form(Tile.Kind.OUTPUT_COLUMNS, 1, bias, cols, COLUMN_UNIT, perCol, outBytes / cols, fixed, rows);
            }
            case "Conv", "FusedConv" -> {
                // Split along the weight's output channels M (axis 0), the bias with them: each tile is the
                // same conv with fewer output channels. Conv computes every output element as im2col + Gemm32
                // (or direct loops for one input channel), whose per-element order depends on K and the
                // output positions only, not on M, except for an m = 1 product (matrix-vector path): no tile
                // has one channel. Only group = 1: grouped and depthwise convs would split the input too.
                boolean fused = n.opType().equals("FusedConv");
                if (!n.domain().equals(fused ? "sluice" : "") || !o.channels()) return null;
                if (n.attributes().getInt("group", 1) != 1 || n.inputs().size() < 2) return null;
                Tensor w = init.get(n.inputs().get(1));
                // float16 too: computed on the float32 path and rounded once ({@link #viaFloat32})
                if (w == null || w.rank() < 3 || !viaFloat32(w.dtype()) || init.containsKey(n.inputs().getFirst())) return null;
                long m = w.shape().dim(0);
                int bias = -1;
                if (n.inputs().size() > 2 && !n.inputs().get(2).isEmpty()) {
                    Tensor c = init.get(n.inputs().get(2));
                    if (c == null || c.rank() != 1 || c.elementCount() != m || c.dtype() != w.dtype()) return null;
                    bias = 2;
                }
                var inType = g.typeOf(n.inputs().getFirst());
                var outType = g.typeOf(n.outputs().getFirst());
                if (!outType.isStatic() || !inType.isStatic() || inType.dtype() != w.dtype() || m < 2 * CHANNEL_UNIT) return null;
                Shape os = outType.shape().toShape();
                if (os.rank() < 3 || os.dim(1) != m) return null;
                long outBytes = bytes(g, n.outputs().getFirst());
                long fixed = otherInputs(g, n, 1, bias) + outBytes;
                long perCh = w.byteSize() / m + (bias >= 0 ? init.get(n.inputs().get(2)).byteSize() / m : 0);
                return new Form(Tile.Kind.OUTPUT_CHANNELS, 1, bias, m, CHANNEL_UNIT, perCh,
                    Tensor.byteSize(outType.dtype(), os) / m, fixed, os.elementCount() / m);
            }
            default -> { return null; }
        }
    }

    /**
     * Same-shape elementwise node: split by contiguous element ranges. Each activation input is read by range
     * (a view of its device buffer when it stays resident, else a range copied from its host copy), constants
     * of one element whole; each tile writes its range of the whole output in place (a view, no scratch).
     */
    private static Form elementForm(Graph g, Node n) {
        Map<String, Tensor> init = g.initializers();
        var outType = g.typeOf(n.outputs().getFirst());
        // float16 too: the ops of ELEMENTWISE and Softmax compute a float16 element (a row) from its own inputs alone, in
        // a scalar loop through double, the same wherever the range starts
        if (!outType.isStatic() || !viaFloat32(outType.dtype())) return null;
        DType dt = outType.dtype();
        long row = Math.max(1, Tile.rowLength(g, n));
        // whole rows, and a multiple of elementUnit elements so that ranges stay 64-byte aligned
        long eu = elementUnit(dt);
        long unit = row * (eu / gcd(row, eu));
        Shape os = outType.shape().toShape();
        long total = os.elementCount();
        if (total < 2 * unit) return null;
        long fixed = bytes(g, n.outputs().getFirst());
        List<Integer> ranged = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (v.isEmpty()) continue;
            Tensor c = init.get(v);
            if (c != null) {
                if (c.elementCount() != 1) return null;
                if (seen.add(v)) fixed += bytes(g, v);
                continue;
            }
            var t = g.typeOf(v);
            if (!t.isStatic() || t.dtype() != dt || !t.shape().toShape().equals(os)) return null;
            ranged.add(k);
            seen.add(v);
        }
        long distinct = ranged.stream().map(k -> n.inputs().get(k)).distinct().count();
        if (distinct == 0) return null;
        return new Form(Tile.Kind.ELEMENTS, -1, -1, total, unit, dt.byteSize(), 0, fixed, 1,
            (int) distinct, List.copyOf(ranged));
    }

    /**
     * LSTM / GRU / RNN, one direction (forward or reverse), layout 0, float32 X: split by time steps
     * ({@link Tile.Kind#TIME_STEPS}). Each tile reads X's steps by range and writes Y's steps in place; the
     * weights, biases and initial states are read whole by every tile, and the state goes from tile to tile
     * in small buffers (one in, one out per state tensor). Step ranges start where both X's and Y's ranges
     * start on 64 bytes (views stay aligned). Not float16 (nor {@link #units}' blocks): the kernel keeps its state in
     * float32 from step to step, while tiles would hand it over as their Y_h / Y_c outputs, rounded to float16.
     */
    private static Form stepForm(Graph g, Node n) {
        if (n.inputs().size() < 3 || n.outputs().isEmpty() || !n.subgraphs().isEmpty()) return null;
        var at = n.attributes();
        String dir = at.getString("direction", "forward");
        if (!(dir.equals("forward") || dir.equals("reverse")) || at.getInt("layout", 0) != 0) return null;
        String x = n.inputs().getFirst();
        if (x.isEmpty() || g.initializers().containsKey(x)) return null;
        var xt = g.typeOf(x);
        var rt = g.typeOf(n.inputs().get(2));
        if (!xt.isStatic() || xt.dtype() != DType.FLOAT32 || !rt.isStatic()) return null;
        Shape xs = xt.shape().toShape(), rs = rt.shape().toShape();
        if (xs.rank() != 3 || rs.rank() != 3) return null;
        long seq = xs.dim(0), batch = xs.dim(1), in = xs.dim(2), hidden = rs.dim(2);
        for (String o : n.outputs()) if (!o.isEmpty() && !g.typeOf(o).isStatic()) return null;
        long xRow = batch * in, yRow = batch * hidden;
        long unit = lcm(ELEMENT_UNIT / gcd(xRow, ELEMENT_UNIT), ELEMENT_UNIT / gcd(yRow, ELEMENT_UNIT));
        if (seq < 2 * unit) return null;
        long stateBlock = Tensor.blockBytes(yRow * Float.BYTES);
        long fixed = otherInputs(g, n, 0, -1) + 2L * Tile.stateCount(n) * stateBlock;
        if (!n.outputs().getFirst().isEmpty()) fixed += bytes(g, n.outputs().getFirst());
        return new Form(Tile.Kind.TIME_STEPS, -1, -1, seq, unit, xRow * Float.BYTES, 0, fixed, 1, 1, List.of(0));
    }

    /**
     * Blocks of hidden units are multiples of this many units (the last takes the rest). The kernel's sums do not
     * depend on where a block starts (one FMA chain per gate value, lane-wise activations), so this only keeps
     * the gate rows a few units wide: 4 (was 8) brings Silero's one-step LSTM, whose 8-unit blocks of W and R
     * were 6.9% of the model's need, under 5%.
     */
    static final int HIDDEN_UNIT = 4;
    /** At most this many hidden-unit tiles per node (steps x blocks): beyond it, task overhead dominates. */
    static final long MAX_UNIT_TILES = 64L * MAX_TILES;

    /** A recurrent node that hidden-unit tiles can split: its sizes and its narrowest block. */
    record Units(long seq, long batch, long in, long hidden, int gates, long minBlock) {}

    /**
     * LSTM, RNN and GRU with linear_before_reset (without it every unit's h̃ needs every unit's reset gate), one
     * direction, layout 0, float32, W and R (and B, P) initializers, static shapes: splittable by blocks of hidden
     * units ({@link Tile.Kind#HIDDEN_UNITS}); else null. A multi-step node's tiles view X's and Y's steps in place
     * (or copy X's step), so Y's step must start on 64 bytes.
     */
    static Units units(Graph g, Node n) {
        if (!Tile.recurrent(n) || n.inputs().size() < 3 || n.outputs().isEmpty() || !n.subgraphs().isEmpty()) return null;
        var at = n.attributes();
        String dir = at.getString("direction", "forward");
        if (!(dir.equals("forward") || dir.equals("reverse")) || at.getInt("layout", 0) != 0) return null;
        if (n.opType().equals("GRU") && at.getInt("linear_before_reset", 0) == 0) return null;
        Map<String, Tensor> init = g.initializers();
        String x = n.inputs().getFirst();
        if (x.isEmpty() || init.containsKey(x)) return null;
        var xt = g.typeOf(x);
        if (!xt.isStatic() || xt.dtype() != DType.FLOAT32 || xt.shape().rank() != 3) return null;
        for (String o : n.outputs()) if (!o.isEmpty() && !g.typeOf(o).isStatic()) return null;
        Shape xs = xt.shape().toShape();
        long seq = xs.dim(0), batch = xs.dim(1), in = xs.dim(2);
        Tensor w = init.get(n.inputs().get(1)), r = init.get(n.inputs().get(2));
        if (w == null || r == null || w.dtype() != DType.FLOAT32 || r.dtype() != DType.FLOAT32 || w.rank() != 3 || r.rank() != 3) return null;
        int gates = n.opType().equals("LSTM") ? 4 : n.opType().equals("GRU") ? 3 : 1;
        long hidden = r.shape().dim(2);
        if (w.shape().dim(0) != 1 || w.shape().dim(1) != gates * hidden || w.shape().dim(2) != in) return null;
        if (r.shape().dim(0) != 1 || r.shape().dim(1) != gates * hidden) return null;
        long[] rows = {0, 0, 0, 2L * gates * hidden, 0, 0, 0, 3 * hidden};
        for (int k : new int[] {3, 7}) {
            if (k >= n.inputs().size() || n.inputs().get(k).isEmpty()) continue;
            if (k == 7 && !n.opType().equals("LSTM")) continue;
            Tensor c = init.get(n.inputs().get(k));
            if (c == null || c.dtype() != DType.FLOAT32 || c.rank() != 2 || c.shape().dim(0) != 1 || c.elementCount() != rows[k]) return null;
        }
        if (seq < 1 || hidden < 2 * HIDDEN_UNIT) return null;
        if (seq > 1 && (batch * hidden) % ELEMENT_UNIT != 0 && !n.outputs().getFirst().isEmpty()) return null;
        long maxBlocks = Math.min(MAX_TILES, MAX_UNIT_TILES / seq);
        if (maxBlocks < 2) return null;
        long minBlock = ceilDiv(Math.max(HIDDEN_UNIT, ceilDiv(hidden, maxBlocks)), HIDDEN_UNIT) * HIDDEN_UNIT;
        if (minBlock >= hidden) return null;
        return new Units(seq, batch, in, hidden, gates, minBlock);
    }

    /** Bytes of the blocks of W, R, B and P a hidden-unit tile of {@code block} units reads. */
    static long unitBlockBytes(Node n, Units u, long block) {
        long s = Tensor.blockBytes(u.gates * block * u.in * Float.BYTES) + Tensor.blockBytes(u.gates * block * u.hidden * Float.BYTES);
        if (n.inputs().size() > 3 && !n.inputs().get(3).isEmpty()) s += Tensor.blockBytes(2L * u.gates * block * Float.BYTES);
        if (n.opType().equals("LSTM") && n.inputs().size() > 7 && !n.inputs().get(7).isEmpty()) s += Tensor.blockBytes(3 * block * Float.BYTES);
        return s;
    }

    /**
     * The inputs of a hidden-unit split node that every tile reads whole (sequence_lens, the initial states):
     * not X, not the gate inputs; each value once.
     */
    static java.util.Set<String> unitConstants(Node n) {
        java.util.Set<String> c = new java.util.LinkedHashSet<>();
        String x = n.inputs().getFirst();
        for (int k = 1; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (!v.isEmpty() && !v.equals(x) && !Tile.GATE_INPUTS.contains(k)) c.add(v);
        }
        for (int k : Tile.GATE_INPUTS) if (k < n.inputs().size()) c.remove(n.inputs().get(k));
        return c;
    }

    /**
     * What a hidden-unit tile of {@code block} units holds beside the node's whole Y and constants: one step of X,
     * the state buffers (the previous step's, read, and this step's, filled block by block; a single step holds
     * only its own, and the last step only the final states someone reads) and the widest block of gate rows.
     */
    static long unitVariableBytes(Graph g, Node n, Units u, long block) {
        int states = Tile.stateCount(n);
        long sb = Tensor.blockBytes(u.batch * u.hidden * Float.BYTES);
        long finals = 0;
        for (int s = 0; s < states; s++) {
            String o = n.outputs().size() > 1 + s ? n.outputs().get(1 + s) : "";
            if (!o.isEmpty()) finals += bytes(g, o);
        }
        long held = 0;
        for (long t : new long[] {0, 1, u.seq - 2, u.seq - 1}) {
            if (t < 0 || t >= u.seq) continue;
            held = Math.max(held, (t > 0 ? states * sb : 0) + (t < u.seq - 1 ? states * sb : finals));
        }
        return Tensor.blockBytes(u.batch * u.in * Float.BYTES) + held + unitBlockBytes(n, u, block);
    }

    /** All a hidden-unit tile of {@code block} units needs at once: Y and the constants whole, and the variable part. */
    static long unitNeed(Graph g, Node n, Units u, long block) {
        long s = unitVariableBytes(g, n, u, block);
        if (!n.outputs().getFirst().isEmpty()) s += bytes(g, n.outputs().getFirst());
        for (String v : unitConstants(n)) s += bytes(g, v);
        return s;
    }

    /**
     * Splits a recurrent node by steps and blocks of hidden units ({@link Tile.Kind#HIDDEN_UNITS}) when the unit
     * split needs less than the time-step split (whose tiles hold the whole gate weights) and that one does not
     * fit: a one-step node when it needs more than {@code target} (its weights are copied once either way, block
     * by block, each copy overlapping the previous block's kernel), a longer one only when it needs more than the
     * whole {@code budget} (its unit tiles copy every block of weights again at every step). The block is the
     * widest (a multiple of {@link #HIDDEN_UNIT} units) whose tile fits the target, else the narrowest. Adds each
     * block's W / R / B / P rows to {@code initializers}. Null to leave the node to the time-step split.
     */
    private static Split unitSplit(Graph g, Node n, int node, long target, long budget, long whole, Map<String, Tensor> initializers,
                                   TilingOptions o) {
        Units u = o.units() ? units(g, n) : null;
        if (u == null) return null;
        long stepMin = smallestNeed(g, n, whole, o);
        long unitMin = unitNeed(g, n, u, u.minBlock);
        if (stepMin <= (u.seq == 1 ? target : budget) || unitMin >= stepMin) return null;
        long block = u.minBlock;
        for (long b = (u.hidden - 1) / HIDDEN_UNIT * HIDDEN_UNIT; b > u.minBlock; b -= HIDDEN_UNIT) {
            if (unitNeed(g, n, u, b) <= target) { block = b; break; }
        }
        boolean reverse = n.attributes().getString("direction", "forward").equals("reverse");
        long blocks = ceilDiv(u.hidden, block);
        int count = Math.toIntExact(u.seq * blocks);
        List<Tile> tiles = new ArrayList<>();
        for (long s = 0; s < u.seq; s++) {
            long t = reverse ? u.seq - 1 - s : s;
            for (long j = 0; j < u.hidden; j += block) {
                tiles.add(new Tile(Tile.Kind.HIDDEN_UNITS, tiles.size(), count, t * u.hidden + j,
                    t * u.hidden + Math.min(u.hidden, j + block), u.seq * u.hidden));
            }
        }
        List<String> names = new ArrayList<>();
        Map<String, Tensor> init = g.initializers();
        int[] groups = {0, u.gates, u.gates, 2 * u.gates, 0, 0, 0, 3};
        for (long j = 0; j < u.hidden; j += block) {
            long j1 = Math.min(u.hidden, j + block);
            for (int k : Tile.GATE_INPUTS) {
                if (k >= n.inputs().size() || n.inputs().get(k).isEmpty() || (k == 7 && !n.opType().equals("LSTM"))) continue;
                Tensor w = init.get(n.inputs().get(k));
                String name = Tile.unitBlock(n.inputs().get(k), node, j);
                initializers.put(name, gateRows(w, groups[k], u.hidden, j, j1));
                names.add(name);
            }
        }
        return new Split(-1, -1, tiles, names, List.of(), 0, List.of(0));
    }

    /**
     * Rows [j0, j1) of each of {@code groups} groups of {@code hidden} rows of a gate input (W / R
     * {@code [1, groups·hidden, k]}, B {@code [1, groups·hidden]}, P {@code [1, groups·hidden]}), in order, as a
     * tensor of its own with the same rank and {@code groups·(j1 - j0)} rows.
     */
    static Tensor gateRows(Tensor w, int groups, long hidden, long j0, long j1) {
        long rowBytes = w.byteSize() / (groups * hidden);
        long[] dims = w.shape().dims().clone();
        dims[1] = groups * (j1 - j0);
        Tensor r = Tensor.allocate(w.dtype(), Shape.of(dims));
        long run = (j1 - j0) * rowBytes;
        for (int q = 0; q < groups; q++) MemorySegment.copy(w.data(), (q * hidden + j0) * rowBytes, r.data(), q * run, run);
        return r;
    }

    /** Bytes of the node's inputs other than the split weight and bias (each value once): what every tile reads whole. */
    private static long otherInputs(Graph g, Node n, int weight, int bias) {
        long s = 0;
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int k = 0; k < n.inputs().size(); k++) {
            String v = n.inputs().get(k);
            if (k != weight && k != bias && !v.isEmpty() && seen.add(v)) s += bytes(g, v);
        }
        return s;
    }

    private static long bytes(Graph g, String v) {
        Tensor c = g.initializers().get(v);
        if (c != null) return Tensor.blockBytes(c.byteSize());
        var t = g.typeOf(v);
        if (!t.isStatic()) return Long.MAX_VALUE / 8; // refused later with the value's name
        return Tensor.blockBytes(Tensor.byteSize(t.dtype(), t.shape().toShape()));
    }

    /** Bytes a tile of {@code units} units of the form needs on the device at once. */
    private static long tileNeed(Form f, long units) {
        long rows = units;
        long block = f.blocks * Tensor.blockBytes(rows * f.bytesPerUnit) + (f.biasInput >= 0 ? Tensor.ALIGNMENT * 2 : 0);
        long scratch = f.scratchPerUnit == 0 ? 0 : Tensor.blockBytes(rows * f.scratchPerUnit);
        return f.fixedBytes + block + scratch;
    }

    /** The least a node needs at once when split as finely as allowed; {@code whole} when it cannot be split. */
    static long smallestNeed(Graph g, Node n, long whole, TilingOptions o) {
        return Math.min(smallestBlockNeed(g, n, whole, o), o.rows() ? RowBands.smallestNeed(g, n) : Long.MAX_VALUE);
    }

    /** The same without row bands: split by blocks of its weight or by element ranges. */
    private static long smallestBlockNeed(Graph g, Node n, long whole, TilingOptions o) {
        Form f = form(g, n, o);
        if (f == null) return whole;
        long units = Math.max(f.unit, ceilDiv(f.total, MAX_TILES));
        units = ceilDiv(units, f.unit) * f.unit;
        return Math.min(whole, tileNeed(f, widest(f, units)));
    }

    /** {@link #smallestNeed}, also counting a recurrent node's hidden-unit tiles ({@link #unitSplit}). */
    static long smallestNeedOf(Graph g, Node n, long whole, TilingOptions o) {
        if (!o.tiles()) return whole;
        long m = Math.min(withoutBoxes(g, n, whole, o), o.boxes() ? BoxTiles.smallestNeed(g, n) : Long.MAX_VALUE);
        return m;
    }

    /** The least a node needs at once with every split but output boxes. */
    static long withoutBoxes(Graph g, Node n, long whole, TilingOptions o) {
        if (!o.tiles()) return whole;
        long m = smallestNeed(g, n, whole, o);
        Units u = o.units() && Tile.recurrent(n) ? units(g, n) : null;
        return u == null ? m : Math.min(m, unitNeed(g, n, u, u.minBlock));
    }

    /**
     * Splits, on devices with a budget, every node that needs more than a quarter of its budget when a
     * split brings it under; returns the splits by node index and adds the blocks to {@code initializers}.
     */
    static Map<Integer, Split> plan(Graph g, int[] placement, List<DeviceSpec> devices, Map<String, Long> wholeNeed,
                                    Map<String, Tensor> initializers, TilingOptions o) {
        Map<Integer, Split> splits = new HashMap<>();
        if (!o.tiles()) return splits; // for comparisons: the same plan without tiles
        for (int i = 0; i < g.nodes().size(); i++) {
            DeviceSpec d = devices.get(placement[i]);
            if (d.kind().sharesHostMemory()) continue;
            Node n = g.nodes().get(i);
            long target = d.budgetBytes() / 4;
            long whole = wholeNeed.get(n.label());
            // Output boxes, the last resort: only where no other split brings the node within the device.
            long capacity = d.budgetBytes() / Tensor.ALIGNMENT * Tensor.ALIGNMENT;
            long others = withoutBoxes(g, n, whole, o);
            if (o.boxes() && others > capacity) {
                BoxTiles.Plan p = BoxTiles.plan(g, n, target, o.gridByBytes());
                if (p != null && p.need() < others) { splits.put(i, Split.of(p)); continue; }
            }
            Split rows = rowSplit(g, n, d, whole, o);
            if (rows != null) {
                // Output boxes instead where they copy in fewer bytes than the bands with their halos (a tall window
                // over few rows: each band of a 5x5 depthwise conv on a 6-row image reads most of its input again).
                BoxTiles.Plan p = o.boxes() ? BoxTiles.plan(g, n, target, o.gridByBytes()) : null;
                if (p != null && p.need() <= target && p.need() <= RowBands.need(RowBands.form(g, n), bandEdges(rows))
                    && boxGathered(g, n, p) < RowBands.gathered(RowBands.form(g, n), bandEdges(rows))) {
                    splits.put(i, Split.of(p));
                } else splits.put(i, rows);
                continue;
            }
            if (whole <= target) continue;
            if (Tile.recurrent(n)) {
                Split u = unitSplit(g, n, i, target, d.budgetBytes(), whole, initializers, o);
                if (u != null) { splits.put(i, u); continue; }
            }
            Form f = form(g, n, o);
            if (f == null) continue;
            // The largest block (in units) whose tile fits the target; at least one unit, at most MAX_TILES tiles.
            long per = tileNeed(f, f.unit) - f.fixedBytes;
            long room = target - f.fixedBytes;
            long units = room <= per ? f.unit : Math.max(f.unit, room / Math.max(1, per / f.unit) / f.unit * f.unit);
            units = Math.max(units, ceilDiv(ceilDiv(f.total, MAX_TILES), f.unit) * f.unit);
            if (units >= f.total) continue;
            // A split whose tile needs no less than the whole node (a small weight beside its scratch) only adds tasks.
            if (tileNeed(f, widest(f, units)) >= whole) continue;
            splits.put(i, split(g, n, i, f, units, initializers));
        }
        return splits;
    }

    /** Bytes a box split copies in: its boxes (a box shared by consecutive tiles once) and the inputs it reads whole, once. */
    private static long boxGathered(Graph g, Node n, BoxTiles.Plan p) {
        long s = BoxTiles.gathered(g, p.tiling(), p.boxes(), n.outputs().getFirst());
        java.util.Set<String> sliced = new java.util.HashSet<>();
        for (Box b : p.boxes()) sliced.addAll(p.tiling().boxes(b).keySet());
        for (String v : BuildState.distinctInputs(n)) if (!sliced.contains(v)) s += BoxTiles.bytes(g, v);
        return s;
    }

    /** The band edges of a row split: every tile's first row, then the height. */
    private static long[] bandEdges(Split rows) {
        List<Tile> t = rows.tiles();
        long[] e = new long[t.size() + 1];
        for (int k = 0; k < t.size(); k++) e[k] = t.get(k).start();
        e[t.size()] = t.getLast().end();
        return e;
    }

    /**
     * A split into bands of output rows ({@link RowBands}) when the node does not fit the device otherwise,
     * even with its weight split or its elements ranged. Row bands move its activations through host memory
     * (gathered and scattered band by band, about twice its activations' bytes over the links), so they are a
     * last resort, not a way to win overlap; except that a conv whose channel tiles need more than three
     * quarters of the device is split by rows too: its tiles hold the whole input and output beside a weight
     * block and a scratch block, four pieces that a nearly full arena may not have room for one by one even
     * when their sum fits. Bands are as tall as keeps a band's need within a quarter of the budget. Null when
     * the node fits, has no row split, or bands would not need less.
     */
    private static Split rowSplit(Graph g, Node n, DeviceSpec d, long whole, TilingOptions o) {
        if (!o.rows()) return null;
        long capacity = d.budgetBytes() / Tensor.ALIGNMENT * Tensor.ALIGNMENT;
        long other = smallestBlockNeed(g, n, whole, o);
        Form block = form(g, n, o);
        boolean channels = block != null && block.kind() == Tile.Kind.OUTPUT_CHANNELS;
        if (other <= (channels ? capacity / 4 * 3 : capacity)) return null;
        RowBands.Form f = RowBands.form(g, n);
        if (f == null || RowBands.narrowest(f) >= f.rows()) return null;
        long[] e = RowBands.edges(f, RowBands.bandRows(f, d.budgetBytes() / 4));
        if (RowBands.need(f, e) >= other) return null;
        List<Tile> tiles = new ArrayList<>();
        for (int t = 0; t + 1 < e.length; t++) tiles.add(new Tile(Tile.Kind.OUTPUT_ROWS, t, e.length - 1, e[t], e[t + 1], f.rows()));
        List<Integer> banded = f.bands().stream().map(RowBands.Band::input).toList();
        return new Split(-1, -1, tiles, List.of(), List.of(), 0, banded);
    }

    /**
     * Where the tiles of {@code units} units start, then {@code total}: every {@code units} from 0, except
     * that a product of more than one row never gets a last column tile one column wide. Gemm32 computes an
     * n = 1 product as matrix-vector dots, which sum each output over K in another order (vector-lane
     * partial sums) than the blocked kernel that computes that column of the whole node (one FMA chain per
     * element, the same whatever the column's offset), so its bits would differ. That column goes to the
     * first tile instead, which is then the widest, so that every later block fits the hole the first one
     * leaves. (With one row both sides take the matrix-vector path, where a vector tail sits on the same
     * columns only if tiles start at multiples of the unit, as they do then.)
     */
    static long[] edges(Form f, long units) {
        int count = (int) ceilDiv(f.total, units);
        // Output channels: never one channel (an m = 1 GEMM), whatever the other side's size.
        boolean oneWide = f.kind == Tile.Kind.OUTPUT_COLUMNS ? f.rows > 1 : f.kind == Tile.Kind.OUTPUT_CHANNELS;
        boolean widenFirst = oneWide && count > 1 && f.total - (count - 1) * units == 1;
        long[] e = new long[(widenFirst ? count - 1 : count) + 1];
        for (int t = 1; t < e.length - 1; t++) e[t] = t * units + (widenFirst ? 1 : 0);
        e[e.length - 1] = f.total;
        return e;
    }

    /** The widest tile of {@link #edges}. */
    static long widest(Form f, long units) {
        long[] e = edges(f, units);
        long w = 0;
        for (int t = 0; t + 1 < e.length; t++) w = Math.max(w, e[t + 1] - e[t]);
        return w;
    }

    private static Split split(Graph g, Node n, int node, Form f, long units, Map<String, Tensor> initializers) {
        long[] edges = edges(f, units);
        int count = edges.length - 1;
        List<Tile> tiles = new ArrayList<>();
        List<String> wb = new ArrayList<>(), bb = new ArrayList<>();
        if (f.kind == Tile.Kind.ELEMENTS) {
            for (int t = 0; t < count; t++) tiles.add(new Tile(f.kind, t, count, edges[t], edges[t + 1], f.total));
            return new Split(-1, -1, tiles, wb, bb, 0, f.ranged);
        }
        if (f.kind == Tile.Kind.TIME_STEPS) {
            // A reverse node runs its last steps first: tile index is the order of execution.
            boolean reverse = n.attributes().getString("direction", "forward").equals("reverse");
            for (int t = 0; t < count; t++) {
                int r = reverse ? count - 1 - t : t;
                tiles.add(new Tile(f.kind, t, count, edges[r], edges[r + 1], f.total));
            }
            return new Split(-1, -1, tiles, wb, bb, 0, f.ranged);
        }
        Tensor w = g.initializers().get(n.inputs().get(f.weightInput));
        boolean transB = n.opType().equals("Gemm") && n.attributes().getInt("transB", 0) != 0;
        for (int t = 0; t < count; t++) {
            long s = edges[t], e = edges[t + 1];
            tiles.add(new Tile(f.kind, t, count, s, e, f.total));
            String name = n.inputs().get(f.weightInput) + "#tile" + node + "." + t;
            initializers.put(name, f.kind != Tile.Kind.OUTPUT_COLUMNS || transB ? rows(w, s, e) : columns(w, s, e));
            wb.add(name);
            if (f.biasInput >= 0) {
                Tensor c = g.initializers().get(n.inputs().get(f.biasInput));
                String bn = n.inputs().get(f.biasInput) + "#tile" + node + "." + t;
                initializers.put(bn, columns(c.reshaped(Shape.of(1, f.total)), s, e).reshaped(Shape.of(e - s)));
                bb.add(bn);
            }
        }
        long scratch = f.scratchPerUnit == 0 ? 0 : Tensor.blockBytes(widest(f, units) * f.scratchPerUnit);
        return new Split(f.weightInput, f.biasInput, tiles, wb, bb, scratch, List.of());
    }

    /** Rows [s, e) of w along axis 0, as a tensor of its own. */
    static Tensor rows(Tensor w, long s, long e) {
        long[] dims = w.shape().dims().clone();
        long rowBytes = w.byteSize() / dims[0];
        dims[0] = e - s;
        Tensor r = Tensor.allocate(w.dtype(), Shape.of(dims));
        MemorySegment.copy(w.data(), s * rowBytes, r.data(), 0, (e - s) * rowBytes);
        return r;
    }

    /** Columns [s, e) of a 2-D w, as a tensor of its own. */
    static Tensor columns(Tensor w, long s, long e) {
        long rows = w.shape().dim(0), cols = w.shape().dim(1), es = w.dtype().byteSize();
        Tensor r = Tensor.allocate(w.dtype(), Shape.of(rows, e - s));
        for (long i = 0; i < rows; i++) MemorySegment.copy(w.data(), (i * cols + s) * es, r.data(), i * (e - s) * es, (e - s) * es);
        return r;
    }

    private static long ceilDiv(long a, long b) { return (a + b - 1) / b; }

    private static long gcd(long a, long b) { return b == 0 ? a : gcd(b, a % b); }

    private static long lcm(long a, long b) { return a / gcd(a, b) * b; }

    static Map<String, Tensor> withBlocks(Graph g) { return new LinkedHashMap<>(g.initializers()); }
}
