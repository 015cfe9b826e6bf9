package dev.sluice.kernels.cpu.contrib;

import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.Activation;
import dev.sluice.kernels.cpu.core.VectorMath;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * The elementwise contrib ops over rows of the input's last dim: Gelu and BiasGelu (erf form, the Gelu kernel's
 * own vector code through {@link Activation}), FastGelu (tanh form, optional bias), QuickGelu
 * ({@code x * sigmoid(alpha x)}) and BiasAdd (input + bias + skip). A bias is 1-D over the last dim. Each element
 * depends on its own value only, so rows run in parallel in any split with the same bits.
 */
final class GeluKernels {
    private GeluKernels() {}

    private static final VectorSpecies<Float> S = VectorMath.S;
    private static final int L = S.length();
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** sqrt(2 / pi) and 0.044715 sqrt(2 / pi): FastGelu's tanh(x (B + C x^2)). */
    private static final float KB = 0.7978845608028654f, KC = 0.035677408136300125f;
    private static final Activation GELU = new Activation(Activation.Kind.GELU, 0, 0, 0, 0, 0, 1);

    /** The activation a {@link Biased} kernel applies. */
    enum Form { ERF, TANH, QUICK }

    /** f(x + bias), bias from input {@code biasInput} when it is given (-1: the op has none). */
    static final class Biased implements OpKernel {
        private final Form form;
        private final int biasInput;

        Biased(Form form, int biasInput) {
            this.form = form;
            this.biasInput = biasInput;
        }

        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = Operands.float32(ctx, 0);
            if (biasInput >= 0 && ctx.inputCount() > biasInput && ctx.hasInput(biasInput)) Operands.float32(ctx, biasInput);
            return List.of(new TensorType(DType.FLOAT32, x.shape()));
        }

        @Override public void execute(ExecContext ctx) {
            String op = ctx.opType();
            Tensor x = Operands.float32(ctx.input(0), op, "input");
            // BiasGelu's bias is required (ctx.input throws when it is absent), FastGelu's optional
            boolean hasBias = biasInput >= 0 && (form == Form.ERF || ctx.inputCount() > biasInput && ctx.hasInput(biasInput));
            Tensor y = ctx.output(0, DType.FLOAT32, x.shape());
            if (x.elementCount() == 0) return;
            int n = x.rank() == 0 ? 1 : Operands.lastDim(x, op, "input");
            MemorySegment b = hasBias ? Operands.columns(ctx.input(biasInput), n, op, "bias") : null;
            float[] bias = hasBias ? ctx.input(biasInput).toFloatArray() : null;
            float alpha = form == Form.QUICK ? ctx.attributes().getFloat("alpha", 1.702f) : 0f;
            MemorySegment xd = x.data(), yd = y.data();
            int rows = Math.toIntExact(x.elementCount() / n);
            ctx.parallelism().forEach(rows, 16L * n, r -> {
                long off = (long) r * n;
                switch (form) {
                    case ERF -> {
                        if (bias == null) {
                            VectorMath.map(VectorMath.Unary.GELU, xd, yd, off, off + n);
                        } else {
                            MemorySegment.copy(xd, off * 4, yd, off * 4, n * 4L);
                            GELU.rowBiasAndApply(yd, off, n, bias);
                        }
                    }
                    case TANH -> fastGeluRow(xd, b, yd, off, n);
                    case QUICK -> quickGeluRow(xd, yd, off, n, alpha);
                }
            });
        }
    }

    /** y = 0.5 v (1 + tanh(v (B + C v^2))), v = x + b (b may be null); the tail under a mask, as the body. */
    private static void fastGeluRow(MemorySegment x, MemorySegment b, MemorySegment y, long off, int n) {
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER);
            if (b != null) v = v.add(FloatVector.fromMemorySegment(S, b, j * 4L, ORDER));
            FloatVector t = VectorMath.tanh(v.mul(v).fma(KC, KB).mul(v));
            v.mul(0.5f).mul(t.add(1f)).intoMemorySegment(y, (off + j) * 4, ORDER);
        }
        if (j < n) {
            VectorMask<Float> m = S.indexInRange(j, n);
            FloatVector v = FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER, m);
            if (b != null) v = v.add(FloatVector.fromMemorySegment(S, b, j * 4L, ORDER, m));
            FloatVector t = VectorMath.tanh(v.mul(v).fma(KC, KB).mul(v));
            v.mul(0.5f).mul(t.add(1f)).intoMemorySegment(y, (off + j) * 4, ORDER, m);
        }
    }

    /** y = x sigmoid(alpha x). */
    private static void quickGeluRow(MemorySegment x, MemorySegment y, long off, int n, float alpha) {
        int j = 0;
        for (; j <= n - L; j += L) {
            FloatVector v = FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER);
            v.mul(VectorMath.sigmoid(v.mul(alpha))).intoMemorySegment(y, (off + j) * 4, ORDER);
        }
        if (j < n) {
            VectorMask<Float> m = S.indexInRange(j, n);
            FloatVector v = FloatVector.fromMemorySegment(S, x, (off + j) * 4, ORDER, m);
            v.mul(VectorMath.sigmoid(v.mul(alpha))).intoMemorySegment(y, (off + j) * 4, ORDER, m);
        }
    }

    /** BiasAdd: y = (x + bias) + skip, x and skip [N, S, C], bias [C]. */
    static final class BiasAdd implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = Operands.float32(ctx, 0);
            Operands.float32(ctx, 1);
            Operands.float32(ctx, 2);
            return List.of(new TensorType(DType.FLOAT32, x.shape()));
        }

        @Override public void execute(ExecContext ctx) {
            Tensor x = Operands.float32(ctx.input(0), "BiasAdd", "input");
            Tensor skip = Operands.float32(ctx.input(2), "BiasAdd", "skip");
            if (x.rank() != 3) throw new KernelException("BiasAdd input must have rank 3 ([N, S, C]), got " + x.shape());
            if (!skip.shape().equals(x.shape())) throw new KernelException("BiasAdd skip " + skip.shape() + " must have the input's shape " + x.shape());
            int n = Operands.lastDim(x, "BiasAdd", "input");
            MemorySegment b = Operands.columns(ctx.input(1), n, "BiasAdd", "bias");
            Tensor y = ctx.output(0, DType.FLOAT32, x.shape());
            if (x.elementCount() == 0) return;
            MemorySegment xd = x.data(), sd = skip.data(), yd = y.data();
            ctx.parallelism().forEach(Math.toIntExact(x.elementCount() / n), 2L * n, r -> {
                long off = (long) r * n;
                int j = 0;
                for (; j <= n - L; j += L) {
                    FloatVector.fromMemorySegment(S, xd, (off + j) * 4, ORDER).add(FloatVector.fromMemorySegment(S, b, j * 4L, ORDER))
                        .add(FloatVector.fromMemorySegment(S, sd, (off + j) * 4, ORDER)).intoMemorySegment(yd, (off + j) * 4, ORDER);
                }
                if (j < n) {
                    VectorMask<Float> m = S.indexInRange(j, n);
                    FloatVector.fromMemorySegment(S, xd, (off + j) * 4, ORDER, m).add(FloatVector.fromMemorySegment(S, b, j * 4L, ORDER, m))
                        .add(FloatVector.fromMemorySegment(S, sd, (off + j) * 4, ORDER, m)).intoMemorySegment(yd, (off + j) * 4, ORDER, m);
                }
            });
        }
    }
}
