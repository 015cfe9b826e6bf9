package dev.sluice.kernels.cpu.shape;

import static dev.sluice.kernels.cpu.shape.ShapeOps.axes;
import static dev.sluice.kernels.cpu.shape.ShapeOps.constLongs;
import static dev.sluice.kernels.cpu.shape.ShapeOps.inType;
import static dev.sluice.kernels.cpu.shape.ShapeOps.kernel;
import static dev.sluice.kernels.cpu.shape.ShapeOps.length1d;
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
import java.util.Arrays;
import java.util.List;

/** Ops that keep the elements in order and change only the shape (or report it): Reshape, Flatten, Squeeze... */
final class ShapeViewKernels {
    private ShapeViewKernels() {}

    static void register(OpRegistry r) {
        r.register("Reshape", ShapeOps.sameBytesKernel(ShapeViewKernels::inferReshape, ShapeViewKernels::reshape));
        r.register("Flatten", ShapeOps.sameBytesKernel(ShapeViewKernels::inferFlatten, ShapeViewKernels::flatten));
        r.register("Squeeze", ShapeOps.sameBytesKernel(ShapeViewKernels::inferSqueeze, ShapeViewKernels::squeeze));
        r.register("Unsqueeze", ShapeOps.sameBytesKernel(ShapeViewKernels::inferUnsqueeze, ShapeViewKernels::unsqueeze));
        r.register("Identity", ShapeOps.sameBytesKernel(c -> one(inType(c, 0)), ShapeViewKernels::identity));
        r.register("Shape", kernel(ShapeViewKernels::inferShape, ShapeViewKernels::shape));
        r.register("Size", kernel(c -> one(DType.INT64, SymShape.ofKnown()), ShapeViewKernels::size));
    }

    /** Output 0 as a copy of input 0's bytes with another shape. */
    static void copyAs(ExecContext c, Tensor x, Shape shape) {
        Tensor y = c.output(0, x.dtype(), shape);
        // when the planner gave us the input's own memory (inPlaceSafe) there is nothing to move
        if (!y.data().equals(x.data())) MovementCopy.run(x, 0, y, 0, x.elementCount());
    }

    static void identity(ExecContext c) {
        Tensor x = c.input(0);
        copyAs(c, x, x.shape());
    }

    // ---- Reshape ----

    static List<TensorType> inferReshape(InferContext c) {
        TensorType x = inType(c, 0);
        long[] spec = c.opset() < 5 ? c.attributes().getInts("shape") : constLongs(c, 1);
        if (spec == null) {
            long k = c.opset() < 5 ? -1 : length1d(c, 1);
            return one(x.dtype(), k >= 0 ? SymShape.unknownDims((int) k) : SymShape.UNKNOWN_RANK);
        }
        boolean allowZero = c.attributes().getInt("allowzero", 0) != 0;
        SymShape in = x.shape();
        List<Dim> out = new ArrayList<>();
        int minus = -1;
        for (int i = 0; i < spec.length; i++) {
            long s = spec[i];
            if (s == 0 && !allowZero) out.add(in.hasRank() && i < in.rank() ? in.dim(i) : Dim.UNKNOWN);
            else if (s == -1) { out.add(Dim.UNKNOWN); minus = i; }
            else if (s < -1) throw new KernelException("invalid reshape dimension " + s);
            else out.add(Dim.of(s));
        }
        if (minus >= 0 && in.hasRank()) out.set(minus, inferredDim(in.dims(), out, minus));
        return one(x.dtype(), new SymShape(out));
    }

    /**
     * The -1 dimension of a reshape on symbolic shapes: cancel the symbols both sides share, then the rest must be
     * a plain number or exactly one leftover input symbol (e.g. [batch,3,4] to [0,-1] gives 12; [2,batch] to [-1] gives nothing known).
     */
    private static Dim inferredDim(List<Dim> in, List<Dim> out, int minus) {
        long knownIn = 1, knownOut = 1;
        List<String> symIn = new ArrayList<>(), symOut = new ArrayList<>();
        for (Dim d : in) {
            if (d instanceof Dim.Known k) knownIn *= k.value();
            else if (d instanceof Dim.Symbol s) symIn.add(s.name());
            else return Dim.UNKNOWN;
        }
        for (int i = 0; i < out.size(); i++) {
            if (i == minus) continue;
            Dim d = out.get(i);
            if (d instanceof Dim.Known k) knownOut *= k.value();
            else if (d instanceof Dim.Symbol s) symOut.add(s.name());
            else return Dim.UNKNOWN;
        }
        for (String s : new ArrayList<>(symOut)) {
            if (symIn.remove(s)) symOut.remove(s);
        }
        if (!symOut.isEmpty()) return Dim.UNKNOWN;
        if (symIn.isEmpty()) {
            if (knownOut == 0 || knownIn % knownOut != 0) return Dim.UNKNOWN;
            return Dim.of(knownIn / knownOut);
        }
        if (symIn.size() == 1 && knownIn == knownOut) return new Dim.Symbol(symIn.get(0));
        return Dim.UNKNOWN;
    }

    static Shape reshapeTarget(Shape in, long[] spec, boolean allowZero) {
        long[] out = new long[spec.length];
        int minus = -1;
        long known = 1;
        for (int i = 0; i < spec.length; i++) {
            long s = spec[i];
            if (s == 0 && !allowZero) {
                if (i >= in.rank()) throw new KernelException("reshape dimension " + i + " is 0 but the input has rank " + in.rank());
                out[i] = in.dim(i);
            } else if (s == -1) {
                if (minus >= 0) throw new KernelException("reshape shape " + Arrays.toString(spec) + " has more than one -1");
                minus = i;
                continue;
            } else if (s < -1) {
                throw new KernelException("invalid reshape dimension " + s);
            } else {
                out[i] = s;
            }
            known *= out[i];
        }
        long total = in.elementCount();
        if (minus >= 0) {
            if (known == 0 || total % known != 0) {
                throw new KernelException("cannot reshape " + in + " to " + Arrays.toString(spec));
            }
            out[minus] = total / known;
        } else if (known != total) {
            throw new KernelException("cannot reshape " + in + " (" + total + " elements) to " + Arrays.toString(spec));
        }
        return Shape.of(out);
    }

    static void reshape(ExecContext c) {
        Tensor x = c.input(0);
        long[] spec = c.opset() < 5 ? c.attributes().getInts("shape") : c.input(1).toLongArray();
        if (spec == null) throw new KernelException("Reshape needs a shape");
        boolean allowZero = c.attributes().getInt("allowzero", 0) != 0;
        copyAs(c, x, reshapeTarget(x.shape(), spec, allowZero));
    }

    // ---- Flatten ----

    static List<TensorType> inferFlatten(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape s = x.shape();
        if (!s.hasRank()) return one(x.dtype(), SymShape.unknownDims(2));
        int r = s.rank();
        long a = c.attributes().getInt("axis", 1);
        if (a < -r || a > r) throw new KernelException("flatten axis " + a + " out of range for rank " + r);
        int ax = (int) (a < 0 ? a + r : a);
        return one(x.dtype(), SymShape.of(product(s.dims().subList(0, ax)), product(s.dims().subList(ax, r))));
    }

    /** Product of dims: known when all are known, the symbol itself for a single symbol times 1s. */
    static Dim product(List<Dim> dims) {
        long p = 1;
        Dim sym = null;
        for (Dim d : dims) {
            if (d instanceof Dim.Known k) p *= k.value();
            else if (sym == null && d instanceof Dim.Symbol) sym = d;
            else return Dim.UNKNOWN;
        }
        if (sym == null) return Dim.of(p);
        if (p == 0) return Dim.of(0);
        return p == 1 ? sym : Dim.UNKNOWN;
    }

    static void flatten(ExecContext c) {
        Tensor x = c.input(0);
        int r = x.rank();
        long a = c.attributes().getInt("axis", 1);
        if (a < -r || a > r) throw new KernelException("flatten axis " + a + " out of range for rank " + r);
        int ax = (int) (a < 0 ? a + r : a);
        copyAs(c, x, Shape.of(x.shape().product(0, ax), x.shape().product(ax, r)));
    }

    // ---- Squeeze / Unsqueeze ----

    static List<TensorType> inferSqueeze(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape s = x.shape();
        if (!s.hasRank()) return one(x.dtype(), SymShape.UNKNOWN_RANK);
        if (!ShapeOps.intsArgumentKnown(c, 1, 13)) {
            long k = length1d(c, 1);
            return one(x.dtype(), k >= 0 ? SymShape.unknownDims((int) (s.rank() - k)) : SymShape.UNKNOWN_RANK);
        }
        long[] ax = ShapeOps.intsArgument(c, 1, "axes", 13);
        List<Dim> out = new ArrayList<>();
        if (ax == null) {
            for (Dim d : s.dims()) {
                if (!d.isKnown()) return one(x.dtype(), SymShape.UNKNOWN_RANK); // a symbol might be 1
                if (d.value() != 1) out.add(d);
            }
        } else {
            boolean[] drop = new boolean[s.rank()];
            for (int a : axes(ax, s.rank())) {
                Dim d = s.dim(a);
                if (d.isKnown() && d.value() != 1) throw new KernelException("cannot squeeze axis " + a + " of size " + d);
                drop[a] = true;
            }
            for (int i = 0; i < s.rank(); i++) if (!drop[i]) out.add(s.dim(i));
        }
        return one(x.dtype(), new SymShape(out));
    }

    static void squeeze(ExecContext c) {
        Tensor x = c.input(0);
        Shape s = x.shape();
        long[] ax = ShapeOps.intsArgument(c, 1, "axes", 13);
        boolean[] drop = new boolean[s.rank()];
        if (ax == null) {
            for (int i = 0; i < s.rank(); i++) drop[i] = s.dim(i) == 1;
        } else {
            for (int a : axes(ax, s.rank())) {
                if (s.dim(a) != 1) throw new KernelException("cannot squeeze axis " + a + " of size " + s.dim(a));
                drop[a] = true;
            }
        }
        long[] out = new long[s.rank()];
        int n = 0;
        for (int i = 0; i < s.rank(); i++) if (!drop[i]) out[n++] = s.dim(i);
        copyAs(c, x, Shape.of(Arrays.copyOf(out, n)));
    }

    static List<TensorType> inferUnsqueeze(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape s = x.shape();
        long[] ax = ShapeOps.intsArgument(c, 1, "axes", 13);
        if (ax == null) {
            long k = c.opset() >= 13 ? length1d(c, 1) : -1;
            if (k >= 0 && s.hasRank()) return one(x.dtype(), SymShape.unknownDims((int) (s.rank() + k)));
            return one(x.dtype(), SymShape.UNKNOWN_RANK);
        }
        if (!s.hasRank()) return one(x.dtype(), SymShape.UNKNOWN_RANK);
        int rank = s.rank() + ax.length;
        boolean[] ins = new boolean[rank];
        for (int a : axes(ax, rank)) ins[a] = true;
        List<Dim> out = new ArrayList<>();
        int j = 0;
        for (int i = 0; i < rank; i++) out.add(ins[i] ? Dim.of(1) : s.dim(j++));
        return one(x.dtype(), new SymShape(out));
    }

    static void unsqueeze(ExecContext c) {
        Tensor x = c.input(0);
        long[] ax = ShapeOps.intsArgument(c, 1, "axes", 13);
        if (ax == null) throw new KernelException("Unsqueeze needs axes");
        int rank = x.rank() + ax.length;
        boolean[] ins = new boolean[rank];
        for (int a : axes(ax, rank)) ins[a] = true;
        long[] out = new long[rank];
        int j = 0;
        for (int i = 0; i < rank; i++) out[i] = ins[i] ? 1 : x.shape().dim(j++);
        copyAs(c, x, Shape.of(out));
    }

    // ---- Shape / Size ----

    /** Shape's [start, end) range on a rank, clamped as the spec says. */
    static int[] shapeRange(InferContext ic, ExecContext ec, int rank) {
        var attrs = ic != null ? ic.attributes() : ec.attributes();
        int opset = ic != null ? ic.opset() : ec.opset();
        long start = opset >= 15 ? attrs.getInt("start", 0) : 0;
        long end = opset >= 15 && attrs.has("end") ? attrs.getInt("end") : rank;
        if (start < 0) start += rank;
        if (end < 0) end += rank;
        start = Math.max(0, Math.min(rank, start));
        end = Math.max(0, Math.min(rank, end));
        return new int[] {(int) start, (int) Math.max(start, end)};
    }

    static List<TensorType> inferShape(InferContext c) {
        SymShape s = inType(c, 0).shape();
        if (!s.hasRank()) return one(DType.INT64, SymShape.unknownDims(1));
        int[] r = shapeRange(c, null, s.rank());
        return one(DType.INT64, SymShape.ofKnown(r[1] - r[0]));
    }

    static void shape(ExecContext c) {
        Shape s = c.input(0).shape();
        int[] r = shapeRange(null, c, s.rank());
        Tensor y = c.output(0, DType.INT64, Shape.of(r[1] - r[0]));
        for (int i = r[0]; i < r[1]; i++) y.setLong(i - r[0], s.dim(i));
    }

    static void size(ExecContext c) {
        Tensor y = c.output(0, DType.INT64, Shape.SCALAR);
        y.setLong(0, c.input(0).elementCount());
    }
}
