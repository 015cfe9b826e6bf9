package dev.sluice.kernels.cpu.core;

import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import java.util.ArrayList;
import java.util.List;

/** Numpy-style multidirectional broadcasting of shapes, concrete and symbolic, and index mapping. */
public final class Broadcast {
    private Broadcast() {}

    public static Shape shape(Shape... shapes) {
        int rank = 0;
        for (Shape s : shapes) rank = Math.max(rank, s.rank());
        long[] out = new long[rank];
        java.util.Arrays.fill(out, 1);
        for (Shape s : shapes) {
            int off = rank - s.rank();
            for (int i = 0; i < s.rank(); i++) {
                long d = s.dim(i), o = out[off + i];
                if (d == o || d == 1) continue;
                if (o == 1) out[off + i] = d;
                else throw new KernelException("shapes " + java.util.Arrays.toString(shapes) + " do not broadcast");
            }
        }
        return Shape.of(out);
    }

    public static SymShape shape(List<SymShape> shapes) {
        int rank = 0;
        for (SymShape s : shapes) {
            if (!s.hasRank()) return SymShape.UNKNOWN_RANK;
            rank = Math.max(rank, s.rank());
        }
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < rank; i++) out.add(Dim.of(1));
        for (SymShape s : shapes) {
            int off = rank - s.rank();
            for (int i = 0; i < s.rank(); i++) {
                Dim d = s.dim(i), o = out.get(off + i);
                if (d.equals(o) || (d.isKnown() && d.value() == 1)) continue;
                if (o.isKnown() && o.value() == 1) { out.set(off + i, d); continue; }
                if (d.isKnown() && o.isKnown()) {
                    throw new KernelException("shapes " + shapes + " do not broadcast");
                }
                // one side symbolic: a known non-1 size wins; two different symbols stay unknown
                if (d.isKnown()) out.set(off + i, d);
                else if (!o.isKnown()) out.set(off + i, Dim.UNKNOWN);
            }
        }
        return new SymShape(out);
    }

    /**
     * For each output element (row-major over {@code out}), the index of the element of {@code in} it reads.
     * {@code in} must broadcast to {@code out}.
     */
    public static long[] stridesFor(Shape in, Shape out) {
        int rank = out.rank();
        long[] inStrides = in.strides();
        long[] r = new long[rank];
        int off = rank - in.rank();
        for (int i = 0; i < in.rank(); i++) r[off + i] = in.dim(i) == 1 ? 0 : inStrides[i];
        return r;
    }

    /** Maps a flat output index to the flat input index given {@link #stridesFor} strides. */
    public static long map(long flat, Shape out, long[] bStrides) {
        long idx = 0;
        for (int d = out.rank() - 1; d >= 0; d--) {
            long dim = out.dim(d);
            long c = flat % dim;
            flat /= dim;
            idx += c * bStrides[d];
        }
        return idx;
    }
}
