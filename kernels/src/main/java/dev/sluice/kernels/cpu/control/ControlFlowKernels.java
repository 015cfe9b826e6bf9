package dev.sluice.kernels.cpu.control;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Subgraph;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * If, Loop and Scan over tensors (sequence- and optional-typed values are not supported). Values a subgraph
 * returns are copied before they are kept, since the executor owns their memory.
 */
final class ControlFlowKernels {
    private ControlFlowKernels() {}

    // ---- tensor plumbing shared by Loop and Scan ----

    /** The type both a and b may have: equal dims stay, others become unknown. */
    static TensorType union(TensorType a, TensorType b) {
        DType dt = a.dtype() != null ? a.dtype() : b.dtype();
        SymShape sa = a.shape(), sb = b.shape();
        if (!sa.hasRank() || !sb.hasRank() || sa.rank() != sb.rank()) return TensorType.of(dt, SymShape.UNKNOWN_RANK);
        List<Dim> d = new ArrayList<>();
        for (int i = 0; i < sa.rank(); i++) d.add(sa.dim(i).equals(sb.dim(i)) ? sa.dim(i) : Dim.UNKNOWN);
        return TensorType.of(dt, new SymShape(d));
    }

    /** The shape with {@code d} inserted at {@code axis} (negative counts from the end of the result). */
    static SymShape insertDim(SymShape s, int axis, Dim d) {
        if (!s.hasRank()) return SymShape.UNKNOWN_RANK;
        List<Dim> l = new ArrayList<>(s.dims());
        l.add(Shape.normalizeAxis(axis, s.rank() + 1), d);
        return new SymShape(l);
    }

    /** Element {@code index} along {@code axis}, as a fresh tensor without that axis. */
    static Tensor slice(Tensor t, int axis, long index) {
        Shape s = t.shape();
        long[] dims = s.dims();
        long[] out = new long[dims.length - 1];
        for (int i = 0, j = 0; i < dims.length; i++) if (i != axis) out[j++] = dims[i];
        Tensor r = Tensor.allocate(t.dtype(), Shape.of(out));
        long outer = s.product(0, axis);
        long inner = s.product(axis + 1, s.rank()) * t.dtype().byteSize();
        for (long o = 0; o < outer; o++) {
            MemorySegment.copy(t.data(), (o * dims[axis] + index) * inner, r.data(), o * inner, inner);
        }
        return r;
    }

    /** Writes part {@code p} of {@code count} into {@code out}, stacked along {@code axis}. */
    static void place(Tensor out, Tensor part, int axis, long p) {
        Shape s = part.shape();
        long count = out.shape().dim(axis);
        long outer = s.product(0, axis);
        long inner = s.product(axis, s.rank()) * part.dtype().byteSize();
        for (long o = 0; o < outer; o++) {
            MemorySegment.copy(part.data(), o * inner, out.data(), (o * count + p) * inner, inner);
        }
    }

    static Shape withDim(Shape s, int axis, long d) {
        long[] dims = s.dims();
        long[] r = new long[dims.length + 1];
        for (int i = 0, j = 0; i < r.length; i++) r[i] = i == axis ? d : dims[j++];
        return Shape.of(r);
    }

    static void checkSameShape(List<Tensor> parts, String what) {
        for (Tensor t : parts) {
            if (!t.shape().equals(parts.get(0).shape()) || t.dtype() != parts.get(0).dtype()) {
                throw new KernelException(what + " changes type across iterations: " + parts.get(0) + " then " + t);
            }
        }
    }

    /** Scan outputs with no iterations: the body's declared element shape, else [0]. */
    static Shape emptyStack(TensorType declared, int axis) {
        if (declared.shape().isStatic()) {
            Shape s = declared.shape().toShape();
            return withDim(s, Shape.normalizeAxis(axis, s.rank() + 1), 0);
        }
        return Shape.of(0);
    }

    private static boolean truth(Tensor t, String what) {
        if (t.elementCount() != 1) throw new KernelException(what + " must have one element, got shape " + t.shape());
        return t.getBoolean(0);
    }

    // ---- If ----

    static final class If implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            Subgraph thenG = ctx.attributes().getGraph("then_branch"), elseG = ctx.attributes().getGraph("else_branch");
            Tensor cond = ctx.constantInput(0);
            if (cond != null) return ctx.inferSubgraph(truth(cond, "cond") ? thenG : elseG, List.of());
            // A branch whose shapes cannot work (a Squeeze of a dim the cond tests for 1, say) is the one not
            // taken: the other branch alone gives the types. Both failing is an error.
            List<TensorType> a, b;
            try {
                a = ctx.inferSubgraph(thenG, List.of());
            } catch (dev.sluice.kernels.SluiceException e) {
                return ctx.inferSubgraph(elseG, List.of());
            }
            try {
                b = ctx.inferSubgraph(elseG, List.of());
            } catch (dev.sluice.kernels.SluiceException e) {
                return a;
            }
            if (a.size() != b.size()) throw new KernelException("then_branch has " + a.size() + " outputs, else_branch " + b.size());
            List<TensorType> r = new ArrayList<>();
            for (int i = 0; i < a.size(); i++) r.add(union(a.get(i), b.get(i)));
            return r;
        }

        @Override
        public void execute(ExecContext ctx) {
            boolean c = truth(ctx.input(0), "If cond");
            Subgraph g = ctx.attributes().getGraph(c ? "then_branch" : "else_branch");
            List<Tensor> outs = ctx.runSubgraph(g, List.of());
            if (outs.size() != ctx.outputCount()) {
                throw new KernelException((c ? "then" : "else") + "_branch returned " + outs.size() + " values for " + ctx.outputCount() + " outputs");
            }
            for (int i = 0; i < outs.size(); i++) {
                Tensor t = outs.get(i);
                ctx.output(i, t.dtype(), t.shape()).copyFrom(t);
            }
        }
    }

    // ---- sluice.BranchGuard ----

    /**
     * What an If leaves behind when a planner inlines the branch it took for one set of inputs: checks that
     * this run's condition is the planned one and fails the run, naming the If, when it is not. Its output is
     * the condition (a bool scalar) so that the guard is a node like any other; nothing needs to read it.
     */
    static final class BranchGuard implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(DType.BOOL, SymShape.of()));
        }

        @Override
        public void execute(ExecContext ctx) {
            boolean planned = ctx.attributes().getInt("then") != 0;
            boolean c = truth(ctx.input(0), "If cond");
            if (c != planned) {
                throw new KernelException("If " + ctx.attributes().getString("node", "?") + " was planned for its "
                    + (planned ? "then" : "else") + "_branch (the branch the inputs the plan was made for took), but this run's"
                    + " condition takes its " + (c ? "then" : "else") + "_branch: plan again for these inputs");
            }
            ctx.output(0, DType.BOOL, Shape.of()).setBoolean(0, c);
        }
    }

    // ---- Loop ----

    static final class Loop implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            Subgraph body = ctx.attributes().getGraph("body");
            int n = ctx.inputCount() - 2;
            List<TensorType> in = new ArrayList<>();
            in.add(TensorType.of(DType.INT64, SymShape.of()));
            in.add(TensorType.of(DType.BOOL, SymShape.of()));
            for (int i = 0; i < n; i++) in.add(ctx.inputType(2 + i));
            List<TensorType> bo = ctx.inferSubgraph(body, in);
            List<TensorType> r = new ArrayList<>();
            for (int i = 0; i < n; i++) r.add(union(in.get(2 + i), bo.get(1 + i)));
            for (int k = 1 + n; k < bo.size(); k++) r.add(TensorType.of(bo.get(k).dtype(), insertDim(bo.get(k).shape(), 0, Dim.UNKNOWN)));
            return r;
        }

        @Override
        public void execute(ExecContext ctx) {
            Subgraph body = ctx.attributes().getGraph("body");
            long maxTrips = ctx.hasInput(0) ? ctx.input(0).getLong(0) : Long.MAX_VALUE;
            boolean cond = !ctx.hasInput(1) || truth(ctx.input(1), "Loop cond");
            int n = ctx.inputCount() - 2;
            int k = ctx.outputCount() - n;
            if (body.outputNames().size() != 1 + n + k) {
                throw new KernelException("Loop body has " + body.outputNames().size() + " outputs, expected 1 + " + n + " carried + " + k + " scan outputs");
            }
            List<Tensor> carried = new ArrayList<>();
            for (int i = 0; i < n; i++) carried.add(ctx.input(2 + i));
            List<List<Tensor>> scans = new ArrayList<>();
            for (int j = 0; j < k; j++) scans.add(new ArrayList<>());
            for (long it = 0; it < maxTrips && cond; it++) {
                List<Tensor> in = new ArrayList<>();
                in.add(Tensor.ofLongs(Shape.SCALAR, it));
                Tensor c = Tensor.allocate(DType.BOOL, Shape.SCALAR);
                c.setBoolean(0, cond);
                in.add(c);
                in.addAll(carried);
                List<Tensor> out = ctx.runSubgraph(body, in);
                cond = truth(out.get(0), "Loop body cond output");
                for (int i = 0; i < n; i++) carried.set(i, out.get(1 + i).copy());
                for (int j = 0; j < k; j++) scans.get(j).add(out.get(1 + n + j).copy());
            }
            for (int i = 0; i < n; i++) {
                Tensor t = carried.get(i);
                ctx.output(i, t.dtype(), t.shape()).copyFrom(t);
            }
            for (int j = 0; j < k; j++) {
                List<Tensor> parts = scans.get(j);
                if (parts.isEmpty()) {
                    TensorType decl = body.outputTypes().get(1 + n + j);
                    ctx.output(n + j, decl.dtype() == null ? DType.FLOAT32 : decl.dtype(), emptyStack(decl, 0));
                    continue;
                }
                checkSameShape(parts, "Loop scan output " + j);
                Tensor o = ctx.output(n + j, parts.get(0).dtype(), withDim(parts.get(0).shape(), 0, parts.size()));
                for (int p = 0; p < parts.size(); p++) place(o, parts.get(p), 0, p);
            }
        }
    }

    // ---- Scan ----

    static final class Scan implements OpKernel {
        private static long[] ints(Attributes at, String name, int count) {
            long[] v = at.getInts(name);
            if (v == null) return new long[count];
            if (v.length != count) throw new KernelException(name + " has " + v.length + " entries, expected " + count);
            return v;
        }

        @Override
        public List<TensorType> infer(InferContext ctx) {
            Attributes at = ctx.attributes();
            Subgraph body = at.getGraph("body");
            boolean v8 = ctx.opset() < 9;
            int first = v8 ? 1 : 0;
            int m = (int) at.getInt("num_scan_inputs");
            int n = ctx.inputCount() - first - m;
            int k = ctx.outputCount() - n;
            long[] inAxes = v8 ? new long[m] : ints(at, "scan_input_axes", m);
            long[] outAxes = v8 ? new long[k] : ints(at, "scan_output_axes", k);
            List<TensorType> bodyIn = new ArrayList<>();
            Dim seq = Dim.UNKNOWN, batch = Dim.UNKNOWN;
            for (int i = 0; i < n; i++) bodyIn.add(dropFirst(ctx.inputType(first + i), v8));
            for (int j = 0; j < m; j++) {
                TensorType t = ctx.inputType(first + n + j);
                if (!t.shape().hasRank()) { bodyIn.add(TensorType.of(t.dtype(), SymShape.UNKNOWN_RANK)); continue; }
                List<Dim> d = new ArrayList<>(t.shape().dims());
                if (v8) batch = d.remove(0);
                int ax = Shape.normalizeAxis((int) inAxes[j], d.size());
                Dim sd = d.remove(ax);
                if (j == 0) seq = sd;
                bodyIn.add(TensorType.of(t.dtype(), new SymShape(d)));
            }
            List<TensorType> bo = ctx.inferSubgraph(body, bodyIn);
            List<TensorType> r = new ArrayList<>();
            for (int i = 0; i < n; i++) r.add(union(ctx.inputType(first + i), v8 ? TensorType.of(bo.get(i).dtype(), insertDim(bo.get(i).shape(), 0, batch)) : bo.get(i)));
            for (int j = 0; j < k; j++) {
                TensorType t = bo.get(n + j);
                SymShape s = insertDim(t.shape(), (int) outAxes[j], seq);
                if (v8) s = insertDim(s, 0, batch);
                r.add(TensorType.of(t.dtype(), s));
            }
            return r;
        }

        private static TensorType dropFirst(TensorType t, boolean drop) {
            if (!drop || !t.shape().hasRank()) return t;
            return TensorType.of(t.dtype(), new SymShape(t.shape().dims().subList(1, t.shape().rank())));
        }

        @Override
        public void execute(ExecContext ctx) {
            if (ctx.opset() < 9) { executeV8(ctx); return; }
            Attributes at = ctx.attributes();
            Subgraph body = at.getGraph("body");
            int m = (int) at.getInt("num_scan_inputs");
            int n = ctx.inputCount() - m;
            int k = ctx.outputCount() - n;
            long[] inAxes = ints(at, "scan_input_axes", m), inDirs = ints(at, "scan_input_directions", m);
            long[] outAxes = ints(at, "scan_output_axes", k), outDirs = ints(at, "scan_output_directions", k);
            List<Tensor> states = new ArrayList<>();
            for (int i = 0; i < n; i++) states.add(ctx.input(i));
            List<Tensor> scanIn = new ArrayList<>();
            int[] axes = new int[m];
            for (int j = 0; j < m; j++) {
                scanIn.add(ctx.input(n + j));
                axes[j] = Shape.normalizeAxis((int) inAxes[j], scanIn.get(j).rank());
            }
            long seq = m == 0 ? 0 : scanIn.get(0).shape().dim(axes[0]);
            for (int j = 1; j < m; j++) {
                if (scanIn.get(j).shape().dim(axes[j]) != seq) throw new KernelException("scan inputs differ in sequence length: " + seq + " and " + scanIn.get(j).shape().dim(axes[j]));
            }
            List<List<Tensor>> outs = run(ctx, body, states, scanIn, axes, inDirs, seq, n, k);
            for (int i = 0; i < n; i++) ctx.output(i, states.get(i).dtype(), states.get(i).shape()).copyFrom(states.get(i));
            for (int j = 0; j < k; j++) {
                List<Tensor> parts = outs.get(j);
                if (parts.isEmpty()) {
                    TensorType decl = body.outputTypes().get(n + j);
                    ctx.output(n + j, decl.dtype() == null ? DType.FLOAT32 : decl.dtype(), emptyStack(decl, (int) outAxes[j]));
                    continue;
                }
                checkSameShape(parts, "Scan output " + j);
                Shape es = parts.get(0).shape();
                int ax = Shape.normalizeAxis((int) outAxes[j], es.rank() + 1);
                Tensor o = ctx.output(n + j, parts.get(0).dtype(), withDim(es, ax, parts.size()));
                for (int p = 0; p < parts.size(); p++) place(o, parts.get(p), ax, outDirs[j] != 0 ? parts.size() - 1 - p : p);
            }
        }

        /** Runs the body over the sequence; updates {@code states} in place and returns each scan output's slices. */
        private static List<List<Tensor>> run(ExecContext ctx, Subgraph body, List<Tensor> states, List<Tensor> scanIn,
                                              int[] axes, long[] dirs, long seq, int n, int k) {
            List<List<Tensor>> outs = new ArrayList<>();
            for (int j = 0; j < k; j++) outs.add(new ArrayList<>());
            for (long t = 0; t < seq; t++) {
                List<Tensor> in = new ArrayList<>(states);
                for (int j = 0; j < scanIn.size(); j++) in.add(slice(scanIn.get(j), axes[j], dirs[j] != 0 ? seq - 1 - t : t));
                List<Tensor> out = ctx.runSubgraph(body, in);
                if (out.size() != n + k) throw new KernelException("Scan body returned " + out.size() + " values, expected " + (n + k));
                for (int i = 0; i < n; i++) states.set(i, out.get(i).copy());
                for (int j = 0; j < k; j++) outs.get(j).add(out.get(n + j).copy());
            }
            return outs;
        }

        /** Opset 8: a leading batch axis on every input and output, optional sequence_lens, scan axis 1. */
        private void executeV8(ExecContext ctx) {
            Attributes at = ctx.attributes();
            Subgraph body = at.getGraph("body");
            int m = (int) at.getInt("num_scan_inputs");
            int n = ctx.inputCount() - 1 - m;
            int k = ctx.outputCount() - n;
            long[] dirs = ints(at, "directions", m);
            long batch = ctx.input(1).shape().dim(0); // every input after sequence_lens leads with the batch axis
            long seq = m == 0 ? 0 : ctx.input(1 + n).shape().dim(1);
            Tensor lens = ctx.hasInput(0) ? ctx.input(0) : null;
            List<List<Tensor>> finalStates = new ArrayList<>();
            List<List<List<Tensor>>> scanOuts = new ArrayList<>();
            int[] axes = new int[m];
            for (long b = 0; b < batch; b++) {
                List<Tensor> states = new ArrayList<>();
                for (int i = 0; i < n; i++) states.add(slice(ctx.input(1 + i), 0, b));
                List<Tensor> scanIn = new ArrayList<>();
                for (int j = 0; j < m; j++) scanIn.add(slice(ctx.input(1 + n + j), 0, b));
                long len = lens == null ? seq : lens.getLong(b);
                if (len < 0 || len > seq) throw new KernelException("sequence_lens[" + b + "] = " + len + " outside [0, " + seq + "]");
                // a shorter sequence scans its first len elements; reverse scans start from its own end
                List<Tensor> cut = new ArrayList<>();
                for (Tensor t : scanIn) cut.add(len == seq ? t : prefix(t, len));
                scanOuts.add(run(ctx, body, states, cut, axes, dirs, len, n, k));
                finalStates.add(states);
            }
            for (int i = 0; i < n; i++) {
                Tensor first = finalStates.get(0).get(i);
                Tensor o = ctx.output(i, first.dtype(), withDim(first.shape(), 0, batch));
                for (int b = 0; b < batch; b++) place(o, finalStates.get(b).get(i), 0, b);
            }
            for (int j = 0; j < k; j++) {
                Tensor sample = null;
                for (List<List<Tensor>> ob : scanOuts) if (!ob.get(j).isEmpty()) { sample = ob.get(j).get(0); break; }
                if (sample == null) {
                    TensorType decl = body.outputTypes().get(n + j);
                    Shape e = emptyStack(decl, 0);
                    ctx.output(n + j, decl.dtype() == null ? DType.FLOAT32 : decl.dtype(), withDim(e, 0, batch));
                    continue;
                }
                Tensor o = ctx.output(n + j, sample.dtype(), withDim(withDim(sample.shape(), 0, seq), 0, batch));
                long per = sample.byteSize();
                for (int b = 0; b < batch; b++) {
                    List<Tensor> parts = scanOuts.get(b).get(j);
                    checkSameShape(parts, "Scan output " + j);
                    long base = (long) b * seq * per;
                    for (int p = 0; p < parts.size(); p++) MemorySegment.copy(parts.get(p).data(), 0, o.data(), base + (long) p * per, per);
                    // steps past this batch entry's length stay zero
                    if (parts.size() < seq) o.data().asSlice(base + parts.size() * per, (seq - parts.size()) * per).fill((byte) 0);
                }
            }
        }

        private static Tensor prefix(Tensor t, long len) {
            Tensor r = Tensor.allocate(t.dtype(), withDim(slice(t, 0, 0).shape(), 0, len));
            MemorySegment.copy(t.data(), 0, r.data(), 0, r.byteSize());
            return r;
        }
    }
}
