package dev.sluice.kernels.cpu.vision;

import dev.sluice.kernels.Attributes;
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
import java.util.Arrays;
import java.util.List;

/**
 * ONNX Col2Im (opset 18), PyTorch's fold: rearranges sliding blocks back into an image, summing where blocks
 * overlap. Input {@code [N, C * prod(block_shape), L]} where L is the number of block positions the image (padded,
 * strided, dilated) admits; output {@code [N, C, image_shape...]}. Any number of spatial axes. Block elements that
 * fall in the padding are dropped. The input's shape must agree exactly with the attributes, or the node fails
 * naming both.
 */
final class Col2Im implements OpKernel {
    @Override public List<TensorType> infer(InferContext ctx) {
        TensorType in = ctx.inputType(0);
        Tensor image = ctx.constantInput(1), block = ctx.constantInput(2);
        SymShape is = ctx.inputType(1).shape();
        int r = image != null ? (int) image.elementCount()
                : is.hasRank() && is.rank() == 1 && is.dim(0).isKnown() ? (int) is.dim(0).value() : -1;
        if (r < 0) return List.of(new TensorType(in.dtype(), SymShape.UNKNOWN_RANK));
        List<Dim> out = new ArrayList<>();
        out.add(in.shape().hasRank() && in.shape().rank() == 3 ? in.shape().dim(0) : Dim.UNKNOWN);
        Dim c = Dim.UNKNOWN;
        if (block != null && in.shape().hasRank() && in.shape().rank() == 3 && in.shape().dim(1).isKnown()) {
            long k = 1;
            for (long b : block.toLongArray()) k *= b;
            if (k > 0 && in.shape().dim(1).value() % k == 0) c = Dim.of(in.shape().dim(1).value() / k);
        }
        out.add(c);
        long[] im = image == null ? null : image.toLongArray();
        for (int i = 0; i < r; i++) out.add(im == null || im[i] < 0 ? Dim.UNKNOWN : Dim.of(im[i]));
        return List.of(new TensorType(in.dtype(), new SymShape(out)));
    }

    @Override public void execute(ExecContext ctx) {
        Tensor in = ctx.input(0);
        NnArrays.requireFloat(in.dtype(), "Col2Im input");
        long[] image = ctx.input(1).toLongArray(), block = ctx.input(2).toLongArray();
        int r = image.length;
        if (r == 0 || block.length != r) {
            throw new KernelException("Col2Im image_shape and block_shape must have the same non-zero length, got "
                    + Arrays.toString(image) + " and " + Arrays.toString(block));
        }
        Attributes at = ctx.attributes();
        long[] dil = NnArrays.ints(at, "dilations", NnArrays.filled(r, 1)), stride = NnArrays.ints(at, "strides", NnArrays.filled(r, 1));
        long[] pads = NnArrays.ints(at, "pads", NnArrays.filled(2 * r, 0));
        if (dil.length != r || stride.length != r || pads.length != 2 * r) {
            throw new KernelException("Col2Im needs " + r + " dilations and strides and " + 2 * r + " pads, got "
                    + Arrays.toString(dil) + ", " + Arrays.toString(stride) + ", " + Arrays.toString(pads));
        }
        if (in.rank() != 3) throw new KernelException("Col2Im input must be [N, C * prod(block_shape), L], got " + in.shape());
        long blockSize = 1, positions = 1;
        long[] cols = new long[r];
        for (int i = 0; i < r; i++) {
            if (image[i] < 1 || block[i] < 1 || dil[i] < 1 || stride[i] < 1 || pads[i] < 0 || pads[i + r] < 0) {
                throw new KernelException("Col2Im axis " + i + ": image " + image[i] + ", block " + block[i] + ", dilation " + dil[i]
                        + ", stride " + stride[i] + ", pads " + pads[i] + "/" + pads[i + r] + " are not all positive (pads non-negative)");
            }
            blockSize *= block[i];
            cols[i] = (image[i] + pads[i] + pads[i + r] - dil[i] * (block[i] - 1) - 1) / stride[i] + 1;
            if (cols[i] < 1) throw new KernelException("Col2Im axis " + i + ": a block of " + block[i] + " (dilation " + dil[i] + ") does not fit the padded image of " + (image[i] + pads[i] + pads[i + r]));
            positions *= cols[i];
        }
        long n = in.shape().dim(0), ck = in.shape().dim(1);
        if (ck % blockSize != 0 || in.shape().dim(2) != positions) {
            throw new KernelException("Col2Im input " + in.shape() + " does not match block_shape " + Arrays.toString(block)
                    + " (dim 1 a multiple of " + blockSize + ") and the " + Arrays.toString(cols) + " = " + positions + " block positions (dim 2)");
        }
        long channels = ck / blockSize;
        long[] od = new long[r + 2];
        od[0] = n;
        od[1] = channels;
        System.arraycopy(image, 0, od, 2, r);
        Tensor y = ctx.output(0, in.dtype(), Shape.of(od));
        if (y.elementCount() == 0) return;
        double[] src = NnArrays.doubles(in), out = new double[Math.toIntExact(y.elementCount())];
        int plane = Math.toIntExact(Shape.of(image).elementCount());
        int[] off = new int[r], pos = new int[r];
        for (long nc = 0; nc < n * channels; nc++) {
            int dst = Math.toIntExact(nc * plane);
            for (int k = 0; k < blockSize; k++) {
                // k's offset inside the block, per axis (last fastest)
                for (int a = r - 1, rest = k; a >= 0; a--) { off[a] = (int) (rest % block[a]); rest /= (int) block[a]; }
                int row = Math.toIntExact((nc * blockSize + k) * positions);
                for (int l = 0; l < positions; l++) {
                    for (int a = r - 1, rest = l; a >= 0; a--) { pos[a] = (int) (rest % cols[a]); rest /= (int) cols[a]; }
                    int at2 = 0;
                    boolean inside = true;
                    for (int a = 0; a < r && inside; a++) {
                        long p = pos[a] * stride[a] - pads[a] + off[a] * dil[a];
                        inside = p >= 0 && p < image[a];
                        at2 = (int) (at2 * image[a] + p);
                    }
                    if (inside) out[dst + at2] += src[row + l];
                }
            }
        }
        NnArrays.store(y, out);
    }
}
