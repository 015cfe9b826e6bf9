package dev.sluice.kernels.cpu.shape;

import static dev.sluice.kernels.cpu.core.KernelHarness.f32;
import static dev.sluice.kernels.cpu.core.KernelHarness.i64;
import static dev.sluice.kernels.cpu.core.KernelHarness.iota;
import static dev.sluice.kernels.cpu.core.KernelHarness.op;
import static dev.sluice.kernels.cpu.core.KernelHarness.s;
import static dev.sluice.kernels.cpu.core.KernelHarness.typed;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Gather/scatter/selection ops, with the ONNX spec's examples and small hand-worked cases. */
class IndexKernelsTest {
    @Test void gather() {
        Tensor y = op("Gather").attr("axis", 1L).in(iota(2, 3)).in(i64(-1, 0)).run1();
        assertEquals(Shape.of(2, 2), y.shape());
        assertArrayEquals(new float[] {2, 0, 5, 3}, y.toFloatArray());
        Tensor row = op("Gather").in(iota(2, 3)).in(i64(s(), 1)).run1();
        assertEquals(Shape.of(3), row.shape());
        assertArrayEquals(new float[] {3, 4, 5}, row.toFloatArray());
        assertThrows(KernelException.class, () -> op("Gather").in(iota(2, 3)).in(i64(2)).run());
        var t = op("Gather").typeIn(iota(5, 4).type()).constIn(i64(s(), 0)).infer().get(0);
        assertEquals(SymShape.ofKnown(4), t.shape());
    }

    @Test void gatherElementsAndNd() {
        Tensor y = op("GatherElements").attr("axis", 1L).in(f32(s(2, 2), 1, 2, 3, 4)).in(i64(s(2, 2), 0, 0, 1, 0)).run1();
        assertArrayEquals(new float[] {1, 1, 4, 3}, y.toFloatArray());
        Tensor nd = op("GatherND").in(iota(2, 2)).in(i64(s(2, 2), 0, 0, 1, 1)).run1();
        assertArrayEquals(new float[] {0, 3}, nd.toFloatArray());
        Tensor b = op("GatherND").attr("batch_dims", 1L).in(iota(2, 2, 2)).in(i64(s(2, 1), 1, 0)).run1();
        assertEquals(Shape.of(2, 2), b.shape());
        assertArrayEquals(new float[] {2, 3, 4, 5}, b.toFloatArray());
    }

    @Test void scatterElements() {
        Tensor y = op("ScatterElements").in(f32(s(3, 3), new float[9]))
                .in(i64(s(2, 3), 1, 0, 2, 0, 2, 1)).in(f32(s(2, 3), 1, 1.1f, 1.2f, 2, 2.1f, 2.2f)).run1();
        assertArrayEquals(new float[] {2, 1.1f, 0, 1, 0, 2.2f, 0, 2.1f, 1.2f}, y.toFloatArray());
        Tensor add = op("ScatterElements").attr("axis", 1L).attr("reduction", "add")
                .in(f32(s(1, 5), 1, 2, 3, 4, 5)).in(i64(s(1, 2), 1, 1)).in(f32(s(1, 2), 1.1f, 2.1f)).run1();
        assertArrayEquals(new float[] {1, 5.2f, 3, 4, 5}, add.toFloatArray(), 1e-6f);
        Tensor old = op("Scatter").opset(9).attr("axis", 1L)
                .in(f32(s(1, 3), 0, 0, 0)).in(i64(s(1, 1), -1)).in(f32(s(1, 1), 7)).run1();
        assertArrayEquals(new float[] {0, 0, 7}, old.toFloatArray());
    }

    @Test void scatterNd() {
        Tensor mul = op("ScatterND").attr("reduction", "mul")
                .in(i64(1, 2, 3, 4)).in(i64(s(3, 1), 1, 1, 3)).in(i64(10, 2, 5)).run1();
        assertArrayEquals(new long[] {1, 40, 3, 20}, mul.toLongArray());
        Tensor rows = op("ScatterND").in(iota(2, 2)).in(i64(s(1, 1), 1)).in(f32(s(1, 2), 7, 8)).run1();
        assertArrayEquals(new float[] {0, 1, 7, 8}, rows.toFloatArray());
    }

    @Test void oneHot() {
        Tensor ind = i64(0, -1, 5);
        Tensor y = op("OneHot").in(ind).in(i64(s(), 3)).in(f32(s(2), 0, 1)).run1();
        assertEquals(Shape.of(3, 3), y.shape());
        assertArrayEquals(new float[] {1, 0, 0, 0, 0, 1, 0, 0, 0}, y.toFloatArray());
        Tensor a0 = op("OneHot").attr("axis", 0L).in(ind).in(f32(s(), 3)).in(i64(2, 9)).run1();
        assertEquals(DType.INT64, a0.dtype());
        assertArrayEquals(new long[] {9, 2, 2, 2, 2, 2, 2, 9, 2}, a0.toLongArray());
    }

    @Test void nonZeroAndCompress() {
        Tensor nz = op("NonZero").in(typed(DType.BOOL, s(2, 2), 1, 0, 1, 1)).run1();
        assertEquals(Shape.of(2, 3), nz.shape());
        assertArrayEquals(new long[] {0, 1, 1, 0, 0, 1}, nz.toLongArray());
        var nzType = op("NonZero").constIn(typed(DType.BOOL, s(2, 2), 1, 0, 1, 1)).infer().get(0);
        assertEquals(SymShape.ofKnown(2, 3), nzType.shape());
        Tensor x = f32(s(3, 2), 1, 2, 3, 4, 5, 6);
        assertArrayEquals(new float[] {3, 4, 5, 6},
                op("Compress").attr("axis", 0L).in(x).in(typed(DType.BOOL, s(3), 0, 1, 1)).run1().toFloatArray());
        Tensor c1 = op("Compress").attr("axis", 1L).in(x).in(typed(DType.BOOL, s(2), 0, 1)).run1();
        assertEquals(Shape.of(3, 1), c1.shape());
        assertArrayEquals(new float[] {2, 4, 6}, c1.toFloatArray());
        // no axis: flattened, and a short condition drops the rest
        assertArrayEquals(new float[] {2, 3, 5},
                op("Compress").in(x).in(typed(DType.BOOL, s(5), 0, 1, 1, 0, 1)).run1().toFloatArray());
    }

    @Test void uniqueSortedAndUnsorted() {
        Tensor x = f32(s(6), 2, 1, 1, 3, 4, 3);
        List<Tensor> so = op("Unique").outputs(4).in(x).run();
        assertArrayEquals(new float[] {1, 2, 3, 4}, so.get(0).toFloatArray());
        assertArrayEquals(new long[] {1, 0, 3, 4}, so.get(1).toLongArray());
        assertArrayEquals(new long[] {1, 0, 0, 2, 3, 2}, so.get(2).toLongArray());
        assertArrayEquals(new long[] {2, 1, 2, 1}, so.get(3).toLongArray());
        List<Tensor> un = op("Unique").attr("sorted", 0L).outputs(4).in(x).run();
        assertArrayEquals(new float[] {2, 1, 3, 4}, un.get(0).toFloatArray());
        assertArrayEquals(new long[] {0, 1, 3, 4}, un.get(1).toLongArray());
        assertArrayEquals(new long[] {0, 1, 1, 2, 3, 2}, un.get(2).toLongArray());
        assertArrayEquals(new long[] {1, 2, 2, 1}, un.get(3).toLongArray());
    }

    @Test void uniqueAlongAxis() {
        Tensor a = f32(s(3, 3), 1, 0, 0, 1, 0, 0, 2, 3, 4);
        List<Tensor> r = op("Unique").attr("axis", 0L).outputs(4).in(a).run();
        assertEquals(Shape.of(2, 3), r.get(0).shape());
        assertArrayEquals(new float[] {1, 0, 0, 2, 3, 4}, r.get(0).toFloatArray());
        assertArrayEquals(new long[] {0, 2}, r.get(1).toLongArray());
        assertArrayEquals(new long[] {0, 0, 1}, r.get(2).toLongArray());
        assertArrayEquals(new long[] {2, 1}, r.get(3).toLongArray());
    }
}
