package dev.sluice.kernels.cpu.reduce;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.List;

/**
 * Reductions along one axis that produce or use positions: ArgMax, ArgMin, Hardmax, CumSum, CumProd and TopK. Each
 * views the input as [outer, axisLen, inner] around its axis.
 */
final class ReductionIndexOps {
    private ReductionIndexOps() {}

    static void register(OpRegistry r) {
        r.register("ArgMax", new ArgKernel(true));
        r.register("ArgMin", new ArgKernel(false));
        r.register("Hardmax", new HardmaxKernel());
        r.register("CumSum", new CumulativeKernel(Scan.SUM));
        r.register("CumProd", new CumulativeKernel(Scan.PRODUCT));
        r.register("TopK", new TopKKernel());
    }

    /** Orders two floats for max-finding with NaN above everything, as numpy's argmax/sort treat it. */
    static int compareNanHigh(double a, double b) {
        if (a < b) return -1;
        if (a > b) return 1;
        if (a == b) return 0;
        return Double.isNaN(a) ? (Double.isNaN(b) ? 0 : 1) : -1;
    }

    /** Compares elements i and j of t by value (unsigned for uint64). */
    static int compareElements(Tensor t, long i, long j) {
        DType d = t.dtype();
        if (d.isFloatingPoint()) return compareNanHigh(t.getDouble(i), t.getDouble(j));
        if (d == DType.UINT64) return Long.compareUnsigned(t.getLong(i), t.getLong(j));
        return Long.compare(t.getLong(i), t.getLong(j));
    }

    // ---------------------------------------------------------------- ArgMax / ArgMin

    /** Positive if element i beats element j for ArgMax (max) or ArgMin; NaN beats numbers in both, as in numpy. */
    static int preference(Tensor t, long i, long j, boolean max) {
        if (t.dtype().isFloatingPoint()) {
            double v = t.getDouble(i), b = t.getDouble(j);
            boolean vn = Double.isNaN(v), bn = Double.isNaN(b);
            if (vn || bn) return vn == bn ? 0 : vn ? 1 : -1;
            return max ? Double.compare(v == 0 ? 0.0 : v, b == 0 ? 0.0 : b) : Double.compare(b == 0 ? 0.0 : b, v == 0 ? 0.0 : v);
        }
        int c = compareElements(t, i, j);
        return max ? c : -c;
    }

    static final class ArgKernel implements OpKernel {
        private final boolean max;

        ArgKernel(boolean max) { this.max = max; }

        @Override public List<TensorType> infer(InferContext ctx) {
            SymShape in = ctx.inputType(0).shape();
            if (!in.hasRank()) return List.of(new TensorType(DType.INT64, SymShape.UNKNOWN_RANK));
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", 0), in.rank());
            boolean keep = ctx.attributes().getInt("keepdims", 1) != 0;
            List<Dim> dims = new ArrayList<>();
            for (int i = 0; i < in.rank(); i++) {
                if (i != axis) dims.add(in.dim(i));
                else if (keep) dims.add(Dim.of(1));
            }
            return List.of(new TensorType(DType.INT64, new SymShape(dims)));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            int rank = x.rank();
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", 0), rank);
            boolean keep = ctx.attributes().getInt("keepdims", 1) != 0;
            boolean last = ctx.attributes().getInt("select_last_index", 0) != 0;
            long[] dims = x.shape().dims();
            long outer = x.shape().product(0, axis), len = dims[axis], inner = x.shape().product(axis + 1, rank);
            if (len == 0) throw new KernelException(ctx.opType() + " over an empty axis " + axis);
            List<Long> od = new ArrayList<>();
            for (int i = 0; i < rank; i++) {
                if (i != axis) od.add(dims[i]);
                else if (keep) od.add(1L);
            }
            Tensor out = ctx.output(0, DType.INT64, Shape.of(od.stream().mapToLong(Long::longValue).toArray()));
            for (long o = 0; o < outer; o++) {
                for (long i = 0; i < inner; i++) {
                    long base = o * len * inner + i;
                    long best = 0;
                    for (long a = 1; a < len; a++) {
                        int c = preference(x, base + a * inner, base + best * inner, max);
                        if (c > 0 || (c == 0 && last)) best = a;
                    }
                    out.setLong(o * inner + i, best);
                }
            }
        }
    }

    // ---------------------------------------------------------------- Hardmax

    static final class HardmaxKernel implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            int rank = x.rank();
            long outer, len, inner;
            if (ctx.opset() < 13) {
                // before opset 13 the input is coerced to 2-D: [prod(dims[:axis]), prod(dims[axis:])]
                int axis = (int) ctx.attributes().getInt("axis", 1);
                if (axis < 0) axis += rank;
                if (axis < 0 || axis > rank) throw new KernelException("Hardmax axis out of range for rank " + rank);
                outer = x.shape().product(0, axis);
                len = x.shape().product(axis, rank);
                inner = 1;
            } else {
                int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), rank);
                outer = x.shape().product(0, axis);
                len = x.shape().dim(axis);
                inner = x.shape().product(axis + 1, rank);
            }
            Tensor out = ctx.output(0, x.dtype(), x.shape());
            for (long o = 0; o < outer; o++) {
                for (long i = 0; i < inner; i++) {
                    long base = o * len * inner + i;
                    long best = 0;
                    for (long a = 1; a < len; a++) {
                        if (compareElements(x, base + a * inner, base + best * inner) > 0) best = a;
                    }
                    for (long a = 0; a < len; a++) out.setDouble(base + a * inner, a == best ? 1 : 0);
                }
            }
        }
    }

    // ---------------------------------------------------------------- CumSum / CumProd

    /** The running combination of a cumulative op, with its identity (what an exclusive scan starts from). */
    enum Scan {
        SUM(0), PRODUCT(1);

        private final long identity;

        Scan(long identity) { this.identity = identity; }

        double apply(double acc, double v) { return this == SUM ? acc + v : acc * v; }

        /** Integers wrap at 64 bits here and at the element width on store, as the C loops of other runtimes do. */
        long apply(long acc, long v) { return this == SUM ? acc + v : acc * v; }
    }

    /**
     * CumSum and CumProd: the running sum or product along the axis input (a scalar), optionally exclusive (each
     * element gets the combination of those strictly before it, the first the identity) and reverse (from the end).
     */
    static final class CumulativeKernel implements OpKernel {
        private final Scan scan;

        CumulativeKernel(Scan scan) { this.scan = scan; }

        @Override public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

        @Override public boolean inPlaceSafe() { return false; }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0), axisT = ctx.input(1);
            String op = ctx.opType();
            if (axisT.elementCount() != 1) throw new KernelException(op + " axis must be a scalar, got " + axisT.shape());
            if (!axisT.dtype().isInteger()) throw new KernelException(op + " axis must be an integer, got " + axisT.dtype());
            if (x.dtype() == DType.BOOL) throw new KernelException(op + " does not take bool input");
            int rank = x.rank();
            if (rank == 0) throw new KernelException(op + " needs an input of rank >= 1, got a scalar");
            int axis = Shape.normalizeAxis((int) axisT.getLong(0), rank);
            boolean exclusive = ctx.attributes().getInt("exclusive", 0) != 0;
            boolean reverse = ctx.attributes().getInt("reverse", 0) != 0;
            long outer = x.shape().product(0, axis), len = x.shape().dim(axis), inner = x.shape().product(axis + 1, rank);
            Tensor out = ctx.output(0, x.dtype(), x.shape());
            boolean fp = x.dtype().isFloatingPoint();
            for (long o = 0; o < outer; o++) {
                for (long i = 0; i < inner; i++) {
                    long base = o * len * inner + i;
                    double ds = scan.identity;
                    long ls = scan.identity;
                    for (long k = 0; k < len; k++) {
                        long idx = base + (reverse ? len - 1 - k : k) * inner;
                        if (fp) {
                            double v = x.getDouble(idx);
                            if (exclusive) { out.setDouble(idx, ds); ds = scan.apply(ds, v); } else { ds = scan.apply(ds, v); out.setDouble(idx, ds); }
                        } else {
                            long v = x.getLong(idx);
                            if (exclusive) { out.setLong(idx, ls); ls = scan.apply(ls, v); } else { ls = scan.apply(ls, v); out.setLong(idx, ls); }
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- TopK

    static final class TopKKernel implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType in = ctx.inputType(0);
            if (!in.shape().hasRank()) {
                return List.of(new TensorType(in.dtype(), SymShape.UNKNOWN_RANK), new TensorType(DType.INT64, SymShape.UNKNOWN_RANK));
            }
            int rank = in.shape().rank();
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), rank);
            Dim k = Dim.UNKNOWN;
            if (ctx.opset() < 10) {
                k = Dim.of(ctx.attributes().getInt("k"));
            } else {
                Tensor kt = ctx.constantInput(1);
                if (kt != null) k = Dim.of(kt.getLong(0));
            }
            List<Dim> dims = new ArrayList<>(in.shape().dims());
            dims.set(axis, k);
            SymShape s = new SymShape(dims);
            return List.of(new TensorType(in.dtype(), s), new TensorType(DType.INT64, s));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            int rank = x.rank();
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis", -1), rank);
            long k;
            if (ctx.opset() < 10) {
                k = ctx.attributes().getInt("k");
            } else {
                Tensor kt = ctx.input(1);
                if (kt.elementCount() != 1) throw new KernelException("TopK k must have one element, got " + kt.shape());
                k = kt.getLong(0);
            }
            boolean largest = ctx.attributes().getInt("largest", 1) != 0;
            long[] dims = x.shape().dims();
            long len = dims[axis];
            if (k < 0 || k > len) throw new KernelException("TopK k=" + k + " is outside [0, " + len + "] on axis " + axis);
            long outer = x.shape().product(0, axis), inner = x.shape().product(axis + 1, rank);
            dims[axis] = k;
            Shape os = Shape.of(dims);
            Tensor values = ctx.output(0, x.dtype(), os);
            Tensor indices = ctx.output(1, DType.INT64, os);
            int n = Math.toIntExact(len);
            int kk = (int) k;
            int[] idx = new int[n], tmp = new int[n];
            boolean fp = x.dtype().isFloatingPoint(), u64 = x.dtype() == DType.UINT64;
            double[] dk = fp ? new double[n] : null;
            long[] lk = fp ? null : new long[n];
            // value order first, then the lower index: a total order, so ties come out lower index first
            IndexOrder ord = (p, q) -> {
                int c = fp ? compareNanHigh(dk[p], dk[q]) : u64 ? Long.compareUnsigned(lk[p], lk[q]) : Long.compare(lk[p], lk[q]);
                if (largest) c = -c;
                return c != 0 ? c : Integer.compare(p, q);
            };
            for (long o = 0; o < outer; o++) {
                for (long i = 0; i < inner; i++) {
                    long base = o * len * inner + i;
                    for (int a = 0; a < n; a++) {
                        if (fp) dk[a] = x.getDouble(base + a * inner); else lk[a] = x.getLong(base + a * inner);
                    }
                    int got = select(n, kk, idx, tmp, ord);
                    long obase = o * k * inner + i;
                    for (int a = 0; a < got; a++) {
                        long src = base + idx[a] * inner, dst = obase + a * inner;
                        copyElement(x, src, values, dst);
                        indices.setLong(dst, idx[a]);
                    }
                }
            }
        }
    }

    /**
     * Puts the first k of 0..n-1 under ord, in order, into idx[0..k). Small k keeps a heap of the best k seen
     * (n log k); otherwise everything is sorted.
     */
    static int select(int n, int k, int[] idx, int[] tmp, IndexOrder ord) {
        if (k == 0) return 0;
        if ((long) k * 8 >= n) {
            for (int a = 0; a < n; a++) idx[a] = a;
            mergeSort(idx, tmp, 0, n, ord);
            return k;
        }
        // tmp[0..k) is a heap whose root is the worst of the current best k
        for (int a = 0; a < k; a++) {
            tmp[a] = a;
            siftUp(tmp, a, ord);
        }
        for (int a = k; a < n; a++) {
            if (ord.compare(a, tmp[0]) < 0) {
                tmp[0] = a;
                siftDown(tmp, k, ord);
            }
        }
        System.arraycopy(tmp, 0, idx, 0, k);
        int[] scratch = new int[k];
        mergeSort(idx, scratch, 0, k, ord);
        return k;
    }

    private static void siftUp(int[] h, int i, IndexOrder ord) {
        int v = h[i];
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (ord.compare(h[parent], v) >= 0) break;
            h[i] = h[parent];
            i = parent;
        }
        h[i] = v;
    }

    private static void siftDown(int[] h, int size, IndexOrder ord) {
        int i = 0, v = h[0];
        while (true) {
            int c = 2 * i + 1;
            if (c >= size) break;
            if (c + 1 < size && ord.compare(h[c + 1], h[c]) > 0) c++;
            if (ord.compare(h[c], v) <= 0) break;
            h[i] = h[c];
            i = c;
        }
        h[i] = v;
    }

    static void copyElement(Tensor src, long si, Tensor dst, long di) {
        int w = src.dtype().byteSize();
        java.lang.foreign.MemorySegment.copy(src.data(), si * w, dst.data(), di * w, w);
    }

    @FunctionalInterface
    interface IndexOrder {
        int compare(int p, int q);
    }

    static void mergeSort(int[] a, int[] tmp, int from, int to, IndexOrder ord) {
        if (to - from < 2) return;
        if (to - from <= 16) {
            for (int i = from + 1; i < to; i++) {
                int v = a[i], j = i - 1;
                while (j >= from && ord.compare(a[j], v) > 0) { a[j + 1] = a[j]; j--; }
                a[j + 1] = v;
            }
            return;
        }
        int mid = (from + to) >>> 1;
        mergeSort(a, tmp, from, mid, ord);
        mergeSort(a, tmp, mid, to, ord);
        int i = from, j = mid, t = from;
        while (i < mid && j < to) tmp[t++] = ord.compare(a[i], a[j]) <= 0 ? a[i++] : a[j++];
        while (i < mid) tmp[t++] = a[i++];
        while (j < to) tmp[t++] = a[j++];
        System.arraycopy(tmp, from, a, from, to - from);
    }
}
