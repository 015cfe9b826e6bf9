package dev.sluice.kernels;

import java.util.Arrays;

/** An immutable concrete tensor shape (row-major). A rank-0 shape is a scalar with one element. */
public final class Shape {
    public static final Shape SCALAR = new Shape(new long[0]);

    private final long[] dims;

    private Shape(long[] dims) { this.dims = dims; }

    public static Shape of(long... dims) {
        for (long d : dims) {
            if (d < 0) throw new KernelException("negative dimension in shape " + Arrays.toString(dims));
        }
        return new Shape(dims.clone());
    }

    public static Shape of(int... dims) {
        long[] l = new long[dims.length];
        for (int i = 0; i < dims.length; i++) l[i] = dims[i];
        return of(l);
    }

    public int rank() { return dims.length; }
    public long dim(int i) { return dims[i]; }
    public long[] dims() { return dims.clone(); }

    /** Dimension at {@code axis}, where a negative axis counts from the end. */
    public long dimAt(int axis) { return dims[normalizeAxis(axis, dims.length)]; }

    public long elementCount() {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        return n;
    }

    public int[] intDims() {
        int[] r = new int[dims.length];
        for (int i = 0; i < dims.length; i++) r[i] = Math.toIntExact(dims[i]);
        return r;
    }

    /** Row-major element strides. */
    public long[] strides() {
        long[] s = new long[dims.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) { s[i] = acc; acc *= dims[i]; }
        return s;
    }

    /** Product of dims in [from, to). */
    public long product(int from, int to) {
        long n = 1;
        for (int i = from; i < to; i++) n *= dims[i];
        return n;
    }

    public static int normalizeAxis(int axis, int rank) {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.max(rank, 1) && !(rank == 0 && a == 0)) {
            throw new KernelException("axis " + axis + " out of range for rank " + rank);
        }
        return a;
    }

    @Override public boolean equals(Object o) { return o instanceof Shape s && Arrays.equals(dims, s.dims); }
    @Override public int hashCode() { return Arrays.hashCode(dims); }
    @Override public String toString() {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < dims.length; i++) { if (i > 0) b.append(','); b.append(dims[i]); }
        return b.append(']').toString();
    }
}
