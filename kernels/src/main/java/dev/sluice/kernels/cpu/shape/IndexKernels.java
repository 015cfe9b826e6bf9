package dev.sluice.kernels.cpu.shape;

import static dev.sluice.kernels.cpu.shape.ShapeOps.axis;
import static dev.sluice.kernels.cpu.shape.ShapeOps.inType;
import static dev.sluice.kernels.cpu.shape.ShapeOps.index;
import static dev.sluice.kernels.cpu.shape.ShapeOps.kernel;
import static dev.sluice.kernels.cpu.shape.ShapeOps.one;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpRegistry;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.List;

/** Ops that select or place elements by index or mask: Gather*, Scatter*, OneHot, NonZero, Compress, Unique. */
final class IndexKernels {
    private IndexKernels() {}

    static void register(OpRegistry r) {
        r.register("Gather", kernel(IndexKernels::inferGather, IndexKernels::gather));
        r.register("GatherElements", kernel(c -> one(inType(c, 0).dtype(), inType(c, 1).shape()), IndexKernels::gatherElements));
        r.register("GatherND", kernel(IndexKernels::inferGatherNd, IndexKernels::gatherNd));
        r.register("ScatterElements", kernel(c -> one(inType(c, 0)), IndexKernels::scatterElements));
        r.register("Scatter", kernel(c -> one(inType(c, 0)), IndexKernels::scatterElements));
        r.register("ScatterND", kernel(c -> one(inType(c, 0)), IndexKernels::scatterNd));
        r.register("OneHot", kernel(IndexKernels::inferOneHot, IndexKernels::oneHot));
        r.register("NonZero", kernel(IndexKernels::inferNonZero, IndexKernels::nonZero));
        r.register("Compress", kernel(IndexKernels::inferCompress, IndexKernels::compress));
        r.register("Unique", kernel(IndexKernels::inferUnique, UniqueKernel::unique));
    }

    static long[] indices(Tensor t) {
        ShapeOps.indexCheck(t);
        return t.toLongArray();
    }

    // ---- Gather ----

    static List<TensorType> inferGather(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape ds = x.shape(), is = inType(c, 1).shape();
        if (!ds.hasRank() || !is.hasRank()) return one(x.dtype(), SymShape.UNKNOWN_RANK);
        int ax = axis(c.attributes().getInt("axis", 0), ds.rank());
        List<Dim> out = new ArrayList<>(ds.dims().subList(0, ax));
        out.addAll(is.dims());
        out.addAll(ds.dims().subList(ax + 1, ds.rank()));
        return one(x.dtype(), new SymShape(out));
    }

    static void gather(ExecContext c) {
        Tensor x = c.input(0), ind = c.input(1);
        int r = x.rank();
        if (r == 0) throw new KernelException("Gather needs data of rank >= 1");
        int ax = axis(c.attributes().getInt("axis", 0), r);
        long[] idx = indices(ind);
        long[] xd = x.shape().dims(), id = ind.shape().dims();
        long[] out = new long[r - 1 + id.length];
        System.arraycopy(xd, 0, out, 0, ax);
        System.arraycopy(id, 0, out, ax, id.length);
        System.arraycopy(xd, ax + 1, out, ax + id.length, r - ax - 1);
        Tensor y = c.output(0, x.dtype(), Shape.of(out));
        long outer = x.shape().product(0, ax), dim = xd[ax], inner = x.shape().product(ax + 1, r);
        for (int j = 0; j < idx.length; j++) idx[j] = index(idx[j], dim, "Gather");
        long n = idx.length;
        for (long o = 0; o < outer; o++) {
            for (int j = 0; j < n; j++) {
                long from = (o * dim + idx[j]) * inner, to = (o * n + j) * inner;
                if (inner == 1) MovementCopy.element(x, from, y, to);
                else MovementCopy.run(x, from, y, to, inner);
            }
        }
    }

    // ---- GatherElements ----

    static void gatherElements(ExecContext c) {
        Tensor x = c.input(0), ind = c.input(1);
        int r = x.rank();
        if (ind.rank() != r) throw new KernelException("GatherElements indices rank " + ind.rank() + " differs from data rank " + r);
        int ax = axis(c.attributes().getInt("axis", 0), r);
        long[] idx = indices(ind);
        Tensor y = c.output(0, x.dtype(), ind.shape());
        long[] xs = x.shape().strides();
        long[] id = ind.shape().dims();
        long dim = x.shape().dim(ax);
        long[] ctr = new long[r];
        long base = 0; // data offset of the current index tuple without the axis coordinate
        for (int p = 0; p < idx.length; p++) {
            MovementCopy.element(x, base + index(idx[p], dim, "GatherElements") * xs[ax], y, p);
            for (int k = r - 1; k >= 0; k--) {
                ctr[k]++;
                if (k != ax) base += xs[k];
                if (ctr[k] < id[k]) break;
                if (k != ax) base -= xs[k] * id[k];
                ctr[k] = 0;
            }
        }
    }

    // ---- GatherND ----

    static List<TensorType> inferGatherNd(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape ds = x.shape(), is = inType(c, 1).shape();
        if (!ds.hasRank() || !is.hasRank() || is.rank() == 0 || !is.dim(is.rank() - 1).isKnown()) {
            return one(x.dtype(), SymShape.UNKNOWN_RANK);
        }
        int b = (int) c.attributes().getInt("batch_dims", 0);
        int k = (int) is.dim(is.rank() - 1).value();
        List<Dim> out = new ArrayList<>(is.dims().subList(0, is.rank() - 1));
        if (b + k > ds.rank()) throw new KernelException("GatherND index length " + k + " too long for data " + ds);
        out.addAll(ds.dims().subList(b + k, ds.rank()));
        return one(x.dtype(), new SymShape(out));
    }

    static void gatherNd(ExecContext c) {
        Tensor x = c.input(0), ind = c.input(1);
        int b = (int) c.attributes().getInt("batch_dims", 0);
        int r = x.rank(), q = ind.rank();
        if (q < 1 || b >= q || b >= r) throw new KernelException("GatherND batch_dims " + b + " invalid for data rank " + r + ", indices rank " + q);
        int k = (int) ind.shape().dim(q - 1);
        if (b + k > r) throw new KernelException("GatherND index length " + k + " too long for data " + x.shape());
        for (int i = 0; i < b; i++) {
            if (x.shape().dim(i) != ind.shape().dim(i)) throw new KernelException("GatherND batch dims of " + x.shape() + " and " + ind.shape() + " differ");
        }
        long[] idx = indices(ind);
        long[] od = new long[q - 1 + r - b - k];
        for (int i = 0; i < q - 1; i++) od[i] = ind.shape().dim(i);
        for (int i = b + k; i < r; i++) od[q - 1 + i - b - k] = x.shape().dim(i);
        Tensor y = c.output(0, x.dtype(), Shape.of(od));
        long batches = x.shape().product(0, b), batchSize = x.shape().product(b, r), slice = x.shape().product(b + k, r);
        long perBatch = ind.shape().product(b, q - 1);
        long[] xs = x.shape().strides();
        long o = 0;
        for (long bi = 0; bi < batches; bi++) {
            for (long t = 0; t < perBatch; t++) {
                int ip = (int) ((bi * perBatch + t) * k);
                long off = bi * batchSize;
                for (int j = 0; j < k; j++) off += index(idx[ip + j], x.shape().dim(b + j), "GatherND") * xs[b + j];
                MovementCopy.run(x, off, y, o, slice);
                o += slice;
            }
        }
    }

    // ---- ScatterElements / Scatter / ScatterND ----

    /** Writes u[ui] into y[yi], combined with what is there by the reduction. */
    static void put(Tensor y, long yi, Tensor u, long ui, String reduction) {
        if (reduction.equals("none")) { MovementCopy.element(u, ui, y, yi); return; }
        if (y.dtype().isFloatingPoint()) {
            double a = y.getDouble(yi), v = u.getDouble(ui);
            y.setDouble(yi, switch (reduction) {
                case "add" -> a + v;
                case "mul" -> a * v;
                case "max" -> Math.max(a, v);
                case "min" -> Math.min(a, v);
                default -> throw new KernelException("unknown reduction '" + reduction + "'");
            });
        } else {
            long a = y.getLong(yi), v = u.getLong(ui);
            boolean unsigned = y.dtype() == DType.UINT64;
            y.setLong(yi, switch (reduction) {
                case "add" -> a + v;
                case "mul" -> a * v;
                case "max" -> (unsigned ? Long.compareUnsigned(a, v) : Long.compare(a, v)) >= 0 ? a : v;
                case "min" -> (unsigned ? Long.compareUnsigned(a, v) : Long.compare(a, v)) <= 0 ? a : v;
                default -> throw new KernelException("unknown reduction '" + reduction + "'");
            });
        }
    }

    static void scatterElements(ExecContext c) {
        Tensor x = c.input(0), ind = c.input(1), upd = c.input(2);
        int r = x.rank();
        if (ind.rank() != r || !ind.shape().equals(upd.shape())) {
            throw new KernelException("scatter indices " + ind.shape() + " and updates " + upd.shape() + " must match in shape and have data's rank " + r);
        }
        int ax = axis(c.attributes().getInt("axis", 0), r);
        String red = c.attributes().getString("reduction", "none");
        long[] idx = indices(ind);
        Tensor y = c.output(0, x.dtype(), x.shape());
        MovementCopy.run(x, 0, y, 0, x.elementCount());
        long[] xs = x.shape().strides(), id = ind.shape().dims();
        long dim = x.shape().dim(ax);
        long[] ctr = new long[r];
        long base = 0;
        for (int p = 0; p < idx.length; p++) {
            put(y, base + index(idx[p], dim, "scatter") * xs[ax], upd, p, red);
            for (int k = r - 1; k >= 0; k--) {
                ctr[k]++;
                if (k != ax) base += xs[k];
                if (ctr[k] < id[k]) break;
                if (k != ax) base -= xs[k] * id[k];
                ctr[k] = 0;
            }
        }
    }

    static void scatterNd(ExecContext c) {
        Tensor x = c.input(0), ind = c.input(1), upd = c.input(2);
        int r = x.rank(), q = ind.rank();
        if (q < 1) throw new KernelException("ScatterND indices need rank >= 1");
        int k = (int) ind.shape().dim(q - 1);
        if (k > r) throw new KernelException("ScatterND index length " + k + " exceeds data rank " + r);
        long slice = x.shape().product(k, r), count = ind.shape().product(0, q - 1);
        if (upd.elementCount() != count * slice) throw new KernelException("ScatterND updates " + upd.shape() + " do not fit indices " + ind.shape() + " on data " + x.shape());
        String red = c.attributes().getString("reduction", "none");
        long[] idx = indices(ind);
        Tensor y = c.output(0, x.dtype(), x.shape());
        MovementCopy.run(x, 0, y, 0, x.elementCount());
        long[] xs = x.shape().strides();
        for (long t = 0; t < count; t++) {
            long off = 0;
            for (int j = 0; j < k; j++) off += index(idx[(int) (t * k + j)], x.shape().dim(j), "ScatterND") * xs[j];
            if (red.equals("none")) MovementCopy.run(upd, t * slice, y, off, slice);
            else for (long e = 0; e < slice; e++) put(y, off + e, upd, t * slice + e, red);
        }
    }

    // ---- OneHot ----

    static List<TensorType> inferOneHot(InferContext c) {
        DType dt = inType(c, 2).dtype();
        SymShape is = inType(c, 0).shape();
        if (!is.hasRank()) return one(dt, SymShape.UNKNOWN_RANK);
        int ax = axis(c.attributes().getInt("axis", -1), is.rank() + 1);
        Tensor depth = c.constantInput(1);
        List<Dim> out = new ArrayList<>(is.dims());
        out.add(ax, depth != null ? Dim.of((long) depth.getDouble(0)) : Dim.UNKNOWN);
        return one(dt, new SymShape(out));
    }

    static void oneHot(ExecContext c) {
        Tensor ind = c.input(0), values = c.input(2);
        long depth = (long) c.input(1).getDouble(0);
        if (depth < 1) throw new KernelException("OneHot depth must be positive, got " + depth);
        if (values.elementCount() != 2) throw new KernelException("OneHot values must hold [off, on], got " + values.shape());
        int q = ind.rank();
        int ax = axis(c.attributes().getInt("axis", -1), q + 1);
        long[] od = new long[q + 1];
        for (int i = 0, j = 0; i <= q; i++) od[i] = i == ax ? depth : ind.shape().dim(j++);
        Tensor y = c.output(0, values.dtype(), Shape.of(od));
        MovementCopy.fill(y, 0, y.elementCount(), values, 0);
        long inner = ind.shape().product(ax, q), n = ind.elementCount();
        for (long p = 0; p < n; p++) {
            long v = (long) ind.getDouble(p);
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue; // out of range: the whole row stays off
            long o = p / inner, i = p % inner;
            MovementCopy.element(values, 1, y, (o * depth + v) * inner + i);
        }
    }

    // ---- NonZero ----

    static List<TensorType> inferNonZero(InferContext c) {
        SymShape s = inType(c, 0).shape();
        Tensor x = c.constantInput(0);
        if (x != null) return one(DType.INT64, SymShape.ofKnown(x.rank(), trueCount(x, x.elementCount())));
        return one(DType.INT64, SymShape.of(s.hasRank() ? Dim.of(s.rank()) : Dim.UNKNOWN, Dim.UNKNOWN));
    }

    static void nonZero(ExecContext c) {
        Tensor x = c.input(0);
        long n = x.elementCount();
        int r = x.rank();
        long count = 0;
        for (long i = 0; i < n; i++) if (x.getBoolean(i)) count++;
        Tensor y = c.output(0, DType.INT64, Shape.of(r, count));
        long[] dims = x.shape().dims();
        long col = 0;
        for (long i = 0; i < n; i++) {
            if (!x.getBoolean(i)) continue;
            long rest = i;
            for (int d = r - 1; d >= 0; d--) {
                y.setLong(d * count + col, rest % dims[d]);
                rest /= dims[d];
            }
            col++;
        }
    }

    // ---- Compress ----

    static List<TensorType> inferCompress(InferContext c) {
        TensorType x = inType(c, 0);
        Tensor cond = c.constantInput(1);
        SymShape s = x.shape();
        Dim kept = Dim.UNKNOWN;
        if (!c.attributes().has("axis")) {
            if (cond != null && s.isStatic()) kept = Dim.of(trueCount(cond, s.toShape().elementCount()));
            return one(x.dtype(), SymShape.of(kept));
        }
        if (!s.hasRank()) return one(x.dtype(), SymShape.UNKNOWN_RANK);
        int ax = axis(c.attributes().getInt("axis"), s.rank());
        if (cond != null && s.dim(ax).isKnown()) kept = Dim.of(trueCount(cond, s.dim(ax).value()));
        List<Dim> out = ShapeOps.dims(s);
        out.set(ax, kept);
        return one(x.dtype(), new SymShape(out));
    }

    static long trueCount(Tensor cond, long limit) {
        long n = Math.min(cond.elementCount(), limit), k = 0;
        for (long i = 0; i < n; i++) if (cond.getBoolean(i)) k++;
        return k;
    }

    static void compress(ExecContext c) {
        Tensor x = c.input(0), cond = c.input(1);
        if (cond.rank() != 1) throw new KernelException("Compress condition must be 1-D, got " + cond.shape());
        boolean flat = !c.attributes().has("axis");
        int r = x.rank();
        int ax = flat ? 0 : axis(c.attributes().getInt("axis"), r);
        long dim = flat ? x.elementCount() : x.shape().dim(ax);
        long outer = flat ? 1 : x.shape().product(0, ax), inner = flat ? 1 : x.shape().product(ax + 1, r);
        long kept = trueCount(cond, dim);
        long[] od;
        if (flat) {
            od = new long[] {kept};
        } else {
            od = x.shape().dims();
            od[ax] = kept;
        }
        Tensor y = c.output(0, x.dtype(), Shape.of(od));
        long n = Math.min(cond.elementCount(), dim), j = 0;
        for (long i = 0; i < n; i++) {
            if (!cond.getBoolean(i)) continue;
            MovementCopy.copy(x, i * inner, new long[] {dim * inner, 1}, y, j * inner, new long[] {kept * inner, 1}, new long[] {outer, inner});
            j++;
        }
    }

    // ---- Unique ----

    static List<TensorType> inferUnique(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape y;
        if (!c.attributes().has("axis")) {
            y = SymShape.unknownDims(1);
        } else if (x.shape().hasRank()) {
            int ax = axis(c.attributes().getInt("axis"), x.shape().rank());
            List<Dim> d = ShapeOps.dims(x.shape());
            d.set(ax, Dim.UNKNOWN);
            y = new SymShape(d);
        } else {
            y = SymShape.UNKNOWN_RANK;
        }
        List<TensorType> out = new ArrayList<>(List.of(TensorType.of(x.dtype(), y)));
        for (int i = 1; i < c.outputCount(); i++) out.add(TensorType.of(DType.INT64, SymShape.unknownDims(1)));
        return out;
    }

}
