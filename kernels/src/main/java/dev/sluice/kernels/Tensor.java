package dev.sluice.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;

/**
 * A dense row-major tensor: element type, concrete shape, and its bytes in a {@link MemorySegment}.
 *
 * <p>Layout invariant: the data starts on a 64-byte boundary and the {@value #HEADER_BYTES} bytes right
 * before it belong to the tensor ({@link #withHeader()}), so that TornadoVM's off-heap arrays
 * ({@code FloatArray.fromSegmentShallow}) can wrap the same memory without a copy. Tensors sliced from a
 * planned arena keep the same invariant: every block is {@link #blockBytes(long)} long and the data sits
 * {@value #BLOCK_PREFIX} bytes into it.
 */
public final class Tensor implements AutoCloseable {
    /** Bytes TornadoVM keeps in front of an off-heap array's data. */
    public static final int HEADER_BYTES = 16;
    /** Alignment of every tensor's first element. */
    public static final int ALIGNMENT = 64;
    /** Offset of the data inside a block: one alignment unit, whose tail holds the header. */
    public static final int BLOCK_PREFIX = ALIGNMENT;

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE;
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT;

    private final DType dtype;
    private final Shape shape;
    private final MemorySegment block;
    private final MemorySegment data;
    /** The arena {@link #close()} closes: set only on tensors from {@link #allocateOwned}, never on views. */
    private final Arena owner;

    private Tensor(DType dtype, Shape shape, MemorySegment block) { this(dtype, shape, block, null); }

    private Tensor(DType dtype, Shape shape, MemorySegment block, Arena owner) {
        this.owner = owner;
        this.dtype = dtype;
        this.shape = shape;
        this.block = block;
        long bytes = byteSize(dtype, shape);
        if (block.byteSize() < BLOCK_PREFIX + bytes) {
            throw new KernelException("block of " + block.byteSize() + " bytes cannot hold " + dtype + shape);
        }
        this.data = block.asSlice(BLOCK_PREFIX, bytes);
        if (data.address() % ALIGNMENT != 0 && data.isNative()) {
            throw new KernelException("tensor data is not " + ALIGNMENT + "-byte aligned");
        }
    }

    /** Bytes the elements of such a tensor occupy. */
    public static long byteSize(DType dtype, Shape shape) { return shape.elementCount() * dtype.byteSize(); }

    /** Bytes a block (header slot plus data, rounded to the alignment) takes in an arena. */
    public static long blockBytes(long dataBytes) { return BLOCK_PREFIX + alignUp(dataBytes, ALIGNMENT); }

    public static long alignUp(long v, long a) { return (v + a - 1) / a * a; }

    /** A new zero-filled tensor in memory the garbage collector frees. */
    public static Tensor allocate(DType dtype, Shape shape) {
        // recycled blocks: memory fresh from the OS faults in page by page (see NativeBlockPool)
        return new Tensor(dtype, shape, NativeBlockPool.SHARED.allocate(blockBytes(byteSize(dtype, shape))));
    }

    /**
     * A new zero-filled tensor that owns its memory: {@link #close()} hands it back for reuse at once (every
     * view of it then fails on access instead of reading reused bytes); if never closed, the garbage
     * collector frees it. Below {@link #OWNED_MIN_BYTES} this is {@link #allocate(DType, Shape)}: closing
     * such a tensor does nothing and the collector recycles it. What a session returns to its caller, so that a caller who closes outputs runs
     * without fresh memory.
     */
    public static Tensor allocateOwned(DType dtype, Shape shape) {
        long bytes = blockBytes(byteSize(dtype, shape));
        // closing a shared arena costs a handshake with every thread (~40 us): worth it where fresh pages
        // cost more (~240 us for 64 KiB here); smaller tensors wait for the collector like any other
        if (bytes < OWNED_MIN_BYTES) return allocate(dtype, shape);
        Arena arena = Arena.ofShared();
        return new Tensor(dtype, shape, NativeBlockPool.SHARED.allocate(bytes, arena), arena);
    }

    /** Smallest block {@link #allocateOwned} gives a closeable arena of its own. */
    public static final long OWNED_MIN_BYTES = 64 * 1024;

    /**
     * Releases this tensor's memory if it owns it ({@link #allocateOwned}); a no-op for every other tensor
     * (views, arena slices, memory the collector frees) and on a second call. Afterwards the data of this
     * tensor and of its views cannot be read.
     */
    @Override public void close() {
        if (owner != null && owner.scope().isAlive()) owner.close();
    }

    public static Tensor allocate(DType dtype, Shape shape, Arena arena) {
        long bytes = blockBytes(byteSize(dtype, shape));
        return new Tensor(dtype, shape, arena.allocate(bytes, ALIGNMENT));
    }

    /** A tensor over an existing block (for example a slice of a planned arena) laid out as above. */
    public static Tensor inBlock(DType dtype, Shape shape, MemorySegment block) {
        return new Tensor(dtype, shape, block);
    }

    public static Tensor scalar(DType dtype, double v) {
        Tensor t = allocate(dtype, Shape.SCALAR);
        t.setDouble(0, v);
        return t;
    }

    public static Tensor ofFloats(Shape shape, float... values) {
        Tensor t = allocate(DType.FLOAT32, shape);
        if (values.length != shape.elementCount()) throw new KernelException(values.length + " values for shape " + shape);
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    public static Tensor ofLongs(Shape shape, long... values) {
        Tensor t = allocate(DType.INT64, shape);
        if (values.length != shape.elementCount()) throw new KernelException(values.length + " values for shape " + shape);
        MemorySegment.copy(values, 0, t.data, I64, 0, values.length);
        return t;
    }

    public DType dtype() { return dtype; }
    public Shape shape() { return shape; }
    public int rank() { return shape.rank(); }
    public long elementCount() { return shape.elementCount(); }
    public long byteSize() { return data.byteSize(); }

    /** The elements, exactly {@link #byteSize()} bytes. */
    public MemorySegment data() { return data; }

    /** The header slot plus the elements: what TornadoVM's {@code fromSegmentShallow} wraps. */
    public MemorySegment withHeader() { return block.asSlice(BLOCK_PREFIX - HEADER_BYTES, HEADER_BYTES + data.byteSize()); }

    /** The same bytes seen with another shape of equal element count (no copy). */
    public Tensor reshaped(Shape newShape) {
        if (newShape.elementCount() != shape.elementCount()) {
            throw new KernelException("cannot view " + shape + " as " + newShape);
        }
        return new Tensor(dtype, newShape, block);
    }

    /** A deep copy in fresh memory. */
    public Tensor copy() {
        Tensor t = allocate(dtype, shape);
        MemorySegment.copy(data, 0, t.data, 0, data.byteSize());
        return t;
    }

    public void copyFrom(Tensor src) {
        if (src.dtype != dtype || src.byteSize() != byteSize()) {
            throw new KernelException("cannot copy " + src.dtype + src.shape + " into " + dtype + shape);
        }
        MemorySegment.copy(src.data, 0, data, 0, data.byteSize());
    }

    // ---- element access in any dtype (reference paths; fast kernels use the segment directly) ----

    public float getFloat(long i) { return dtype == DType.FLOAT32 ? data.getAtIndex(F32, i) : (float) getDouble(i); }

    public void setFloat(long i, float v) {
        if (dtype == DType.FLOAT32) data.setAtIndex(F32, i, v); else setDouble(i, v);
    }

    public double getDouble(long i) {
        return switch (dtype) {
            case FLOAT32 -> data.getAtIndex(F32, i);
            case FLOAT64 -> data.getAtIndex(F64, i);
            case FLOAT16 -> Float.float16ToFloat(data.getAtIndex(I16, i));
            case UINT64 -> {
                long v = data.getAtIndex(I64, i);
                yield v >= 0 ? (double) v : (double) (v >>> 1) * 2.0 + (v & 1);
            }
            default -> getLong(i);
        };
    }

    public void setDouble(long i, double v) {
        switch (dtype) {
            case FLOAT32 -> data.setAtIndex(F32, i, (float) v);
            case FLOAT64 -> data.setAtIndex(F64, i, v);
            case FLOAT16 -> data.setAtIndex(I16, i, Float.floatToFloat16((float) v));
            case BOOL -> data.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
            case UINT64 -> setLong(i, v >= 9.223372036854775807E18 ? (long) (v - 9.223372036854775807E18) + Long.MIN_VALUE : (long) v);
            default -> setLong(i, (long) v);
        }
    }

    /** Integer value of element i; floats are truncated toward zero. Unsigned types are zero-extended. */
    public long getLong(long i) {
        return switch (dtype) {
            case INT64, UINT64 -> data.getAtIndex(I64, i);
            case INT32 -> data.getAtIndex(I32, i);
            case UINT32 -> Integer.toUnsignedLong(data.getAtIndex(I32, i));
            case INT16 -> data.getAtIndex(I16, i);
            case UINT16 -> Short.toUnsignedInt(data.getAtIndex(I16, i));
            case INT8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case UINT8, BOOL -> Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, i));
            case FLOAT32, FLOAT64, FLOAT16 -> (long) getDouble(i);
        };
    }

    /** Stores v wrapped to the element width (two's complement), as a C cast would. */
    public void setLong(long i, long v) {
        switch (dtype) {
            case INT64, UINT64 -> data.setAtIndex(I64, i, v);
            case INT32, UINT32 -> data.setAtIndex(I32, i, (int) v);
            case INT16, UINT16 -> data.setAtIndex(I16, i, (short) v);
            case INT8, UINT8 -> data.set(ValueLayout.JAVA_BYTE, i, (byte) v);
            case BOOL -> data.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
            case FLOAT32, FLOAT64, FLOAT16 -> setDouble(i, v);
        }
    }

    public boolean getBoolean(long i) { return dtype.isFloatingPoint() ? getDouble(i) != 0 : getLong(i) != 0; }

    public void setBoolean(long i, boolean v) { setLong(i, v ? 1 : 0); }

    public float[] toFloatArray() {
        int n = Math.toIntExact(elementCount());
        float[] r = new float[n];
        if (dtype == DType.FLOAT32) MemorySegment.copy(data, F32, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = (float) getDouble(i);
        return r;
    }

    public double[] toDoubleArray() {
        int n = Math.toIntExact(elementCount());
        double[] r = new double[n];
        for (int i = 0; i < n; i++) r[i] = getDouble(i);
        return r;
    }

    public long[] toLongArray() {
        int n = Math.toIntExact(elementCount());
        long[] r = new long[n];
        if (dtype == DType.INT64) MemorySegment.copy(data, I64, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = getLong(i);
        return r;
    }

    /** Bitwise equality of dtype, shape and bytes. */
    public boolean sameBits(Tensor o) {
        return o.dtype == dtype && o.shape.equals(shape) && data.mismatch(o.data) == -1;
    }

    public TensorType type() { return TensorType.of(dtype, shape); }

    @Override public String toString() { return "Tensor" + "<" + dtype + ">" + shape; }

    @Override public boolean equals(Object o) { return this == o; }
    @Override public int hashCode() { return Objects.hashCode(System.identityHashCode(this)); }
}
