package dev.sluice.kernels.cpu.nn;

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
import java.util.List;

/** HannWindow, HammingWindow, BlackmanWindow (opset 17): generalized cosine windows a0 - a1·cos(x) + a2·cos(2x). */
final class WindowKernels implements OpKernel {
    private final double a0, a1, a2;

    private WindowKernels(double a0, double a1, double a2) { this.a0 = a0; this.a1 = a1; this.a2 = a2; }

    static void register(OpRegistry r) {
        r.register("HannWindow", new WindowKernels(0.5, 0.5, 0));
        r.register("HammingWindow", new WindowKernels(25.0 / 46, 21.0 / 46, 0));
        r.register("BlackmanWindow", new WindowKernels(0.42, 0.5, 0.08));
    }

    private static DType outType(long code) { return DType.fromOnnx((int) code); }

    @Override
    public List<TensorType> infer(InferContext ctx) {
        DType dt = outType(ctx.attributes().getInt("output_datatype", 1));
        Tensor size = ctx.constantInput(0);
        Dim d = size == null ? Dim.UNKNOWN : Dim.of(size.getLong(0));
        return List.of(TensorType.of(dt, SymShape.of(d)));
    }

    @Override
    public void execute(ExecContext ctx) {
        DType dt = outType(ctx.attributes().getInt("output_datatype", 1));
        boolean periodic = ctx.attributes().getInt("periodic", 1) != 0;
        long size = ctx.input(0).getLong(0);
        if (size < 0) throw new KernelException("window size " + size + " is negative");
        Tensor o = ctx.output(0, dt, Shape.of(size));
        double denom = periodic ? size : size - 1;
        for (long i = 0; i < size; i++) {
            double x = denom == 0 ? 0 : 2 * Math.PI * i / denom;
            o.setDouble(i, a0 - a1 * Math.cos(x) + a2 * Math.cos(2 * x));
        }
    }
}
