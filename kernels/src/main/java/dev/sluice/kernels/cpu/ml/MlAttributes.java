package dev.sluice.kernels.cpu.ml;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.KernelException;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import dev.sluice.kernels.Dim;
import java.util.List;

/**
 * Reads the attributes of the {@code ai.onnx.ml} operators, whose conventions differ from the default domain's:
 * a float list may come as {@code name} (floats) or {@code name_as_tensor} (a double tensor, opset 3 on), enums are
 * strings, and string-valued variants (class labels, string keys) exist that Sluice's dense numeric tensors cannot
 * carry. Every error names the node and the attribute.
 */
final class MlAttributes {
    private MlAttributes() {}

    /** The node's label for messages: {@code 'name' (ai.onnx.ml:Op)}. */
    static String label(String node, String opType) { return "'" + node + "' (ai.onnx.ml:" + opType + ")"; }

    static KernelException error(String where, String what) { return new KernelException(where + ": " + what); }

    /**
     * The values of {@code name_as_tensor} (any numeric tensor, read as doubles) if present, else of {@code name}
     * (floats), else null. Having both is an error: the spec says one replaces the other.
     */
    static double[] floatsOrTensor(Attributes at, String name, String where) {
        Tensor t = at.has(name + "_as_tensor") ? at.getTensor(name + "_as_tensor") : null;
        float[] f = at.getFloats(name);
        if (t != null && f != null) throw error(where, "has both '" + name + "' and '" + name + "_as_tensor'");
        if (t != null) return numericTensor(t, where, name + "_as_tensor");
        if (f == null) return null;
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** Whether {@code name_as_tensor} holds doubles (the thresholds then compare in double, not float). */
    static boolean isDoubleTensor(Attributes at, String name) {
        return at.has(name + "_as_tensor") && at.getTensor(name + "_as_tensor").dtype() == DType.FLOAT64;
    }

    static double[] numericTensor(Tensor t, String where, String name) {
        if (!t.dtype().isFloatingPoint() && !t.dtype().isInteger()) {
            throw error(where, "attribute '" + name + "' is a " + t.dtype() + " tensor; a numeric one is needed");
        }
        double[] d = new double[Math.toIntExact(t.elementCount())];
        for (int i = 0; i < d.length; i++) d[i] = t.getDouble(i);
        return d;
    }

    /** The ints of a required attribute, naming it when missing. */
    static long[] requiredInts(Attributes at, String name, String where) {
        long[] v = at.getInts(name);
        if (v == null) throw error(where, "required attribute '" + name + "' is missing");
        return v;
    }

    static long[] intsOrEmpty(Attributes at, String name) {
        long[] v = at.getInts(name);
        return v == null ? new long[0] : v;
    }

    /** Fails naming the attribute when a string-valued one is present: Sluice tensors hold no strings. */
    static void refuseStrings(Attributes at, String where, String... names) {
        for (String n : names) {
            if (at.has(n)) {
                throw error(where, "attribute '" + n + "' holds strings; Sluice's tensors are numeric only, so string labels or"
                    + " keys are not supported (convert the model with integer labels, e.g. encode the classes as int64 before"
                    + " training)");
            }
        }
    }

    /** An index attribute value as an int, checked against a bound. */
    static int index(long v, int bound, String where, String what) {
        if (v < 0 || v >= bound) throw error(where, what + " " + v + " is outside [0, " + bound + ")");
        return (int) v;
    }

    /** Rows of a [N, C] or [C] input (a [C] input is one row), or throws naming the input. */
    static long rows(Tensor x, String where) {
        if (x.rank() == 1) return 1;
        if (x.rank() == 2) return x.shape().dim(0);
        throw error(where, "input X has shape " + x.shape() + "; [N, C] or [C] is needed");
    }

    /** Columns of a [N, C] or [C] input. */
    static long cols(Tensor x) { return x.shape().dim(x.rank() - 1); }

    /** The symbolic N of a [N, C] or [C] input type (1 for [C]). */
    static Dim rowsDim(TensorType t) {
        SymShape s = t.shape();
        if (!s.hasRank()) return Dim.UNKNOWN;
        return s.rank() == 1 ? Dim.of(1) : s.rank() == 2 ? s.dim(0) : Dim.UNKNOWN;
    }

    /** Checks the input's element type is one the op reads. */
    static void requireNumeric(Tensor x, String where, String input) {
        DType d = x.dtype();
        if (d != DType.FLOAT32 && d != DType.FLOAT64 && d != DType.INT64 && d != DType.INT32) {
            throw error(where, "input " + input + " is " + d + "; float32, float64, int64 or int32 is needed");
        }
    }

    static List<TensorType> one(DType d, SymShape s) { return List.of(TensorType.of(d, s)); }
}
