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
import java.util.List;

/**
 * LinearClassifier and LinearRegressor: scores = X coefficients^T + intercepts in float (the inputs are read as
 * floats, as ONNX Runtime converts them), then ORT's label and transform rules: one score column with two labels is
 * a binary classifier whose columns are 1 - score, score (logistic(-score), logistic(score) under LOGISTIC); a lone
 * score column otherwise is transformed only by PROBIT.
 */
final class LinearKernels {
    private LinearKernels() {}

    /** Scores of one row into s: coefficients is rows x f, row-major; intercepts may be null. */
    private static void scores(Tensor x, long r, int f, float[] coef, float[] intercepts, double[] s) {
        for (int c = 0; c < s.length; c++) {
            float acc = 0;
            for (int j = 0; j < f; j++) acc += (float) x.getDouble(r * f + j) * coef[c * f + j];
            s[c] = intercepts == null ? acc : acc + intercepts[c];
        }
    }

    private static float[] coefficients(Attributes at, int rows, long f, String where) {
        float[] coef = at.getFloats("coefficients");
        if (coef == null) throw MlAttributes.error(where, "required attribute 'coefficients' is missing");
        if ((long) rows * f != coef.length) {
            throw MlAttributes.error(where, coef.length + " coefficients do not make " + rows + " rows of the input's " + f + " features");
        }
        return coef;
    }

    static final class Classifier implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            Attributes at = ctx.attributes();
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            MlAttributes.refuseStrings(at, where, "classlabels_strings");
            float[] intercepts = at.getFloats("intercepts");
            long[] labels = at.getInts("classlabels_ints");
            int classes = intercepts == null ? 0 : intercepts.length;
            int cols = classes == 1 && labels != null && labels.length == 2 ? 2 : classes;
            Dim n = MlAttributes.rowsDim(ctx.inputType(0));
            return List.of(TensorType.of(DType.INT64, SymShape.of(n)), TensorType.of(DType.FLOAT32, SymShape.of(n, Dim.of(cols))));
        }

        @Override public void execute(ExecContext ctx) {
            Attributes at = ctx.attributes();
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            MlAttributes.refuseStrings(at, where, "classlabels_strings");
            float[] intercepts = at.getFloats("intercepts");
            if (intercepts == null || intercepts.length == 0) throw MlAttributes.error(where, "attribute 'intercepts' is missing or empty: it gives the class count");
            long[] labels = MlAttributes.intsOrEmpty(at, "classlabels_ints");
            int classes = intercepts.length;
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long n = MlAttributes.rows(x, where);
            int f = (int) MlAttributes.cols(x);
            float[] coef = coefficients(at, classes, f, where);
            if (classes > 1 && labels.length < classes) {
                throw MlAttributes.error(where, classes + " score columns but " + labels.length + " labels in 'classlabels_ints'");
            }
            PostTransform post = PostTransform.of(at.getString("post_transform", "NONE"), where);
            boolean second = classes == 1 && labels.length == 2;
            if (classes == 1 && post == PostTransform.PROBIT && second) {
                throw MlAttributes.error(where, "PROBIT on a one-score binary classifier leaves ONNX Runtime's second column undefined; not supported");
            }
            int cols = second ? 2 : classes;
            Tensor y = ctx.output(0, DType.INT64, Shape.of(n));
            Tensor z = ctx.outputCount() > 1 ? ctx.output(1, DType.FLOAT32, Shape.of(n, cols)) : null;
            double[] s = new double[classes];
            for (long r = 0; r < n; r++) {
                scores(x, r, f, coef, intercepts, s);
                long label;
                if (classes == 1) {
                    boolean positive = (float) s[0] > 0;
                    label = second ? labels[positive ? 1 : 0] : positive ? 1 : 0;
                } else {
                    int best = 0;
                    for (int c = 1; c < classes; c++) if ((float) s[c] > (float) s[best]) best = c;
                    label = labels[best];
                }
                y.setLong(r, label);
                if (z == null) continue;
                if (second) {
                    // ORT 1.29: LOGISTIC gives logistic(-v), logistic(v); other transforms leave 1 - v, v
                    float v = (float) s[0];
                    boolean logistic = post == PostTransform.LOGISTIC;
                    z.setFloat(r * 2, logistic ? PostTransform.logistic(-v) : 1 - v);
                    z.setFloat(r * 2 + 1, logistic ? PostTransform.logistic(v) : v);
                    continue;
                }
                if (classes > 1) post.applyTo(s, classes);
                else if (post == PostTransform.PROBIT) s[0] = PostTransform.probit((float) s[0]);
                for (int c = 0; c < classes; c++) z.setFloat(r * classes + c, (float) s[c]);
            }
        }
    }

    static final class Regressor implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            long targets = ctx.attributes().getInt("targets", 1);
            return MlAttributes.one(DType.FLOAT32, SymShape.of(MlAttributes.rowsDim(ctx.inputType(0)), Dim.of(targets)));
        }

        @Override public void execute(ExecContext ctx) {
            Attributes at = ctx.attributes();
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            long t = at.getInt("targets", 1);
            if (t < 1 || t > 1 << 20) throw MlAttributes.error(where, "targets " + t + " is not a positive count");
            int targets = (int) t;
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long n = MlAttributes.rows(x, where);
            int f = (int) MlAttributes.cols(x);
            float[] coef = coefficients(at, targets, f, where);
            float[] intercepts = at.getFloats("intercepts");
            if (intercepts != null && intercepts.length == 0) intercepts = null;
            if (intercepts != null && intercepts.length != targets) {
                throw MlAttributes.error(where, intercepts.length + " intercepts for " + targets + " targets");
            }
            PostTransform post = PostTransform.of(at.getString("post_transform", "NONE"), where);
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(n, targets));
            double[] s = new double[targets];
            for (long r = 0; r < n; r++) {
                scores(x, r, f, coef, intercepts, s);
                if (targets > 1) post.applyTo(s, targets);
                else if (post == PostTransform.PROBIT) s[0] = PostTransform.probit((float) s[0]);
                for (int c = 0; c < targets; c++) y.setFloat(r * targets + c, (float) s[c]);
            }
        }
    }
}
