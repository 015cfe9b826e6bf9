package dev.sluice.kernels.cpu.shape;

import static dev.sluice.kernels.cpu.shape.ShapeOps.axes;
import static dev.sluice.kernels.cpu.shape.ShapeOps.axis;
import static dev.sluice.kernels.cpu.shape.ShapeOps.constLongs;
import static dev.sluice.kernels.cpu.shape.ShapeOps.inType;
import static dev.sluice.kernels.cpu.shape.ShapeOps.kernel;
import static dev.sluice.kernels.cpu.shape.ShapeOps.length1d;
import static dev.sluice.kernels.cpu.shape.ShapeOps.one;
import static dev.sluice.kernels.cpu.shape.ShapeOps.present;

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
import dev.sluice.kernels.cpu.core.Broadcast;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Ops that rearrange elements by strides: Transpose, Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace... */
final class MovementKernels {
    private MovementKernels() {}

    static void register(OpRegistry r) {
        r.register("Transpose", kernel(MovementKernels::inferTranspose, MovementKernels::transpose));
        r.register("Concat", kernel(MovementKernels::inferConcat, MovementKernels::concat));
        r.register("Split", kernel(MovementKernels::inferSplit, MovementKernels::split));
        r.register("Slice", kernel(MovementKernels::inferSlice, MovementKernels::slice));
        r.register("Expand", kernel(MovementKernels::inferExpand, MovementKernels::expand));
        r.register("Tile", kernel(MovementKernels::inferTile, MovementKernels::tile));
        r.register("Pad", kernel(MovementKernels::inferPad, MovementKernels::pad));
        r.register("DepthToSpace", kernel(c -> inferBlocks(c, true), MovementKernels::depthToSpace));
        r.register("SpaceToDepth", kernel(c -> inferBlocks(c, false), MovementKernels::spaceToDepth));
        r.register("Trilu", kernel(c -> one(inType(c, 0)), MovementKernels::trilu));
        r.register("ReverseSequence", kernel(c -> one(inType(c, 0)), MovementKernels::reverseSequence));
    }

    // ---- Transpose ----

    static int[] perm(long[] p, int rank) {
        int[] r = new int[rank];
        if (p == null) {
            for (int i = 0; i < rank; i++) r[i] = rank - 1 - i;
            return r;
        }
        if (p.length != rank) throw new KernelException("perm " + Arrays.toString(p) + " does not match rank " + rank);
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            r[i] = axis(p[i], rank);
            if (seen[r[i]]) throw new KernelException("perm " + Arrays.toString(p) + " is not a permutation");
            seen[r[i]] = true;
        }
        return r;
    }

    static List<TensorType> inferTranspose(InferContext c) {
        TensorType x = inType(c, 0);
        long[] p = c.attributes().getInts("perm");
        if (!x.shape().hasRank()) return one(x.dtype(), p == null ? SymShape.UNKNOWN_RANK : SymShape.unknownDims(p.length));
        int[] pm = perm(p, x.shape().rank());
        List<Dim> out = new ArrayList<>();
        for (int a : pm) out.add(x.shape().dim(a));
        return one(x.dtype(), new SymShape(out));
    }

    static void transpose(ExecContext c) {
        Tensor x = c.input(0);
        int r = x.rank();
        int[] pm = perm(c.attributes().getInts("perm"), r);
        long[] in = x.shape().dims(), st = x.shape().strides(), out = new long[r], ss = new long[r];
        for (int i = 0; i < r; i++) { out[i] = in[pm[i]]; ss[i] = st[pm[i]]; }
        Tensor y = c.output(0, x.dtype(), Shape.of(out));
        MovementCopy.gather(x, 0, ss, y, out, c.parallelism());
    }

    // ---- Concat ----

    /** Two dims that must agree: a known size beats a symbol, a symbol beats unknown. */
    static Dim merge(Dim a, Dim b) {
        if (a.isKnown()) return a;
        if (b.isKnown()) return b;
        return a instanceof Dim.Symbol ? a : b;
    }

    static List<TensorType> inferConcat(InferContext c) {
        DType dt = null;
        SymShape ranked = null;
        for (int i = 0; i < c.inputCount(); i++) {
            TensorType t = inType(c, i);
            if (dt == null) dt = t.dtype();
            if (ranked == null && t.shape().hasRank()) ranked = t.shape();
        }
        if (ranked == null) return one(dt, SymShape.UNKNOWN_RANK);
        int r = ranked.rank();
        int ax = axis(c.attributes().getInt("axis"), r);
        List<Dim> out = ShapeOps.dims(SymShape.unknownDims(r));
        long sum = 0;
        boolean sumKnown = true;
        for (int i = 0; i < c.inputCount(); i++) {
            SymShape s = inType(c, i).shape();
            if (!s.hasRank()) { sumKnown = false; continue; }
            if (s.rank() != r) throw new KernelException("Concat inputs have ranks " + r + " and " + s.rank());
            for (int d = 0; d < r; d++) {
                if (d == ax) {
                    if (s.dim(d).isKnown()) sum += s.dim(d).value(); else sumKnown = false;
                } else {
                    out.set(d, merge(out.get(d), s.dim(d)));
                }
            }
        }
        out.set(ax, sumKnown ? Dim.of(sum) : Dim.UNKNOWN);
        return one(dt, new SymShape(out));
    }

    static void concat(ExecContext c) {
        Tensor first = c.input(0);
        int r = first.rank();
        if (r == 0) throw new KernelException("Concat of scalars is not defined");
        int ax = axis(c.attributes().getInt("axis"), r);
        long[] out = first.shape().dims();
        long total = 0;
        for (int i = 0; i < c.inputCount(); i++) {
            Tensor t = c.input(i);
            if (t.rank() != r || t.dtype() != first.dtype()) throw new KernelException("Concat inputs " + first.type() + " and " + t.type() + " differ");
            for (int d = 0; d < r; d++) {
                if (d != ax && t.shape().dim(d) != out[d]) throw new KernelException("Concat inputs " + first.shape() + " and " + t.shape() + " differ off the axis");
            }
            total += t.shape().dim(ax);
        }
        out[ax] = total;
        Tensor y = c.output(0, first.dtype(), Shape.of(out));
        long outer = first.shape().product(0, ax), inner = y.shape().product(ax + 1, r);
        long off = 0;
        for (int i = 0; i < c.inputCount(); i++) {
            Tensor t = c.input(i);
            long len = t.shape().dim(ax) * inner;
            MovementCopy.copy(t, 0, new long[] {len, 1}, y, off, new long[] {total * inner, 1}, new long[] {outer, len});
            off += len;
        }
    }

    // ---- Split ----

    /** Split sizes along a dim of size {@code dim} (or -1 if unknown), or null if that needs the dim. */
    static long[] splitSizes(long[] split, int opset, long numOutputsAttr, int outputs, long dim) {
        if (split != null) {
            if (split.length != outputs) throw new KernelException("split has " + split.length + " sizes for " + outputs + " outputs");
            return split;
        }
        long n = opset >= 18 && numOutputsAttr > 0 ? numOutputsAttr : outputs;
        if (n != outputs) throw new KernelException("num_outputs " + n + " but the node has " + outputs + " outputs");
        if (dim < 0) return null;
        long chunk = Math.ceilDiv(dim, n);
        long[] r = new long[(int) n];
        long left = dim;
        for (int i = 0; i < n; i++) { r[i] = Math.min(chunk, left); left -= r[i]; }
        return r;
    }

    static List<TensorType> inferSplit(InferContext c) {
        TensorType x = inType(c, 0);
        int n = c.outputCount();
        List<TensorType> res = new ArrayList<>();
        SymShape s = x.shape();
        boolean splitKnown = !present(c, 1) || c.constantInput(1) != null;
        if (!s.hasRank() || !splitKnown) {
            SymShape o = s.hasRank() ? SymShape.unknownDims(s.rank()) : SymShape.UNKNOWN_RANK;
            if (s.hasRank()) {
                int ax = axis(c.attributes().getInt("axis", 0), s.rank());
                List<Dim> d = ShapeOps.dims(s);
                d.set(ax, Dim.UNKNOWN);
                o = new SymShape(d);
            }
            for (int i = 0; i < n; i++) res.add(TensorType.of(x.dtype(), o));
            return res;
        }
        int ax = axis(c.attributes().getInt("axis", 0), s.rank());
        long[] split = present(c, 1) ? constLongs(c, 1) : c.attributes().getInts("split");
        Dim d = s.dim(ax);
        long[] sizes = splitSizes(split, c.opset(), c.attributes().getInt("num_outputs", 0), n, d.isKnown() ? d.value() : -1);
        for (int i = 0; i < n; i++) {
            List<Dim> o = ShapeOps.dims(s);
            o.set(ax, sizes == null ? Dim.UNKNOWN : Dim.of(sizes[i]));
            res.add(TensorType.of(x.dtype(), new SymShape(o)));
        }
        return res;
    }

    static void split(ExecContext c) {
        Tensor x = c.input(0);
        int r = x.rank();
        int ax = axis(c.attributes().getInt("axis", 0), r);
        long[] split = present(c, 1) ? c.input(1).toLongArray() : c.attributes().getInts("split");
        long dim = x.shape().dim(ax);
        long[] sizes = splitSizes(split, c.opset(), c.attributes().getInt("num_outputs", 0), c.outputCount(), dim);
        long sum = 0;
        for (long v : sizes) {
            if (v < 0) throw new KernelException("negative split size " + v);
            sum += v;
        }
        if (sum != dim) throw new KernelException("split sizes " + Arrays.toString(sizes) + " do not add up to " + dim);
        long outer = x.shape().product(0, ax), inner = x.shape().product(ax + 1, r);
        long off = 0;
        for (int i = 0; i < sizes.length; i++) {
            long[] od = x.shape().dims();
            od[ax] = sizes[i];
            long len = sizes[i] * inner;
            Tensor y = c.output(i, x.dtype(), Shape.of(od));
            MovementCopy.copy(x, off, new long[] {dim * inner, 1}, y, 0, new long[] {len, 1}, new long[] {outer, len});
            off += len;
        }
    }

    // ---- Slice ----

    /** starts, ends, axes, steps (axes/steps may be null), from attributes before opset 10 and inputs after. */
    static long[][] sliceArgs(ExecContext c) {
        if (c.opset() < 10) {
            var a = c.attributes();
            return new long[][] {a.getInts("starts"), a.getInts("ends"), a.getInts("axes"), null};
        }
        return new long[][] {c.input(1).toLongArray(), c.input(2).toLongArray(),
                present(c, 3) ? c.input(3).toLongArray() : null, present(c, 4) ? c.input(4).toLongArray() : null};
    }

    /** For one axis of size dim: {start, length} after the spec's clamping. */
    static long[] sliceRange(long start, long end, long step, long dim) {
        if (step == 0) throw new KernelException("Slice step must not be zero");
        if (start < 0) start += dim;
        if (end < 0) end += dim;
        long len;
        if (step > 0) {
            start = Math.clamp(start, 0, dim);
            end = Math.clamp(end, 0, dim);
            len = end > start ? Math.ceilDiv(end - start, step) : 0;
        } else {
            start = Math.clamp(start, 0, dim - 1);
            end = Math.clamp(end, -1, dim - 1);
            len = start > end ? Math.ceilDiv(start - end, -step) : 0;
        }
        return new long[] {start, len};
    }

    static List<TensorType> inferSlice(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape s = x.shape();
        if (!s.hasRank()) return one(x.dtype(), SymShape.UNKNOWN_RANK);
        int r = s.rank();
        long[] starts, ends, ax, steps;
        if (c.opset() < 10) {
            var a = c.attributes();
            starts = a.getInts("starts"); ends = a.getInts("ends"); ax = a.getInts("axes"); steps = null;
        } else {
            starts = constLongs(c, 1); ends = constLongs(c, 2); ax = constLongs(c, 3); steps = constLongs(c, 4);
            boolean axesKnown = !present(c, 3) || ax != null, stepsKnown = !present(c, 4) || steps != null;
            if (starts == null || ends == null || !axesKnown || !stepsKnown) {
                if (!axesKnown) return one(x.dtype(), SymShape.unknownDims(r));
                List<Dim> out = ShapeOps.dims(s);
                if (ax == null) {
                    long k = starts != null ? starts.length : length1d(c, 1);
                    if (k < 0) return one(x.dtype(), SymShape.unknownDims(r));
                    for (int i = 0; i < k && i < r; i++) out.set(i, Dim.UNKNOWN);
                } else {
                    for (int a : axes(ax, r)) out.set(a, Dim.UNKNOWN);
                }
                return one(x.dtype(), new SymShape(out));
            }
        }
        List<Dim> out = ShapeOps.dims(s);
        int[] axs = sliceAxes(ax, starts.length, r);
        if (ends.length != starts.length) throw new KernelException("Slice starts and ends differ in length");
        for (int i = 0; i < axs.length; i++) {
            long step = steps == null ? 1 : steps[i];
            Dim d = s.dim(axs[i]);
            if (d.isKnown()) {
                out.set(axs[i], Dim.of(sliceRange(starts[i], ends[i], step, d.value())[1]));
            } else if (step == 1 && starts[i] == 0 && ends[i] >= Integer.MAX_VALUE) {
                out.set(axs[i], d); // the whole axis
            } else {
                out.set(axs[i], Dim.UNKNOWN);
            }
        }
        return one(x.dtype(), new SymShape(out));
    }

    static int[] sliceAxes(long[] ax, int count, int rank) {
        if (ax == null) {
            int[] r = new int[count];
            for (int i = 0; i < count; i++) r[i] = i;
            if (count > rank) throw new KernelException("Slice has " + count + " starts for rank " + rank);
            return r;
        }
        if (ax.length != count) throw new KernelException("Slice axes and starts differ in length");
        return axes(ax, rank);
    }

    static void slice(ExecContext c) {
        Tensor x = c.input(0);
        int r = x.rank();
        long[][] a = sliceArgs(c);
        long[] starts = a[0], ends = a[1], steps = a[3];
        if (starts == null || ends == null) throw new KernelException("Slice needs starts and ends");
        if (ends.length != starts.length) throw new KernelException("Slice starts and ends differ in length");
        if (steps != null && steps.length != starts.length) throw new KernelException("Slice steps and starts differ in length");
        int[] axs = sliceAxes(a[2], starts.length, r);
        long[] out = x.shape().dims(), st = x.shape().strides(), ss = st.clone();
        long off = 0;
        for (int i = 0; i < axs.length; i++) {
            int d = axs[i];
            long step = steps == null ? 1 : steps[i];
            long[] sr = sliceRange(starts[i], ends[i], step, x.shape().dim(d));
            out[d] = sr[1];
            if (sr[1] > 0) off += sr[0] * st[d];
            ss[d] = st[d] * step;
        }
        Tensor y = c.output(0, x.dtype(), Shape.of(out));
        MovementCopy.gather(x, off, ss, y, out, c.parallelism());
    }

    // ---- Expand / Tile ----

    static List<TensorType> inferExpand(InferContext c) {
        TensorType x = inType(c, 0);
        long[] shape = constLongs(c, 1);
        if (shape == null || !x.shape().hasRank()) {
            long k = shape != null ? shape.length : length1d(c, 1);
            if (k >= 0 && x.shape().hasRank()) return one(x.dtype(), SymShape.unknownDims((int) Math.max(k, x.shape().rank())));
            return one(x.dtype(), SymShape.UNKNOWN_RANK);
        }
        return one(x.dtype(), Broadcast.shape(List.of(x.shape(), SymShape.ofKnown(shape))));
    }

    static void expand(ExecContext c) {
        Tensor x = c.input(0);
        // a memgraph tile of the output broadcasts its box of the input to its own box (ExpandBoxes), not to the whole
        long[] box = c.attributes().getInts(dev.sluice.kernels.ExpandBoxes.TILE_SHAPE);
        Shape out = Broadcast.shape(x.shape(), Shape.of(box != null ? box : c.input(1).toLongArray()));
        if (box != null && !Arrays.equals(out.dims(), box)) {
            throw new KernelException("Expand tile of shape " + Arrays.toString(box) + " does not take its input " + x.shape());
        }
        Tensor y = c.output(0, x.dtype(), out);
        MovementCopy.gather(x, 0, Broadcast.stridesFor(x.shape(), out), y, out.dims(), c.parallelism());
    }

    static List<TensorType> inferTile(InferContext c) {
        TensorType x = inType(c, 0);
        long[] rep = constLongs(c, 1);
        SymShape s = x.shape();
        if (!s.hasRank()) return one(x.dtype(), SymShape.UNKNOWN_RANK);
        if (rep == null) return one(x.dtype(), SymShape.unknownDims(s.rank()));
        if (rep.length != s.rank()) throw new KernelException("Tile repeats " + Arrays.toString(rep) + " do not match rank " + s.rank());
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < rep.length; i++) {
            Dim d = s.dim(i);
            out.add(d.isKnown() ? Dim.of(d.value() * rep[i]) : rep[i] == 1 ? d : rep[i] == 0 ? Dim.of(0) : Dim.UNKNOWN);
        }
        return one(x.dtype(), new SymShape(out));
    }

    static void tile(ExecContext c) {
        Tensor x = c.input(0);
        long[] rep = c.input(1).toLongArray();
        int r = x.rank();
        if (rep.length != r) throw new KernelException("Tile repeats " + Arrays.toString(rep) + " do not match rank " + r);
        // output index i*d+k on each axis is row-major over the pair (i, k): a view [rep0,d0,rep1,d1,...] whose
        // repeat axes have source stride 0
        long[] out = new long[r], view = new long[2 * r], ss = new long[2 * r], st = x.shape().strides();
        for (int i = 0; i < r; i++) {
            if (rep[i] < 0) throw new KernelException("negative Tile repeat " + rep[i]);
            long d = x.shape().dim(i);
            out[i] = d * rep[i];
            view[2 * i] = rep[i]; view[2 * i + 1] = d;
            ss[2 * i] = 0; ss[2 * i + 1] = st[i];
        }
        Tensor y = c.output(0, x.dtype(), Shape.of(out));
        MovementCopy.gather(x, 0, ss, y, view, c.parallelism());
    }

    // ---- Pad ----

    /** Begin and end pads per axis, from the attribute (before opset 11) or the pads/axes inputs. */
    static long[][] padAmounts(int rank, int opset, dev.sluice.kernels.Attributes attrs, long[] padsInput, long[] axesInput) {
        long[] pads = opset >= 11 ? padsInput : attrs.has("pads") ? attrs.getInts("pads") : attrs.getInts("paddings");
        if (pads == null) throw new KernelException("Pad needs pads");
        int[] axs;
        if (axesInput != null) {
            axs = axes(axesInput, rank);
        } else {
            axs = new int[rank];
            for (int i = 0; i < rank; i++) axs[i] = i;
        }
        if (pads.length != 2 * axs.length) throw new KernelException("pads has " + pads.length + " values for " + axs.length + " axes");
        long[] b = new long[rank], e = new long[rank];
        for (int i = 0; i < axs.length; i++) { b[axs[i]] = pads[i]; e[axs[i]] = pads[i + axs.length]; }
        return new long[][] {b, e};
    }

    static List<TensorType> inferPad(InferContext c) {
        TensorType x = inType(c, 0);
        SymShape s = x.shape();
        if (!s.hasRank()) return one(x.dtype(), SymShape.UNKNOWN_RANK);
        int r = s.rank();
        long[] pads = c.opset() >= 11 ? constLongs(c, 1) : null;
        long[] ax = c.opset() >= 18 ? constLongs(c, 3) : null;
        if (c.opset() >= 11 && (pads == null || (c.opset() >= 18 && present(c, 3) && ax == null))) {
            return one(x.dtype(), SymShape.unknownDims(r));
        }
        long[][] p = padAmounts(r, c.opset(), c.attributes(), pads, ax);
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < r; i++) {
            Dim d = s.dim(i);
            long add = p[0][i] + p[1][i];
            out.add(d.isKnown() ? Dim.of(d.value() + add) : add == 0 ? d : Dim.UNKNOWN);
        }
        return one(x.dtype(), new SymShape(out));
    }

    static void pad(ExecContext c) {
        Tensor x = c.input(0);
        int r = x.rank();
        int opset = c.opset();
        long[][] p = padAmounts(r, opset, c.attributes(), opset >= 11 ? c.input(1).toLongArray() : null,
                opset >= 18 && present(c, 3) ? c.input(3).toLongArray() : null);
        String mode = c.attributes().getString("mode", "constant");
        long[] in = x.shape().dims(), out = new long[r];
        // the part of the input that survives negative pads, and where it lands
        long[] srcStart = new long[r], dstStart = new long[r], n = new long[r];
        boolean empty = false;
        for (int i = 0; i < r; i++) {
            out[i] = in[i] + p[0][i] + p[1][i];
            if (out[i] < 0) throw new KernelException("pads " + p[0][i] + "," + p[1][i] + " remove more than axis " + i + " of size " + in[i]);
            srcStart[i] = Math.max(0, -p[0][i]);
            dstStart[i] = Math.max(0, p[0][i]);
            n[i] = Math.max(0, in[i] - srcStart[i] - Math.max(0, -p[1][i]));
            if (n[i] == 0) empty = true;
        }
        Tensor y = c.output(0, x.dtype(), Shape.of(out));
        long[] ist = x.shape().strides(), ost = y.shape().strides();
        long srcOff = 0, dstOff = 0;
        for (int i = 0; i < r; i++) { srcOff += srcStart[i] * ist[i]; dstOff += dstStart[i] * ost[i]; }
        if (mode.equals("constant")) {
            Tensor v = padValue(c, x.dtype());
            MovementCopy.fill(y, 0, y.elementCount(), v, 0);
            if (!empty) MovementCopy.copy(x, srcOff, ist, y, dstOff, ost, n, c.parallelism());
            return;
        }
        if (!mode.equals("reflect") && !mode.equals("edge") && !mode.equals("wrap")) throw new KernelException("unknown Pad mode '" + mode + "'");
        if (y.elementCount() == 0) return;
        if (empty) throw new KernelException("Pad mode " + mode + " cannot pad an empty input " + x.shape());
        MovementCopy.copy(x, srcOff, ist, y, dstOff, ost, n);
        // fill the border axis by axis from the innermost: each padded slab along axis a copies a slab already
        // complete on all inner axes; garbage in outer borders is overwritten when those axes come
        for (int a = r - 1; a >= 0; a--) {
            long outer = y.shape().product(0, a), inner = y.shape().product(a + 1, r), len = out[a];
            long[] slabStr = {len * inner, 1}, slabDims = {outer, inner};
            for (long q = 0; q < len; q++) {
                long rel = q - dstStart[a];
                if (rel >= 0 && rel < n[a]) continue;
                long from = dstStart[a] + sourcePosition(mode, rel, n[a]);
                MovementCopy.copy(y, from * inner, slabStr, y, q * inner, slabStr, slabDims);
            }
        }
    }

    /** The interior position (0..n-1) a border position {@code rel} (relative to the interior start) copies. */
    static long sourcePosition(String mode, long rel, long n) {
        return switch (mode) {
            case "edge" -> Math.clamp(rel, 0, n - 1);
            case "wrap" -> Math.floorMod(rel, n);
            default -> {
                if (n == 1) yield 0;
                long period = 2 * (n - 1);
                long m = Math.floorMod(rel, period);
                yield m < n ? m : period - m;
            }
        };
    }

    static Tensor padValue(ExecContext c, DType dt) {
        if (c.opset() >= 11) {
            if (present(c, 2)) {
                Tensor v = c.input(2);
                if (v.elementCount() < 1) return Tensor.scalar(dt, 0);
                if (v.dtype() == dt) return v;
                return Tensor.scalar(dt, v.getDouble(0));
            }
            return Tensor.scalar(dt, 0);
        }
        return Tensor.scalar(dt, c.attributes().getFloat("value", 0));
    }

    // ---- DepthToSpace / SpaceToDepth ----

    static List<TensorType> inferBlocks(InferContext c, boolean toSpace) {
        TensorType x = inType(c, 0);
        SymShape s = x.shape();
        long b = c.attributes().getInt("blocksize");
        if (!s.hasRank()) return one(x.dtype(), SymShape.unknownDims(4));
        if (s.rank() != 4) throw new KernelException((toSpace ? "DepthToSpace" : "SpaceToDepth") + " needs a 4-D input, got " + s);
        List<Dim> out = ShapeOps.dims(s);
        out.set(1, scale(s.dim(1), toSpace ? -b * b : b * b));
        out.set(2, scale(s.dim(2), toSpace ? b : -b));
        out.set(3, scale(s.dim(3), toSpace ? b : -b));
        return one(x.dtype(), new SymShape(out));
    }

    /** d*f for f > 0, d/-f for f < 0, when d is known. */
    private static Dim scale(Dim d, long f) {
        if (!d.isKnown()) return Dim.UNKNOWN;
        return Dim.of(f > 0 ? d.value() * f : d.value() / -f);
    }

    static void depthToSpace(ExecContext c) {
        Tensor x = c.input(0);
        if (x.rank() != 4) throw new KernelException("DepthToSpace needs a 4-D input, got " + x.shape());
        long b = c.attributes().getInt("blocksize");
        String mode = c.attributes().getString("mode", "DCR");
        long n = x.shape().dim(0), ch = x.shape().dim(1), h = x.shape().dim(2), w = x.shape().dim(3);
        if (b <= 0 || ch % (b * b) != 0) throw new KernelException("channels " + ch + " are not divisible by blocksize^2 for blocksize " + b);
        long oc = ch / (b * b);
        long sN = ch * h * w, sC = h * w;
        // view of the output as [N, C', H, b1, W, b2]; input channel is (b1*b+b2)*C'+c (DCR) or c*b*b+b1*b+b2 (CRD)
        long[] view = {n, oc, h, b, w, b};
        long[] ss = switch (mode) {
            case "DCR" -> new long[] {sN, sC, w, b * oc * sC, 1, oc * sC};
            case "CRD" -> new long[] {sN, b * b * sC, w, b * sC, 1, sC};
            default -> throw new KernelException("unknown DepthToSpace mode '" + mode + "'");
        };
        Tensor y = c.output(0, x.dtype(), Shape.of(n, oc, h * b, w * b));
        MovementCopy.gather(x, 0, ss, y, view, c.parallelism());
    }

    static void spaceToDepth(ExecContext c) {
        Tensor x = c.input(0);
        if (x.rank() != 4) throw new KernelException("SpaceToDepth needs a 4-D input, got " + x.shape());
        long b = c.attributes().getInt("blocksize");
        long n = x.shape().dim(0), ch = x.shape().dim(1), h = x.shape().dim(2), w = x.shape().dim(3);
        if (b <= 0 || h % b != 0 || w % b != 0) throw new KernelException("spatial size " + h + "x" + w + " is not divisible by blocksize " + b);
        // output channel (b1*b+b2)*C+c (DCR, the only mode before opset 28) viewed as [N, b1, b2, C, H/b, W/b],
        // or c*b*b+b1*b+b2 (CRD) viewed as [N, C, b1, b2, H/b, W/b]
        String mode = c.attributes().getString("mode", "DCR");
        long[] view = switch (mode) {
            case "DCR" -> new long[] {n, b, b, ch, h / b, w / b};
            case "CRD" -> new long[] {n, ch, b, b, h / b, w / b};
            default -> throw new KernelException("unknown SpaceToDepth mode '" + mode + "'");
        };
        long[] ss = mode.equals("DCR") ? new long[] {ch * h * w, w, 1, h * w, b * w, b}
            : new long[] {ch * h * w, h * w, w, 1, b * w, b};
        Tensor y = c.output(0, x.dtype(), Shape.of(n, ch * b * b, h / b, w / b));
        MovementCopy.gather(x, 0, ss, y, view, c.parallelism());
    }

    // ---- Trilu ----

    static void trilu(ExecContext c) {
        Tensor x = c.input(0);
        if (x.rank() < 2) throw new KernelException("Trilu needs rank >= 2, got " + x.shape());
        long k = present(c, 1) ? c.input(1).getLong(0) : 0;
        boolean upper = c.attributes().getInt("upper", 1) != 0;
        int r = x.rank();
        long rows = x.shape().dim(r - 2), cols = x.shape().dim(r - 1), mats = x.shape().product(0, r - 2);
        Tensor y = c.output(0, x.dtype(), x.shape());
        for (long m = 0; m < mats; m++) {
            for (long i = 0; i < rows; i++) {
                long base = (m * rows + i) * cols;
                // upper keeps columns j >= i+k, lower keeps j <= i+k
                long split = Math.clamp(upper ? i + k : i + k + 1, 0, cols);
                if (upper) {
                    MovementCopy.zero(y, base, split);
                    MovementCopy.run(x, base + split, y, base + split, cols - split);
                } else {
                    MovementCopy.run(x, base, y, base, split);
                    MovementCopy.zero(y, base + split, cols - split);
                }
            }
        }
    }

    // ---- ReverseSequence ----

    static void reverseSequence(ExecContext c) {
        Tensor x = c.input(0);
        long[] lens = c.input(1).toLongArray();
        int r = x.rank();
        if (r < 2) throw new KernelException("ReverseSequence needs rank >= 2, got " + x.shape());
        int ta = axis(c.attributes().getInt("time_axis", 0), r), ba = axis(c.attributes().getInt("batch_axis", 1), r);
        if (ta == ba) throw new KernelException("time_axis and batch_axis are both " + ta);
        long batch = x.shape().dim(ba), time = x.shape().dim(ta);
        if (lens.length != batch) throw new KernelException("sequence_lens has " + lens.length + " entries for batch " + batch);
        long[] st = x.shape().strides();
        long[] dims = new long[r - 2], ss = new long[r - 2];
        for (int i = 0, j = 0; i < r; i++) {
            if (i == ta || i == ba) continue;
            dims[j] = x.shape().dim(i); ss[j] = st[i]; j++;
        }
        Tensor y = c.output(0, x.dtype(), x.shape());
        for (long b = 0; b < batch; b++) {
            long len = lens[(int) b];
            if (len < 0 || len > time) throw new KernelException("sequence length " + len + " out of range [0, " + time + "]");
            for (long t = 0; t < time; t++) {
                long from = t < len ? len - 1 - t : t;
                MovementCopy.copy(x, b * st[ba] + from * st[ta], ss, y, b * st[ba] + t * st[ta], ss, dims);
            }
        }
    }
}
