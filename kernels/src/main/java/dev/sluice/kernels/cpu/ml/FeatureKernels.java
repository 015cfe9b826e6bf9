package dev.sluice.kernels.cpu.ml;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The numeric feature preprocessors of ai.onnx.ml: Scaler, Normalizer, Binarizer, ArrayFeatureExtractor, Imputer,
 * OneHotEncoder, FeatureVectorizer. Per-column parameters are either one value for every column or one per column
 * of the last axis; anything else is refused naming the node.
 */
final class FeatureKernels {
    private FeatureKernels() {}

    private static String where(ExecContext ctx) { return MlAttributes.label(ctx.nodeName(), ctx.opType()); }

    /** One value for all columns, or one per column. */
    private static double param(double[] p, long col) { return p.length == 1 ? p[0] : p[(int) col]; }

    private static void checkPerColumn(double[] p, long cols, String name, String where) {
        if (p.length != 1 && p.length != cols) {
            throw MlAttributes.error(where, "'" + name + "' has " + p.length + " values; 1 or one per column (" + cols + ") is needed");
        }
    }

    static final class Scaler implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return MlAttributes.one(DType.FLOAT32, ctx.inputType(0).shape()); }

        @Override public void execute(ExecContext ctx) {
            String where = where(ctx);
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long cols = x.rank() == 0 ? 1 : MlAttributes.cols(x);
            double[] offset = MlAttributes.floatsOrTensor(ctx.attributes(), "offset", where);
            double[] scale = MlAttributes.floatsOrTensor(ctx.attributes(), "scale", where);
            if (offset == null || offset.length == 0) offset = new double[] {0};
            if (scale == null || scale.length == 0) scale = new double[] {1};
            checkPerColumn(offset, cols, "offset", where);
            checkPerColumn(scale, cols, "scale", where);
            Tensor y = ctx.output(0, DType.FLOAT32, x.shape());
            for (long i = 0, n = x.elementCount(); i < n; i++) {
                long c = i % cols;
                y.setFloat(i, ((float) x.getDouble(i) - (float) param(offset, c)) * (float) param(scale, c));
            }
        }
    }

    static final class Normalizer implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return MlAttributes.one(DType.FLOAT32, ctx.inputType(0).shape()); }

        @Override public void execute(ExecContext ctx) {
            String where = where(ctx);
            String norm = ctx.attributes().getString("norm", "MAX");
            if (!norm.equals("MAX") && !norm.equals("L1") && !norm.equals("L2")) {
                throw MlAttributes.error(where, "norm '" + norm + "' is not one of MAX, L1, L2");
            }
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long rows = MlAttributes.rows(x, where);
            int cols = (int) MlAttributes.cols(x);
            Tensor y = ctx.output(0, DType.FLOAT32, x.shape());
            float[] row = new float[cols];
            for (long r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) row[c] = (float) x.getDouble(r * cols + c);
                float d;
                switch (norm) {
                    case "MAX" -> { d = -Float.MAX_VALUE; for (float v : row) d = Math.max(d, v); }
                    case "L1" -> { d = 0; for (float v : row) d += Math.abs(v); }
                    default -> { d = 0; for (float v : row) d += v * v; d = (float) Math.sqrt(d); }
                }
                for (int c = 0; c < cols; c++) y.setFloat(r * cols + c, row[c] / d);
            }
        }
    }

    static final class Binarizer implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

        @Override public void execute(ExecContext ctx) {
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where(ctx), "X");
            double threshold = ctx.attributes().getFloat("threshold", 0f);
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            for (long i = 0, n = x.elementCount(); i < n; i++) {
                double v = x.getDouble(i);
                // NaN is not above the threshold: 0, as ONNX's reference has it (ONNX Runtime refuses NaN inputs)
                y.setDouble(i, v > threshold ? 1 : 0);
            }
        }
    }

    static final class ArrayFeatureExtractor implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            TensorType x = ctx.inputType(0);
            Tensor idx = ctx.constantInput(1);
            Dim k = idx == null ? Dim.UNKNOWN : Dim.of(idx.elementCount());
            if (!x.shape().hasRank()) return List.of(TensorType.of(x.dtype(), SymShape.UNKNOWN_RANK));
            List<Dim> dims = new ArrayList<>();
            if (x.shape().rank() == 1) dims.add(Dim.of(1));
            else for (int i = 0; i < x.shape().rank() - 1; i++) dims.add(x.shape().dim(i));
            dims.add(k);
            return List.of(TensorType.of(x.dtype(), new SymShape(dims)));
        }

        @Override public void execute(ExecContext ctx) {
            String where = where(ctx);
            Tensor x = ctx.input(0), idx = ctx.input(1);
            if (x.rank() == 0) throw MlAttributes.error(where, "input X is a scalar; at least one axis is needed");
            if (idx.dtype() != DType.INT64) throw MlAttributes.error(where, "input Y (the indices) is " + idx.dtype() + "; int64 is needed");
            long cols = MlAttributes.cols(x), k = idx.elementCount();
            long[] at = new long[(int) k];
            for (int j = 0; j < k; j++) {
                at[j] = idx.getLong(j);
                if (at[j] < 0 || at[j] >= cols) throw MlAttributes.error(where, "index " + at[j] + " is outside the last axis of X " + x.shape());
            }
            long[] dims = x.shape().dims();
            long rows = x.elementCount() / Math.max(1, cols);
            Shape out;
            if (x.rank() == 1) out = Shape.of(1, k);
            else { dims[dims.length - 1] = k; out = Shape.of(dims); }
            Tensor y = ctx.output(0, x.dtype(), out);
            boolean floating = x.dtype().isFloatingPoint();
            for (long r = 0; r < rows; r++) {
                for (int j = 0; j < k; j++) {
                    if (floating) y.setDouble(r * k + j, x.getDouble(r * cols + at[j]));
                    else y.setLong(r * k + j, x.getLong(r * cols + at[j]));
                }
            }
        }
    }

    static final class Imputer implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) { return List.of(ctx.inputType(0)); }

        @Override public void execute(ExecContext ctx) {
            String where = where(ctx);
            Attributes at = ctx.attributes();
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long cols = x.rank() == 0 ? 1 : MlAttributes.cols(x);
            Tensor y = ctx.output(0, x.dtype(), x.shape());
            if (x.dtype().isFloatingPoint()) {
                double[] imputed = MlAttributes.floatsOrTensor(at, "imputed_value_floats", where);
                if (imputed == null || imputed.length == 0) throw MlAttributes.error(where, "a float input needs 'imputed_value_floats'");
                checkPerColumn(imputed, cols, "imputed_value_floats", where);
                float replaced = at.getFloat("replaced_value_float", 0f);
                for (long i = 0, n = x.elementCount(); i < n; i++) {
                    double v = x.getDouble(i);
                    boolean hit = Float.isNaN(replaced) ? v != v : v == replaced;
                    y.setDouble(i, hit ? param(imputed, i % cols) : v);
                }
            } else {
                long[] imputedL = at.getInts("imputed_value_int64s");
                if (imputedL == null || imputedL.length == 0) throw MlAttributes.error(where, "an integer input needs 'imputed_value_int64s'");
                double[] shape = new double[imputedL.length];
                checkPerColumn(shape, cols, "imputed_value_int64s", where);
                long replaced = at.getInt("replaced_value_int64", 0);
                for (long i = 0, n = x.elementCount(); i < n; i++) {
                    long v = x.getLong(i);
                    y.setLong(i, v == replaced ? imputedL[imputedL.length == 1 ? 0 : (int) (i % cols)] : v);
                }
            }
        }
    }

    static final class OneHotEncoder implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            MlAttributes.refuseStrings(ctx.attributes(), MlAttributes.label(ctx.nodeName(), ctx.opType()), "cats_strings");
            long[] cats = ctx.attributes().getInts("cats_int64s");
            SymShape s = ctx.inputType(0).shape();
            if (!s.hasRank() || cats == null) return MlAttributes.one(DType.FLOAT32, SymShape.UNKNOWN_RANK);
            List<Dim> dims = new ArrayList<>(s.dims());
            dims.add(Dim.of(cats.length));
            return MlAttributes.one(DType.FLOAT32, new SymShape(dims));
        }

        @Override public void execute(ExecContext ctx) {
            String where = where(ctx);
            MlAttributes.refuseStrings(ctx.attributes(), where, "cats_strings");
            long[] cats = ctx.attributes().getInts("cats_int64s");
            if (cats == null || cats.length == 0) throw MlAttributes.error(where, "attribute 'cats_int64s' is missing or empty");
            boolean zeros = ctx.attributes().getInt("zeros", 1) != 0;
            Map<Long, Integer> index = new HashMap<>();
            for (int i = 0; i < cats.length; i++) index.putIfAbsent(cats[i], i);
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long[] dims = java.util.Arrays.copyOf(x.shape().dims(), x.rank() + 1);
            dims[x.rank()] = cats.length;
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(dims));
            for (long i = 0, n = x.elementCount(); i < n; i++) {
                long v = x.dtype().isFloatingPoint() ? (long) x.getDouble(i) : x.getLong(i);
                Integer k = index.get(v);
                if (k != null) y.setFloat(i * cats.length + k, 1f);
                else if (!zeros) throw MlAttributes.error(where, "value " + v + " is not among the categories and 'zeros' is 0");
            }
        }
    }

    static final class FeatureVectorizer implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            long[] widths = ctx.attributes().getInts("inputdimensions");
            long total = 0;
            if (widths != null) for (long w : widths) total += w;
            Dim n = ctx.inputCount() > 0 ? MlAttributes.rowsDim(ctx.inputType(0)) : Dim.UNKNOWN;
            return MlAttributes.one(DType.FLOAT32, SymShape.of(n, widths == null ? Dim.UNKNOWN : Dim.of(total)));
        }

        @Override public void execute(ExecContext ctx) {
            String where = where(ctx);
            long[] widths = MlAttributes.requiredInts(ctx.attributes(), "inputdimensions", where);
            if (widths.length != ctx.inputCount()) {
                throw MlAttributes.error(where, "'inputdimensions' has " + widths.length + " entries for " + ctx.inputCount() + " inputs");
            }
            long rows = -1, total = 0;
            for (int i = 0; i < widths.length; i++) {
                Tensor x = ctx.input(i);
                MlAttributes.requireNumeric(x, where, "X" + i);
                long r = x.rank() <= 1 ? 1 : x.shape().dim(0);
                if (rows >= 0 && r != rows) throw MlAttributes.error(where, "input " + i + " has " + r + " rows, input 0 has " + rows);
                rows = r;
                if (widths[i] < 0) throw MlAttributes.error(where, "inputdimensions[" + i + "] is negative");
                total += widths[i];
            }
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(rows, total));
            long offset = 0;
            for (int i = 0; i < widths.length; i++) {
                Tensor x = ctx.input(i);
                long cols = rows == 0 ? 0 : x.elementCount() / rows, w = widths[i];
                // a narrower input leaves zeros, a wider one is cut to its declared width
                for (long r = 0; r < rows; r++) {
                    for (long c = 0; c < Math.min(cols, w); c++) y.setFloat(r * total + offset + c, (float) x.getDouble(r * cols + c));
                }
                offset += w;
            }
        }
    }
}
