package dev.sluice.kernels.cpu.quant;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.Broadcast;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * The ONNX Runtime contrib (com.microsoft) elementwise ops over per-tensor quantized 8-bit tensors, as ORT's
 * QOperator quantization writes them: QLinearAdd and QLinearMul (numpy broadcasting), and the unary
 * QLinearSigmoid and QLinearLeakyRelu (a 256-entry table, so every byte gets exactly the per-element formula).
 *
 * <p>Arithmetic, as ONNX Runtime's x86 kernels do it, bit for bit. Add: {@code ((qa - za) sa + (qb - zb) sb) / sc + zc}
 * evaluated as two scale ratios and fused multiply-adds in ORT's order ({@link AddForm}), rounded half to even,
 * saturated. Mul: the exact
 * integer product {@code (qa - zpa)(qb - zpb)} as float, times the float32 ratio {@code sa * sb / sc}, plus zpc as
 * float, rounded half to even, saturated.
 */
final class QLinearElementwiseKernels {
    private QLinearElementwiseKernels() {}

    private static final ValueLayout.OfByte B = ValueLayout.JAVA_BYTE;

    /** The 8-bit type of input {@code i}, checked. */
    static DType eightBit(ExecContext ctx, int i, String what) {
        DType t = ctx.input(i).dtype();
        if (t != DType.UINT8 && t != DType.INT8) {
            throw new KernelException(ctx.opType() + " '" + ctx.nodeName() + "': " + what + " must be uint8 or int8, got " + t);
        }
        return t;
    }

    enum BinaryOp { ADD, MUL }

    /** QLinearAdd / QLinearMul: inputs A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale, C_zp?; C has A's type. */
    static final class QLinearBinary implements OpKernel {
        private final BinaryOp op;

        QLinearBinary(BinaryOp op) { this.op = op; }

        @Override
        public List<TensorType> infer(InferContext ctx) {
            return List.of(TensorType.of(ctx.inputType(0).dtype(),
                    Broadcast.shape(List.of(ctx.inputType(0).shape(), ctx.inputType(3).shape()))));
        }

        @Override
        public void execute(ExecContext ctx) {
            if (ctx.inputCount() < 7) throw new KernelException(ctx.opType() + " '" + ctx.nodeName() + "' needs at least 7 inputs, got " + ctx.inputCount());
            DType t = eightBit(ctx, 0, "A");
            if (eightBit(ctx, 3, "B") != t) {
                throw new KernelException(ctx.opType() + " '" + ctx.nodeName() + "': A and B must have one type, got " + t + " and " + ctx.input(3).dtype());
            }
            Tensor a = ctx.input(0), b = ctx.input(3);
            QParam pa = QParam.read(ctx, 1, 2, t, "A"), pb = QParam.read(ctx, 4, 5, t, "B"), pc = QParam.read(ctx, 6, 7, t, "C");
            Shape out;
            try {
                out = Broadcast.shape(a.shape(), b.shape());
            } catch (KernelException e) {
                throw new KernelException(ctx.opType() + " '" + ctx.nodeName() + "': " + e.getMessage());
            }
            Tensor c = ctx.output(0, t, out);
            long n = out.elementCount();
            MemorySegment ad = a.data(), bd = b.data(), cd = c.data();
            boolean same = a.shape().equals(out) && b.shape().equals(out);
            long[] as = same ? null : Broadcast.stridesFor(a.shape(), out), bs = same ? null : Broadcast.stridesFor(b.shape(), out);
            float sc = pc.scale();
            // Mul: the exact integer product times one float ratio, the zero point added before rounding
            float ratio = pa.scale() * pb.scale() / sc, zc = pc.zeroPoint();
            AddForm form = op == BinaryOp.ADD ? AddForm.of(a.shape(), b.shape(), out, pa, pb, pc) : null;
            for (long i = 0; i < n; i++) {
                long ia = same ? i : Broadcast.map(i, out, as), ib = same ? i : Broadcast.map(i, out, bs);
                byte qa = ad.get(B, ia), qb = bd.get(B, ib);
                if (op == BinaryOp.ADD) {
                    cd.set(B, i, pc.saturate(Math.rint(form.add(pa.value(qa), pb.value(qb))) - pc.zeroPoint()));
                } else {
                    int prod = (pa.value(qa) - pa.zeroPoint()) * (pb.value(qb) - pb.zeroPoint());
                    cd.set(B, i, pc.saturate(Math.rint((float) prod * ratio + zc) - pc.zeroPoint()));
                }
            }
        }
    }

    /**
     * QLinearAdd's float arithmetic, in the order ONNX Runtime's x86 (AVX2) kernel evaluates it, which depends on
     * how its broadcaster cuts the output into spans: with ratios {@code rx = sx / sc}, {@code ry = sy / sc} and
     * {@code fixed = zc - (rx * zx + ry * zy)}, an element of a span where both inputs vary is
     * {@code fma(x, rx, fma(y, ry, fixed))}; where y is one value over the span,
     * {@code fma(x, rx, fixed + y * ry)}; a span of one element {@code fma(y, ry, fixed + x * rx)}. x and y are the
     * stored integers (the zero points sit in {@code fixed}); the result is rounded half to even and saturated.
     * ORT passes the varying input first (x) and the one constant over the span second (y).
     *
     * @param aIsX whether A plays x (else B does)
     * @param yScalar whether y is one value over each span
     * @param singleton whether each span holds one element
     */
    record AddForm(boolean aIsX, boolean yScalar, boolean singleton, float rx, float ry, float fixed) {
        static AddForm of(Shape a, Shape b, Shape out, QParam pa, QParam pb, QParam pc) {
            boolean single = out.elementCount() == 1;
            if (a.elementCount() == 1) return make(false, true, single, pa, pb, pc);
            if (b.elementCount() == 1) return make(true, true, single, pa, pb, pc);
            // the innermost output axis longer than 1 decides the spans: whichever input is 1 there is constant over them
            int r = out.rank();
            for (int d = r - 1; d >= 0; d--) {
                if (out.dim(d) == 1) continue;
                long da = d - (r - a.rank()) >= 0 ? a.dim(d - (r - a.rank())) : 1;
                long db = d - (r - b.rank()) >= 0 ? b.dim(d - (r - b.rank())) : 1;
                if (da == 1) return make(false, true, false, pa, pb, pc);
                if (db == 1) return make(true, true, false, pa, pb, pc);
                return make(true, false, false, pa, pb, pc);
            }
            return make(true, false, true, pa, pb, pc);
        }

        private static AddForm make(boolean aIsX, boolean yScalar, boolean singleton, QParam pa, QParam pb, QParam pc) {
            QParam px = aIsX ? pa : pb, py = aIsX ? pb : pa;
            float rx = px.scale() / pc.scale(), ry = py.scale() / pc.scale();
            float fixed = (float) pc.zeroPoint() - (rx * px.zeroPoint() + ry * py.zeroPoint());
            return new AddForm(aIsX, yScalar, singleton, rx, ry, fixed);
        }

        /** The float value before rounding (the output zero point included) of stored integers a and b. */
        float add(int a, int b) {
            float x = aIsX ? a : b, y = aIsX ? b : a;
            if (singleton) return Math.fma(y, ry, fixed + x * rx);
            if (yScalar) return Math.fma(x, rx, fixed + y * ry);
            return Math.fma(x, rx, Math.fma(y, ry, fixed));
        }
    }

    /** QLinearSigmoid / QLinearLeakyRelu: inputs X, X_scale, X_zp?, Y_scale, Y_zp?; Y has X's type and shape. */
    static final class QLinearUnary implements OpKernel {
        private final boolean sigmoid;

        private QLinearUnary(boolean sigmoid) { this.sigmoid = sigmoid; }

        static QLinearUnary sigmoid() { return new QLinearUnary(true); }

        static QLinearUnary leakyRelu() { return new QLinearUnary(false); }

        @Override
        public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

        @Override
        public boolean inPlaceSafe() { return true; }

        @Override
        public void execute(ExecContext ctx) {
            if (ctx.inputCount() < 4) throw new KernelException(ctx.opType() + " '" + ctx.nodeName() + "' needs at least 4 inputs, got " + ctx.inputCount());
            DType t = eightBit(ctx, 0, "X");
            QParam px = QParam.read(ctx, 1, 2, t, "X"), py = QParam.read(ctx, 3, 4, t, "Y");
            float alpha = ctx.attributes().getFloat("alpha", 0.01f);
            QParam.FloatOp f = sigmoid ? QLinearElementwiseKernels::logistic : v -> v >= 0 ? v : v * alpha;
            byte[] table = QParam.table(px, py, f);
            Tensor x = ctx.input(0);
            lookup(x.data(), ctx.output(0, t, x.shape()).data(), x.elementCount(), table);
        }
    }

    /**
     * The logistic function as ONNX Runtime tabulates it for QLinearSigmoid (MLAS's kernel, Eigen's rational
     * approximation): x clamped to [-18, 18], odd polynomial p over even polynomial q in x², Horner steps as fused
     * multiply-adds, then {@code p / q + 0.5} clamped to [0, 1]. It differs from 1 / (1 + e^-x) by up to about 1e-7,
     * so in the far tails (values below ~3e-8 are exactly 0 here): bit for bit with ORT's table wherever an output
     * step is that fine.
     */
    static float logistic(float x) {
        float v = Math.min(Math.max(x, -18f), 18f), v2 = v * v;
        float p = Math.fma(v2, 4.37031012579801e-11f, 1.15627324459942e-07f);
        p = Math.fma(p, v2, 6.08574864600143e-05f);
        p = Math.fma(p, v2, 8.51377133304701e-03f);
        p = Math.fma(p, v2, 2.48287947061529e-01f);
        p = p * v;
        float q = Math.fma(v2, 6.10247389755681e-13f, 5.76102136993427e-09f);
        q = Math.fma(q, v2, 6.29106785017040e-06f);
        q = Math.fma(q, v2, 1.70198817374094e-03f);
        q = Math.fma(q, v2, 1.16817656904453e-01f);
        q = Math.fma(q, v2, 9.93151921023180e-01f);
        return Math.min(Math.max(p / q + 0.5f, 0f), 1f);
    }

    /** y[i] = table[x[i] & 0xFF]. */
    static void lookup(MemorySegment x, MemorySegment y, long n, byte[] table) {
        for (long i = 0; i < n; i++) y.set(B, i, table[x.get(B, i) & 0xFF]);
    }

    /**
     * QLinearConcat: inputs Y_scale, Y_zp, then one triple (X, X_scale, X_zp) per tensor to join along {@code axis};
     * each input is requantized to Y's scale and zero point (a table per input; a plain copy where they agree).
     */
    static final class QLinearConcat implements OpKernel {
        @Override
        public List<TensorType> infer(InferContext ctx) {
            int count = (ctx.inputCount() - 2) / 3;
            DType t = ctx.inputType(1).dtype();
            SymShape first = ctx.inputType(2).shape();
            if (!first.hasRank()) return List.of(TensorType.of(t, SymShape.UNKNOWN_RANK));
            int axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis"), first.rank());
            List<dev.sluice.kernels.Dim> dims = new java.util.ArrayList<>(first.dims());
            long total = 0;
            boolean known = true;
            for (int i = 0; i < count; i++) {
                SymShape s = ctx.inputType(2 + 3 * i).shape();
                if (!s.hasRank() || !s.dim(axis).isKnown()) { known = false; break; }
                total += s.dim(axis).value();
            }
            dims.set(axis, known ? dev.sluice.kernels.Dim.of(total) : dev.sluice.kernels.Dim.UNKNOWN);
            return List.of(TensorType.of(t, new SymShape(dims)));
        }

        @Override
        public void execute(ExecContext ctx) {
            String where = ctx.opType() + " '" + ctx.nodeName() + "'";
            if (ctx.inputCount() < 5 || (ctx.inputCount() - 2) % 3 != 0) {
                throw new KernelException(where + " takes Y_scale, Y_zero_point and triples (X, scale, zero point), got " + ctx.inputCount() + " inputs");
            }
            DType t = eightBit(ctx, 1, "Y_zero_point");
            QParam py = QParam.read(ctx, 0, 1, t, "Y");
            int count = (ctx.inputCount() - 2) / 3;
            Tensor first = ctx.input(2);
            int rank = first.rank();
            if (!ctx.attributes().has("axis")) throw new KernelException(where + " needs the attribute axis");
            int axis;
            try {
                axis = Shape.normalizeAxis((int) ctx.attributes().getInt("axis"), rank);
            } catch (RuntimeException e) {
                throw new KernelException(where + ": axis " + ctx.attributes().getInt("axis") + " out of range for rank " + rank);
            }
            long[] od = first.shape().dims();
            long total = 0;
            for (int i = 0; i < count; i++) {
                Tensor x = ctx.input(2 + 3 * i);
                if (x.dtype() != t) throw new KernelException(where + ": input " + i + " is " + x.dtype() + ", Y is " + t);
                if (x.rank() != rank) throw new KernelException(where + ": input " + i + " has shape " + x.shape() + ", input 0 " + first.shape());
                for (int d = 0; d < rank; d++) {
                    if (d != axis && x.shape().dim(d) != od[d]) throw new KernelException(where + ": input " + i + " shape " + x.shape() + " does not fit " + first.shape() + " outside axis " + axis);
                }
                total += x.shape().dim(axis);
            }
            od[axis] = total;
            Shape out = Shape.of(od);
            Tensor y = ctx.output(0, t, out);
            long outer = out.product(0, axis), inner = out.product(axis + 1, rank);
            long yRow = total * inner, yOff = 0;
            for (int i = 0; i < count; i++) {
                Tensor x = ctx.input(2 + 3 * i);
                QParam px = QParam.read(ctx, 3 + 3 * i, 4 + 3 * i, t, "input " + i);
                byte[] table = px.equals(py) ? null : QParam.table(px, py, v -> v);
                long row = x.shape().dim(axis) * inner;
                for (long o = 0; o < outer; o++) {
                    long src = o * row, dst = o * yRow + yOff;
                    if (table == null) MemorySegment.copy(x.data(), src, y.data(), dst, row);
                    else lookup(x.data().asSlice(src, row), y.data().asSlice(dst, row), row, table);
                }
                yOff += row;
            }
        }
    }
}
