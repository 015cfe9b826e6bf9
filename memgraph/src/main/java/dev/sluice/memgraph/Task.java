package dev.sluice.memgraph;

import dev.sluice.kernels.device.LaneKind;
import java.util.List;

/** A unit of a memory graph, run on one lane kind of one device. Tasks are numbered in a topological order. */
public sealed interface Task permits Task.Kernel, Task.Transfer, Task.Offload, Task.Reload {
    int id();

    /** Index into {@link MemGraph#devices()} of the device whose lane runs it. */
    int device();

    LaneKind lane();

    /** For traces and errors, e.g. {@code kernel 'mm1' (MatMul)} or {@code reload w3}. */
    String label();

    /** Bytes copied (0 for a kernel). */
    default long bytes() { return 0; }

    /**
     * Runs graph node {@code node}. {@code inputs} and {@code outputs} are buffer ids aligned with the node's
     * inputs and outputs (-1 where the name is empty); {@code captured} with the names its subgraphs read
     * from this scope ({@link MemGraph#capturedNames}). {@code tile}: the part of the node this task computes,
     * null for all of it; then {@code inputs} name the tile's weight block in place of the weight, and
     * {@code scratch} (-1 if none) is a device block the task uses and frees before it ends.
     */
    record Kernel(int id, int device, int node, String label, List<Integer> inputs, List<Integer> captured,
                  List<Integer> outputs, Tile tile, int scratch) implements Task {
        public Kernel {
            inputs = List.copyOf(inputs);
            captured = List.copyOf(captured);
            outputs = List.copyOf(outputs);
        }

        @Override public LaneKind lane() { return LaneKind.COMPUTE; }
    }

    /**
     * A first copy: a weight or graph input onto a device (H2D), or a result or cross-device value to the host (D2H).
     * With {@code end > 0}, only elements {@code [start, end)} of {@code src} (flat) are copied, into a 1-D
     * {@code dst} of {@code end - start} elements (an elementwise tile's range, see {@link Tile.Kind#ELEMENTS}).
     * With {@code rows}, {@code [start, end)} are rows (the axis before the last) of the whole value, in every
     * plane: an H2D copy gathers them from the whole host copy {@code src} into a band {@code dst} of the same
     * rank; a D2H copy scatters the band {@code src} into them of the host copy {@code dst} (placed by the band
     * of row 0), see {@link Tile.Kind#OUTPUT_ROWS}.
     * A rows copy on the {@link LaneKind#COMPUTE} lane is <em>local</em>: both buffers are on the device, nothing
     * crosses the link. It gathers a band out of a resident whole value, or, with {@code scatter}, writes a band into a
     * whole value kept resident. The direction is stated, not inferred from the buffers' sizes: a part that covers the
     * whole value (one box of it all) has the whole's size, and a box sees the value with the box's own shape (of
     * another rank, say), which a scatter taken for a gather would give the whole value in place of its type's.
     * Link copies need no flag: H2D gathers, D2H scatters.
     */
    record Transfer(int id, int device, LaneKind lane, int src, int dst, long bytes, String label, long start, long end,
                    boolean rows, Box box, boolean scatter) implements Task {
        public Transfer {
            if (scatter && lane != LaneKind.COMPUTE) throw new IllegalArgumentException("only a local copy states its direction: " + label);
        }

        public Transfer(int id, int device, LaneKind lane, int src, int dst, long bytes, String label) {
            this(id, device, lane, src, dst, bytes, label, 0, 0, false, null, false);
        }

        public Transfer(int id, int device, LaneKind lane, int src, int dst, long bytes, String label, long start, long end,
                        boolean rows) {
            this(id, device, lane, src, dst, bytes, label, start, end, rows, null, false);
        }

        /**
         * A box copy ({@link Tile.Kind#OUTPUT_BOX}): H2D gathers {@code box} of the host copy {@code src} (seen with
         * the box's shape) into a dense {@code dst} of its extents; D2H scatters {@code src} into {@code box} of the
         * host copy {@code dst}, which the first box to arrive places. On the {@link LaneKind#COMPUTE} lane the copy is
         * local, as for rows: from a resident whole, or ({@code scatter}) into a whole kept resident.
         */
        public Transfer(int id, int device, LaneKind lane, int src, int dst, long bytes, String label, Box box) {
            this(id, device, lane, src, dst, bytes, label, 0, 0, false, box, false);
        }

        /** A local scatter ({@link LaneKind#COMPUTE}): part {@code src} into the whole {@code dst} kept resident. */
        static Transfer localScatter(int id, int device, int src, int dst, long bytes, String label, long start, long end, boolean rows, Box box) {
            return new Transfer(id, device, LaneKind.COMPUTE, src, dst, bytes, label, start, end, rows, box, true);
        }

        public boolean boxed() { return box != null; }

        /** A copy between two buffers of one device (the compute lane's), over no link. */
        public boolean local() { return lane == LaneKind.COMPUTE; }

        public Transfer(int id, int device, LaneKind lane, int src, int dst, long bytes, String label, long start, long end) {
            this(id, device, lane, src, dst, bytes, label, start, end, false, null, false);
        }

        public boolean ranged() { return end > 0; }
    }

    /** Copies a value that exists only on the device out to host memory so its region can be reused. */
    record Offload(int id, int device, int src, int dst, long bytes, String label) implements Task {
        @Override public LaneKind lane() { return LaneKind.D2H; }
    }

    /** Copies an offloaded (or evicted) value back onto the device before a kernel needs it. */
    record Reload(int id, int device, int src, int dst, long bytes, String label) implements Task {
        @Override public LaneKind lane() { return LaneKind.H2D; }
    }
}
