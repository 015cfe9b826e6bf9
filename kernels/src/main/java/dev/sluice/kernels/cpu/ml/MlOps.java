package dev.sluice.kernels.cpu.ml;

import dev.sluice.kernels.OpRegistry;

/**
 * The numeric operators of the {@code ai.onnx.ml} domain, which skl2onnx and onnxmltools emit for scikit-learn,
 * XGBoost and LightGBM models: tree ensembles, linear models, support vector machines and the feature preprocessors. Ops whose values are
 * strings, sequences or maps (ZipMap, DictVectorizer, CategoryMapper, string LabelEncoder) are not here: Sluice's
 * tensors are dense and numeric, and such models are refused with the reason named (see the importer for ZipMap).
 */
public final class MlOps {
    private MlOps() {}

    /** The domain these ops are registered under. */
    public static final String DOMAIN = "ai.onnx.ml";

    public static void register(OpRegistry r) {
        r.register(DOMAIN, "TreeEnsembleRegressor", new TreeKernels.Regressor());
        r.register(DOMAIN, "TreeEnsembleClassifier", new TreeKernels.Classifier());
        r.register(DOMAIN, "TreeEnsemble", new TreeKernels.Ensemble());
        r.register(DOMAIN, "LinearClassifier", new LinearKernels.Classifier());
        r.register(DOMAIN, "LinearRegressor", new LinearKernels.Regressor());
        r.register(DOMAIN, "Scaler", new FeatureKernels.Scaler());
        r.register(DOMAIN, "Normalizer", new FeatureKernels.Normalizer());
        r.register(DOMAIN, "Binarizer", new FeatureKernels.Binarizer());
        r.register(DOMAIN, "ArrayFeatureExtractor", new FeatureKernels.ArrayFeatureExtractor());
        r.register(DOMAIN, "Imputer", new FeatureKernels.Imputer());
        r.register(DOMAIN, "OneHotEncoder", new FeatureKernels.OneHotEncoder());
        r.register(DOMAIN, "FeatureVectorizer", new FeatureKernels.FeatureVectorizer());
        r.register(DOMAIN, "LabelEncoder", new LabelEncoderKernel());
        r.register(DOMAIN, "SVMRegressor", new SvmKernels.Regressor());
        r.register(DOMAIN, "SVMClassifier", new SvmKernels.Classifier());
    }
}
