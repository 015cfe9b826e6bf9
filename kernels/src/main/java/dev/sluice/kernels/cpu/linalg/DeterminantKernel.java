package dev.sluice.kernels.cpu.linalg;

import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.List;

/** Det: determinants of the trailing square matrices, by LU decomposition with partial pivoting in double. */
final class DeterminantKernel implements OpKernel {
    @Override
    public List<TensorType> infer(InferContext ctx) {
        TensorType x = ctx.inputType(0);
        if (!x.shape().hasRank()) return List.of(TensorType.of(x.dtype(), SymShape.UNKNOWN_RANK));
        List<Dim> d = new ArrayList<>(x.shape().dims());
        if (d.size() < 2) throw new KernelException("Det needs rank >= 2, got " + x.shape());
        return List.of(TensorType.of(x.dtype(), new SymShape(d.subList(0, d.size() - 2))));
    }

    @Override
    public void execute(ExecContext ctx) {
        Tensor x = ctx.input(0);
        Shape s = x.shape();
        int r = s.rank();
        if (r < 2 || s.dim(r - 1) != s.dim(r - 2)) throw new KernelException("Det needs square matrices, got " + s);
        int m = (int) s.dim(r - 1);
        long[] outDims = new long[r - 2];
        System.arraycopy(s.dims(), 0, outDims, 0, r - 2);
        Tensor o = ctx.output(0, x.dtype(), Shape.of(outDims));
        double[] a = new double[m * m];
        for (long b = 0; b < o.elementCount(); b++) {
            for (int i = 0; i < m * m; i++) a[i] = x.getDouble(b * m * m + i);
            o.setDouble(b, det(a, m));
        }
    }

    static double det(double[] a, int m) {
        double det = 1;
        for (int col = 0; col < m; col++) {
            int piv = col;
            for (int i = col + 1; i < m; i++) if (Math.abs(a[i * m + col]) > Math.abs(a[piv * m + col])) piv = i;
            if (a[piv * m + col] == 0) return 0;
            if (piv != col) {
                for (int j = 0; j < m; j++) { double t = a[col * m + j]; a[col * m + j] = a[piv * m + j]; a[piv * m + j] = t; }
                det = -det;
            }
            double p = a[col * m + col];
            det *= p;
            for (int i = col + 1; i < m; i++) {
                double f = a[i * m + col] / p;
                if (f == 0) continue;
                for (int j = col; j < m; j++) a[i * m + j] -= f * a[col * m + j];
            }
        }
        return det;
    }
}
