package dev.sluice.kernels;

/**
 * Element types a {@link Tensor} can hold, with their ONNX {@code TensorProto.DataType} codes.
 * BOOL is stored as one byte (0 or 1); FLOAT16 as IEEE binary16 bits.
 */
public enum DType {
    /** IEEE binary32, ONNX FLOAT. */
    FLOAT32(1, 4, "float32"),
    /** Unsigned 8-bit integer. */
    UINT8(2, 1, "uint8"),
    /** Signed 8-bit integer. */
    INT8(3, 1, "int8"),
    /** Unsigned 16-bit integer. */
    UINT16(4, 2, "uint16"),
    /** Signed 16-bit integer. */
    INT16(5, 2, "int16"),
    /** Signed 32-bit integer. */
    INT32(6, 4, "int32"),
    /** Signed 64-bit integer. */
    INT64(7, 8, "int64"),
    /** Boolean, one byte holding 0 or 1. */
    BOOL(9, 1, "bool"),
    /** IEEE binary16 (half precision), stored as its 16 bits. */
    FLOAT16(10, 2, "float16"),
    /** IEEE binary64, ONNX DOUBLE. */
    FLOAT64(11, 8, "float64"),
    /** Unsigned 32-bit integer. */
    UINT32(12, 4, "uint32"),
    /** Unsigned 64-bit integer. */
    UINT64(13, 8, "uint64");

    private final int onnxCode;
    private final int byteSize;
    private final String displayName;

    DType(int onnxCode, int byteSize, String displayName) {
        this.onnxCode = onnxCode;
        this.byteSize = byteSize;
        this.displayName = displayName;
    }

    /**
     * The ONNX {@code TensorProto.DataType} code.
     *
     * @return e.g. 1 for float32
     */
    public int onnxCode() { return onnxCode; }

    /**
     * Bytes one element takes.
     *
     * @return 1, 2, 4 or 8
     */
    public int byteSize() { return byteSize; }

    /**
     * Whether this is float16, float32 or float64.
     *
     * @return true for the floating-point types
     */
    public boolean isFloatingPoint() { return this == FLOAT32 || this == FLOAT16 || this == FLOAT64; }

    /**
     * Whether this is a signed or unsigned integer type (not bool).
     *
     * @return true for the integer types
     */
    public boolean isInteger() { return !isFloatingPoint() && this != BOOL; }

    /**
     * Whether values can be negative.
     *
     * @return true for the signed integer and floating-point types
     */
    public boolean isSigned() { return this == INT8 || this == INT16 || this == INT32 || this == INT64 || isFloatingPoint(); }

    /**
     * Maps an ONNX data type code; names the code and its ONNX name in the error if unsupported.
     *
     * @param code an ONNX {@code TensorProto.DataType} code
     * @return the element type
     * @throws UnsupportedDTypeException for a type Sluice does not hold (string, bfloat16, complex, float8)
     */
    public static DType fromOnnx(int code) {
        for (DType t : values()) if (t.onnxCode == code) return t;
        throw new UnsupportedDTypeException("unsupported tensor data type " + code + " (" + onnxName(code) + ")");
    }

    /**
     * Whether {@link #fromOnnx} accepts this code.
     *
     * @param code an ONNX data type code
     * @return true if there is a DType for it
     */
    public static boolean isSupportedOnnx(int code) {
        for (DType t : values()) if (t.onnxCode == code) return true;
        return false;
    }

    /**
     * The ONNX name of a data type code, supported or not (for messages).
     *
     * @param code an ONNX data type code
     * @return e.g. {@code "FLOAT"}, {@code "STRING"}, or {@code "code 99"}
     */
    public static String onnxName(int code) {
        return switch (code) {
            case 0 -> "UNDEFINED"; case 1 -> "FLOAT"; case 2 -> "UINT8"; case 3 -> "INT8"; case 4 -> "UINT16";
            case 5 -> "INT16"; case 6 -> "INT32"; case 7 -> "INT64"; case 8 -> "STRING"; case 9 -> "BOOL";
            case 10 -> "FLOAT16"; case 11 -> "DOUBLE"; case 12 -> "UINT32"; case 13 -> "UINT64";
            case 14 -> "COMPLEX64"; case 15 -> "COMPLEX128"; case 16 -> "BFLOAT16";
            case 17 -> "FLOAT8E4M3FN"; case 18 -> "FLOAT8E4M3FNUZ"; case 19 -> "FLOAT8E5M2"; case 20 -> "FLOAT8E5M2FNUZ";
            default -> "code " + code;
        };
    }

    @Override public String toString() { return displayName; }
}
