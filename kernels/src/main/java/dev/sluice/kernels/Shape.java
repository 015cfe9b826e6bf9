package dev.sluice.kernels;

import java.util.Arrays;

/** An immutable concrete tensor shape (row-major). A rank-0 shape is a scalar with one element. */
public final class Shape {
    /** The rank-0 shape: one element. */
    public static final Shape SCALAR = new Shape(new long[0]);

    private final long[] dims;

    private Shape(long[] dims) { this.dims = dims; }

    /**
     * A shape with these dimensions.
     *
     * @param dims the sizes, outermost first (none for a scalar)
     * @return the shape
     * @throws KernelException if a dimension is negative
     */
    public static Shape of(long... dims) {
        for (long d : dims) {
            if (d < 0) throw new KernelException("negative dimension in shape " + Arrays.toString(dims));
        }
        return new Shape(dims.clone());
    }

    /**
     * A shape with these dimensions.
     *
     * @param dims the sizes, outermost first
     * @return the shape
     * @throws KernelException if a dimension is negative
     */
    public static Shape of(int... dims) {
        long[] l = new long[dims.length];
        for (int i = 0; i < dims.length; i++) l[i] = dims[i];
        return of(l);
    }

    /**
     * The number of dimensions.
     *
     * @return 0 for a scalar
     */
    public int rank() { return dims.length; }

    /**
     * One dimension.
     *
     * @param i 0 for the outermost
     * @return its size
     */
    public long dim(int i) { return dims[i]; }

    /**
     * The dimensions.
     *
     * @return a copy, outermost first
     */
    public long[] dims() { return dims.clone(); }

    /**
     * Dimension at {@code axis}, where a negative axis counts from the end.
     *
     * @param axis from {@code -rank} to {@code rank - 1}
     * @return its size
     */
    public long dimAt(int axis) { return dims[normalizeAxis(axis, dims.length)]; }

    /**
     * The number of elements: the product of the dimensions (1 for a scalar).
     *
     * @return the count
     * @throws ArithmeticException if it overflows a long
     */
    public long elementCount() {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        return n;
    }

    /**
     * The dimensions as ints.
     *
     * @return a new array
     * @throws ArithmeticException if a dimension does not fit an int
     */
    public int[] intDims() {
        int[] r = new int[dims.length];
        for (int i = 0; i < dims.length; i++) r[i] = Math.toIntExact(dims[i]);
        return r;
    }

    /**
     * Row-major element strides.
     *
     * @return for each dimension, how many elements one step along it skips
     */
    public long[] strides() {
        long[] s = new long[dims.length];
        long acc = 1;
        for (int i = dims.length - 1; i >= 0; i--) { s[i] = acc; acc *= dims[i]; }
        return s;
    }

    /**
     * Product of dims in [from, to).
     *
     * @param from first dimension, inclusive
     * @param to   last dimension, exclusive
     * @return the product (1 for an empty range)
     */
    public long product(int from, int to) {
        long n = 1;
        for (int i = from; i < to; i++) n *= dims[i];
        return n;
    }

    /**
     * An axis in {@code [0, rank)} from one that may count from the end.
     *
     * @param axis from {@code -rank} to {@code rank - 1}
     * @param rank the rank
     * @return the axis counted from the start
     * @throws KernelException if it is out of range
     */
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
