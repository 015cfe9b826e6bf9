package dev.sluice.kernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
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
    /** Set by {@link #close()}; every access checks it (a plain field: a tensor belongs to one thread at a time). */
    private boolean closed;

    private Tensor(DType dtype, Shape shape, MemorySegment block) { this(dtype, shape, block, (Arena) null); }

    /** A tensor over a caller's memory ({@link #wrap}): no block and no header slot, {@code block} is null. */
    private Tensor(DType dtype, Shape shape, MemorySegment data, Void wrapped) {
        this.owner = null;
        this.dtype = dtype;
        this.shape = shape;
        this.block = null;
        this.data = data;
    }

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

    /**
     * Bytes the elements of such a tensor occupy.
     *
     * @param dtype the element type
     * @param shape the shape
     * @return element count times element size
     */
    public static long byteSize(DType dtype, Shape shape) { return shape.elementCount() * dtype.byteSize(); }

    /**
     * Bytes a block (header slot plus data, rounded to the alignment) takes in an arena.
     *
     * @param dataBytes bytes of the elements
     * @return the block size
     */
    public static long blockBytes(long dataBytes) { return BLOCK_PREFIX + alignUp(dataBytes, ALIGNMENT); }

    /**
     * {@code v} rounded up to a multiple of {@code a}.
     *
     * @param v a non-negative value
     * @param a the alignment, positive
     * @return the smallest multiple of {@code a} not below {@code v}
     */
    public static long alignUp(long v, long a) { return (v + a - 1) / a * a; }

    /**
     * A new zero-filled tensor in memory the garbage collector frees.
     *
     * @param dtype the element type
     * @param shape the shape
     * @return a new tensor
     */
    public static Tensor allocate(DType dtype, Shape shape) {
        // recycled blocks: memory fresh from the OS faults in page by page (see NativeBlockPool)
        return new Tensor(dtype, shape, NativeBlockPool.SHARED.allocate(blockBytes(byteSize(dtype, shape))));
    }

    /**
     * A new zero-filled tensor that owns its memory: {@link #close()} hands it back for reuse at once (every
     *
     * view of it then fails on access instead of reading reused bytes); if never closed, the garbage
     * collector frees it. Below {@link #OWNED_MIN_BYTES} this is {@link #allocate(DType, Shape)}. What a session
     * returns to its caller, so that a caller who closes outputs runs without fresh memory.
     * 
     * @param dtype the element type
     * @param shape the shape
     * @return a new tensor
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
     * Closes this tensor: any later use of it throws {@link IllegalStateException}. Releases its memory at once
     * if it owns it ({@link #allocateOwned}, what a session returns), so that views of it cannot be read either;
     * other tensors (views, arena slices, wrapped caller memory, memory the collector frees) keep their memory
     * for whoever else holds it. A second call does nothing.
     */
    @Override public void close() {
        closed = true;
        if (owner != null && owner.scope().isAlive()) owner.close();
    }

    /**
     * Whether {@link #close()} was called on this tensor.
     *
     * @return true once closed
     */
    public boolean isClosed() { return closed; }

    private void ensureOpen() {
        if (closed) throw new IllegalStateException("tensor " + dtype + shape + " is closed");
    }

    /**
     * A new zero-filled tensor in an arena of the caller, which frees it when the arena closes.
     *
     * @param dtype the element type
     * @param shape the shape
     * @param arena where the memory comes from
     * @return a new tensor
     */
    public static Tensor allocate(DType dtype, Shape shape, Arena arena) {
        long bytes = blockBytes(byteSize(dtype, shape));
        return new Tensor(dtype, shape, arena.allocate(bytes, ALIGNMENT));
    }

    /**
     * A tensor over an existing block (for example a slice of a planned arena) laid out as the class comment says.
     *
     * @param dtype the element type
     * @param shape the shape
     * @param block at least {@link #blockBytes} of the data size, {@value #ALIGNMENT}-byte aligned
     * @return a tensor over {@code block}, not a copy
     */
    public static Tensor inBlock(DType dtype, Shape shape, MemorySegment block) {
        return new Tensor(dtype, shape, block);
    }

    /**
     * A rank-0 tensor holding one value, converted as {@link #setDouble} does.
     *
     * @param dtype the element type
     * @param v the value
     * @return a new tensor
     */
    public static Tensor scalar(DType dtype, double v) {
        Tensor t = allocate(dtype, Shape.SCALAR);
        t.setDouble(0, v);
        return t;
    }

    // ---- factories from Java arrays (copied); names follow the Java element type ----

    /**
     * A float32 tensor holding these values.
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     */
    public static Tensor ofFloats(Shape shape, float... values) {
        return TensorCopies.fromArray(DType.FLOAT32, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * An int64 tensor holding these values.
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     */
    public static Tensor ofLongs(Shape shape, long... values) {
        return TensorCopies.fromArray(DType.INT64, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * A float64 tensor holding these values.
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     */
    public static Tensor ofDoubles(Shape shape, double... values) {
        return TensorCopies.fromArray(DType.FLOAT64, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * An int32 tensor holding these values.
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     */
    public static Tensor ofInts(Shape shape, int... values) {
        return TensorCopies.fromArray(DType.INT32, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * An int16 tensor holding these values.
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     */
    public static Tensor ofShorts(Shape shape, short... values) {
        return TensorCopies.fromArray(DType.INT16, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * An int8 tensor holding these values.
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     */
    public static Tensor ofBytes(Shape shape, byte... values) {
        return TensorCopies.fromArray(DType.INT8, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * A bool tensor holding these values (stored as one byte each, 0 or 1).
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     */
    public static Tensor ofBooleans(Shape shape, boolean... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (values[i] ? 1 : 0);
        return TensorCopies.fromArray(DType.BOOL, shape, MemorySegment.ofArray(b), b.length);
    }

    /**
     * A float16 tensor holding these values rounded to IEEE binary16 (round to nearest even; beyond 65504
     * becomes infinity).
     *
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order
     * @return a new tensor
     */
    public static Tensor ofFloat16(Shape shape, float... values) {
        short[] bits = new short[values.length];
        for (int i = 0; i < bits.length; i++) bits[i] = Float.floatToFloat16(values[i]);
        return TensorCopies.fromArray(DType.FLOAT16, shape, MemorySegment.ofArray(bits), bits.length);
    }

    /**
     * A tensor of a 1-byte type (int8, uint8 or bool) from raw bytes: uint8 reads each byte unsigned
     * ({@code (byte) 200} is 200); bool values must be 0 or 1.
     *
     * @param dtype  {@link DType#INT8}, {@link DType#UINT8} or {@link DType#BOOL}
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     * @throws KernelException if the dtype is not 1 byte wide, or a bool is neither 0 nor 1
     */
    public static Tensor of(DType dtype, Shape shape, byte... values) {
        TensorCopies.requireWidth(dtype, 1, "byte[]", DType.INT8, DType.UINT8, DType.BOOL);
        if (dtype == DType.BOOL) TensorCopies.requireBools(MemorySegment.ofArray(values));
        return TensorCopies.fromArray(dtype, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * A tensor of a 2-byte type from raw 16-bit values: int16, uint16 (read unsigned) or float16 (IEEE
     * binary16 bits, as {@link Float#floatToFloat16} gives).
     *
     * @param dtype  {@link DType#INT16}, {@link DType#UINT16} or {@link DType#FLOAT16}
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     * @throws KernelException if the dtype is not 2 bytes wide
     */
    public static Tensor of(DType dtype, Shape shape, short... values) {
        TensorCopies.requireWidth(dtype, 2, "short[]", DType.INT16, DType.UINT16, DType.FLOAT16);
        return TensorCopies.fromArray(dtype, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * A tensor of a 4-byte integer type from raw 32-bit values: int32 or uint32 (read unsigned).
     *
     * @param dtype  {@link DType#INT32} or {@link DType#UINT32}
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     * @throws KernelException if the dtype is not a 4-byte integer type
     */
    public static Tensor of(DType dtype, Shape shape, int... values) {
        TensorCopies.requireWidth(dtype, 4, "int[]", DType.INT32, DType.UINT32);
        return TensorCopies.fromArray(dtype, shape, MemorySegment.ofArray(values), values.length);
    }

    /**
     * A tensor of an 8-byte integer type from raw 64-bit values: int64 or uint64 (read unsigned: -1 is 2^64-1).
     *
     * @param dtype  {@link DType#INT64} or {@link DType#UINT64}
     * @param shape  the shape; its element count must equal {@code values.length}
     * @param values the elements in row-major order (copied)
     * @return a new tensor
     * @throws KernelException if the dtype is not an 8-byte integer type
     */
    public static Tensor of(DType dtype, Shape shape, long... values) {
        TensorCopies.requireWidth(dtype, 8, "long[]", DType.INT64, DType.UINT64);
        return TensorCopies.fromArray(dtype, shape, MemorySegment.ofArray(values), values.length);
    }

    // ---- factories from NIO buffers (always copied) ----

    /**
     * A tensor of any dtype from the bytes of a buffer, read from its position without moving it; elements wider
     * than a byte are read in the buffer's {@link ByteBuffer#order() byte order}. The buffer may be heap or direct.
     *
     * @param dtype  the element type
     * @param shape  the shape; {@code buffer.remaining()} must be its byte size exactly
     * @param buffer the bytes (copied)
     * @return a new tensor
     * @throws KernelException if the byte count does not match, or a bool byte is neither 0 nor 1
     */
    public static Tensor of(DType dtype, Shape shape, ByteBuffer buffer) {
        MemorySegment src = MemorySegment.ofBuffer(buffer);
        if (dtype == DType.BOOL) TensorCopies.requireBools(src);
        return TensorCopies.fromBuffer(dtype, shape, src, buffer.order(), buffer.remaining() / Math.max(1, dtype.byteSize()),
            buffer.remaining() % dtype.byteSize() != 0);
    }

    /**
     * A float32 tensor from a buffer's remaining elements, read from its position without moving it.
     *
     * @param shape  the shape; {@code buffer.remaining()} must be its element count
     * @param buffer the elements (copied; heap, direct or a view of a byte buffer in either byte order)
     * @return a new tensor
     */
    public static Tensor of(Shape shape, FloatBuffer buffer) {
        return TensorCopies.fromBuffer(DType.FLOAT32, shape, MemorySegment.ofBuffer(buffer), buffer.order(), buffer.remaining(), false);
    }

    /**
     * A float64 tensor from a buffer's remaining elements, read from its position without moving it.
     *
     * @param shape  the shape; {@code buffer.remaining()} must be its element count
     * @param buffer the elements (copied)
     * @return a new tensor
     */
    public static Tensor of(Shape shape, DoubleBuffer buffer) {
        return TensorCopies.fromBuffer(DType.FLOAT64, shape, MemorySegment.ofBuffer(buffer), buffer.order(), buffer.remaining(), false);
    }

    /**
     * A tensor of a 2-byte type (int16, uint16, float16 bits) from a buffer's remaining elements.
     *
     * @param dtype  {@link DType#INT16}, {@link DType#UINT16} or {@link DType#FLOAT16}
     * @param shape  the shape; {@code buffer.remaining()} must be its element count
     * @param buffer the elements (copied; the position does not move)
     * @return a new tensor
     */
    public static Tensor of(DType dtype, Shape shape, ShortBuffer buffer) {
        TensorCopies.requireWidth(dtype, 2, "ShortBuffer", DType.INT16, DType.UINT16, DType.FLOAT16);
        return TensorCopies.fromBuffer(dtype, shape, MemorySegment.ofBuffer(buffer), buffer.order(), buffer.remaining(), false);
    }

    /**
     * A tensor of a 4-byte integer type (int32, uint32) from a buffer's remaining elements.
     *
     * @param dtype  {@link DType#INT32} or {@link DType#UINT32}
     * @param shape  the shape; {@code buffer.remaining()} must be its element count
     * @param buffer the elements (copied; the position does not move)
     * @return a new tensor
     */
    public static Tensor of(DType dtype, Shape shape, IntBuffer buffer) {
        TensorCopies.requireWidth(dtype, 4, "IntBuffer", DType.INT32, DType.UINT32);
        return TensorCopies.fromBuffer(dtype, shape, MemorySegment.ofBuffer(buffer), buffer.order(), buffer.remaining(), false);
    }

    /**
     * A tensor of an 8-byte integer type (int64, uint64) from a buffer's remaining elements.
     *
     * @param dtype  {@link DType#INT64} or {@link DType#UINT64}
     * @param shape  the shape; {@code buffer.remaining()} must be its element count
     * @param buffer the elements (copied; the position does not move)
     * @return a new tensor
     */
    public static Tensor of(DType dtype, Shape shape, LongBuffer buffer) {
        TensorCopies.requireWidth(dtype, 8, "LongBuffer", DType.INT64, DType.UINT64);
        return TensorCopies.fromBuffer(dtype, shape, MemorySegment.ofBuffer(buffer), buffer.order(), buffer.remaining(), false);
    }

    // ---- a caller's memory segment ----

    /**
     * A tensor over a caller's memory, without a copy where that is safe: the segment is native, its address is
     * {@value #ALIGNMENT}-byte aligned, it is writable and any thread may access it (a global, automatic or shared
     * arena; kernels run on worker threads). Otherwise the bytes are copied once into a new tensor, and
     * {@link #isWrapped()} says which happened. A wrapped tensor reads the caller's memory at each use: the
     * caller keeps it alive and unchanged while a run reads it. The data is in native byte order.
     *
     * <p>A wrapped tensor has no header slot in front of its data, so an accelerator path that needs one
     * ({@link #withHeader()}) works on a copy; a session does that copy itself.
     *
     * @param dtype   the element type
     * @param shape   the shape
     * @param segment the elements; exactly the shape's byte size
     * @return a tensor over {@code segment}, or over a copy of it
     * @throws KernelException if the segment's size is not the shape's byte size
     */
    public static Tensor wrap(DType dtype, Shape shape, MemorySegment segment) {
        long bytes = byteSize(dtype, shape);
        if (segment.byteSize() != bytes) {
            throw new KernelException("a segment of " + segment.byteSize() + " bytes cannot hold " + dtype + shape + " (" + bytes + " bytes)");
        }
        if (dtype == DType.BOOL) TensorCopies.requireBools(segment);
        if (TensorCopies.wrappable(segment)) return new Tensor(dtype, shape, segment, (Void) null);
        Tensor t = allocate(dtype, shape);
        MemorySegment.copy(segment, 0, t.data, 0, bytes);
        return t;
    }

    /**
     * Whether this tensor reads a caller's memory in place ({@link #wrap}) rather than memory of its own.
     *
     * @return true for a zero-copy wrap
     */
    public boolean isWrapped() { return block == null; }

    /**
     * The element type.
     *
     * @return the dtype
     */
    public DType dtype() { return dtype; }
    /**
     * The shape.
     *
     * @return the shape
     */
    public Shape shape() { return shape; }
    /**
     * The number of dimensions.
     *
     * @return 0 for a scalar
     */
    public int rank() { return shape.rank(); }
    /**
     * The number of elements.
     *
     * @return the product of the dimensions
     */
    public long elementCount() { return shape.elementCount(); }
    /**
     * Bytes of the elements.
     *
     * @return element count times element size
     */
    public long byteSize() { return data.byteSize(); }

    /**
     * The elements, exactly {@link #byteSize()} bytes, in native byte order.
     *
     * @return the tensor's memory (not a copy)
     * @throws IllegalStateException if the tensor is closed
     */
    public MemorySegment data() {
        ensureOpen();
        return data;
    }

    /**
     * The header slot plus the elements: what TornadoVM's {@code fromSegmentShallow} wraps.
     *
     * @return the header slot and the data
     * @throws IllegalStateException if the tensor is closed, or wraps caller memory (no header slot; use a copy)
     */
    public MemorySegment withHeader() {
        ensureOpen();
        if (block == null) throw new IllegalStateException("tensor " + dtype + shape + " wraps caller memory and has no header slot; use copy()");
        return block.asSlice(BLOCK_PREFIX - HEADER_BYTES, HEADER_BYTES + data.byteSize());
    }

    /**
     * The same bytes seen with another shape of equal element count (no copy).
     *
     * @param newShape a shape with as many elements
     * @return a view sharing this tensor's memory
     * @throws KernelException if the element counts differ
     */
    public Tensor reshaped(Shape newShape) {
        if (newShape.elementCount() != shape.elementCount()) {
            throw new KernelException("cannot view " + shape + " as " + newShape);
        }
        ensureOpen();
        return block == null ? new Tensor(dtype, newShape, data, (Void) null) : new Tensor(dtype, newShape, block);
    }

    /**
     * A deep copy in fresh memory of its own (with a header slot, even when this tensor wraps caller memory).
     *
     * @return a new tensor with the same dtype, shape and bytes
     */
    public Tensor copy() {
        ensureOpen();
        Tensor t = allocate(dtype, shape);
        MemorySegment.copy(data, 0, t.data, 0, data.byteSize());
        return t;
    }

    /**
     * Overwrites this tensor's elements with another's.
     *
     * @param src a tensor of the same dtype and byte size
     * @throws KernelException if they differ
     */
    public void copyFrom(Tensor src) {
        ensureOpen();
        src.ensureOpen();
        if (src.dtype != dtype || src.byteSize() != byteSize()) {
            throw new KernelException("cannot copy " + src.dtype + src.shape + " into " + dtype + shape);
        }
        MemorySegment.copy(src.data, 0, data, 0, data.byteSize());
    }

    // ---- element access in any dtype (reference paths; fast kernels use the segment directly) ----

    /**
     * Element {@code i} (row-major) as a float.
     *
     * @param i the element index
     * @return the value, converted from any dtype
     */
    public float getFloat(long i) { ensureOpen(); return dtype == DType.FLOAT32 ? data.getAtIndex(F32, i) : (float) getDouble(i); }

    /**
     * Stores a float at element {@code i}, converted to the dtype.
     *
     * @param i the element index
     * @param v the value
     */
    public void setFloat(long i, float v) {
        ensureOpen();
        if (dtype == DType.FLOAT32) data.setAtIndex(F32, i, v); else setDouble(i, v);
    }

    /**
     * Element {@code i} as a double; unsigned types are read unsigned.
     *
     * @param i the element index
     * @return the value
     */
    public double getDouble(long i) {
        ensureOpen();
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

    /**
     * Stores a double at element {@code i}, converted to the dtype (integers truncate toward zero).
     *
     * @param i the element index
     * @param v the value
     */
    public void setDouble(long i, double v) {
        ensureOpen();
        switch (dtype) {
            case FLOAT32 -> data.setAtIndex(F32, i, (float) v);
            case FLOAT64 -> data.setAtIndex(F64, i, v);
            case FLOAT16 -> data.setAtIndex(I16, i, Float.floatToFloat16((float) v));
            case BOOL -> data.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
            case UINT64 -> setLong(i, v >= 9.223372036854775807E18 ? (long) (v - 9.223372036854775807E18) + Long.MIN_VALUE : (long) v);
            default -> setLong(i, (long) v);
        }
    }

    /**
     * Integer value of element i; floats are truncated toward zero. Unsigned types are zero-extended.
     *
     * @param i the element index
     * @return the value
     */
    public long getLong(long i) {
        ensureOpen();
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

    /**
     * Stores v wrapped to the element width (two's complement), as a C cast would.
     *
     * @param i the element index
     * @param v the value
     */
    public void setLong(long i, long v) {
        ensureOpen();
        switch (dtype) {
            case INT64, UINT64 -> data.setAtIndex(I64, i, v);
            case INT32, UINT32 -> data.setAtIndex(I32, i, (int) v);
            case INT16, UINT16 -> data.setAtIndex(I16, i, (short) v);
            case INT8, UINT8 -> data.set(ValueLayout.JAVA_BYTE, i, (byte) v);
            case BOOL -> data.set(ValueLayout.JAVA_BYTE, i, (byte) (v != 0 ? 1 : 0));
            case FLOAT32, FLOAT64, FLOAT16 -> setDouble(i, v);
        }
    }

    /**
     * Whether element {@code i} is not zero.
     *
     * @param i the element index
     * @return the value as a boolean
     */
    public boolean getBoolean(long i) { return dtype.isFloatingPoint() ? getDouble(i) != 0 : getLong(i) != 0; }

    /**
     * Stores 1 or 0 at element {@code i}.
     *
     * @param i the element index
     * @param v the value
     */
    public void setBoolean(long i, boolean v) { setLong(i, v ? 1 : 0); }

    // ---- readers into arrays: each element converted as a Java cast would (bulk copy where the type matches) ----

    /**
     * The elements as floats (float16 and float64 converted, integers as by a cast, uint64 unsigned).
     *
     * @return a new array of {@link #elementCount()} values
     */
    public float[] toFloatArray() {
        ensureOpen();
        int n = Math.toIntExact(elementCount());
        float[] r = new float[n];
        if (dtype == DType.FLOAT32) MemorySegment.copy(data, F32, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = (float) getDouble(i);
        return r;
    }

    /**
     * The elements as doubles (uint64 read unsigned).
     *
     * @return a new array of {@link #elementCount()} values
     */
    public double[] toDoubleArray() {
        ensureOpen();
        int n = Math.toIntExact(elementCount());
        double[] r = new double[n];
        if (dtype == DType.FLOAT64) MemorySegment.copy(data, F64, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = getDouble(i);
        return r;
    }

    /**
     * The elements as longs: floats truncated toward zero, unsigned types zero-extended (uint64 as its bits).
     *
     * @return a new array of {@link #elementCount()} values
     */
    public long[] toLongArray() {
        ensureOpen();
        int n = Math.toIntExact(elementCount());
        long[] r = new long[n];
        if (dtype == DType.INT64 || dtype == DType.UINT64) MemorySegment.copy(data, I64, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = getLong(i);
        return r;
    }

    /**
     * The elements as ints, as {@code (int)} of {@link #getLong(long)} (uint32 gives its bits).
     *
     * @return a new array of {@link #elementCount()} values
     */
    public int[] toIntArray() {
        ensureOpen();
        int n = Math.toIntExact(elementCount());
        int[] r = new int[n];
        if (dtype.byteSize() == 4 && dtype.isInteger()) MemorySegment.copy(data, I32, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = (int) getLong(i);
        return r;
    }

    /**
     * The elements as shorts, as {@code (short)} of {@link #getLong(long)}; for float16, its binary16 bits.
     *
     * @return a new array of {@link #elementCount()} values
     */
    public short[] toShortArray() {
        ensureOpen();
        int n = Math.toIntExact(elementCount());
        short[] r = new short[n];
        if (dtype.byteSize() == 2) MemorySegment.copy(data, I16, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = (short) getLong(i);
        return r;
    }

    /**
     * The elements as bytes, as {@code (byte)} of {@link #getLong(long)} (uint8 gives its bits, bool 0 or 1).
     *
     * @return a new array of {@link #elementCount()} values
     */
    public byte[] toByteArray() {
        ensureOpen();
        int n = Math.toIntExact(elementCount());
        byte[] r = new byte[n];
        if (dtype.byteSize() == 1) MemorySegment.copy(data, ValueLayout.JAVA_BYTE, 0, r, 0, n);
        else for (int i = 0; i < n; i++) r[i] = (byte) getLong(i);
        return r;
    }

    /**
     * The elements as booleans: true where the element is not zero.
     *
     * @return a new array of {@link #elementCount()} values
     */
    public boolean[] toBooleanArray() {
        ensureOpen();
        int n = Math.toIntExact(elementCount());
        boolean[] r = new boolean[n];
        for (int i = 0; i < n; i++) r[i] = getBoolean(i);
        return r;
    }

    // ---- readers into buffers: the raw elements, in the buffer's byte order; the position advances ----

    /**
     * Copies the raw elements into a byte buffer at its position, each in the buffer's byte order, and advances
     * the position by {@link #byteSize()}.
     *
     * @param dst a writable buffer with at least {@link #byteSize()} bytes remaining
     * @throws java.nio.BufferOverflowException if fewer bytes remain
     */
    public void copyTo(ByteBuffer dst) {
        ensureOpen();
        TensorCopies.toBuffer(this, dst, dst.order(), dst.remaining() / dtype.byteSize());
        dst.position(dst.position() + (int) byteSize());
    }

    /**
     * Copies the elements of a float32 tensor into a buffer at its position and advances it.
     *
     * @param dst a writable buffer with at least {@link #elementCount()} elements remaining
     */
    public void copyTo(FloatBuffer dst) { copyTyped(dst, dst.order(), dst.remaining(), "FloatBuffer", DType.FLOAT32); dst.position(dst.position() + (int) elementCount()); }

    /**
     * Copies the elements of a float64 tensor into a buffer at its position and advances it.
     *
     * @param dst a writable buffer with at least {@link #elementCount()} elements remaining
     */
    public void copyTo(DoubleBuffer dst) { copyTyped(dst, dst.order(), dst.remaining(), "DoubleBuffer", DType.FLOAT64); dst.position(dst.position() + (int) elementCount()); }

    /**
     * Copies the raw elements of an int64 or uint64 tensor into a buffer at its position and advances it.
     *
     * @param dst a writable buffer with at least {@link #elementCount()} elements remaining
     */
    public void copyTo(LongBuffer dst) { copyTyped(dst, dst.order(), dst.remaining(), "LongBuffer", DType.INT64, DType.UINT64); dst.position(dst.position() + (int) elementCount()); }

    /**
     * Copies the raw elements of an int32 or uint32 tensor into a buffer at its position and advances it.
     *
     * @param dst a writable buffer with at least {@link #elementCount()} elements remaining
     */
    public void copyTo(IntBuffer dst) { copyTyped(dst, dst.order(), dst.remaining(), "IntBuffer", DType.INT32, DType.UINT32); dst.position(dst.position() + (int) elementCount()); }

    /**
     * Copies the raw elements of an int16, uint16 or float16 tensor into a buffer at its position and advances it.
     *
     * @param dst a writable buffer with at least {@link #elementCount()} elements remaining
     */
    public void copyTo(ShortBuffer dst) { copyTyped(dst, dst.order(), dst.remaining(), "ShortBuffer", DType.INT16, DType.UINT16, DType.FLOAT16); dst.position(dst.position() + (int) elementCount()); }

    private void copyTyped(java.nio.Buffer dst, java.nio.ByteOrder order, int remaining, String what, DType... allowed) {
        ensureOpen();
        TensorCopies.requireWidth(dtype, dtype.byteSize(), what, allowed);
        TensorCopies.toBuffer(this, dst, order, remaining);
    }

    /**
     * The raw elements in a new heap buffer of native byte order, positioned at 0.
     *
     * @return a buffer of {@link #byteSize()} bytes
     */
    public ByteBuffer toByteBuffer() {
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(byteSize())).order(java.nio.ByteOrder.nativeOrder());
        copyTo(b);
        return b.flip();
    }

    /**
     * Bitwise equality of dtype, shape and bytes.
     *
     * @param o another tensor
     * @return true if both hold exactly the same bits
     */
    public boolean sameBits(Tensor o) {
        ensureOpen();
        o.ensureOpen();
        return o.dtype == dtype && o.shape.equals(shape) && data.mismatch(o.data) == -1;
    }

    /**
     * The dtype and shape as a type.
     *
     * @return the type
     */
    public TensorType type() { return TensorType.of(dtype, shape); }

    /**
     * The dtype, the shape and the first few values, e.g. {@code Tensor<float32>[2,3] [0.5, 1.0, 1.5, ...]}; a closed
     * tensor says so instead of reading freed memory.
     */
    @Override public String toString() { return TensorCopies.describe(this, closed); }

    @Override public boolean equals(Object o) { return this == o; }
    @Override public int hashCode() { return Objects.hashCode(System.identityHashCode(this)); }
}
