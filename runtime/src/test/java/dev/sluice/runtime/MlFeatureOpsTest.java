package dev.sluice.runtime;

import static dev.sluice.runtime.MlModel.DOUBLE;
import static dev.sluice.runtime.MlModel.FLOAT;
import static dev.sluice.runtime.MlModel.INT64;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The linear models and feature preprocessors of ai.onnx.ml against ONNX Runtime: LinearClassifier (multiclass,
 * binary with one score column, every transform), LinearRegressor, Scaler, Normalizer, Binarizer,
 * ArrayFeatureExtractor, Imputer, OneHotEncoder, LabelEncoder (opsets 2 and 4) and FeatureVectorizer, and a
 * scikit-learn-shaped pipeline of several of them in one graph with default-domain ops.
 */
class MlFeatureOpsTest {
    @TempDir Path tmp;

    private static final String[] POSTS = {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"};

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

    private static Tensor randomFloats(SplittableRandom r, DType type, long... dims) {
        Tensor x = Tensor.allocate(type, Shape.of(dims));
        for (long i = 0; i < x.elementCount(); i++) x.setDouble(i, Math.round(r.nextGaussian() * 8) / 4.0);
        return x;
    }

    private static float[] gaussians(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian();
        return v;
    }

    @Test
    void linearClassifierMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(21);
        int f = 6;
        for (String post : POSTS) {
            for (int classes : new int[] {1, 3}) {
                for (long[] labels : classes == 1 ? new long[][] {{4, 9}, {}} : new long[][] {{5, 6, 7}}) {
                    if (classes == 1 && labels.length == 2 && post.equals("PROBIT")) continue; // refused: see below
                    List<OnnxMl.AttributeProto> a = new java.util.ArrayList<>(List.of(
                        MlModel.floats("coefficients", gaussians(r, classes * f)), MlModel.floats("intercepts", gaussians(r, classes)),
                        MlModel.str("post_transform", post)));
                    if (labels.length > 0) a.add(MlModel.ints("classlabels_ints", labels));
                    int cols = classes == 1 && labels.length == 2 ? 2 : classes;
                    Path file = new MlModel(1).input("X", FLOAT, -1, f).output("label", INT64, -1).output("scores", FLOAT, -1, cols)
                        .node("LinearClassifier", List.of("X"), List.of("label", "scores"), a.toArray(OnnxMl.AttributeProto[]::new))
                        .write(tmp.resolve("lc.onnx"));
                    assertSameAsOrt(file, Map.of("X", randomFloats(r, DType.FLOAT32, 40, f)), post + " classes " + classes + " labels " + labels.length);
                }
            }
        }
    }

    @Test
    void linearClassifierReadsDoubleAndInt64Inputs() throws Exception {
        SplittableRandom r = new SplittableRandom(22);
        for (int type : new int[] {DOUBLE, INT64}) {
            Path file = new MlModel(1).input("X", type, -1, 3).output("label", INT64, -1).output("scores", FLOAT, -1, 2)
                .node("LinearClassifier", List.of("X"), List.of("label", "scores"), MlModel.floats("coefficients", gaussians(r, 6)),
                    MlModel.floats("intercepts", gaussians(r, 2)), MlModel.ints("classlabels_ints", 0, 1), MlModel.str("post_transform", "LOGISTIC"))
                .write(tmp.resolve("lct.onnx"));
            assertSameAsOrt(file, Map.of("X", randomFloats(r, type == DOUBLE ? DType.FLOAT64 : DType.INT64, 20, 3)), "type " + type);
        }
    }

    @Test
    void linearRegressorMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(23);
        for (String post : POSTS) {
            for (int targets : new int[] {1, 3}) {
                Path file = new MlModel(1).input("X", FLOAT, -1, 5).output("Y", FLOAT, -1, targets)
                    .node("LinearRegressor", List.of("X"), List.of("Y"), MlModel.floats("coefficients", gaussians(r, targets * 5)),
                        MlModel.floats("intercepts", gaussians(r, targets)), MlModel.intAttr("targets", targets), MlModel.str("post_transform", post))
                    .write(tmp.resolve("lr.onnx"));
                assertSameAsOrt(file, Map.of("X", randomFloats(r, DType.FLOAT32, 30, 5)), post + " targets " + targets);
            }
        }
    }

    @Test
    void scalerNormalizerAndBinarizerMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(24);
        Tensor x = randomFloats(r, DType.FLOAT32, 25, 4);
        x.setFloat(3, Float.NaN);
        x.setFloat(7, 0.5f);
        assertSameAsOrt(new MlModel(1).input("X", FLOAT, -1, 4).output("Y", FLOAT, -1, 4)
            .node("Scaler", List.of("X"), List.of("Y"), MlModel.floats("offset", gaussians(r, 4)), MlModel.floats("scale", gaussians(r, 4)))
            .write(tmp.resolve("scaler.onnx")), Map.of("X", x), "Scaler per column");
        assertSameAsOrt(new MlModel(1).input("X", DOUBLE, -1, 4).output("Y", FLOAT, -1, 4)
            .node("Scaler", List.of("X"), List.of("Y"), MlModel.floats("offset", 0.5f), MlModel.floats("scale", 2f))
            .write(tmp.resolve("scaler1.onnx")), Map.of("X", randomFloats(r, DType.FLOAT64, 6, 4)), "Scaler one value, double input");
        Tensor pos = randomFloats(r, DType.FLOAT32, 25, 4);
        for (long i = 0; i < pos.elementCount(); i++) pos.setFloat(i, Math.abs(pos.getFloat(i)) + 0.25f);
        for (String norm : new String[] {"MAX", "L1", "L2"}) {
            Path file = new MlModel(1).input("X", FLOAT, -1, 4).output("Y", FLOAT, -1, 4)
                .node("Normalizer", List.of("X"), List.of("Y"), MlModel.str("norm", norm)).write(tmp.resolve("norm.onnx"));
            assertSameAsOrt(file, Map.of("X", pos), "Normalizer " + norm + " positive");
            Tensor mixed = randomFloats(r, DType.FLOAT32, 25, 4);
            for (int row = 0; row < 25; row++) mixed.setFloat(row * 4L, 1f); // keep each row's max positive
            assertSameAsOrt(file, Map.of("X", mixed), "Normalizer " + norm + " mixed signs");
        }
        Path bin = new MlModel(1).input("X", FLOAT, -1, 4).output("Y", FLOAT, -1, 4)
            .node("Binarizer", List.of("X"), List.of("Y"), MlModel.floatAttr("threshold", 0.5f)).write(tmp.resolve("bin.onnx"));
        x.setFloat(3, 0.75f);
        assertSameAsOrt(bin, Map.of("X", x), "Binarizer");
        // ORT refuses NaN; ONNX's reference (X > threshold) makes it 0
        x.setFloat(3, Float.NaN);
        try (Session s = Session.open(bin, 1)) {
            Tensor y = s.run(Map.of("X", x)).asMap().get("Y");
            assertTrue(y.getFloat(3) == 0f && y.getFloat(7) == 0f, "NaN and the threshold itself give 0");
        }
    }

    @Test
    void arrayFeatureExtractorImputerAndOneHotEncoderMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(25);
        Tensor x = randomFloats(r, DType.FLOAT32, 7, 5);
        Tensor idx = Tensor.ofLongs(Shape.of(3), 4, 0, 4);
        assertSameAsOrt(new MlModel(1).input("X", FLOAT, -1, 5).input("idx", INT64, 3).output("Y", FLOAT, -1, 3)
            .node("ArrayFeatureExtractor", List.of("X", "idx"), List.of("Y")).write(tmp.resolve("afe.onnx")),
            Map.of("X", x, "idx", idx), "ArrayFeatureExtractor");
        Tensor longs = Tensor.ofLongs(Shape.of(2, 3), 1, 2, 3, 4, 5, 6);
        assertSameAsOrt(new MlModel(1).input("X", INT64, 2, 3).input("idx", INT64, 1).output("Y", INT64, 2, 1)
            .node("ArrayFeatureExtractor", List.of("X", "idx"), List.of("Y")).write(tmp.resolve("afe64.onnx")),
            Map.of("X", longs, "idx", Tensor.ofLongs(Shape.of(1), 2)), "ArrayFeatureExtractor int64");

        Tensor holes = randomFloats(r, DType.FLOAT32, 9, 3);
        for (int i = 0; i < 27; i += 4) holes.setFloat(i, Float.NaN);
        assertSameAsOrt(new MlModel(1).input("X", FLOAT, -1, 3).output("Y", FLOAT, -1, 3)
            .node("Imputer", List.of("X"), List.of("Y"), MlModel.floats("imputed_value_floats", 1.5f, -2f, 7f),
                MlModel.floatAttr("replaced_value_float", Float.NaN)).write(tmp.resolve("imp.onnx")), Map.of("X", holes), "Imputer NaN");
        Tensor ints = Tensor.ofLongs(Shape.of(2, 3), 0, 5, -1, -1, 2, 3);
        assertSameAsOrt(new MlModel(1).input("X", INT64, 2, 3).output("Y", INT64, 2, 3)
            .node("Imputer", List.of("X"), List.of("Y"), MlModel.ints("imputed_value_int64s", 9),
                MlModel.intAttr("replaced_value_int64", -1)).write(tmp.resolve("imp64.onnx")), Map.of("X", ints), "Imputer int64");

        Tensor cats = Tensor.ofLongs(Shape.of(2, 4), 3, 1, 8, 3, 7, 1, 2, 2);
        assertSameAsOrt(new MlModel(1).input("X", INT64, 2, 4).output("Y", FLOAT, 2, 4, 4)
            .node("OneHotEncoder", List.of("X"), List.of("Y"), MlModel.ints("cats_int64s", 1, 2, 3, 7), MlModel.intAttr("zeros", 1))
            .write(tmp.resolve("ohe.onnx")), Map.of("X", cats), "OneHotEncoder");
        Path strict = new MlModel(1).input("X", INT64, 2, 4).output("Y", FLOAT, 2, 4, 4)
            .node("OneHotEncoder", List.of("X"), List.of("Y"), MlModel.ints("cats_int64s", 1, 2, 3, 7), MlModel.intAttr("zeros", 0))
            .write(tmp.resolve("ohe0.onnx"));
        try (Session s = Session.open(strict, 1)) {
            SluiceException e = assertThrows(SluiceException.class, () -> s.run(Map.of("X", cats)));
            assertTrue(e.getMessage().contains("OneHotEncoder") && e.getMessage().contains("8"), e.getMessage());
        }
    }

    @Test
    void labelEncoderMatchesOrtInOpsets2And4() throws Exception {
        Tensor keysIn = Tensor.ofLongs(Shape.of(6), 3, 1, 4, 1, 5, 9);
        assertSameAsOrt(new MlModel(2).input("X", INT64, 6).output("Y", FLOAT, 6)
            .node("LabelEncoder", List.of("X"), List.of("Y"), MlModel.ints("keys_int64s", 1, 3, 5), MlModel.floats("values_floats", 0.5f, -2f, 8f),
                MlModel.floatAttr("default_float", 42f)).write(tmp.resolve("le2.onnx")), Map.of("X", keysIn), "int64 -> float");
        Tensor floatsIn = Tensor.ofFloats(Shape.of(5), 0.5f, Float.NaN, -0f, 2f, 7f);
        assertSameAsOrt(new MlModel(2).input("X", FLOAT, 5).output("Y", INT64, 5)
            .node("LabelEncoder", List.of("X"), List.of("Y"), MlModel.floats("keys_floats", 0.5f, 0f, 2f), MlModel.ints("values_int64s", 10, 20, 30))
            .write(tmp.resolve("le2f.onnx")), Map.of("X", floatsIn), "float -> int64, default -1");
        assertSameAsOrt(new MlModel(4).input("X", INT64, 6).output("Y", DOUBLE, 6)
            .node("LabelEncoder", List.of("X"), List.of("Y"), MlModel.tensor("keys_tensor", INT64, 1, 4, 9),
                MlModel.tensor("values_tensor", DOUBLE, 0.25, -1.5, 100), MlModel.tensor("default_tensor", DOUBLE, 7))
            .write(tmp.resolve("le4.onnx")), Map.of("X", keysIn), "opset 4 tensors");
    }

    @Test
    void featureVectorizerMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(26);
        Path file = new MlModel(1).input("A", FLOAT, 4, 2).input("B", FLOAT, 4, 3).input("C", FLOAT, 4, 1).output("Y", FLOAT, 4, 6)
            .node("FeatureVectorizer", List.of("A", "B", "C"), List.of("Y"), MlModel.ints("inputdimensions", 2, 3, 1))
            .write(tmp.resolve("fv.onnx"));
        assertSameAsOrt(file, Map.of("A", randomFloats(r, DType.FLOAT32, 4, 2), "B", randomFloats(r, DType.FLOAT32, 4, 3),
            "C", randomFloats(r, DType.FLOAT32, 4, 1)), "FeatureVectorizer");
    }

    /** A StandardScaler + LogisticRegression pipeline as skl2onnx lays it out (with zipmap=False), mixing both domains. */
    @Test
    void scalerThenLinearClassifierThenDefaultDomainOpsMatchOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(27);
        Path file = new MlModel(1).input("X", FLOAT, -1, 4).output("label", INT64, -1).output("probabilities", FLOAT, -1, 3)
            .node("Scaler", List.of("X"), List.of("scaled"), MlModel.floats("offset", gaussians(r, 4)), MlModel.floats("scale", 0.5f, 2f, 1f, 3f))
            .node("LinearClassifier", List.of("scaled"), List.of("label", "raw"), MlModel.floats("coefficients", gaussians(r, 12)),
                MlModel.floats("intercepts", gaussians(r, 3)), MlModel.ints("classlabels_ints", 0, 1, 2), MlModel.str("post_transform", "LOGISTIC"))
            .node("Normalizer", List.of("raw"), List.of("probabilities"), MlModel.str("norm", "L1"))
            .write(tmp.resolve("pipeline.onnx"));
        assertSameAsOrt(file, Map.of("X", randomFloats(r, DType.FLOAT32, 50, 4)), "pipeline");
    }
}
