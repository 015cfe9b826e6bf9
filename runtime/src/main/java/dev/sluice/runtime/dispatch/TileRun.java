package dev.sluice.runtime.dispatch;

import dev.sluice.graph.Node;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.memgraph.Box;
import dev.sluice.memgraph.OpTiling;
import dev.sluice.memgraph.RowBands;
import dev.sluice.memgraph.Task;
import dev.sluice.memgraph.Tile;
import java.util.EnumMap;
import java.util.Map;

/**
 * How a kernel task runs, by the kind of its tile ({@link Tile.Kind}; a task without a tile runs its whole node):
 * what it places and publishes, which node form its kernel runs, how that kernel sees its inputs and where its
 * outputs go. One implementation per kind, chosen once by {@link #of}; the executor holds no per-kind branch.
 * Invariants: a task reads its input buffers once each and marks each output buffer written exactly once (tiles that
 * write one output together: the first places it, the last publishes it), so buffer release matches the plan.
 */
sealed interface TileRun {
    void execute(MemGraphRun r, Task.Kernel k);

    /** How the kernel sees input i, whose buffer holds {@code t}. */
    default Tensor input(TaskCall c, int i, Tensor t) { return t; }

    /** Where the kernel's output i goes. */
    default Tensor allocate(TaskCall c, int i, DType dtype, Shape shape) { return c.inPlannedBuffer(i, dtype, shape); }

    /** The behaviour of a task with this tile (null: the whole node). */
    static TileRun of(Tile tile) { return tile == null ? Whole.RUN : ByKind.RUNS.get(tile.kind()); }

    /** One instance per kind (they hold no state), each kind mapped once. */
    final class ByKind {
        private ByKind() {}

        static final Map<Tile.Kind, TileRun> RUNS = new EnumMap<>(Tile.Kind.class);

        static {
            for (Tile.Kind k : Tile.Kind.values()) {
                RUNS.put(k, switch (k) {
                    case GATHER_ROWS -> new GatherRows();
                    case OUTPUT_COLUMNS -> new Columns();
                    case OUTPUT_CHANNELS -> new Channels();
                    case ELEMENTS -> new Elements();
                    case TIME_STEPS -> new Steps();
                    case HIDDEN_UNITS -> new Units();
                    case OUTPUT_ROWS -> new Rows();
                    case OUTPUT_BOX -> new Boxes();
                });
            }
        }
    }

    /** The whole node: its kernel into its planned output buffers, each published as it is written. */
    record Whole() implements TileRun {
        static final Whole RUN = new Whole();

        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            Node n = r.node(k);
            TaskCall c = r.runKernel(n, k);
            for (int i = 0; i < k.outputs().size(); i++) {
                int b = k.outputs().get(i);
                if (b < 0) continue;
                if (c.outputs()[i] == null) throw new KernelException("kernel did not produce output " + i + " ('" + n.outputs().get(i) + "')");
                r.buf[b] = c.outputs()[i];
                r.doneWriting(b);
            }
            r.doneReadingInputs(k);
        }
    }

    /**
     * The frame of tiles that write one whole output buffer together: the first places it (zeroed), {@code body}
     * writes the tile's share, the last publishes it to the output's readers.
     */
    private static void intoWhole(MemGraphRun r, Task.Kernel k, java.util.function.BiConsumer<Node, Tensor> body) {
        Node n = r.node(k);
        Tile tile = k.tile();
        int ob = k.outputs().getFirst();
        TensorType type = r.plan.graph().typeOf(n.outputs().getFirst());
        if (tile.index() == 0) r.buf[ob] = r.allocate(ob, type.dtype(), type.shape().toShape());
        body.accept(n, r.buf[ob]);
        r.doneReadingInputs(k);
        if (tile.index() == tile.count() - 1) r.doneWriting(ob);
    }

    /** Gather over a block of table rows: copies the output rows whose index falls in it; checks every index once. */
    record GatherRows() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            intoWhole(r, k, (n, out) -> {
                Tile tile = k.tile();
                Tensor block = r.buf[k.inputs().get(0)], indices = r.buf[k.inputs().get(1)];
                long rows = tile.total();
                long rowBytes = block.byteSize() / Math.max(1, tile.end() - tile.start());
                for (long p = 0; p < indices.elementCount(); p++) {
                    long idx = indices.getLong(p);
                    if (idx < -rows || idx >= rows) {
                        throw new KernelException("index " + idx + " at position " + p + " is out of range [" + -rows + ", " + rows + ")");
                    }
                    if (idx < 0) idx += rows;
                    if (idx < tile.start() || idx >= tile.end()) continue;
                    java.lang.foreign.MemorySegment.copy(block.data(), (idx - tile.start()) * rowBytes, out.data(), p * rowBytes, rowBytes);
                }
            });
        }
    }

    /** A weight-block tile computes its share into the task's scratch block; its kind copies that into the output. */
    private static Tensor intoScratch(TaskCall c, DType dtype, Shape shape) {
        int b = c.task.scratch();
        return b < 0 ? Tensor.allocate(dtype, shape) : c.run.allocate(b, dtype, shape);
    }

    /** The node's kernel on a block of the weight's columns (MatMul / Gemm), copied into those output columns. */
    record Columns() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            intoWhole(r, k, (n, out) -> {
                Tensor part = r.runKernel(n, k).outputs()[0];
                if (part == null) throw new KernelException("kernel did not produce its output");
                Tile tile = k.tile();
                long cols = tile.end() - tile.start(), es = out.dtype().byteSize();
                long rows = part.elementCount() / cols;
                for (long row = 0; row < rows; row++) {
                    java.lang.foreign.MemorySegment.copy(part.data(), row * cols * es, out.data(), (row * tile.total() + tile.start()) * es, cols * es);
                }
                r.release(k.scratch());
            });
        }

        @Override public Tensor allocate(TaskCall c, int i, DType dtype, Shape shape) { return intoScratch(c, dtype, shape); }
    }

    /** The node's kernel on a block of output channels (Conv), copied into those channels of every batch item. */
    record Channels() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            intoWhole(r, k, (n, out) -> {
                Tensor part = r.runKernel(n, k).outputs()[0];
                if (part == null) throw new KernelException("kernel did not produce its output");
                Tile tile = k.tile();
                long cols = tile.end() - tile.start(), es = out.dtype().byteSize();
                // NCHW: per batch item, channels [start, end) are one contiguous run of the output
                long batch = out.shape().dim(0), run = part.elementCount() / batch, inner = run / cols;
                for (long b = 0; b < batch; b++) {
                    java.lang.foreign.MemorySegment.copy(part.data(), b * run * es, out.data(), (b * tile.total() + tile.start()) * inner * es, run * es);
                }
                r.release(k.scratch());
            });
        }

        @Override public Tensor allocate(TaskCall c, int i, DType dtype, Shape shape) { return intoScratch(c, dtype, shape); }
    }

    /**
     * An element range of a same-shape elementwise node: inputs are views of resident values' ranges or range copies,
     * the output a view of its range of the whole output.
     */
    record Elements() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            intoWhole(r, k, (n, out) -> {
                if (r.runKernel(n, k).outputs()[0] == null) throw new KernelException("kernel did not produce its output");
            });
        }

        @Override public Tensor input(TaskCall c, int i, Tensor t) {
            if (c.graph().initializers().get(c.node().inputs().get(i)) == t) return t;
            Tile tile = c.task.tile();
            Shape shape = tileShape(c, tile);
            // A whole resident activation: this tile's range of it, in place; a range copy: seen with the tile's shape.
            if (t.elementCount() == tile.total()) return c.run.view(c.task.inputs().get(i), t.dtype(), tile.start(), shape);
            if (t.elementCount() == shape.elementCount() && !t.shape().equals(shape)) return t.reshaped(shape);
            return t;
        }

        @Override public Tensor allocate(TaskCall c, int i, DType dtype, Shape shape) {
            Tile tile = c.task.tile();
            // An elementwise tile writes its range of the whole output in place.
            if (shape.elementCount() != tile.end() - tile.start()) {
                throw new KernelException("elementwise tile of " + (tile.end() - tile.start()) + " elements produced " + shape);
            }
            return c.run.view(c.task.outputs().get(i), dtype, tile.start(), shape);
        }

        /**
         * The shape an elementwise tile's ranges are seen with: flat, or for a row-wise op (Softmax over the last
         * axis) whole rows with the node's rank, so that its axis still names the rows.
         */
        private static Shape tileShape(TaskCall c, Tile tile) {
            long len = tile.end() - tile.start();
            long row = Tile.rowLength(c.graph(), c.node());
            if (row <= 0) return Shape.of(len);
            int rank = c.graph().typeOf(c.node().outputs().getFirst()).shape().toShape().rank();
            long[] dims = new long[rank];
            java.util.Arrays.fill(dims, 1);
            dims[0] = len / row;
            dims[rank - 1] = row;
            return Shape.of(dims);
        }
    }

    /**
     * A time-step tile's view of its inputs: X's steps [start, end) (in place when X is resident whole, else the
     * range copy), sequence_lens shifted to the tile's first step; the rest (weights, the state handed in) as they are.
     */
    private static Tensor stepInput(TaskCall c, int i, Tensor t, Tile tile) {
        long steps = tile.end() - tile.start();
        if (i == 0) {
            Shape xs = c.graph().typeOf(c.graph().nodes().get(c.task.node()).inputs().getFirst()).shape().toShape();
            long row = xs.dim(1) * xs.dim(2);
            Shape shape = Shape.of(steps, xs.dim(1), xs.dim(2));
            if (t.elementCount() == xs.elementCount()) return c.run.view(c.task.inputs().getFirst(), t.dtype(), tile.start() * row, shape);
            if (t.elementCount() != shape.elementCount()) throw new KernelException("range of X has " + t.elementCount() + " elements for " + shape);
            return t.reshaped(shape);
        }
        if (i == 4) {
            long[] lens = new long[Math.toIntExact(t.elementCount())];
            for (int b = 0; b < lens.length; b++) lens[b] = Math.clamp(t.getLong(b) - tile.start(), 0, steps);
            return Tensor.ofLongs(Shape.of(lens.length), lens);
        }
        return t;
    }

    /** The first tile of a recurrent node places its whole Y (zeroed: steps past a sequence length stay 0). */
    private static void placeY(MemGraphRun r, Task.Kernel k, Node n) {
        int yb = k.outputs().getFirst();
        if (k.tile().index() == 0 && yb >= 0) {
            TensorType type = r.plan.graph().typeOf(n.outputs().getFirst());
            r.buf[yb] = r.allocate(yb, type.dtype(), type.shape().toShape());
        }
    }

    /** The last tile of a recurrent node publishes Y. */
    private static void publishY(MemGraphRun r, Task.Kernel k) {
        int yb = k.outputs().getFirst();
        if (k.tile().index() == k.tile().count() - 1 && yb >= 0) r.doneWriting(yb);
    }

    /**
     * A time-step tile of a recurrent node: the node's kernel as {@link Tile#stepNode} on the tile's steps; the state
     * outputs are published at once to the next tile.
     */
    record Steps() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            Node n = r.node(k);
            placeY(r, k, n);
            TaskCall c = r.runKernel(Tile.stepNode(n), k);
            for (int i = 1; i < k.outputs().size(); i++) {
                int b = k.outputs().get(i);
                if (b < 0) continue;
                if (c.outputs()[i] == null) throw new KernelException("kernel did not produce state output " + i);
                r.buf[b] = c.outputs()[i];
                r.doneWriting(b);
            }
            r.doneReadingInputs(k);
            publishY(r, k);
        }

        @Override public Tensor input(TaskCall c, int i, Tensor t) { return stepInput(c, i, t, c.task.tile()); }

        @Override public Tensor allocate(TaskCall c, int i, DType dtype, Shape shape) {
            Tile tile = c.task.tile();
            if (i == 0 && c.task.outputs().getFirst() >= 0) {
                // Y's steps [start, end), in place ([seq, 1, batch, hidden]: one contiguous run per step range).
                long perStep = shape.elementCount() / (tile.end() - tile.start());
                if (shape.rank() != 4 || shape.dim(0) != tile.end() - tile.start()) throw new KernelException("time-step tile produced Y " + shape);
                return c.run.view(c.task.outputs().getFirst(), dtype, tile.start() * perStep, shape);
            }
            return c.inPlannedBuffer(i, dtype, shape);
        }
    }

    /**
     * A hidden-unit tile of a recurrent node: the sluice-domain block form of the op ({@link Tile#unitNode}) on one
     * step, reading the whole state of the previous step and writing its units' columns of Y's step (a view) and of
     * the step's state buffers, placed by the step's first block and published by its last.
     */
    record Units() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            Node n = r.node(k);
            Tile tile = k.tile();
            long hidden = Tile.hidden(r.plan.graph(), n);
            placeY(r, k, n);
            TaskCall c = r.runKernel(Tile.unitNode(n, hidden, tile, k.node()), k);
            boolean endOfStep = Tile.unitStart(tile, hidden) + tile.end() - tile.start() == hidden;
            for (int i = 1; i < k.outputs().size(); i++) {
                int b = k.outputs().get(i);
                if (b < 0) continue;
                if (c.outputs()[i] == null || c.outputs()[i] != r.buf[b]) throw new KernelException("kernel did not fill state output " + i + " in place");
                if (endOfStep) r.doneWriting(b);
            }
            r.doneReadingInputs(k);
            publishY(r, k);
        }

        /** Inputs as for a time-step tile of the one step, except the gate rows (blocks, read as they are). */
        @Override public Tensor input(TaskCall c, int i, Tensor t) {
            Tile tile = c.task.tile();
            long step = Tile.unitStep(tile, Tile.hidden(c.graph(), c.graph().nodes().get(c.task.node())));
            return stepInput(c, i, t, new Tile(Tile.Kind.TIME_STEPS, 0, 1, step, step + 1, tile.total()));
        }

        /**
         * Written column block by column block: Y's step in place (a view of the whole Y, [1, 1, batch, hidden]); a
         * state buffer placed (zeroed) by the step's first block and handed as it is to the later blocks of the step;
         * an unread final state in a buffer of its own.
         */
        @Override public Tensor allocate(TaskCall c, int i, DType dtype, Shape shape) {
            Tile tile = c.task.tile();
            int b = c.task.outputs().get(i);
            if (b < 0) return Tensor.allocate(dtype, shape);
            long hidden = Tile.hidden(c.graph(), c.graph().nodes().get(c.task.node()));
            if (i == 0) {
                if (shape.rank() != 4 || shape.dim(0) != 1) throw new KernelException("hidden-unit tile produced Y " + shape);
                return c.run.view(b, dtype, Tile.unitStep(tile, hidden) * shape.elementCount(), shape);
            }
            if (Tile.unitStart(tile, hidden) == 0) {
                c.run.buf[b] = c.run.allocate(b, dtype, shape);
                return c.run.buf[b];
            }
            Tensor t = c.run.buf[b];
            if (t == null || !t.shape().equals(shape) || t.dtype() != dtype) throw new KernelException("state output " + i + " of the step is not placed as " + dtype + shape);
            return t;
        }
    }

    /** A band of output rows (see {@link RowBands}): the node's kernel with the band's pads into its own band buffer. */
    record Rows() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            Node n = RowBands.tileNode(r.plan.graph(), r.node(k), k.tile());
            Tensor part = r.runKernel(n, k).outputs()[0];
            if (part == null) throw new KernelException("kernel did not produce its output");
            long rows = k.tile().end() - k.tile().start();
            if (part.rank() < 3 || part.shape().dim(part.rank() - 2) != rows) {
                throw new KernelException("band of " + rows + " rows of " + n.label() + " came out as " + part.shape());
            }
            int ob = k.outputs().getFirst();
            r.buf[ob] = part;
            r.doneWriting(ob);
            r.doneReadingInputs(k);
        }
    }

    /** A box of a node's output: the node its op family's tiling runs for the box, into the tile's box buffer. */
    record Boxes() implements TileRun {
        @Override public void execute(MemGraphRun r, Task.Kernel k) {
            OpTiling tiling = r.ex.tilingOf(k.node());
            if (tiling == null) throw new SluiceException("node " + r.node(k).label() + " has no box tiling");
            Node n = tiling.node(k.tile().box());
            // a tile's box may span K too (ReductionCut): what it writes is the box of the output alone
            Box box = tiling.outputBox(k.tile().box());
            Tensor part = r.runKernel(n, k).outputs()[0];
            if (part == null) throw new KernelException("kernel did not produce its output");
            if (part.elementCount() != box.elementCount()) {
                throw new KernelException("tile " + box + " of " + n.label() + " came out as " + part.shape() + ", not " + box.extents());
            }
            int ob = k.outputs().getFirst();
            r.buf[ob] = part;
            r.doneWriting(ob);
            r.doneReadingInputs(k);
        }
    }
}
