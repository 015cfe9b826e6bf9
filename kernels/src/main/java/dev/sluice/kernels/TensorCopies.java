package dev.sluice.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.Buffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The bulk copies behind {@link Tensor}'s factories and readers: arrays and NIO buffers in and out, with the
 * byte order of a buffer honoured element by element, and the checks that name what does not fit. Kept apart
 * so that Tensor stays the small value it is; nothing here holds state.
 */
final class TensorCopies {
    private TensorCopies() {}

    /** How many values {@link #describe} shows. */
    static final int SHOWN = 8;

    /** A thread that never runs: a segment it may access is one any thread may access (not confined). */
    private static final Thread PROBE = Thread.ofPlatform().unstarted(() -> {});

    /** A new tensor with {@code count} elements copied from an array's segment (native order, as Java arrays are). */
    static Tensor fromArray(DType dtype, Shape shape, MemorySegment src, long count) {
        requireCount(dtype, shape, count);
        Tensor t = Tensor.allocate(dtype, shape);
        MemorySegment.copy(src, 0, t.data(), 0, Tensor.byteSize(dtype, shape));
        return t;
    }

    /** A new tensor from a buffer's segment whose elements are in {@code order}. */
    static Tensor fromBuffer(DType dtype, Shape shape, MemorySegment src, ByteOrder order, long count, boolean ragged) {
        if (ragged) {
            throw new KernelException("a buffer of " + src.byteSize() + " bytes is not a whole number of " + dtype + " elements ("
                + dtype.byteSize() + " bytes each)");
        }
        requireCount(dtype, shape, count);
        Tensor t = Tensor.allocate(dtype, shape);
        ValueLayout l = layout(dtype);
        MemorySegment.copy(src, l.withOrder(order), 0, t.data(), l.withOrder(ByteOrder.nativeOrder()), 0, count);
        return t;
    }

    /** Copies a tensor's elements into a buffer's remaining space at its position, in {@code order}. */
    static void toBuffer(Tensor t, Buffer dst, ByteOrder order, long remainingElements) {
        if (dst.isReadOnly()) throw new java.nio.ReadOnlyBufferException();
        if (remainingElements < t.elementCount()) {
            throw new java.nio.BufferOverflowException();
        }
        MemorySegment to = MemorySegment.ofBuffer(dst);
        ValueLayout l = layout(t.dtype());
        MemorySegment.copy(t.data(), l.withOrder(ByteOrder.nativeOrder()), 0, to, l.withOrder(order), 0, t.elementCount());
    }

    /** True when {@link Tensor#wrap} may read the segment in place (see there). */
    static boolean wrappable(MemorySegment s) {
        return s.isNative() && !s.isReadOnly() && s.address() % Tensor.ALIGNMENT == 0 && s.isAccessibleBy(PROBE);
    }

    static void requireWidth(DType dtype, int width, String from, DType... allowed) {
        if (dtype.byteSize() == width && Arrays.asList(allowed).contains(dtype)) return;
        throw new KernelException("a " + from + " holds " + Arrays.toString(allowed) + " elements, not " + dtype);
    }

    static void requireBools(MemorySegment s) {
        for (long i = 0; i < s.byteSize(); i++) {
            byte b = s.get(ValueLayout.JAVA_BYTE, i);
            if (b != 0 && b != 1) throw new KernelException("bool element " + i + " is " + b + "; a bool must be 0 or 1");
        }
    }

    private static void requireCount(DType dtype, Shape shape, long count) {
        if (count != shape.elementCount()) {
            throw new KernelException(count + " values for " + dtype + shape + ", which has " + shape.elementCount() + " elements");
        }
    }

    /** An unaligned layout of the dtype's width: buffers and arrays need not be aligned to it. */
    private static ValueLayout layout(DType dtype) {
        return switch (dtype.byteSize()) {
            case 1 -> ValueLayout.JAVA_BYTE;
            case 2 -> ValueLayout.JAVA_SHORT_UNALIGNED;
            case 4 -> ValueLayout.JAVA_INT_UNALIGNED;
            case 8 -> ValueLayout.JAVA_LONG_UNALIGNED;
            default -> throw new KernelException("no layout for " + dtype);
        };
    }

    /** {@code Tensor<dtype>[shape] [v0, v1, ...]}: the first {@link #SHOWN} values. */
    static String describe(Tensor t, boolean closed) {
        StringBuilder b = new StringBuilder("Tensor<").append(t.dtype()).append('>').append(t.shape());
        if (closed) return b.append(" (closed)").toString();
        b.append(" [");
        long n = t.elementCount();
        for (long i = 0; i < Math.min(n, SHOWN); i++) {
            if (i > 0) b.append(", ");
            switch (t.dtype()) {
                case FLOAT32, FLOAT16 -> b.append(t.getFloat(i));
                case FLOAT64 -> b.append(t.getDouble(i));
                case BOOL -> b.append(t.getBoolean(i));
                case UINT64 -> b.append(Long.toUnsignedString(t.getLong(i)));
                default -> b.append(t.getLong(i));
            }
        }
        if (n > SHOWN) b.append(", ... (").append(n).append(" values)");
        return b.append(']').toString();
    }
}
