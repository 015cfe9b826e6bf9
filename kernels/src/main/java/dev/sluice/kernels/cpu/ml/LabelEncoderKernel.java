package dev.sluice.kernels.cpu.ml;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * LabelEncoder (opsets 2 to 4) with numeric keys and values: {@code keys_int64s / keys_floats / keys_tensor} map
 * element-wise to {@code values_int64s / values_floats / values_tensor}, unmatched inputs to the default
 * ({@code default_tensor}, else -1 for integer values and -0.0 for floating ones). Keys compare by value, with NaN
 * matching NaN and -0.0 matching 0.0. String keys or values are refused naming the attribute (opset 1's
 * {@code classes_strings} likewise).
 */
final class LabelEncoderKernel implements OpKernel {
    /** The value type and the table. */
    private record Table(DType keyType, DType valueType, Map<Double, Double> map, double dflt) {}

    private static Table table(Attributes at, String where) {
        MlAttributes.refuseStrings(at, where, "keys_strings", "values_strings", "classes_strings", "default_string");
        Tensor kt = at.has("keys_tensor") ? at.getTensor("keys_tensor") : null;
        Tensor vt = at.has("values_tensor") ? at.getTensor("values_tensor") : null;
        double[] keys;
        DType keyType;
        if (kt != null) { keys = MlAttributes.numericTensor(kt, where, "keys_tensor"); keyType = kt.dtype(); }
        else if (at.has("keys_int64s")) { keys = toDoubles(at.getInts("keys_int64s")); keyType = DType.INT64; }
        else if (at.has("keys_floats")) { keys = MlAttributes.floatsOrTensor(at, "keys_floats", where); keyType = DType.FLOAT32; }
        else throw MlAttributes.error(where, "no numeric keys (keys_int64s, keys_floats or keys_tensor)");
        double[] values;
        DType valueType;
        if (vt != null) { values = MlAttributes.numericTensor(vt, where, "values_tensor"); valueType = vt.dtype(); }
        else if (at.has("values_int64s")) { values = toDoubles(at.getInts("values_int64s")); valueType = DType.INT64; }
        else if (at.has("values_floats")) { values = MlAttributes.floatsOrTensor(at, "values_floats", where); valueType = DType.FLOAT32; }
        else throw MlAttributes.error(where, "no numeric values (values_int64s, values_floats or values_tensor)");
        if (keys.length != values.length) throw MlAttributes.error(where, keys.length + " keys but " + values.length + " values");
        if (valueType == DType.INT64 && vt == null) {
            // int64 values carried as doubles: only exact up to 2^53, so check rather than round silently
            for (long v : at.getInts("values_int64s")) if ((long) (double) v != v) throw MlAttributes.error(where, "value " + v + " is beyond 2^53");
        }
        Map<Double, Double> map = new HashMap<>();
        for (int i = 0; i < keys.length; i++) map.putIfAbsent(keys[i] + 0.0, values[i]);
        double dflt;
        Tensor dt = at.has("default_tensor") ? at.getTensor("default_tensor") : null;
        if (dt != null) dflt = MlAttributes.numericTensor(dt, where, "default_tensor")[0];
        else if (valueType.isFloatingPoint()) dflt = at.getFloat("default_float", -0.0f);
        else dflt = at.getInt("default_int64", -1);
        return new Table(keyType, valueType, map, dflt);
    }

    private static double[] toDoubles(long[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) d[i] = v[i];
        return d;
    }

    @Override public List<TensorType> infer(InferContext ctx) {
        Table t = table(ctx.attributes(), MlAttributes.label(ctx.nodeName(), ctx.opType()));
        return List.of(TensorType.of(t.valueType, ctx.inputType(0).shape()));
    }

    @Override public void execute(ExecContext ctx) {
        String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
        Table t = table(ctx.attributes(), where);
        Tensor x = ctx.input(0);
        if (x.dtype().isFloatingPoint() != t.keyType.isFloatingPoint()) {
            throw MlAttributes.error(where, "input X is " + x.dtype() + " but the keys are " + t.keyType);
        }
        Tensor y = ctx.output(0, t.valueType, x.shape());
        boolean floating = x.dtype().isFloatingPoint();
        for (long i = 0, n = x.elementCount(); i < n; i++) {
            double k = floating ? x.getDouble(i) : x.getLong(i);
            Double v = t.map.get(k + 0.0);
            double out = v == null ? t.dflt : v;
            if (t.valueType.isFloatingPoint()) y.setDouble(i, out); else y.setLong(i, (long) out);
        }
    }
}
