package dev.sluice.runtime;

import static dev.sluice.runtime.MlModel.FLOAT;
import static dev.sluice.runtime.MlModel.INT64;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.onnx.proto.OnnxMl;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SVMRegressor and SVMClassifier against ONNX Runtime: every kernel type, libsvm (support vectors, one-vs-one votes)
 * and liblinear (coefficients only) layouts, two and four classes, with and without Platt probabilities, and the
 * post transforms converters use.
 */
class SvmOpsTest {
    @TempDir Path tmp;

    private static final String[] KERNELS = {"LINEAR", "POLY", "RBF", "SIGMOID"};
    private static final int F = 5, ROWS = 40;

    private static float[] gaussians(SplittableRandom r, int n, double scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * scale);
        return v;
    }

    private static Tensor input(SplittableRandom r) {
        Tensor x = Tensor.allocate(DType.FLOAT32, Shape.of(ROWS, F));
        for (long i = 0; i < x.elementCount(); i++) x.setFloat(i, (float) r.nextGaussian());
        return x;
    }

    private static void assertSameAsOrt(Path file, Map<String, Tensor> inputs, String what) throws Exception {
        Map<String, Tensor> ref = OrtReference.run(file, inputs);
        try (Session s = Session.open(file, 2)) {
            Map<String, Tensor> ours = s.run(inputs).asMap();
            for (var e : ref.entrySet()) {
                Tolerance tol = e.getValue().dtype().isFloatingPoint() ? Tolerance.DEFAULT : new Tolerance(0, 0);
                assertNull(tol.mismatch(ours.get(e.getKey()), e.getValue()), what + ": output '" + e.getKey() + "'");
            }
        }
    }

    @Test
    void svmRegressorMatchesOrtForEachKernelAndLinearLayout() throws Exception {
        SplittableRandom r = new SplittableRandom(31);
        for (String kernel : KERNELS) {
            for (boolean oneClass : new boolean[] {false, true}) {
                int nsv = 6;
                Path file = new MlModel(1).input("X", FLOAT, -1, F).output("Y", FLOAT, -1, 1)
                    .node("SVMRegressor", List.of("X"), List.of("Y"), MlModel.str("kernel_type", kernel),
                        MlModel.floats("kernel_params", 0.3f, 0.5f, 3f), MlModel.intAttr("n_supports", nsv),
                        MlModel.floats("support_vectors", gaussians(r, nsv * F, 1)), MlModel.floats("coefficients", gaussians(r, nsv, 1)),
                        MlModel.floats("rho", 0.25f), MlModel.intAttr("one_class", oneClass ? 1 : 0))
                    .write(tmp.resolve("svr.onnx"));
                assertSameAsOrt(file, Map.of("X", input(r)), kernel + (oneClass ? " one class" : ""));
            }
        }
        Path linear = new MlModel(1).input("X", FLOAT, -1, F).output("Y", FLOAT, -1, 1)
            .node("SVMRegressor", List.of("X"), List.of("Y"), MlModel.floats("coefficients", gaussians(r, F, 1)),
                MlModel.floats("kernel_params", 0.3f, 0.5f, 3f), MlModel.floats("rho", -0.5f))
            .write(tmp.resolve("svrl.onnx"));
        assertSameAsOrt(linear, Map.of("X", input(r)), "liblinear layout");
    }

    private Path svc(SplittableRandom r, String kernel, int classes, boolean proba, String post) throws Exception {
        int pairs = classes * (classes - 1) / 2;
        long[] perClass = new long[classes];
        int vectors = 0;
        for (int c = 0; c < classes; c++) { perClass[c] = 1 + r.nextInt(3); vectors += (int) perClass[c]; }
        long[] labels = new long[classes];
        for (int c = 0; c < classes; c++) labels[c] = 10 + c;
        List<OnnxMl.AttributeProto> a = new ArrayList<>(List.of(MlModel.str("kernel_type", kernel),
            MlModel.floats("kernel_params", 0.2f, 0.1f, 2f), MlModel.ints("vectors_per_class", perClass),
            MlModel.floats("support_vectors", gaussians(r, vectors * F, 1)), MlModel.floats("coefficients", gaussians(r, (classes - 1) * vectors, 1)),
            MlModel.floats("rho", gaussians(r, pairs, 0.5)), MlModel.ints("classlabels_ints", labels), MlModel.str("post_transform", post)));
        if (proba) {
            a.add(MlModel.floats("prob_a", gaussians(r, pairs, 2)));
            a.add(MlModel.floats("prob_b", gaussians(r, pairs, 0.3)));
        }
        int cols = !proba ? (classes > 2 ? pairs : 2) : classes;
        return new MlModel(1).input("X", FLOAT, -1, F).output("label", INT64, -1).output("scores", FLOAT, -1, cols)
            .node("SVMClassifier", List.of("X"), List.of("label", "scores"), a.toArray(OnnxMl.AttributeProto[]::new))
            .write(tmp.resolve("svc.onnx"));
    }

    @Test
    void svmClassifierMatchesOrtForEachKernelClassCountAndProbabilities() throws Exception {
        SplittableRandom r = new SplittableRandom(32);
        for (String kernel : KERNELS) {
            for (int classes : new int[] {2, 4}) {
                for (boolean proba : new boolean[] {false, true}) {
                    for (String post : new String[] {"NONE", "LOGISTIC", "SOFTMAX"}) {
                        assertSameAsOrt(svc(r, kernel, classes, proba, post), Map.of("X", input(r)),
                            kernel + " classes " + classes + (proba ? " proba " : " ") + post);
                    }
                }
            }
        }
    }

    @Test
    void svmClassifierLiblinearLayoutMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(33);
        for (int classes : new int[] {2, 3}) {
            for (String post : new String[] {"NONE", "LOGISTIC", "SOFTMAX"}) {
                long[] labels = new long[classes];
                for (int c = 0; c < classes; c++) labels[c] = c;
                Path file = new MlModel(1).input("X", FLOAT, -1, F).output("label", INT64, -1).output("scores", FLOAT, -1, classes)
                    .node("SVMClassifier", List.of("X"), List.of("label", "scores"), MlModel.floats("coefficients", gaussians(r, classes * F, 1)),
                        MlModel.floats("rho", 0.1f), MlModel.floats("kernel_params", 0.2f, 0.1f, 2f), MlModel.ints("classlabels_ints", labels),
                        MlModel.str("post_transform", post))
                    .write(tmp.resolve("svcl.onnx"));
                assertSameAsOrt(file, Map.of("X", input(r)), "liblinear classes " + classes + " " + post);
            }
        }
    }
}
