package dev.sluice.kernels;

/**
 * Element types a {@link Tensor} can hold, with their ONNX {@code TensorProto.DataType} codes.
 * BOOL is stored as one byte (0 or 1); FLOAT16 as IEEE binary16 bits.
 */
public enum DType {
    FLOAT32(1, 4, "float32"),
    UINT8(2, 1, "uint8"),
    INT8(3, 1, "int8"),
    UINT16(4, 2, "uint16"),
    INT16(5, 2, "int16"),
    INT32(6, 4, "int32"),
    INT64(7, 8, "int64"),
    BOOL(9, 1, "bool"),
    FLOAT16(10, 2, "float16"),
    FLOAT64(11, 8, "float64"),
    UINT32(12, 4, "uint32"),
    UINT64(13, 8, "uint64");

    private final int onnxCode;
    private final int byteSize;
    private final String displayName;

    DType(int onnxCode, int byteSize, String displayName) {
        this.onnxCode = onnxCode;
        this.byteSize = byteSize;
        this.displayName = displayName;
    }

    public int onnxCode() { return onnxCode; }
    public int byteSize() { return byteSize; }

    public boolean isFloatingPoint() { return this == FLOAT32 || this == FLOAT16 || this == FLOAT64; }
    public boolean isInteger() { return !isFloatingPoint() && this != BOOL; }
    public boolean isSigned() { return this == INT8 || this == INT16 || this == INT32 || this == INT64 || isFloatingPoint(); }

    /** Maps an ONNX data type code; names the code and its ONNX name in the error if unsupported. */
    public static DType fromOnnx(int code) {
        for (DType t : values()) if (t.onnxCode == code) return t;
        throw new UnsupportedDTypeException("unsupported tensor data type " + code + " (" + onnxName(code) + ")");
    }

    public static boolean isSupportedOnnx(int code) {
        for (DType t : values()) if (t.onnxCode == code) return true;
        return false;
    }

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
