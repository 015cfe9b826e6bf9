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
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import org.junit.jupiter.api.Test;

/** Reshape-like ops, Shape/Size and the tensor sources (Constant, Range, Cast...), with hand-derived values. */
class ShapeViewKernelsTest {
    static final Dim BATCH = new Dim.Symbol("batch");
    static final Dim SEQ = new Dim.Symbol("seq");

    static TensorType f32Type(Dim... dims) { return TensorType.of(DType.FLOAT32, SymShape.of(dims)); }

    @Test void reshapeWithZeroAndMinusOne() {
        Tensor y = op("Reshape").in(iota(2, 3, 4)).in(i64(0, -1)).run1();
        assertEquals(Shape.of(2, 12), y.shape());
        assertEquals(23f, y.getFloat(23));
        // allowzero: a 0 means an empty dimension, not "copy"
        Tensor z = op("Reshape").attr("allowzero", 1L).in(f32(s(0, 3))).in(i64(3, 0)).run1();
        assertEquals(Shape.of(3, 0), z.shape());
        assertThrows(KernelException.class, () -> op("Reshape").in(iota(2, 3)).in(i64(4, -1)).run());
    }

    @Test void reshapeInPlaceKeepsTheBytes() {
        Tensor x = iota(2, 3);
        Tensor y = op("Reshape").inPlace().in(x).in(i64(3, 2)).run1();
        assertEquals(Shape.of(3, 2), y.shape());
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5}, y.toFloatArray());
    }

    @Test void reshapeInfersSymbolicMinusOne() {
        TensorType t = op("Reshape").typeIn(f32Type(BATCH, Dim.of(3), Dim.of(4))).constIn(i64(0, -1)).infer().get(0);
        assertEquals(SymShape.of(BATCH, Dim.of(12)), t.shape());
        t = op("Reshape").typeIn(f32Type(BATCH, Dim.of(12))).constIn(i64(-1, 3, 4)).infer().get(0);
        assertEquals(SymShape.of(BATCH, Dim.of(3), Dim.of(4)), t.shape());
        t = op("Reshape").typeIn(f32Type(BATCH, SEQ, Dim.of(8))).constIn(i64(0, 0, 2, -1)).infer().get(0);
        assertEquals(SymShape.of(BATCH, SEQ, Dim.of(2), Dim.of(4)), t.shape());
        // batch*seq collapsed into -1 cannot be named
        t = op("Reshape").typeIn(f32Type(BATCH, SEQ, Dim.of(8))).constIn(i64(-1, 8)).infer().get(0);
        assertEquals(SymShape.of(Dim.UNKNOWN, Dim.of(8)), t.shape());
        // shape not constant: rank from the shape input's length
        t = op("Reshape").typeIn(f32Type(BATCH)).typeIn(TensorType.of(DType.INT64, SymShape.ofKnown(3))).infer().get(0);
        assertEquals(SymShape.unknownDims(3), t.shape());
    }

    @Test void flatten() {
        assertEquals(Shape.of(6, 4), op("Flatten").attr("axis", 2L).in(iota(2, 3, 4)).run1().shape());
        assertEquals(Shape.of(1, 24), op("Flatten").attr("axis", 0L).in(iota(2, 3, 4)).run1().shape());
        assertEquals(Shape.of(6, 4), op("Flatten").attr("axis", -1L).in(iota(2, 3, 4)).run1().shape());
        TensorType t = op("Flatten").typeIn(f32Type(BATCH, Dim.of(3), Dim.of(4))).infer().get(0);
        assertEquals(SymShape.of(BATCH, Dim.of(12)), t.shape());
    }

    @Test void squeezeAndUnsqueezeAcrossOpsets() {
        assertEquals(Shape.of(3), op("Squeeze").opset(11).ints("axes", 0, 2).in(iota(1, 3, 1)).run1().shape());
        assertEquals(Shape.of(3), op("Squeeze").opset(13).in(iota(1, 3, 1)).in(i64(-1, 0)).run1().shape());
        assertEquals(Shape.of(3), op("Squeeze").opset(13).in(iota(1, 3, 1)).run1().shape());
        assertThrows(KernelException.class, () -> op("Squeeze").opset(13).in(iota(2, 3)).in(i64(0)).run());
        assertEquals(Shape.of(1, 3, 1, 2), op("Unsqueeze").opset(11).ints("axes", 0, -2).in(iota(3, 2)).run1().shape());
        assertEquals(Shape.of(3, 1, 2, 1), op("Unsqueeze").opset(13).in(iota(3, 2)).in(i64(3, 1)).run1().shape());
        TensorType t = op("Unsqueeze").opset(13).typeIn(f32Type(BATCH, SEQ)).constIn(i64(1)).infer().get(0);
        assertEquals(SymShape.of(BATCH, Dim.of(1), SEQ), t.shape());
        t = op("Squeeze").opset(13).typeIn(f32Type(BATCH, Dim.of(1), SEQ)).constIn(i64(1)).infer().get(0);
        assertEquals(SymShape.of(BATCH, SEQ), t.shape());
    }

    @Test void shapeWithStartEndAndSize() {
        Tensor y = op("Shape").opset(15).attr("start", 1L).attr("end", -1L).in(iota(2, 3, 4, 5)).run1();
        assertArrayEquals(new long[] {3, 4}, y.toLongArray());
        assertArrayEquals(new long[] {2, 3, 4, 5}, op("Shape").in(iota(2, 3, 4, 5)).run1().toLongArray());
        assertArrayEquals(new long[] {5}, op("Shape").attr("start", -10L).attr("end", 10L).in(iota(5)).run1().toLongArray());
        assertEquals(120, op("Size").in(iota(2, 3, 4, 5)).run1().getLong(0));
        assertEquals(SymShape.ofKnown(4), op("Shape").typeIn(f32Type(BATCH, SEQ, Dim.of(2), Dim.of(3))).infer().get(0).shape());
    }

    @Test void constantForms() {
        assertEquals(2.5f, op("Constant").attr("value_float", 2.5f).run1().getFloat(0));
        Tensor v = op("Constant").ints("value_ints", 4, 5).run1();
        assertEquals(DType.INT64, v.dtype());
        assertArrayEquals(new long[] {4, 5}, v.toLongArray());
        assertArrayEquals(new long[] {1, 2}, op("Constant").attr("value", i64(1, 2)).run1().toLongArray());
        KernelException e = assertThrows(KernelException.class,
                () -> op("Constant").attr("sparse_value", i64(1)).run());
        assertTrue(e.getMessage().contains("sparse"));
    }

    @Test void constantOfShape() {
        Tensor y = op("ConstantOfShape").attr("value", i64(s(1), 7)).in(i64(2, 3)).run1();
        assertEquals(Shape.of(2, 3), y.shape());
        assertArrayEquals(new long[] {7, 7, 7, 7, 7, 7}, y.toLongArray());
        Tensor z = op("ConstantOfShape").in(i64(s(0), new long[0])).run1();
        assertEquals(Shape.SCALAR, z.shape());
        assertEquals(0f, z.getFloat(0));
        assertEquals(TensorType.of(DType.INT64, Shape.of(2, 3)),
                op("ConstantOfShape").attr("value", i64(s(1), 7)).constIn(i64(2, 3)).infer().get(0));
    }

    @Test void range() {
        Tensor y = op("Range").in(i64(s(), 1)).in(i64(s(), 10)).in(i64(s(), 3)).run1();
        assertArrayEquals(new long[] {1, 4, 7}, y.toLongArray());
        // ceil((4 - 10) / -2.5) = ceil(2.4) = 3 elements
        Tensor f = op("Range").in(f32(s(), 10)).in(f32(s(), 4)).in(f32(s(), -2.5f)).run1();
        assertArrayEquals(new float[] {10, 7.5f, 5}, f.toFloatArray());
        Tensor e = op("Range").in(i64(s(), 5)).in(i64(s(), 1)).in(i64(s(), 1)).run1();
        assertEquals(Shape.of(0), e.shape());
    }

    @Test void castTruncatesWrapsAndTestsNonzero() {
        Tensor x = f32(s(5), -1.7f, 2.9f, 0f, 0.25f, 1.5f);
        assertArrayEquals(new long[] {-1, 2, 0, 0, 1}, op("Cast").attr("to", 6L).in(x).run1().toLongArray());
        assertArrayEquals(new long[] {1, 1, 0, 1, 1}, op("Cast").attr("to", 9L).in(x).run1().toLongArray());
        Tensor h = op("Cast").attr("to", 10L).in(x).run1();
        assertEquals(DType.FLOAT16, h.dtype());
        assertEquals(1.5, h.getDouble(4));
        assertEquals(0.25, h.getDouble(3));
        Tensor u8 = op("Cast").attr("to", 2L).in(i64(300, -1)).run1();
        assertArrayEquals(new long[] {44, 255}, u8.toLongArray());
        Tensor back = op("Cast").attr("to", 1L).in(h).run1();
        assertEquals(-1.7f, back.getFloat(0), 1e-3);
        Tensor d = op("Cast").attr("to", 11L).in(x).run1();
        assertEquals(0.25, d.getDouble(3));
        assertEquals(-1.7f, op("Cast").attr("to", 1L).in(d).run1().getFloat(0));
        Tensor like = op("CastLike").in(f32(s(2), 3.9f, -3.9f)).in(i64(s(0), new long[0])).run1();
        assertEquals(DType.INT64, like.dtype());
        assertArrayEquals(new long[] {3, -3}, like.toLongArray());
    }

    @Test void dropoutIsIdentityInInference() {
        Tensor x = f32(s(3), 1, 2, 3);
        var out = op("Dropout").opset(13).outputs(2).in(x).run();
        assertArrayEquals(new float[] {1, 2, 3}, out.get(0).toFloatArray());
        assertEquals(DType.BOOL, out.get(1).dtype());
        assertArrayEquals(new long[] {1, 1, 1}, out.get(1).toLongArray());
        Tensor on = typed(DType.BOOL, s(), 1);
        KernelException e = assertThrows(KernelException.class,
                () -> op("Dropout").opset(13).in(x).in(f32(s(), 0.5f)).in(on).run());
        assertEquals("training mode is not supported", e.getMessage());
        // ratio 0 drops nothing even when training
        assertArrayEquals(new float[] {1, 2, 3}, op("Dropout").opset(13).in(x).in(f32(s(), 0f)).in(on).run1().toFloatArray());
    }

    @Test void eyeLike() {
        Tensor y = op("EyeLike").attr("k", 1L).attr("dtype", 7L).in(iota(3, 4)).run1();
        assertEquals(DType.INT64, y.dtype());
        assertArrayEquals(new long[] {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, y.toLongArray());
    }

    @Test void identityCopies() {
        Tensor x = typed(DType.INT8, s(2), -3, 4);
        Tensor y = op("Identity").in(x).run1();
        assertEquals(DType.INT8, y.dtype());
        assertArrayEquals(new long[] {-3, 4}, y.toLongArray());
    }
}
