package dev.sluice.kernels.cpu.shape;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * ONNX Unique: distinct elements (or distinct slices along an axis), with first-occurrence indices, the inverse
 * mapping and counts. Equal keys are found by a stable sort, as numpy's unique does, so -0.0 equals 0.0 and the
 * first occurrence of a group is its first member; unsorted output then orders groups by first occurrence.
 */
final class UniqueKernel {
    private UniqueKernel() {}

    static void unique(ExecContext c) {
        Tensor x = c.input(0);
        boolean sorted = c.attributes().getInt("sorted", 1) != 0;
        boolean flat = !c.attributes().has("axis");
        int r = x.rank();
        int ax = flat ? 0 : ShapeOps.axis(c.attributes().getInt("axis"), r);
        long n = x.elementCount();
        int dim = Math.toIntExact(flat ? n : x.shape().dim(ax));
        long outer = flat ? 1 : x.shape().product(0, ax), inner = flat ? 1 : x.shape().product(ax + 1, r);

        Comparator<Integer> cmp = sliceOrder(x, dim, outer, inner);
        Integer[] order = new Integer[dim];
        for (int i = 0; i < dim; i++) order[i] = i;
        Arrays.sort(order, cmp); // stable: equal slices keep ascending original positions

        List<Integer> first = new ArrayList<>();
        List<Long> counts = new ArrayList<>();
        int[] group = new int[dim];
        for (int k = 0; k < dim; k++) {
            if (k == 0 || cmp.compare(order[k - 1], order[k]) != 0) {
                first.add(order[k]);
                counts.add(0L);
            }
            int g = first.size() - 1;
            group[order[k]] = g;
            counts.set(g, counts.get(g) + 1);
        }
        int groups = first.size();
        int[] rank = new int[groups]; // output position of each sorted group
        Integer[] byFirst = new Integer[groups];
        for (int g = 0; g < groups; g++) byFirst[g] = g;
        if (!sorted) Arrays.sort(byFirst, Comparator.comparingInt(first::get));
        for (int p = 0; p < groups; p++) rank[byFirst[p]] = p;

        long[] od;
        if (flat) {
            od = new long[] {groups};
        } else {
            od = x.shape().dims();
            od[ax] = groups;
        }
        Tensor y = c.output(0, x.dtype(), Shape.of(od));
        for (int p = 0; p < groups; p++) {
            long src = first.get(byFirst[p]);
            MovementCopy.copy(x, src * inner, new long[] {(long) dim * inner, 1}, y, p * inner,
                    new long[] {(long) groups * inner, 1}, new long[] {outer, inner});
        }
        if (c.outputCount() > 1) {
            Tensor t = c.output(1, DType.INT64, Shape.of(groups));
            for (int p = 0; p < groups; p++) t.setLong(p, first.get(byFirst[p]));
        }
        if (c.outputCount() > 2) {
            Tensor t = c.output(2, DType.INT64, Shape.of(dim));
            for (int i = 0; i < dim; i++) t.setLong(i, rank[group[i]]);
        }
        if (c.outputCount() > 3) {
            Tensor t = c.output(3, DType.INT64, Shape.of(groups));
            for (int p = 0; p < groups; p++) t.setLong(p, counts.get(byFirst[p]));
        }
    }

    /** Lexicographic order of slices j (elements o*dim*inner + j*inner + i), by value in the tensor's dtype. */
    private static Comparator<Integer> sliceOrder(Tensor x, int dim, long outer, long inner) {
        long n = x.elementCount();
        long stride = (long) dim * inner;
        if (x.dtype().isFloatingPoint()) {
            double[] v = new double[Math.toIntExact(n)];
            for (int i = 0; i < v.length; i++) v[i] = x.getDouble(i);
            return (a, b) -> {
                for (long o = 0; o < outer; o++) {
                    for (long i = 0; i < inner; i++) {
                        double p = v[(int) (o * stride + a * inner + i)], q = v[(int) (o * stride + b * inner + i)];
                        int s = p < q ? -1 : p > q ? 1 : p == q ? 0 : Double.compare(p, q);
                        if (s != 0) return s;
                    }
                }
                return 0;
            };
        }
        long[] v = x.toLongArray();
        boolean unsigned = x.dtype() == DType.UINT64;
        return (a, b) -> {
            for (long o = 0; o < outer; o++) {
                for (long i = 0; i < inner; i++) {
                    long p = v[(int) (o * stride + a * inner + i)], q = v[(int) (o * stride + b * inner + i)];
                    int s = unsigned ? Long.compareUnsigned(p, q) : Long.compare(p, q);
                    if (s != 0) return s;
                }
            }
            return 0;
        };
    }
}
