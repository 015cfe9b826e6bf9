package dev.sluice.kernels;

import java.util.ArrayList;
import java.util.List;

/**
 * A shape whose dimensions may be symbolic or unknown. {@link #UNKNOWN_RANK} stands for a shape of which
 * not even the rank is known.
 */
public record SymShape(List<Dim> dims) {
    public static final SymShape UNKNOWN_RANK = new SymShape(null);

    public SymShape {
        dims = dims == null ? null : List.copyOf(dims);
    }

    public static SymShape of(Shape s) {
        List<Dim> d = new ArrayList<>(s.rank());
        for (int i = 0; i < s.rank(); i++) d.add(Dim.of(s.dim(i)));
        return new SymShape(d);
    }

    public static SymShape of(Dim... dims) { return new SymShape(List.of(dims)); }

    public static SymShape ofKnown(long... dims) {
        List<Dim> d = new ArrayList<>(dims.length);
        for (long v : dims) d.add(Dim.of(v));
        return new SymShape(d);
    }

    /** A shape of known rank whose dimensions are all unknown. */
    public static SymShape unknownDims(int rank) {
        List<Dim> d = new ArrayList<>(rank);
        for (int i = 0; i < rank; i++) d.add(Dim.UNKNOWN);
        return new SymShape(d);
    }

    public boolean hasRank() { return dims != null; }

    public int rank() {
        if (dims == null) throw new KernelException("rank is unknown");
        return dims.size();
    }

    public Dim dim(int i) { return dims.get(i); }

    public boolean isStatic() {
        if (dims == null) return false;
        for (Dim d : dims) if (!d.isKnown()) return false;
        return true;
    }

    public Shape toShape() {
        if (!isStatic()) throw new KernelException("shape " + this + " is not static");
        long[] v = new long[dims.size()];
        for (int i = 0; i < v.length; i++) v[i] = dims.get(i).value();
        return Shape.of(v);
    }

    @Override public String toString() {
        if (dims == null) return "[*]";
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < dims.size(); i++) { if (i > 0) b.append(','); b.append(dims.get(i)); }
        return b.append(']').toString();
    }
}
