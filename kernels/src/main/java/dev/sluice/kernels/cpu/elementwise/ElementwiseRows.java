package dev.sluice.kernels.cpu.elementwise;

import dev.sluice.kernels.Parallelism;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.cpu.core.Broadcast;
import java.util.ArrayList;
import java.util.List;

/**
 * Walks an output shape row by row for operands that broadcast to it. Dimensions of size 1 are dropped and
 * neighbouring dimensions that are contiguous in every operand are merged, so the innermost row is as long as
 * possible and every operand steps through it by 0 (broadcast) or 1 (contiguous). Kernels then run one tight
 * loop per row instead of mapping every flat index.
 */
public final class ElementwiseRows {
    /** One stretch of output: output offset, each operand's offset (do not keep the array), and its length. */
    @FunctionalInterface
    public interface Row {
        public void run(long out, long[] in, int len);
    }

    /** Rows are cut into pieces of at most this many elements so that one long row still spreads over threads. */
    static final int SEGMENT = 1 << 15;
    /** Below this many elements the work stays on the calling thread. */
    static final long PARALLEL_MIN = 1 << 17;

    private final long[] dims;
    private final long[][] strides;
    /** Per operand: its stride along the row, 0 or 1. */
    public final int[] steps;
    final int rowLen;
    final long rows;

    public ElementwiseRows(Shape out, Shape... operands) {
        int n = operands.length;
        long[][] full = new long[n][];
        for (int k = 0; k < n; k++) full[k] = Broadcast.stridesFor(operands[k], out);
        List<Long> d = new ArrayList<>();
        List<long[]> s = new ArrayList<>();
        boolean empty = false;
        for (int i = 0; i < out.rank(); i++) {
            long size = out.dim(i);
            if (size == 0) empty = true;
            if (size == 1) continue;
            long[] col = new long[n];
            for (int k = 0; k < n; k++) col[k] = full[k][i];
            if (!d.isEmpty()) {
                long[] prev = s.get(s.size() - 1);
                boolean merge = true;
                for (int k = 0; k < n && merge; k++) merge = prev[k] == col[k] * size;
                if (merge) {
                    d.set(d.size() - 1, d.get(d.size() - 1) * size);
                    s.set(s.size() - 1, col);
                    continue;
                }
            }
            d.add(size);
            s.add(col);
        }
        if (d.isEmpty()) {
            d.add(1L);
            s.add(new long[n]);
        }
        int m = d.size();
        dims = new long[m];
        strides = new long[n][m];
        for (int i = 0; i < m; i++) {
            dims[i] = d.get(i);
            for (int k = 0; k < n; k++) strides[k][i] = s.get(i)[k];
        }
        steps = new int[n];
        for (int k = 0; k < n; k++) steps[k] = (int) strides[k][m - 1];
        if (empty) {
            rowLen = 0;
            rows = 0;
        } else {
            rowLen = Math.toIntExact(dims[m - 1]);
            long r = 1;
            for (int i = 0; i < m - 1; i++) r *= dims[i];
            rows = r;
        }
    }

    /** True when every operand is read contiguously along the whole output (no broadcasting at all). */
    boolean allContiguous() {
        if (dims.length != 1) return false;
        for (int st : steps) if (st != 1) return false;
        return true;
    }

    /** Runs every row once, split over the pool when the output is large. Rows write disjoint output. */
    public void run(Parallelism par, Row row) {
        if (rows == 0 || rowLen == 0) return;
        int segs = (rowLen + SEGMENT - 1) / SEGMENT;
        long items = rows * segs;
        long total = rows * rowLen;
        int tasks = par == null || par.threads() <= 1 || total < PARALLEL_MIN
                ? 1 : (int) Math.min(items, par.threads() * 4L);
        if (tasks == 1) {
            walk(0, items, segs, row);
            return;
        }
        par.forEach(tasks, t -> walk(items * t / tasks, items * (t + 1) / tasks, segs, row));
    }

    private void walk(long from, long to, int segs, Row row) {
        if (from >= to) return;
        int n = steps.length;
        int m = dims.length - 1;
        long r = from / segs;
        int seg = (int) (from % segs);
        long[] ctr = new long[m];
        long[] off = new long[n];
        long rem = r;
        for (int d = m - 1; d >= 0; d--) {
            ctr[d] = rem % dims[d];
            rem /= dims[d];
            for (int k = 0; k < n; k++) off[k] += ctr[d] * strides[k][d];
        }
        long[] cur = new long[n];
        for (long it = from; it < to; it++) {
            int start = seg * SEGMENT;
            int len = Math.min(SEGMENT, rowLen - start);
            for (int k = 0; k < n; k++) cur[k] = off[k] + (long) start * steps[k];
            row.run(r * rowLen + start, cur, len);
            if (++seg == segs) {
                seg = 0;
                r++;
                for (int d = m - 1; d >= 0; d--) {
                    ctr[d]++;
                    for (int k = 0; k < n; k++) off[k] += strides[k][d];
                    if (ctr[d] < dims[d]) break;
                    for (int k = 0; k < n; k++) off[k] -= strides[k][d] * dims[d];
                    ctr[d] = 0;
                }
            }
        }
    }
}
