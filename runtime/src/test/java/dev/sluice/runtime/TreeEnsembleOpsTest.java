package dev.sluice.runtime;

import static dev.sluice.runtime.MlModel.DOUBLE;
import static dev.sluice.runtime.MlModel.FLOAT;
import static dev.sluice.runtime.MlModel.INT64;
import static dev.sluice.runtime.MlModel.UINT8;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnx.proto.OnnxMl;
import dev.sluice.kernels.DType;
import dev.sluice.kernels.SluiceException;
import dev.sluice.kernels.Shape;
import dev.sluice.kernels.Tensor;
import dev.sluice.runtime.fixtures.OrtReference;
import dev.sluice.runtime.testdata.Tolerance;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ai.onnx.ml tree ensembles against ONNX Runtime on random forests (20 trees of depth up to 6 over 10 features)
 * and random inputs with NaN features: every node mode, aggregate function and post transform, several targets,
 * base values, multiclass and the two-class special cases, float / double / int64 inputs, and TreeEnsemble (opset 5)
 * with set membership. Features and thresholds are drawn partly from a small grid so that BRANCH_EQ / NEQ and the
 * boundaries of LEQ / LT / GTE / GT are hit, not only the generic case.
 */
class TreeEnsembleOpsTest {
    @TempDir Path tmp;

    private static final String[] MODES = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"};
    private static final String[] POSTS = {"NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"};
    private static final String[] AGGREGATES = {"SUM", "AVERAGE", "MIN", "MAX"};
    private static final float[] GRID = {-1f, -0.5f, 0f, 0.5f, 1f};
    private static final int FEATURES = 10, ROWS = 64;

    /** One random ensemble in the (tree id, node id) tuple layout of TreeEnsembleRegressor / Classifier. */
    private static final class Tuples {
        final List<Long> tree = new ArrayList<>(), node = new ArrayList<>(), feature = new ArrayList<>(), yes = new ArrayList<>(),
            no = new ArrayList<>(), missing = new ArrayList<>(), wTree = new ArrayList<>(), wNode = new ArrayList<>(), wId = new ArrayList<>();
        final List<String> mode = new ArrayList<>();
        final List<Float> value = new ArrayList<>(), wValue = new ArrayList<>();

        /** @param modes node modes to draw from; @param classes the targets a leaf may weight, each leaf weighting all of {@code always} */
        Tuples(SplittableRandom r, int trees, int depth, String[] modes, int[] classes, boolean positive, boolean allClasses) {
            for (int t = 0; t < trees; t++) build(r, t, 0, depth, modes, classes, positive, allClasses, new int[1]);
        }

        private long build(SplittableRandom r, int t, int level, int depth, String[] modes, int[] classes, boolean positive,
                           boolean allClasses, int[] next) {
            long id = next[0]++;
            int at = tree.size();
            tree.add((long) t); node.add(id); feature.add(0L); yes.add(0L); no.add(0L); missing.add(0L); mode.add("LEAF"); value.add(0f);
            if (level == depth || (level >= 2 && r.nextInt(4) == 0)) {
                boolean any = false;
                for (int c : classes) {
                    if (!allClasses && any && r.nextBoolean()) continue;
                    any = true;
                    wTree.add((long) t); wNode.add(id); wId.add((long) c);
                    wValue.add(positive ? (float) r.nextDouble() : (float) r.nextGaussian());
                }
                return id;
            }
            mode.set(at, modes[r.nextInt(modes.length)]);
            feature.set(at, (long) r.nextInt(FEATURES));
            value.set(at, r.nextBoolean() ? GRID[r.nextInt(GRID.length)] : (float) (r.nextDouble() * 2 - 1));
            missing.set(at, (long) r.nextInt(2));
            yes.set(at, build(r, t, level + 1, depth, modes, classes, positive, allClasses, next));
            no.set(at, build(r, t, level + 1, depth, modes, classes, positive, allClasses, next));
            return id;
        }

        List<OnnxMl.AttributeProto> attributes(String prefix, boolean valuesAsDoubleTensor) {
            List<OnnxMl.AttributeProto> a = new ArrayList<>(List.of(
                MlModel.ints("nodes_treeids", tree), MlModel.ints("nodes_nodeids", node), MlModel.ints("nodes_featureids", feature),
                MlModel.ints("nodes_truenodeids", yes), MlModel.ints("nodes_falsenodeids", no),
                MlModel.ints("nodes_missing_value_tracks_true", missing), MlModel.strs("nodes_modes", mode),
                MlModel.ints(prefix + "_treeids", wTree), MlModel.ints(prefix + "_nodeids", wNode), MlModel.ints(prefix + "_ids", wId)));
            if (valuesAsDoubleTensor) {
                a.add(MlModel.tensor("nodes_values_as_tensor", DOUBLE, value.stream().mapToDouble(Float::doubleValue).toArray()));
                a.add(MlModel.tensor(prefix + "_weights_as_tensor", DOUBLE, wValue.stream().mapToDouble(Float::doubleValue).toArray()));
            } else {
                a.add(MlModel.floats("nodes_values", value));
                a.add(MlModel.floats(prefix + "_weights", wValue));
            }
            return a;
        }
    }

    /** ROWS x FEATURES of grid values, uniform values and NaN (one in ten). */
    private static Tensor features(SplittableRandom r, DType type) {
        Tensor x = Tensor.allocate(type, Shape.of(ROWS, FEATURES));
        for (int i = 0; i < ROWS * FEATURES; i++) {
            int k = r.nextInt(10);
            double v = k == 0 ? Double.NaN : k < 5 ? GRID[r.nextInt(GRID.length)] : r.nextDouble() * 2.4 - 1.2;
            if (type == DType.INT64) v = r.nextInt(5) - 2;
            x.setDouble(i, v);
        }
        return x;
    }

    private static void assertSameAsOrt(Path file, Map<String, Tensor> inputs, String what) throws Exception {
        assertSameAsOrt(file, file, inputs, what);
    }

    /** Sluice on {@code file} against ORT on {@code ortFile} (the same model, but for a code ORT reads differently). */
    private static void assertSameAsOrt(Path file, Path ortFile, Map<String, Tensor> inputs, String what) throws Exception {
        Map<String, Tensor> ref = OrtReference.run(ortFile, inputs);
        try (Session s = Session.open(file, 2)) {
            Map<String, Tensor> ours = s.run(inputs).asMap();
            for (var e : ref.entrySet()) {
                Tolerance tol = e.getValue().dtype().isFloatingPoint() ? Tolerance.DEFAULT : new Tolerance(0, 0);
                assertNull(tol.mismatch(ours.get(e.getKey()), e.getValue()), what + ": output '" + e.getKey() + "'");
            }
        }
    }

    private static float[] randomFloats(SplittableRandom r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * 0.5);
        return v;
    }

    private Path regressor(Tuples tr, int targets, String agg, String post, float[] base, boolean doubles, int inType) throws Exception {
        List<OnnxMl.AttributeProto> a = tr.attributes("target", doubles);
        a.add(MlModel.intAttr("n_targets", targets));
        a.add(MlModel.str("aggregate_function", agg));
        a.add(MlModel.str("post_transform", post));
        if (base != null) {
            a.add(doubles ? MlModel.tensor("base_values_as_tensor", DOUBLE, toDoubles(base)) : MlModel.floats("base_values", base));
        }
        return new MlModel(3).input("X", inType, -1, FEATURES).output("Y", FLOAT, -1, targets)
            .node("TreeEnsembleRegressor", List.of("X"), List.of("Y"), a.toArray(OnnxMl.AttributeProto[]::new))
            .write(tmp.resolve("ter.onnx"));
    }

    private static double[] toDoubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    @Test
    void regressorMatchesOrtForEveryAggregateTransformAndTargetCount() throws Exception {
        SplittableRandom r = new SplittableRandom(11);
        int round = 0;
        for (String agg : AGGREGATES) {
            for (String post : POSTS) {
                for (int targets : new int[] {1, 3}) {
                    Tuples tr = new Tuples(r, 20, 6, MODES, targets == 1 ? new int[] {0} : new int[] {0, 1, 2}, post.equals("PROBIT"), false);
                    float[] base = round++ % 2 == 0 ? null : randomFloats(r, targets);
                    if (post.equals("PROBIT") && base != null) for (int i = 0; i < base.length; i++) base[i] = 0.01f * i;
                    Path file = regressor(tr, targets, agg, post, base, false, FLOAT);
                    assertSameAsOrt(file, Map.of("X", features(r, DType.FLOAT32)), agg + " " + post + " targets " + targets);
                }
            }
        }
    }

    @Test
    void regressorMatchesOrtForEachNodeModeAlone() throws Exception {
        SplittableRandom r = new SplittableRandom(12);
        for (String mode : MODES) {
            Tuples tr = new Tuples(r, 20, 6, new String[] {mode}, new int[] {0, 1}, false, false);
            Path file = regressor(tr, 2, "SUM", "NONE", randomFloats(r, 2), false, FLOAT);
            assertSameAsOrt(file, Map.of("X", features(r, DType.FLOAT32)), mode);
        }
    }

    private Path classifier(Tuples tr, long[] labels, String post, float[] base) throws Exception {
        return classifier(tr, labels, post, base, FLOAT);
    }

    private Path classifier(Tuples tr, long[] labels, String post, float[] base, int inType) throws Exception {
        List<OnnxMl.AttributeProto> a = tr.attributes("class", false);
        a.add(MlModel.ints("classlabels_int64s", labels));
        a.add(MlModel.str("post_transform", post));
        if (base != null) a.add(MlModel.floats("base_values", base));
        return new MlModel(3).input("X", inType, -1, FEATURES).output("label", INT64, -1).output("probabilities", FLOAT, -1, labels.length)
            .node("TreeEnsembleClassifier", List.of("X"), List.of("label", "probabilities"), a.toArray(OnnxMl.AttributeProto[]::new))
            .write(tmp.resolve("tec.onnx"));
    }

    @Test
    void multiclassClassifierMatchesOrt() throws Exception {
        SplittableRandom r = new SplittableRandom(14);
        int round = 0;
        for (String post : POSTS) {
            for (boolean positive : new boolean[] {true, false}) {
                Tuples tr = new Tuples(r, 20, 6, MODES, new int[] {0, 1, 2, 3}, positive, positive);
                float[] base = round++ % 2 == 0 ? null : randomFloats(r, 4);
                Path file = classifier(tr, new long[] {10, 20, 30, 40}, post, base);
                assertSameAsOrt(file, Map.of("X", features(r, DType.FLOAT32)), post + (positive ? " positive" : " mixed"));
            }
        }
    }

    /** Integer features compare with float thresholds as floats (ORT's classifier takes int64 input; its regressor does not). */
    @Test
    void classifierMatchesOrtForInt64Inputs() throws Exception {
        SplittableRandom r = new SplittableRandom(13);
        Tuples tr = new Tuples(r, 20, 6, MODES, new int[] {0, 1, 2}, true, true);
        assertSameAsOrt(classifier(tr, new long[] {7, 8, 9}, "SOFTMAX", null, INT64), Map.of("X", features(r, DType.INT64)), "int64 input");
    }

    /**
     * Two classes, the shapes converters write: only class 1 weighted (probabilities as a random forest's, or signed
     * margins as gradient boosting's), only class 0, or both; with zero, one or two base values.
     */
    @Test
    void binaryClassifierMatchesOrtInEachOfItsSpecialCases() throws Exception {
        SplittableRandom r = new SplittableRandom(15);
        int[][] weighted = {{1}, {0}, {0, 1}};
        for (int[] classes : weighted) {
            for (boolean positive : new boolean[] {true, false}) {
                for (int bases = 0; bases <= 2; bases++) {
                    for (String post : POSTS) {
                        if (post.equals("PROBIT") && classes.length == 1 && classes[0] == 0) continue; // refused, see below
                        Tuples tr = new Tuples(r, 20, 6, MODES, classes, positive, true);
                        float[] base = bases == 0 ? null : bases == 1 ? new float[] {0.25f} : new float[] {0.25f, 0.25f};
                        Path file = classifier(tr, new long[] {0, 1}, post, base);
                        assertSameAsOrt(file, Map.of("X", features(r, DType.FLOAT32)),
                            java.util.Arrays.toString(classes) + (positive ? " positive" : " mixed") + " bases " + bases + " " + post);
                    }
                }
            }
        }
    }

    /** ORT leaves the second score unwritten for a one-score row under PROBIT: Sluice refuses rather than guess. */
    @Test
    void binaryClassifierRefusesAScoreOrtLeavesUndefined() throws Exception {
        SplittableRandom r = new SplittableRandom(16);
        Path file = classifier(new Tuples(r, 3, 3, MODES, new int[] {0}, true, true), new long[] {0, 1}, "PROBIT", null);
        try (Session s = Session.open(file, 1)) {
            SluiceException e = assertThrows(SluiceException.class, () -> s.run(Map.of("X", features(r, DType.FLOAT32))));
            assertTrue(e.getMessage().contains("TreeEnsembleClassifier") && e.getMessage().contains("PROBIT"), e.getMessage());
        }
    }

    @Test
    void stringClassLabelsAreRefusedByName() throws Exception {
        SplittableRandom r = new SplittableRandom(17);
        List<OnnxMl.AttributeProto> a = new Tuples(r, 2, 3, MODES, new int[] {0, 1}, true, true).attributes("class", false);
        a.add(MlModel.strs("classlabels_strings", List.of("cat", "dog")));
        Path file = new MlModel(3).input("X", FLOAT, -1, FEATURES).output("label", INT64, -1).output("probabilities", FLOAT, -1, 2)
            .node("TreeEnsembleClassifier", List.of("X"), List.of("label", "probabilities"), a.toArray(OnnxMl.AttributeProto[]::new))
            .write(tmp.resolve("strings.onnx"));
        SluiceException e = assertThrows(SluiceException.class, () -> {
            try (Session s = Session.open(file, 1)) { s.run(Map.of("X", features(r, DType.FLOAT32))); }
        });
        assertTrue(e.getMessage().contains("classlabels_strings") && e.getMessage().contains("label_TreeEnsembleClassifier"), e.getMessage());
    }

    /** A cycle in the branches would never end: refused when the node is compiled, naming it. */
    @Test
    void branchesThatAreNotATreeAreRefused() throws Exception {
        Path file = new MlModel(3).input("X", FLOAT, -1, 2).output("Y", FLOAT, -1, 1)
            .node("TreeEnsembleRegressor", List.of("X"), List.of("Y"),
                MlModel.ints("nodes_treeids", 0, 0, 0), MlModel.ints("nodes_nodeids", 0, 1, 2), MlModel.ints("nodes_featureids", 0, 1, 0),
                MlModel.ints("nodes_truenodeids", 1, 2, 0), MlModel.ints("nodes_falsenodeids", 2, 1, 0),
                MlModel.strs("nodes_modes", List.of("BRANCH_LEQ", "BRANCH_LEQ", "LEAF")), MlModel.floats("nodes_values", 0, 0, 0),
                MlModel.ints("target_treeids", 0), MlModel.ints("target_nodeids", 2), MlModel.ints("target_ids", 0),
                MlModel.floats("target_weights", 1), MlModel.intAttr("n_targets", 1))
            .write(tmp.resolve("cycle.onnx"));
        // node 1 branches back to itself on the false side
        SluiceException e = assertThrows(SluiceException.class, () -> {
            try (Session s = Session.open(file, 1)) { s.run(Map.of("X", Tensor.ofFloats(Shape.of(1, 2), 0, 0))); }
        });
        assertTrue(e.getMessage().contains("Y_TreeEnsembleRegressor"), e.getMessage());
    }

    // ------------------------------------------------------------------ TreeEnsemble (ai.onnx.ml opset 5)

    /** The tuples re-encoded as TreeEnsemble's arrays, with some BRANCH_EQ nodes turned into set membership. */
    private Path treeEnsemble(SplittableRandom r, Tuples tr, int targets, int agg, int post, int type) throws Exception {
        List<Long> features = new ArrayList<>(), yes = new ArrayList<>(), no = new ArrayList<>(), yesLeaf = new ArrayList<>(),
            noLeaf = new ArrayList<>(), missing = new ArrayList<>(), roots = new ArrayList<>(), leafTargets = new ArrayList<>();
        List<Double> modes = new ArrayList<>(), splits = new ArrayList<>(), members = new ArrayList<>(), leafWeights = new ArrayList<>();
        java.util.Map<Integer, Integer> nodeIndex = new java.util.HashMap<>(), leafIndex = new java.util.HashMap<>();
        int n = tr.tree.size();
        for (int i = 0; i < n; i++) {
            if (tr.mode.get(i).equals("LEAF")) leafIndex.put(i, leafIndex.size()); else nodeIndex.put(i, nodeIndex.size());
        }
        java.util.Map<Long, Integer> firstOfTree = new java.util.LinkedHashMap<>();
        java.util.Map<String, Integer> byId = new java.util.HashMap<>();
        for (int i = 0; i < n; i++) { firstOfTree.putIfAbsent(tr.tree.get(i), i); byId.put(tr.tree.get(i) + "/" + tr.node.get(i), i); }
        for (int i = 0; i < n; i++) {
            if (tr.mode.get(i).equals("LEAF")) {
                int w = tr.wNode.indexOf(tr.node.get(i));
                for (int k = 0; k < tr.wNode.size(); k++) if (tr.wNode.get(k).equals(tr.node.get(i)) && tr.wTree.get(k).equals(tr.tree.get(i))) { w = k; break; }
                leafTargets.add(tr.wId.get(w));
                leafWeights.add((double) tr.wValue.get(w));
                continue;
            }
            int m = java.util.Arrays.asList(MODES).indexOf(tr.mode.get(i));
            features.add(tr.feature.get(i));
            missing.add(tr.missing.get(i));
            if (m == 4 && r.nextBoolean()) {
                modes.add(6.0);
                splits.add(0.0);
                // ORT implements membership for integral members only
                members.add((double) r.nextInt(3));
                members.add((double) r.nextInt(3));
                members.add(Double.NaN);
            } else {
                modes.add((double) m);
                splits.add((double) tr.value.get(i));
            }
            for (boolean branch : new boolean[] {true, false}) {
                int child = byId.get(tr.tree.get(i) + "/" + (branch ? tr.yes.get(i) : tr.no.get(i)));
                boolean leaf = tr.mode.get(child).equals("LEAF");
                (branch ? yes : no).add((long) (leaf ? leafIndex.get(child) : nodeIndex.get(child)));
                (branch ? yesLeaf : noLeaf).add(leaf ? 1L : 0L);
            }
        }
        for (int first : firstOfTree.values()) {
            if (tr.mode.get(first).equals("LEAF")) throw new IllegalStateException("a one-leaf tree");
            roots.add((long) nodeIndex.get(first));
        }
        List<OnnxMl.AttributeProto> a = new ArrayList<>(List.of(
            MlModel.ints("nodes_featureids", features), MlModel.ints("nodes_truenodeids", yes), MlModel.ints("nodes_falsenodeids", no),
            MlModel.ints("nodes_trueleafs", yesLeaf), MlModel.ints("nodes_falseleafs", noLeaf),
            MlModel.ints("nodes_missing_value_tracks_true", missing), MlModel.ints("tree_roots", roots),
            MlModel.ints("leaf_targetids", leafTargets), MlModel.intAttr("n_targets", targets),
            MlModel.intAttr("aggregate_function", agg), MlModel.intAttr("post_transform", post),
            MlModel.tensor("nodes_modes", UINT8, modes.stream().mapToDouble(Double::doubleValue).toArray()),
            MlModel.tensor("nodes_splits", type, splits.stream().mapToDouble(Double::doubleValue).toArray()),
            MlModel.tensor("leaf_weights", type, leafWeights.stream().mapToDouble(Double::doubleValue).toArray())));
        if (!members.isEmpty()) a.add(MlModel.tensor("membership_values", type, members.stream().mapToDouble(Double::doubleValue).toArray()));
        return new MlModel(5).input("X", type, -1, FEATURES).output("Y", type, -1, targets)
            .node("TreeEnsemble", List.of("X"), List.of("Y"), a.toArray(OnnxMl.AttributeProto[]::new))
            .write(tmp.resolve("te5_" + post + ".onnx"));
    }

    @Test
    void treeEnsembleOpset5MatchesOrtWithSetMembership() throws Exception {
        SplittableRandom r = new SplittableRandom(18);
        for (int agg = 0; agg < 4; agg++) {
            for (int post = 0; post < 5; post++) {
                int targets = post % 2 == 0 ? 1 : 3;
                Tuples tr = new Tuples(r, 20, 6, MODES, targets == 1 ? new int[] {0} : new int[] {0, 1, 2}, post == 4, false);
                int type = agg == 1 && post == 0 ? DOUBLE : FLOAT;
                Map<String, Tensor> x = Map.of("X", features(r, type == DOUBLE ? DType.FLOAT64 : DType.FLOAT32));
                long seed = r.nextLong();
                Path file = treeEnsemble(new SplittableRandom(seed), tr, targets, agg, post, type);
                // ORT 1.29 reads post_transform 1 as LOGISTIC and 2 as SOFTMAX, the spec the other way round: Sluice
                // follows the spec, so ORT's reference for code 1 is the same model with code 2, and vice versa
                int ortPost = post == 1 ? 2 : post == 2 ? 1 : post;
                Path ortFile = ortPost == post ? file : treeEnsemble(new SplittableRandom(seed), tr, targets, agg, ortPost, type);
                assertSameAsOrt(file, ortFile, x, "aggregate " + agg + " post " + post + " type " + type);
            }
        }
    }

    /** A classifier exported with ZipMap: the import names the node and the converter option that avoids it. */
    @Test
    void zipMapIsRefusedWithTheConverterOption() throws Exception {
        OnnxMl.TypeProto seqOfMaps = OnnxMl.TypeProto.newBuilder().setSequenceType(OnnxMl.TypeProto.Sequence.newBuilder()
            .setElemType(OnnxMl.TypeProto.newBuilder().setMapType(OnnxMl.TypeProto.Map.newBuilder().setKeyType(7)
                .setValueType(OnnxMl.TypeProto.newBuilder().setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1)))))).build();
        OnnxMl.GraphProto g = OnnxMl.GraphProto.newBuilder().setName("zm")
            .addInput(OnnxMl.ValueInfoProto.newBuilder().setName("probabilities").setType(OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1))))
            .addOutput(OnnxMl.ValueInfoProto.newBuilder().setName("output_probability").setType(seqOfMaps))
            .addNode(OnnxMl.NodeProto.newBuilder().setOpType("ZipMap").setDomain("ai.onnx.ml").setName("ZipMap")
                .addInput("probabilities").addOutput("output_probability").addAttribute(MlModel.ints("classlabels_int64s", 0, 1)))
            .build();
        Path file = tmp.resolve("zipmap.onnx");
        Files.write(file, OnnxMl.ModelProto.newBuilder().setIrVersion(8)
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
            .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("ai.onnx.ml").setVersion(1)).setGraph(g).build().toByteArray());
        SluiceException e = assertThrows(SluiceException.class, () -> Session.open(file, 1).close());
        assertTrue(e.getMessage().contains("'ZipMap'") && e.getMessage().contains("zipmap"), e.getMessage());
    }
}
