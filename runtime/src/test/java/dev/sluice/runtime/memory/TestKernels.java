package dev.sluice.runtime.memory;

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
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/**
 * Tiny reference kernels for the memory-planning tests, so that they run before (and independently of)
 * the real CPU kernels: the registry takes the shipped kernel where there is one and one of these where
 * not. Floating-point types only; anything else fails the run, which the sweep tests count as skipped.
 */
final class TestKernels {
    private TestKernels() {}

    static OpRegistry registry() {
        OpRegistry r = OpRegistry.cpu();
        add(r, "Relu", unary(v -> v > 0 ? v : 0.0));
        add(r, "Neg", unary(v -> -v));
        add(r, "Abs", unary(Math::abs));
        add(r, "Exp", unary(Math::exp));
        add(r, "Tanh", unary(Math::tanh));
        add(r, "Sigmoid", unary(v -> 1 / (1 + Math.exp(-v))));
        add(r, "Sqrt", unary(Math::sqrt));
        add(r, "Add", binary(Double::sum));
        add(r, "Sub", binary((a, b) -> a - b));
        add(r, "Mul", binary((a, b) -> a * b));
        add(r, "Div", binary((a, b) -> a / b));
        add(r, "MatMul", new MatMul2D());
        add(r, "Concat", new Concat());
        return r;
    }

    private static void add(OpRegistry r, String op, OpKernel k) { if (!r.supports("", op)) r.register(op, k); }

    static void requireFloat(DType t) {
        if (t == null || !t.isFloatingPoint() || t == DType.FLOAT16) throw new KernelException("test kernel: " + t + " not supported");
    }

    static OpKernel unary(DoubleUnaryOperator f) {
        return new OpKernel() {
            @Override public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }
            @Override public void execute(ExecContext ctx) {
                Tensor x = ctx.input(0);
                requireFloat(x.dtype());
                Tensor y = ctx.output(0, x.dtype(), x.shape());
                for (long i = 0; i < x.elementCount(); i++) y.setDouble(i, f.applyAsDouble(x.getDouble(i)));
            }
            @Override public boolean inPlaceSafe() { return true; }
        };
    }

    static OpKernel binary(DoubleBinaryOperator f) {
        return new OpKernel() {
            @Override public List<TensorType> infer(InferContext ctx) {
                TensorType a = ctx.inputType(0), b = ctx.inputType(1);
                if (a.shape().isStatic() && b.shape().isStatic()) {
                    return List.of(TensorType.of(a.dtype(), broadcast(a.shape().toShape(), b.shape().toShape())));
                }
                if (a.shape().equals(b.shape())) return List.of(a);
                return List.of(new TensorType(a.dtype(), SymShape.UNKNOWN_RANK));
            }
            @Override public void execute(ExecContext ctx) {
                Tensor a = ctx.input(0), b = ctx.input(1);
                requireFloat(a.dtype());
                Shape s = broadcast(a.shape(), b.shape());
                Tensor y = ctx.output(0, a.dtype(), s);
                long[] sa = bstrides(a.shape(), s), sb = bstrides(b.shape(), s), dims = s.dims();
                long[] idx = new long[dims.length];
                for (long i = 0; i < y.elementCount(); i++) {
                    long ia = 0, ib = 0;
                    for (int d = 0; d < dims.length; d++) { ia += idx[d] * sa[d]; ib += idx[d] * sb[d]; }
                    y.setDouble(i, f.applyAsDouble(a.getDouble(ia), b.getDouble(ib)));
                    for (int d = dims.length - 1; d >= 0; d--) { if (++idx[d] < dims[d]) break; idx[d] = 0; }
                }
            }
            @Override public boolean inPlaceSafe() { return true; }
        };
    }

    static Shape broadcast(Shape a, Shape b) {
        int r = Math.max(a.rank(), b.rank());
        long[] o = new long[r];
        for (int i = 0; i < r; i++) {
            long x = i - (r - a.rank()) >= 0 ? a.dim(i - (r - a.rank())) : 1;
            long y = i - (r - b.rank()) >= 0 ? b.dim(i - (r - b.rank())) : 1;
            if (x != y && x != 1 && y != 1) throw new KernelException("shapes " + a + " and " + b + " do not broadcast");
            o[i] = x == 1 ? y : x;
        }
        return Shape.of(o);
    }

    /** Element strides of {@code s} read as broadcast to {@code to} (0 along broadcast axes). */
    static long[] bstrides(Shape s, Shape to) {
        long[] st = s.strides(), r = new long[to.rank()];
        int off = to.rank() - s.rank();
        for (int i = 0; i < s.rank(); i++) r[off + i] = s.dim(i) == 1 ? 0 : st[i];
        return r;
    }

    static final class MatMul2D implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType a = ctx.inputType(0), b = ctx.inputType(1);
            if (!a.shape().hasRank() || !b.shape().hasRank() || a.shape().rank() != 2 || b.shape().rank() != 2) {
                return List.of(new TensorType(a.dtype(), SymShape.UNKNOWN_RANK));
            }
            return List.of(new TensorType(a.dtype(), SymShape.of(a.shape().dim(0), b.shape().dim(1))));
        }
        @Override public void execute(ExecContext ctx) {
            Tensor a = ctx.input(0), b = ctx.input(1);
            requireFloat(a.dtype());
            if (a.rank() != 2 || b.rank() != 2) throw new KernelException("test MatMul is 2-D only");
            long m = a.shape().dim(0), k = a.shape().dim(1), n = b.shape().dim(1);
            Tensor y = ctx.output(0, a.dtype(), Shape.of(m, n));
            for (long i = 0; i < m; i++) {
                for (long j = 0; j < n; j++) {
                    double s = 0;
                    for (long p = 0; p < k; p++) s += a.getDouble(i * k + p) * b.getDouble(p * n + j);
                    y.setDouble(i * n + j, s);
                }
            }
        }
    }

    static final class Concat implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            int axis = (int) ctx.attributes().getInt("axis");
            TensorType a = ctx.inputType(0);
            if (!a.shape().hasRank()) return List.of(a);
            int r = a.shape().rank();
            int ax = axis < 0 ? axis + r : axis;
            List<Dim> dims = new ArrayList<>(a.shape().dims());
            long sum = 0;
            for (int i = 0; i < ctx.inputCount(); i++) {
                TensorType t = ctx.inputType(i);
                if (!t.shape().hasRank() || !(t.shape().dim(ax) instanceof Dim.Known k)) { sum = -1; break; }
                sum += k.value();
            }
            dims.set(ax, sum < 0 ? Dim.UNKNOWN : Dim.of(sum));
            return List.of(new TensorType(a.dtype(), new SymShape(dims)));
        }
        @Override public void execute(ExecContext ctx) {
            int axis = (int) ctx.attributes().getInt("axis");
            Tensor a = ctx.input(0);
            requireFloat(a.dtype());
            int ax = Shape.normalizeAxis(axis, a.rank());
            long[] dims = a.shape().dims();
            long total = 0;
            for (int i = 0; i < ctx.inputCount(); i++) total += ctx.input(i).shape().dim(ax);
            dims[ax] = total;
            Tensor y = ctx.output(0, a.dtype(), Shape.of(dims));
            long outer = a.shape().product(0, ax), inner = a.shape().product(ax + 1, a.rank());
            long pos = 0;
            for (int i = 0; i < ctx.inputCount(); i++) {
                Tensor x = ctx.input(i);
                long w = x.shape().dim(ax) * inner;
                for (long o = 0; o < outer; o++) {
                    for (long e = 0; e < w; e++) y.setDouble(o * total * inner + pos + e, x.getDouble(o * w + e));
                }
                pos += w;
            }
        }
    }
}
