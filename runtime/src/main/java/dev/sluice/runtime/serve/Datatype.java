package dev.sluice.runtime.serve;

import dev.sluice.kernels.DType;
import java.util.Locale;

/**
 * The tensor datatypes of the Open Inference Protocol v2, with the Sluice element type each maps to. BYTES
 * (variable-length strings) has no Sluice element type: it is parsed and carried, and refused by name when it
 * meets a model input.
 */
public enum Datatype {
    BOOL(DType.BOOL), UINT8(DType.UINT8), UINT16(DType.UINT16), UINT32(DType.UINT32), UINT64(DType.UINT64),
    INT8(DType.INT8), INT16(DType.INT16), INT32(DType.INT32), INT64(DType.INT64),
    FP16(DType.FLOAT16), FP32(DType.FLOAT32), FP64(DType.FLOAT64), BYTES(null);

    private final DType dtype;

    Datatype(DType dtype) { this.dtype = dtype; }

    /** The Sluice element type, or null for BYTES. */
    public DType dtype() { return dtype; }

    /** Bytes per element in the raw (binary) form; 0 for BYTES, whose elements carry their own length. */
    public int elementBytes() { return dtype == null ? 0 : dtype.byteSize(); }

    /** The protocol's name of a Sluice element type. */
    public static Datatype of(DType d) {
        for (Datatype t : values()) if (t.dtype == d) return t;
        throw new IllegalArgumentException("no v2 datatype for " + d);
    }

    /** Reads a datatype name; the error names {@code where} and the names allowed. */
    public static Datatype parse(String name, String where) {
        if (name == null) throw ServeException.badRequest(where + ": 'datatype' is missing");
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw ServeException.badRequest(where + ": unknown datatype '" + name + "'; one of BOOL, UINT8, UINT16, UINT32, "
                + "UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES");
        }
    }
}
