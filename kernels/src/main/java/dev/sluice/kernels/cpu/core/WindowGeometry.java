package dev.sluice.kernels.cpu.core;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.KernelException;

/**
 * Where a sliding window (Conv, pooling) lands on the spatial axes: kernel, strides, dilations, begin/end
 * padding and output sizes, resolved from the ONNX attributes (pads, auto_pad, ceil_mode).
 */
public record WindowGeometry(int[] in, int[] kernel, int[] strides, int[] dilations, int[] padBegin, int[] padEnd, int[] out) {

    public int rank() { return in.length; }

    static long product(int[] v) {
        long p = 1;
        for (int x : v) p *= x;
        return p;
    }

    public long inSize() { return product(in); }
    public long outSize() { return product(out); }
    public long kernelSize() { return product(kernel); }

    /** A 1-D geometry seen as 2-D with a unit leading axis, so 1-D ops reuse the 2-D loops. */
    public WindowGeometry as2d() {
        if (rank() != 1) return this;
        return new WindowGeometry(new int[] {1, in[0]}, new int[] {1, kernel[0]}, new int[] {1, strides[0]},
                new int[] {1, dilations[0]}, new int[] {0, padBegin[0]}, new int[] {0, padEnd[0]}, new int[] {1, out[0]});
    }

    /**
     * Resolves the geometry for input spatial sizes {@code in} (-1 where unknown, as in type inference: the
     * output is then -1 as well) and the given kernel. {@code ceilMode} is pooling's ceil_mode.
     */
    public static WindowGeometry of(long[] in, long[] kernel, Attributes at, boolean ceilMode) {
        int r = in.length;
        if (kernel.length != r) {
            throw new KernelException("kernel_shape " + java.util.Arrays.toString(kernel) + " does not match " + r + " spatial axes");
        }
        long[] s = NnArrays.ints(at, "strides", NnArrays.filled(r, 1));
        long[] d = NnArrays.ints(at, "dilations", NnArrays.filled(r, 1));
        long[] pads = NnArrays.ints(at, "pads", NnArrays.filled(2 * r, 0));
        if (s.length != r || d.length != r || pads.length != 2 * r) {
            throw new KernelException("strides/dilations/pads do not match " + r + " spatial axes");
        }
        String autoPad = at.getString("auto_pad", "NOTSET");
        int[] k = new int[r], st = new int[r], dl = new int[r], pb = new int[r], pe = new int[r], out = new int[r], ins = new int[r];
        for (int i = 0; i < r; i++) {
            k[i] = Math.toIntExact(kernel[i]);
            st[i] = Math.toIntExact(s[i]);
            dl[i] = Math.toIntExact(d[i]);
            if (st[i] <= 0 || dl[i] <= 0 || k[i] <= 0) throw new KernelException("kernel, strides and dilations must be positive");
            ins[i] = in[i] < 0 ? -1 : Math.toIntExact(in[i]);
            long span = (long) (k[i] - 1) * dl[i] + 1;
            switch (autoPad) {
                case "SAME_UPPER", "SAME_LOWER" -> {
                    if (in[i] < 0) { out[i] = -1; break; }
                    long o = (in[i] + st[i] - 1) / st[i];
                    long total = Math.max(0, (o - 1) * st[i] + span - in[i]);
                    long small = total / 2;
                    pb[i] = (int) (autoPad.equals("SAME_UPPER") ? small : total - small);
                    pe[i] = (int) (total - pb[i]);
                    out[i] = (int) o;
                }
                case "VALID" -> out[i] = in[i] < 0 ? -1 : (int) outSize(in[i], span, st[i], 0, 0, ceilMode);
                case "NOTSET", "" -> {
                    pb[i] = Math.toIntExact(pads[i]);
                    pe[i] = Math.toIntExact(pads[i + r]);
                    out[i] = in[i] < 0 ? -1 : (int) outSize(in[i], span, st[i], pb[i], pe[i], ceilMode);
                }
                default -> throw new KernelException("unknown auto_pad '" + autoPad + "'");
            }
        }
        return new WindowGeometry(ins, k, st, dl, pb, pe, out);
    }

    private static long outSize(long in, long span, long stride, long pb, long pe, boolean ceilMode) {
        long avail = in + pb + pe - span;
        if (avail < 0) throw new KernelException("window of extent " + span + " is larger than the padded input " + (in + pb + pe));
        long o = (ceilMode ? (avail + stride - 1) / stride : avail / stride) + 1;
        // a window may not start in the end padding (the rule PyTorch and current ONNX use)
        if (ceilMode && (o - 1) * stride >= in + pb) o--;
        return o;
    }
}
