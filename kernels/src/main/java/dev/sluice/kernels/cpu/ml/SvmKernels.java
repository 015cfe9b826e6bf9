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
 * SVMRegressor and SVMClassifier (libsvm / liblinear models as skl2onnx writes them), in float as ONNX Runtime
 * computes them: kernel values K(x, sv) per support vector (LINEAR, POLY, RBF, SIGMOID with kernel_params gamma,
 * coef0, degree), one-vs-one decision values with votes, and, where prob_a / prob_b are given, libsvm's pairwise
 * coupling into class probabilities. Score layouts follow ORT: without probabilities a two-class SVC writes its one
 * decision value as a pair, a multiclass one writes the C(C-1)/2 decision values.
 */
final class SvmKernels {
    private SvmKernels() {}

    private enum KernelType { LINEAR, POLY, RBF, SIGMOID }

    /** The kernel function with its parameters. */
    private record Kernel(KernelType type, float gamma, float coef0, float degree) {
        static Kernel of(Attributes at, String where) {
            String t = at.getString("kernel_type", "LINEAR");
            KernelType type = switch (t) {
                case "LINEAR" -> KernelType.LINEAR;
                case "POLY" -> KernelType.POLY;
                case "RBF" -> KernelType.RBF;
                case "SIGMOID" -> KernelType.SIGMOID;
                default -> throw MlAttributes.error(where, "kernel_type '" + t + "' is not one of LINEAR, POLY, RBF, SIGMOID");
            };
            float[] p = at.getFloats("kernel_params");
            if (p != null && p.length > 0 && p.length < 3) throw MlAttributes.error(where, "kernel_params needs gamma, coef0 and degree");
            return p == null || p.length == 0 ? new Kernel(type, 0, 0, 0) : new Kernel(type, p[0], p[1], p[2]);
        }

        /** K(x, v) for x = row[0, f) and v = vs[off, off + f). */
        float apply(float[] row, float[] vs, int off, int f) {
            if (type == KernelType.RBF) {
                float sum = 0;
                for (int j = 0; j < f; j++) { float d = row[j] - vs[off + j]; sum += d * d; }
                return (float) Math.exp(-gamma * sum);
            }
            float dot = 0;
            for (int j = 0; j < f; j++) dot += row[j] * vs[off + j];
            if (type == KernelType.LINEAR) return dot;
            float v = gamma * dot + coef0;
            return type == KernelType.POLY ? (float) Math.pow(v, degree) : (float) Math.tanh(v);
        }
    }

    private static float[] floats(Attributes at, String name, String where) {
        float[] v = at.getFloats(name);
        if (v == null) throw MlAttributes.error(where, "required attribute '" + name + "' is missing");
        return v;
    }

    private static float[] row(Tensor x, long r, int f, float[] into) {
        for (int j = 0; j < f; j++) into[j] = (float) x.getDouble(r * f + j);
        return into;
    }

    static final class Regressor implements OpKernel {
        @Override public List<TensorType> infer(InferContext ctx) {
            return MlAttributes.one(DType.FLOAT32, SymShape.of(MlAttributes.rowsDim(ctx.inputType(0)), Dim.of(1)));
        }

        @Override public void execute(ExecContext ctx) {
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            Attributes at = ctx.attributes();
            float[] coef = floats(at, "coefficients", where), rho = floats(at, "rho", where);
            if (coef.length == 0 || rho.length == 0) throw MlAttributes.error(where, "'coefficients' and 'rho' must not be empty");
            long nsv = at.getInt("n_supports", 0);
            float[] sv = at.getFloats("support_vectors");
            boolean oneClass = at.getInt("one_class", 0) != 0;
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long n = MlAttributes.rows(x, where);
            int f = (int) MlAttributes.cols(x);
            Kernel k;
            if (nsv > 0) {
                k = Kernel.of(at, where);
                if (sv == null || sv.length != nsv * f) throw MlAttributes.error(where, "support_vectors does not hold " + nsv + " vectors of X's " + f + " features");
                if (coef.length < nsv) throw MlAttributes.error(where, coef.length + " coefficients for " + nsv + " support vectors");
            } else {
                k = new Kernel(KernelType.LINEAR, 0, 0, 0);
                if (coef.length != f) throw MlAttributes.error(where, coef.length + " coefficients for X's " + f + " features");
            }
            Tensor y = ctx.output(0, DType.FLOAT32, Shape.of(n, 1));
            float[] buf = new float[f];
            for (long r = 0; r < n; r++) {
                row(x, r, f, buf);
                float s;
                if (nsv > 0) {
                    s = 0;
                    for (int v = 0; v < nsv; v++) s += coef[v] * k.apply(buf, sv, v * f, f);
                    s += rho[0];
                } else {
                    s = k.apply(buf, coef, 0, f) + rho[0];
                }
                y.setFloat(r, oneClass ? (s > 0 ? 1f : -1f) : s);
            }
        }
    }

    static final class Classifier implements OpKernel {
        /** Z's width: the classes, or the pairwise decision values of an SVC without probabilities (2 for two classes). */
        private static int scoreColumns(Attributes at) {
            long[] labels = at.getInts("classlabels_ints");
            int classes = labels == null ? 0 : labels.length;
            long[] perClass = at.getInts("vectors_per_class");
            long vectors = 0;
            if (perClass != null) for (long v : perClass) vectors += v;
            float[] probA = at.getFloats("prob_a");
            boolean proba = probA != null && probA.length > 0;
            if (vectors > 0 && !proba) return classes > 2 ? classes * (classes - 1) / 2 : 2;
            return classes;
        }

        @Override public List<TensorType> infer(InferContext ctx) {
            MlAttributes.refuseStrings(ctx.attributes(), MlAttributes.label(ctx.nodeName(), ctx.opType()), "classlabels_strings");
            Dim n = MlAttributes.rowsDim(ctx.inputType(0));
            return List.of(TensorType.of(DType.INT64, SymShape.of(n)),
                TensorType.of(DType.FLOAT32, SymShape.of(n, Dim.of(scoreColumns(ctx.attributes())))));
        }

        @Override public void execute(ExecContext ctx) {
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            Attributes at = ctx.attributes();
            MlAttributes.refuseStrings(at, where, "classlabels_strings");
            long[] labels = at.getInts("classlabels_ints");
            if (labels == null || labels.length < 2) throw MlAttributes.error(where, "'classlabels_ints' must name at least two classes");
            int classes = labels.length, pairs = classes * (classes - 1) / 2;
            float[] coef = floats(at, "coefficients", where), rho = floats(at, "rho", where);
            float[] probA = at.getFloats("prob_a"), probB = at.getFloats("prob_b");
            if (probA == null) probA = new float[0];
            if (probB == null) probB = new float[0];
            if (probA.length != probB.length) throw MlAttributes.error(where, "prob_a and prob_b have different lengths");
            boolean proba = probA.length > 0;
            long[] perClass = MlAttributes.intsOrEmpty(at, "vectors_per_class");
            int vectors = 0;
            for (long v : perClass) {
                if (v < 0 || v > Integer.MAX_VALUE / 2) throw MlAttributes.error(where, "vectors_per_class holds " + v);
                vectors += (int) v;
            }
            boolean svc = vectors > 0;
            boolean allPositive = true;
            for (float c : coef) if (c < 0) allPositive = false;
            PostTransform post = PostTransform.of(at.getString("post_transform", "NONE"), where);
            Tensor x = ctx.input(0);
            MlAttributes.requireNumeric(x, where, "X");
            long n = MlAttributes.rows(x, where);
            int f = (int) MlAttributes.cols(x);
            float[] sv = at.getFloats("support_vectors");
            Kernel k = svc ? Kernel.of(at, where) : new Kernel(KernelType.LINEAR, 0, 0, 0);
            if (svc) {
                if (perClass.length != classes) throw MlAttributes.error(where, "vectors_per_class has " + perClass.length + " entries for " + classes + " classes");
                if (sv == null || sv.length != (long) vectors * f) throw MlAttributes.error(where, "support_vectors does not hold " + vectors + " vectors of X's " + f + " features");
                if (coef.length != (long) (classes - 1) * vectors) throw MlAttributes.error(where, coef.length + " coefficients; (classes - 1) x support vectors = " + (classes - 1) * vectors + " needed");
                if (rho.length < pairs) throw MlAttributes.error(where, rho.length + " rho values for " + pairs + " class pairs");
                if (proba && probA.length < pairs) throw MlAttributes.error(where, probA.length + " prob_a values for " + pairs + " class pairs");
                if (!proba && classes == 2 && post == PostTransform.PROBIT) {
                    throw MlAttributes.error(where, "PROBIT on a two-class SVM without probabilities leaves ONNX Runtime's second score undefined; not supported");
                }
            } else {
                if (coef.length != (long) classes * f) throw MlAttributes.error(where, coef.length + " coefficients do not make " + classes + " rows of X's " + f + " features");
                if (rho.length == 0) throw MlAttributes.error(where, "'rho' must not be empty");
            }
            int[] start = new int[classes];
            for (int c = 1; c < classes && svc; c++) start[c] = start[c - 1] + (int) perClass[c - 1];
            int cols = svc && !proba ? (classes > 2 ? pairs : 2) : classes;
            Tensor y = ctx.output(0, DType.INT64, Shape.of(n));
            Tensor z = ctx.output(1, DType.FLOAT32, Shape.of(n, cols));
            float[] buf = new float[f], kern = new float[Math.max(vectors, 1)];
            double[] scores = new double[Math.max(cols, classes)];
            float[] decision = new float[Math.max(pairs, 1)];
            int[] votes = new int[classes];
            for (long r = 0; r < n; r++) {
                row(x, r, f, buf);
                int best;
                float maxWeight = 0;
                if (!svc) {
                    for (int c = 0; c < classes; c++) scores[c] = k.apply(buf, coef, c * f, f) + rho[0];
                    best = 0;
                    for (int c = 1; c < classes; c++) if ((float) scores[c] > (float) scores[best]) best = c;
                    maxWeight = (float) scores[best];
                } else {
                    for (int v = 0; v < vectors; v++) kern[v] = k.apply(buf, sv, v * f, f);
                    java.util.Arrays.fill(votes, 0);
                    int p = 0;
                    for (int i = 0; i < classes - 1; i++) {
                        for (int j = i + 1; j < classes; j++) {
                            double sum = 0;
                            for (int m = 0; m < perClass[i]; m++) sum += coef[(j - 1) * vectors + start[i] + m] * kern[start[i] + m];
                            for (int m = 0; m < perClass[j]; m++) sum += coef[i * vectors + start[j] + m] * kern[start[j] + m];
                            sum += rho[p];
                            decision[p++] = (float) sum;
                            votes[sum > 0 ? i : j]++;
                        }
                    }
                    best = 0;
                    for (int c = 1; c < classes; c++) if (votes[c] > votes[best]) best = c;
                }
                long label;
                if (classes == 2 && !proba) {
                    if (allPositive && maxWeight >= 0.5f) label = labels[1];
                    else if (maxWeight > 0 && !allPositive) label = labels[1];
                    else label = labels[best];
                } else {
                    label = labels[best];
                }
                y.setLong(r, label);
                if (svc && proba) {
                    float[] prob = coupled(decision, probA, probB, classes);
                    for (int c = 0; c < classes; c++) scores[c] = prob[c];
                    post.applyTo(scores, classes);
                } else if (svc && classes == 2) {
                    float s = decision[0];
                    if (post == PostTransform.NONE) { scores[0] = -s; scores[1] = s; }
                    else if (post == PostTransform.LOGISTIC) { scores[0] = PostTransform.logistic(-s); scores[1] = PostTransform.logistic(s); }
                    else { scores[0] = 1 - s; scores[1] = s; }
                } else if (svc) {
                    for (int c = 0; c < pairs; c++) scores[c] = decision[c];
                    post.applyTo(scores, pairs);
                } else {
                    post.applyTo(scores, classes);
                }
                for (int c = 0; c < cols; c++) z.setFloat(r * cols + c, (float) scores[c]);
            }
        }

        /**
         * libsvm's probability estimates: each pair's decision value through its sigmoid (A, B), clamped away from 0
         * and 1, then coupled into class probabilities by Wu, Lin and Weng's iterative method (at most 100 rounds).
         */
        private static float[] coupled(float[] decision, float[] probA, float[] probB, int k) {
            float[] r = new float[k * k];
            int idx = 0;
            for (int i = 0; i < k - 1; i++) {
                for (int j = i + 1; j < k; j++, idx++) {
                    float v = 1 - PostTransform.logistic(decision[idx] * probA[idx] + probB[idx]);
                    v = Math.min(Math.max(v, 1e-7f), 1 - 1e-7f);
                    r[i * k + j] = v;
                    r[j * k + i] = 1 - v;
                }
            }
            float[] p = new float[k], qp = new float[k], q = new float[k * k];
            float eps = 0.005f / k;
            for (int i = 0; i < k; i++) {
                p[i] = 1f / k;
                for (int j = 0; j < i; j++) {
                    q[i * k + i] += r[j * k + i] * r[j * k + i];
                    q[i * k + j] = q[j * k + i];
                }
                for (int j = i + 1; j < k; j++) {
                    q[i * k + i] += r[j * k + i] * r[j * k + i];
                    q[i * k + j] = -r[j * k + i] * r[i * k + j];
                }
            }
            for (int loop = 0; loop < 100; loop++) {
                float pqp = 0;
                for (int i = 0; i < k; i++) {
                    qp[i] = 0;
                    for (int j = 0; j < k; j++) qp[i] += q[i * k + j] * p[j];
                    pqp += p[i] * qp[i];
                }
                float maxError = 0;
                for (int i = 0; i < k; i++) maxError = Math.max(maxError, Math.abs(qp[i] - pqp));
                if (maxError < eps) break;
                for (int i = 0; i < k; i++) {
                    float diff = (-qp[i] + pqp) / q[i * k + i];
                    p[i] += diff;
                    pqp = (pqp + diff * (diff * q[i * k + i] + 2 * qp[i])) / (1 + diff) / (1 + diff);
                    for (int j = 0; j < k; j++) {
                        qp[j] = (qp[j] + diff * q[i * k + j]) / (1 + diff);
                        p[j] /= (1 + diff);
                    }
                }
            }
            return p;
        }
    }
}
