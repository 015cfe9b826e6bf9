package dev.sluice.memgraph;

import dev.sluice.kernels.Shape;
import java.util.Arrays;

/**
 * A rectangular block {@code [lo, hi)} of a tensor seen with shape {@code dims} (the tensor's own shape, or a
 * reshape of it with the same element count, e.g. flat). A tile of an {@link OpTiling} split computes one box
 * of its node's output and reads one box of each input it slices; H2D transfers gather an input's box from the
 * input's host copy into a dense buffer of the box's extents, and a D2H transfer scatters the output's box into
 * the output's host copy. Arrays are copied in and out: a box never changes.
 */
public record Box(long[] dims, long[] lo, long[] hi) {
    public Box {
        dims = dims.clone();
        lo = lo.clone();
        hi = hi.clone();
        if (lo.length != dims.length || hi.length != dims.length) throw new IllegalArgumentException("box rank differs from its shape's");
        for (int a = 0; a < dims.length; a++) {
            if (lo[a] < 0 || hi[a] > dims[a] || lo[a] >= hi[a]) {
                throw new IllegalArgumentException("box " + Arrays.toString(lo) + ".." + Arrays.toString(hi) + " is not inside " + Arrays.toString(dims));
            }
        }
    }

    /** The whole of a tensor of this shape. */
    public static Box whole(Shape s) { return new Box(s.dims(), new long[s.rank()], s.dims()); }

    @Override public long[] dims() { return dims.clone(); }
    @Override public long[] lo() { return lo.clone(); }
    @Override public long[] hi() { return hi.clone(); }

    public int rank() { return dims.length; }
    public long lo(int a) { return lo[a]; }
    public long hi(int a) { return hi[a]; }
    public long dim(int a) { return dims[a]; }

    /** The box's own shape: {@code hi - lo} per axis. */
    public Shape extents() {
        long[] e = new long[dims.length];
        for (int a = 0; a < e.length; a++) e[a] = hi[a] - lo[a];
        return Shape.of(e);
    }

    public long elementCount() { return extents().elementCount(); }

    /** This box with axis {@code a} narrowed to {@code [l, h)}. */
    public Box with(int a, long l, long h) {
        long[] nl = lo.clone(), nh = hi.clone();
        nl[a] = l;
        nh[a] = h;
        return new Box(dims, nl, nh);
    }

    /** Whether it covers the whole tensor. */
    public boolean isWhole() {
        for (int a = 0; a < dims.length; a++) if (lo[a] != 0 || hi[a] != dims[a]) return false;
        return true;
    }

    @Override public boolean equals(Object o) {
        return o instanceof Box b && Arrays.equals(dims, b.dims) && Arrays.equals(lo, b.lo) && Arrays.equals(hi, b.hi);
    }

    @Override public int hashCode() { return (Arrays.hashCode(dims) * 31 + Arrays.hashCode(lo)) * 31 + Arrays.hashCode(hi); }

    @Override public String toString() {
        StringBuilder s = new StringBuilder("[");
        for (int a = 0; a < dims.length; a++) {
            if (a > 0) s.append(", ");
            s.append(lo[a] == 0 && hi[a] == dims[a] ? ":" : lo[a] + ":" + hi[a]);
        }
        return s.append(']').toString();
    }
}
