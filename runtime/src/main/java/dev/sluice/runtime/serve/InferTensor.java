package dev.sluice.runtime.serve;

import java.util.Arrays;
import java.util.Map;

/**
 * One tensor of a request or response, independent of the front end: its name, datatype, shape and elements
 * in the protocol's raw form (flattened row-major, little-endian; BYTES elements as a 4-byte little-endian
 * length then the bytes). Invariant: for fixed-size datatypes {@code data.length == elementCount * elementBytes}.
 *
 * @param parameters the tensor's protocol parameters (e.g. {@code binary_data}); never null
 */
public record InferTensor(String name, Datatype datatype, long[] shape, byte[] data, Map<String, Object> parameters) {
    public InferTensor {
        parameters = Map.copyOf(parameters);
        if (datatype != Datatype.BYTES) {
            long want = elementCount(shape) * datatype.elementBytes();
            if (want != data.length) {
                throw new IllegalArgumentException("tensor '" + name + "': " + data.length + " bytes for shape "
                    + Arrays.toString(shape) + " of " + datatype + " (needs " + want + ")");
            }
        }
    }

    /** Elements a shape holds; refuses negative dimensions and overflow, naming the tensor. */
    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw ServeException.badRequest("negative dimension " + d + " in shape " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    @Override public String toString() { return name + ":" + datatype + Arrays.toString(shape); }

    @Override public boolean equals(Object o) {
        return o instanceof InferTensor t && name.equals(t.name) && datatype == t.datatype && Arrays.equals(shape, t.shape)
            && Arrays.equals(data, t.data);
    }

    @Override public int hashCode() { return name.hashCode() * 31 + Arrays.hashCode(data); }
}
