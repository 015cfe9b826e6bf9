package dev.sluice.kernels.cpu.vision;

import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.cpu.core.NnArrays;
import java.util.ArrayList;
import java.util.List;

/**
 * ONNX AffineGrid (opset 20): the sampling grid of an affine transform, the companion of {@link GridSample}.
 * {@code theta [N, 2, 3]} with {@code size = (N, C, H, W)} gives {@code grid [N, H, W, 2]}; {@code theta [N, 3, 4]}
 * with {@code size = (N, C, D, H, W)} gives {@code [N, D, H, W, 3]}. Each grid point is theta times the homogeneous
 * normalized position of an output pixel, x (along W) first. Positions are the pixel centres spread over [-1, 1]:
 * {@code -1 + (2i + 1) / n} without {@code align_corners}, {@code -1 + 2i / (n - 1)} with it. An axis of length 1
 * sits where ORT puts it: at 0, or at 1 with {@code align_corners} (the ONNX reference says -1 there and PyTorch
 * 0; no conformance test covers it).
 */
final class AffineGrid implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType theta = ctx.inputType(0);
        Tensor size = ctx.constantInput(1);
        if (size != null) {
            long[] s = size.toLongArray();
            int r = s.length - 2;
            if (r < 2 || r > 3) throw new KernelException("AffineGrid size must have 4 or 5 elements, got " + s.length);
            long[] out = new long[r + 2];
            out[0] = s[0];
            System.arraycopy(s, 2, out, 1, r);
            out[r + 1] = r;
            return List.of(TensorType.of(theta.dtype(), Shape.of(out)));
        }
        // without the sizes, the rank follows from size's length or theta's shape
        int r = -1;
        SymShape ss = ctx.inputType(1).shape(), ts = theta.shape();
        if (ss.hasRank() && ss.rank() == 1 && ss.dim(0).isKnown()) r = (int) ss.dim(0).value() - 2;
        else if (ts.hasRank() && ts.rank() == 3 && ts.dim(1).isKnown()) r = (int) ts.dim(1).value();
        if (r < 2 || r > 3) return List.of(new TensorType(theta.dtype(), SymShape.UNKNOWN_RANK));
        List<Dim> out = new ArrayList<>();
        out.add(ts.hasRank() && ts.rank() == 3 ? ts.dim(0) : Dim.UNKNOWN);
        for (int i = 0; i < r; i++) out.add(Dim.UNKNOWN);
        out.add(Dim.of(r));
        return List.of(new TensorType(theta.dtype(), new SymShape(out)));
    }

    @Override public void execute(ExecContext ctx) {
        Tensor theta = ctx.input(0), sizeT = ctx.input(1);
        NnArrays.requireFloat(theta.dtype(), "AffineGrid theta");
        if (sizeT.dtype().isFloatingPoint()) throw new KernelException("AffineGrid size must be int64, got " + sizeT.dtype());
        long[] size = sizeT.toLongArray();
        int r = size.length - 2;
        if (r < 2 || r > 3) throw new KernelException("AffineGrid size must be (N, C, H, W) or (N, C, D, H, W), got " + size.length + " elements");
        long n = size[0];
        if (theta.rank() != 3 || theta.shape().dim(0) != n || theta.shape().dim(1) != r || theta.shape().dim(2) != r + 1) {
            throw new KernelException("AffineGrid theta must be [" + n + ", " + r + ", " + (r + 1) + "] for size "
                    + java.util.Arrays.toString(size) + ", got " + theta.shape());
        }
        for (long s : size) if (s < 0) throw new KernelException("AffineGrid size has a negative entry: " + java.util.Arrays.toString(size));
        boolean align = ctx.attributes().getInt("align_corners", 0) != 0;
        long[] od = new long[r + 2];
        od[0] = n;
        System.arraycopy(size, 2, od, 1, r);
        od[r + 1] = r;
        Tensor grid = ctx.output(0, theta.dtype(), Shape.of(od));
        if (grid.elementCount() == 0) return;
        // per spatial axis (outermost first: D, H, W), the normalized position of each index
        double[][] pos = new double[r][];
        for (int a = 0; a < r; a++) pos[a] = positions(Math.toIntExact(size[a + 2]), align);
        double[] th = NnArrays.doubles(theta), out = new double[Math.toIntExact(grid.elementCount())];
        int points = Math.toIntExact(grid.elementCount() / ((long) n * r));
        double[] homo = new double[r + 1];
        homo[r] = 1;
        for (int b = 0; b < n; b++) {
            for (int p = 0; p < points; p++) {
                // homogeneous (x, y[, z], 1): x walks the innermost axis
                int rest = p;
                for (int a = r - 1; a >= 0; a--) {
                    int len = pos[a].length;
                    homo[r - 1 - a] = pos[a][rest % len];
                    rest /= len;
                }
                int o = (b * points + p) * r, t = b * r * (r + 1);
                for (int i = 0; i < r; i++) {
                    double acc = 0;
                    for (int j = 0; j <= r; j++) acc += th[t + i * (r + 1) + j] * homo[j];
                    out[o + i] = acc;
                }
            }
        }
        NnArrays.store(grid, out);
    }

    private static double[] positions(int len, boolean align) {
        double[] p = new double[len];
        if (len == 1) {
            p[0] = align ? 1 : 0; // ORT's (Eigen's) linspace of one point is its upper end, 1 - 1/len
            return p;
        }
        for (int i = 0; i < len; i++) p[i] = align ? -1 + 2.0 * i / (len - 1) : -1 + (2.0 * i + 1) / len;
        return p;
    }
}
