package dev.sluice.kernels.cpu.ml;

import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Dim;
import dev.sluice.kernels.ExecContext;
import dev.sluice.kernels.InferContext;
import dev.sluice.kernels.OpKernel;
import dev.sluice.kernels.SymShape;
import dev.sluice.kernels.Tensor;
import dev.sluice.kernels.TensorType;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * TreeEnsembleRegressor and TreeEnsembleClassifier (ai.onnx.ml opsets 1 and 3) and TreeEnsemble (opset 5): the
 * trees of scikit-learn, XGBoost and LightGBM models as skl2onnx / onnxmltools write them.
 *
 * <p>The aggregation and the final scores follow ONNX Runtime, the runtime those converters test against, where
 * the spec leaves room: a single-target regressor applies only PROBIT; MIN / MAX targets no tree reached get the
 * base value; a two-class classifier whose weights all go to one class writes the second score from the first
 * (1 - p for all-positive weights, -s or logistic(-s) for mixed ones). Where ORT leaves a score undefined (a one-score
 * binary row under PROBIT, or without a rule for the second score) this kernel refuses, naming the node.
 *
 * <p>The compiled {@link Forest} of a node is kept per attribute set (weakly), so a session compiles it once.
 */
final class TreeKernels {
    private TreeKernels() {}

    private static final Map<Attributes, Object> COMPILED = Collections.synchronizedMap(new WeakHashMap<>());

    private enum Aggregate { SUM, AVERAGE, MIN, MAX }

    private static Aggregate aggregate(String s, String where) {
        return switch (s) {
            case "SUM" -> Aggregate.SUM;
            case "AVERAGE" -> Aggregate.AVERAGE;
            case "MIN" -> Aggregate.MIN;
            case "MAX" -> Aggregate.MAX;
            default -> throw MlAttributes.error(where, "aggregate_function '" + s + "' is not one of SUM, AVERAGE, MIN, MAX");
        };
    }

    private static Aggregate aggregateCode(long c, String where) {
        return switch ((int) c) {
            case 0 -> Aggregate.AVERAGE;
            case 1 -> Aggregate.SUM;
            case 2 -> Aggregate.MIN;
            case 3 -> Aggregate.MAX;
            default -> throw MlAttributes.error(where, "aggregate_function " + c + " is not one of 0 (AVERAGE) to 3 (MAX)");
        };
    }

    /** What a regressor-style node needs besides its trees. */
    private record Regression(Forest forest, Aggregate aggregate, PostTransform post, double[] base) {}

    /** A classifier: its trees, labels, base values and ORT's two-class switches. */
    private record Classification(Forest forest, long[] labels, PostTransform post, double[] base, boolean binaryCase,
                                  boolean allPositive) {}

    // ------------------------------------------------------------------ shared evaluation

    /** Features of row r into x, converted as ORT compares them (integers as floats against float thresholds). */
    private static void row(Tensor in, long r, int f, boolean intsAsFloat, double[] x) {
        long o = r * f;
        if (in.dtype() == DType.FLOAT32) for (int j = 0; j < f; j++) x[j] = in.getFloat(o + j);
        else if (intsAsFloat && !in.dtype().isFloatingPoint()) for (int j = 0; j < f; j++) x[j] = (float) in.getLong(o + j);
        else for (int j = 0; j < f; j++) x[j] = in.getDouble(o + j);
    }

    /** Runs every tree on x, aggregating leaf weights per target into score / has (cleared first). */
    private static void accumulate(Forest fr, double[] x, Aggregate agg, double[] score, boolean[] has) {
        java.util.Arrays.fill(score, 0);
        java.util.Arrays.fill(has, false);
        for (int t = 0, nt = fr.trees(); t < nt; t++) {
            int leaf = fr.leaf(t, x);
            for (int k = fr.weightStart[leaf], end = fr.weightStart[leaf + 1]; k < end; k++) {
                int c = fr.weightTarget[k];
                double w = fr.weightValue[k];
                switch (agg) {
                    case SUM, AVERAGE -> score[c] += w;
                    case MIN -> score[c] = has[c] && score[c] <= w ? score[c] : w;
                    case MAX -> score[c] = has[c] && score[c] >= w ? score[c] : w;
                }
                has[c] = true;
            }
        }
    }

    private static void checkInput(Tensor x, Forest fr, String where) {
        MlAttributes.requireNumeric(x, where, "X");
        MlAttributes.rows(x, where);
        long f = MlAttributes.cols(x);
        if (fr.maxFeature >= f) throw MlAttributes.error(where, "a node tests feature " + fr.maxFeature + " but X has " + f + " features");
    }

    /** Runs body(rowFrom, rowTo, x, score, has) over the rows in parallel chunks, each with its own scratch. */
    private interface RowBlock { void run(long from, long to, double[] x, double[] score, boolean[] has); }

    private static void forRows(ExecContext ctx, long n, int f, int targets, long workPerRow, RowBlock body) {
        int chunk = 64;
        int chunks = (int) ((n + chunk - 1) / chunk);
        ctx.parallelism().forEach(chunks, workPerRow * chunk, c -> {
            long from = (long) c * chunk, to = Math.min(n, from + chunk);
            body.run(from, to, new double[Math.max(f, 1)], new double[targets], new boolean[targets]);
        });
    }

    /** ORT's regressor finish: base values, the average's division, then the transform (PROBIT only for one target). */
    private static void finishRegression(Regression m, double[] s, boolean[] has) {
        int n = s.length, trees = m.forest.trees();
        double[] base = m.base;
        if (n == 1) {
            double origin = base != null && base.length == 1 ? base[0] : 0;
            double v = switch (m.aggregate) {
                case SUM -> s[0] + origin;
                case AVERAGE -> s[0] / trees + origin;
                case MIN, MAX -> has[0] ? s[0] + origin : origin;
            };
            s[0] = m.post == PostTransform.PROBIT ? PostTransform.probit((float) v) : v;
            return;
        }
        boolean useBase = base != null && base.length == n;
        for (int j = 0; j < n; j++) {
            double b = useBase ? base[j] : 0;
            // ORT writes a target no tree scored as 0, its base value notwithstanding
            s[j] = !has[j] ? 0 : switch (m.aggregate) {
                case SUM, MIN, MAX -> s[j] + b;
                case AVERAGE -> s[j] / trees + b;
            };
        }
        m.post.applyTo(s, n);
    }

    private static long work(Forest fr) { return 16L * Math.max(1, fr.trees()); }

    // ------------------------------------------------------------------ TreeEnsembleRegressor

    static final class Regressor implements OpKernel {
        private static Regression compile(Attributes at, String where) {
            return (Regression) COMPILED.computeIfAbsent(at, a -> {
                long targets = a.getInt("n_targets", 1);
                if (targets < 1 || targets > 1 << 20) throw MlAttributes.error(where, "n_targets " + targets + " is not a positive count");
                Forest fr = Forest.ofTuples(a, "target", (int) targets, where);
                return new Regression(fr, aggregate(a.getString("aggregate_function", "SUM"), where),
                    PostTransform.of(a.getString("post_transform", "NONE"), where), MlAttributes.floatsOrTensor(a, "base_values", where));
            });
        }

        @Override public List<TensorType> infer(InferContext ctx) {
            long targets = ctx.attributes().getInt("n_targets", 1);
            return MlAttributes.one(DType.FLOAT32, SymShape.of(MlAttributes.rowsDim(ctx.inputType(0)), Dim.of(targets)));
        }

        @Override public void execute(ExecContext ctx) {
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            Regression m = compile(ctx.attributes(), where);
            Tensor x = ctx.input(0);
            checkInput(x, m.forest, where);
            long n = MlAttributes.rows(x, where);
            int f = (int) MlAttributes.cols(x), targets = m.forest.targets;
            Tensor y = ctx.output(0, DType.FLOAT32, dev.sluice.kernels.Shape.of(n, targets));
            forRows(ctx, n, f, targets, work(m.forest), (from, to, row, s, has) -> {
                for (long r = from; r < to; r++) {
                    row(x, r, f, m.forest.floatThresholds, row);
                    accumulate(m.forest, row, m.aggregate, s, has);
                    finishRegression(m, s, has);
                    for (int j = 0; j < targets; j++) y.setFloat(r * targets + j, (float) s[j]);
                }
            });
        }
    }

    // ------------------------------------------------------------------ TreeEnsemble (opset 5)

    static final class Ensemble implements OpKernel {
        private static Regression compile(Attributes at, String where) {
            return (Regression) COMPILED.computeIfAbsent(at, a -> {
                long targets = a.getInt("n_targets", -1);
                if (targets < 1 || targets > 1 << 20) throw MlAttributes.error(where, "n_targets " + targets + " is not a positive count (it is required)");
                Forest fr = Forest.ofTreeEnsemble(a, (int) targets, where);
                return new Regression(fr, aggregateCode(a.getInt("aggregate_function", 1), where),
                    PostTransform.ofCode(a.getInt("post_transform", 0), where), null);
            });
        }

        @Override public List<TensorType> infer(InferContext ctx) {
            long targets = ctx.attributes().getInt("n_targets", -1);
            TensorType x = ctx.inputType(0);
            return MlAttributes.one(x.dtype(), SymShape.of(MlAttributes.rowsDim(x), targets < 0 ? Dim.UNKNOWN : Dim.of(targets)));
        }

        @Override public void execute(ExecContext ctx) {
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            Regression m = compile(ctx.attributes(), where);
            Tensor x = ctx.input(0);
            if (!x.dtype().isFloatingPoint()) throw MlAttributes.error(where, "input X is " + x.dtype() + "; float32, float64 or float16 is needed");
            MlAttributes.rows(x, where);
            if (m.forest.maxFeature >= MlAttributes.cols(x)) {
                throw MlAttributes.error(where, "a node tests feature " + m.forest.maxFeature + " but X has " + MlAttributes.cols(x) + " features");
            }
            long n = MlAttributes.rows(x, where);
            int f = (int) MlAttributes.cols(x), targets = m.forest.targets;
            Tensor y = ctx.output(0, x.dtype(), dev.sluice.kernels.Shape.of(n, targets));
            forRows(ctx, n, f, targets, work(m.forest), (from, to, row, s, has) -> {
                for (long r = from; r < to; r++) {
                    row(x, r, f, false, row);
                    accumulate(m.forest, row, m.aggregate, s, has);
                    finishRegression(m, s, has);
                    for (int j = 0; j < targets; j++) y.setDouble(r * targets + j, s[j]);
                }
            });
        }
    }

    // ------------------------------------------------------------------ TreeEnsembleClassifier

    static final class Classifier implements OpKernel {
        private static Classification compile(Attributes at, String where) {
            return (Classification) COMPILED.computeIfAbsent(at, a -> {
                MlAttributes.refuseStrings(a, where, "classlabels_strings");
                long[] labels = a.getInts("classlabels_int64s");
                if (labels == null || labels.length == 0) throw MlAttributes.error(where, "attribute 'classlabels_int64s' is missing or empty");
                if (labels.length == 1) {
                    throw MlAttributes.error(where, "a classifier with one class label is not supported (ONNX Runtime writes two scores into a one-column output there)");
                }
                Forest fr = Forest.ofTuples(a, "class", labels.length, where);
                boolean allPositive = true;
                java.util.BitSet classes = new java.util.BitSet();
                for (int k = 0; k < fr.weightTarget.length; k++) {
                    classes.set(fr.weightTarget[k]);
                    if (fr.weightValue[k] < 0) allPositive = false;
                }
                boolean binaryCase = labels.length == 2 && classes.cardinality() == 1;
                return new Classification(fr, labels, PostTransform.of(a.getString("post_transform", "NONE"), where),
                    MlAttributes.floatsOrTensor(a, "base_values", where), binaryCase, allPositive);
            });
        }

        @Override public List<TensorType> infer(InferContext ctx) {
            Attributes at = ctx.attributes();
            if (at.has("classlabels_strings")) {
                MlAttributes.refuseStrings(at, MlAttributes.label(ctx.nodeName(), ctx.opType()), "classlabels_strings");
            }
            long[] labels = at.getInts("classlabels_int64s");
            Dim n = MlAttributes.rowsDim(ctx.inputType(0));
            return List.of(TensorType.of(DType.INT64, SymShape.of(n)),
                TensorType.of(DType.FLOAT32, SymShape.of(n, labels == null ? Dim.UNKNOWN : Dim.of(labels.length))));
        }

        @Override public void execute(ExecContext ctx) {
            String where = MlAttributes.label(ctx.nodeName(), ctx.opType());
            Classification m = compile(ctx.attributes(), where);
            Tensor x = ctx.input(0);
            checkInput(x, m.forest, where);
            long n = MlAttributes.rows(x, where);
            int f = (int) MlAttributes.cols(x), classes = m.labels.length;
            Tensor label = ctx.output(0, DType.INT64, dev.sluice.kernels.Shape.of(n));
            Tensor z = ctx.outputCount() > 1 ? ctx.output(1, DType.FLOAT32, dev.sluice.kernels.Shape.of(n, classes)) : null;
            forRows(ctx, n, f, classes, work(m.forest), (from, to, row, s, has) -> {
                for (long r = from; r < to; r++) {
                    row(x, r, f, m.forest.floatThresholds, row);
                    accumulate(m.forest, row, Aggregate.SUM, s, has);
                    label.setLong(r, classes > 2 ? finishMulticlass(m, s, has, where) : finishBinary(m, s, has, where));
                    if (z != null) for (int j = 0; j < classes; j++) z.setFloat(r * classes + j, (float) s[j]);
                }
            });
        }

        /** More than two classes: base values, the label of the best scored class, then the transform. */
        private static long finishMulticlass(Classification m, double[] s, boolean[] has, String where) {
            double[] base = m.base;
            if (base != null) {
                for (int k = 0; k < Math.min(base.length, s.length); k++) { s[k] += base[k]; has[k] = true; }
            }
            int best = -1;
            for (int k = 0; k < s.length; k++) if (has[k] && (best < 0 || s[k] > s[best])) best = k;
            if (best < 0) throw MlAttributes.error(where, "no tree gave any class a score for a row and there are no base values");
            for (int k = 0; k < s.length; k++) if (!has[k]) s[k] = 0;
            m.post.applyTo(s, s.length);
            return m.labels[best];
        }

        /**
         * Two classes, as ORT decides them: the scores kept (one or two), the label from the positive class's score,
         * and how the second score is made when only one is kept.
         */
        private static long finishBinary(Classification m, double[] s, boolean[] has, String where) {
            double[] base = m.base == null ? new double[0] : m.base;
            int kept = 2;
            int second = -1; // ORT's add_second_class: 0/1 all-positive weights, 2/3 mixed, -1 none
            if (base.length == 2) {
                if (has[1]) {
                    // ORT takes class 0's sum here and assumes both base values equal (the spec does not say)
                    s[1] = base[1] + s[0];
                    s[0] = -s[1];
                    has[1] = true;
                } else {
                    s[1] += base[1];
                    s[0] += base[0];
                }
            } else if (base.length == 1) {
                s[0] += base[0];
                if (!has[1]) kept = 1;
            } else if (base.length == 0) {
                second = 3;
                if (!has[1]) kept = 1;
            }
            double positive = kept == 2 && has[1] ? s[1] : has[0] ? s[0] : 0;
            long label;
            if (m.binaryCase) {
                if (m.allPositive) {
                    second = positive > 0.5 ? 0 : 1;
                    label = positive > 0.5 ? m.labels[1] : m.labels[0];
                } else {
                    second = positive > 0 ? 2 : 3;
                    label = positive > 0 ? m.labels[1] : m.labels[0];
                }
            } else {
                // both classes weighted: ORT picks by the sign of class 1's score, not by the larger score, and
                // answers the literal labels 1 / 0; Sluice answers the model's labels (the same for labels {0, 1})
                label = positive > 0 ? m.labels[1] : m.labels[0];
            }
            // from here ORT reads a score no tree (or base value rule) marked as scored as 0
            if (kept == 2) {
                for (int k = 0; k < 2; k++) if (!has[k]) s[k] = 0;
                m.post.applyTo(s, 2);
                return label;
            }
            float v = has[0] ? (float) s[0] : 0f;
            if (m.post == PostTransform.PROBIT || second < 0) {
                throw MlAttributes.error(where, "a row's trees scored only class 0 and "
                    + (m.post == PostTransform.PROBIT ? "post_transform is PROBIT" : "base_values has one value")
                    + ": the second class's score is not defined (ONNX Runtime leaves it unwritten)");
            }
            // under LOGISTIC, ORT 1.29 gives the pair logistic(-v), logistic(v) whatever the weights' signs
            if (m.post == PostTransform.LOGISTIC) { s[0] = PostTransform.logistic(-v); s[1] = PostTransform.logistic(v); }
            else if (second <= 1) { s[0] = 1 - v; s[1] = v; }
            else { s[0] = -v; s[1] = v; }
            return label;
        }
    }
}
