package dev.sluice.kernels.cpu.ml;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tree ensemble compiled from its attributes into flat arrays: node {@code i} tests feature {@code feature[i]}
 * against {@code threshold[i]} with {@code mode[i]} and continues at {@code trueNext[i]} or {@code falseNext[i]};
 * a leaf ({@link #LEAF}) carries the weights {@code [weightStart[i], weightStart[i + 1])} of {@code weightTarget} /
 * {@code weightValue}. Both attribute layouts (TreeEnsembleRegressor/Classifier's (tree id, node id) tuples and
 * TreeEnsemble's node/leaf index arrays) compile to this one form.
 *
 * <p>Invariants checked on construction, so that evaluation cannot loop or read out of bounds: every child index
 * is a node of the ensemble, each tree is a tree (no node is reached twice from its root), every weight's target is
 * in {@code [0, targets)}. Feature ids are checked against the input's width at each call ({@link #maxFeature}).
 */
final class Forest {
    static final byte LEQ = 0, LT = 1, GTE = 2, GT = 3, EQ = 4, NEQ = 5, MEMBER = 6, LEAF = 7;

    final int[] roots;
    final byte[] mode;
    final int[] feature;
    final double[] threshold;
    final boolean[] missingTrue;
    final int[] trueNext, falseNext;
    /** Sorted members per BRANCH_MEMBER node, null elsewhere. */
    final double[][] members;
    final int[] weightStart;
    final int[] weightTarget;
    final double[] weightValue;
    final int targets;
    final int maxFeature;
    /** Whether thresholds are float (attributes without _as_tensor): integer features then compare as floats, as ORT does. */
    final boolean floatThresholds;

    private Forest(int[] roots, byte[] mode, int[] feature, double[] threshold, boolean[] missingTrue, int[] trueNext,
                   int[] falseNext, double[][] members, int[] weightStart, int[] weightTarget, double[] weightValue,
                   int targets, boolean floatThresholds, String where) {
        this.roots = roots; this.mode = mode; this.feature = feature; this.threshold = threshold;
        this.missingTrue = missingTrue; this.trueNext = trueNext; this.falseNext = falseNext; this.members = members;
        this.weightStart = weightStart; this.weightTarget = weightTarget; this.weightValue = weightValue;
        this.targets = targets; this.floatThresholds = floatThresholds;
        int n = mode.length, maxF = -1;
        for (int i = 0; i < n; i++) {
            if (mode[i] == LEAF) continue;
            if (feature[i] < 0) throw MlAttributes.error(where, "node " + i + " has negative feature id " + feature[i]);
            maxF = Math.max(maxF, feature[i]);
            if (trueNext[i] < 0 || trueNext[i] >= n || falseNext[i] < 0 || falseNext[i] >= n) {
                throw MlAttributes.error(where, "node " + i + " branches to a node that does not exist");
            }
        }
        this.maxFeature = maxF;
        for (int t : weightTarget) {
            if (t < 0 || t >= targets) throw MlAttributes.error(where, "a leaf weight's target/class id " + t + " is outside [0, " + targets + ")");
        }
        // each tree must be a tree: a node reached twice could be a cycle, which would never end
        int[] seenBy = new int[n];
        Arrays.fill(seenBy, -1);
        int[] stack = new int[n + 1];
        for (int t = 0; t < roots.length; t++) {
            int sp = 0;
            stack[sp++] = roots[t];
            while (sp > 0) {
                int i = stack[--sp];
                if (seenBy[i] == t) throw MlAttributes.error(where, "tree " + t + " reaches node " + i + " twice: its branches do not form a tree");
                seenBy[i] = t;
                if (mode[i] != LEAF) {
                    stack[sp++] = trueNext[i];
                    if (falseNext[i] != trueNext[i]) stack[sp++] = falseNext[i];
                }
            }
        }
    }

    int trees() { return roots.length; }

    /** The leaf tree {@code t} reaches for one row of features. */
    int leaf(int t, double[] x) {
        int i = roots[t];
        while (mode[i] != LEAF) {
            double v = x[feature[i]];
            boolean yes;
            if (v != v && missingTrue[i]) yes = true;
            else {
                double th = threshold[i];
                yes = switch (mode[i]) {
                    case LEQ -> v <= th;
                    case LT -> v < th;
                    case GTE -> v >= th;
                    case GT -> v > th;
                    case EQ -> v == th;
                    case NEQ -> v != th;
                    default -> Arrays.binarySearch(members[i], v + 0.0) >= 0; // + 0.0: -0.0 is a member where 0.0 is
                };
            }
            i = yes ? trueNext[i] : falseNext[i];
        }
        return i;
    }

    // ---------------------------------------------------------------- opset 1 / 3 layout

    private static byte modeOf(String s, String where) {
        return switch (s) {
            case "BRANCH_LEQ" -> LEQ;
            case "BRANCH_LT" -> LT;
            case "BRANCH_GTE" -> GTE;
            case "BRANCH_GT" -> GT;
            case "BRANCH_EQ" -> EQ;
            case "BRANCH_NEQ" -> NEQ;
            case "LEAF" -> LEAF;
            default -> throw MlAttributes.error(where, "nodes_modes value '" + s + "' is not a known node mode");
        };
    }

    /**
     * From TreeEnsembleRegressor / TreeEnsembleClassifier attributes; {@code prefix} is "target" or "class".
     * Each tree's root is its node that no node of the tree branches to.
     */
    static Forest ofTuples(dev.sluice.kernels.Attributes at, String prefix, int targets, String where) {
        long[] treeIds = MlAttributes.requiredInts(at, "nodes_treeids", where);
        long[] nodeIds = MlAttributes.requiredInts(at, "nodes_nodeids", where);
        long[] featureIds = MlAttributes.requiredInts(at, "nodes_featureids", where);
        long[] trueIds = MlAttributes.requiredInts(at, "nodes_truenodeids", where);
        long[] falseIds = MlAttributes.requiredInts(at, "nodes_falsenodeids", where);
        List<String> modes = at.getStrings("nodes_modes");
        if (modes == null) throw MlAttributes.error(where, "required attribute 'nodes_modes' is missing");
        double[] values = MlAttributes.floatsOrTensor(at, "nodes_values", where);
        long[] missing = MlAttributes.intsOrEmpty(at, "nodes_missing_value_tracks_true");
        int n = treeIds.length;
        if (nodeIds.length != n || featureIds.length != n || trueIds.length != n || falseIds.length != n || modes.size() != n
            || (values != null && values.length != n) || (missing.length != 0 && missing.length != n)) {
            throw MlAttributes.error(where, "the nodes_* attributes have different lengths (nodes_treeids has " + n + ")");
        }
        Map<Long, Map<Long, Integer>> byTree = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            Integer before = byTree.computeIfAbsent(treeIds[i], k -> new HashMap<>()).put(nodeIds[i], i);
            if (before != null) throw MlAttributes.error(where, "tree " + treeIds[i] + " has node id " + nodeIds[i] + " twice");
        }
        byte[] mode = new byte[n];
        int[] feature = new int[n], trueNext = new int[n], falseNext = new int[n];
        double[] threshold = new double[n];
        boolean[] missingTrue = new boolean[n];
        boolean[] isChild = new boolean[n];
        for (int i = 0; i < n; i++) {
            mode[i] = modeOf(modes.get(i), where);
            threshold[i] = values == null ? 0 : values[i];
            missingTrue[i] = missing.length != 0 && missing[i] != 0;
            if (mode[i] == LEAF) continue;
            feature[i] = (int) Math.min(Integer.MAX_VALUE, Math.max(-1, featureIds[i]));
            Map<Long, Integer> tree = byTree.get(treeIds[i]);
            Integer tn = tree.get(trueIds[i]), fn = tree.get(falseIds[i]);
            if (tn == null || fn == null) {
                throw MlAttributes.error(where, "node " + nodeIds[i] + " of tree " + treeIds[i] + " branches to node id "
                    + (tn == null ? trueIds[i] : falseIds[i]) + ", which the tree does not have");
            }
            trueNext[i] = tn; falseNext[i] = fn;
            isChild[tn] = true; isChild[fn] = true;
        }
        int[] roots = new int[byTree.size()];
        int t = 0;
        for (var e : byTree.entrySet()) {
            int root = -1;
            for (int i : e.getValue().values()) {
                if (isChild[i]) continue;
                if (root >= 0) throw MlAttributes.error(where, "tree " + e.getKey() + " has more than one root (nodes no branch leads to)");
                root = i;
            }
            if (root < 0) throw MlAttributes.error(where, "tree " + e.getKey() + " has no root: every node is some node's branch");
            roots[t++] = root;
        }
        // leaf weights, grouped by leaf in attribute order
        long[] wTrees = MlAttributes.requiredInts(at, prefix + "_treeids", where);
        long[] wNodes = MlAttributes.requiredInts(at, prefix + "_nodeids", where);
        long[] wIds = MlAttributes.requiredInts(at, prefix + "_ids", where);
        double[] wValues = MlAttributes.floatsOrTensor(at, prefix + "_weights", where);
        if (wValues == null) throw MlAttributes.error(where, "required attribute '" + prefix + "_weights' is missing");
        int m = wTrees.length;
        if (wNodes.length != m || wIds.length != m || wValues.length != m) {
            throw MlAttributes.error(where, "the " + prefix + "_* attributes have different lengths");
        }
        int[] count = new int[n + 1];
        int[] leafOf = new int[m];
        for (int k = 0; k < m; k++) {
            Map<Long, Integer> tree = byTree.get(wTrees[k]);
            Integer leaf = tree == null ? null : tree.get(wNodes[k]);
            if (leaf == null) throw MlAttributes.error(where, prefix + " weight " + k + " is for node " + wNodes[k] + " of tree " + wTrees[k] + ", which does not exist");
            if (mode[leaf] != LEAF) throw MlAttributes.error(where, prefix + " weight " + k + " is for node " + wNodes[k] + " of tree " + wTrees[k] + ", which is not a LEAF");
            leafOf[k] = leaf;
            count[leaf + 1]++;
        }
        for (int i = 0; i < n; i++) count[i + 1] += count[i];
        int[] start = count.clone(), fill = Arrays.copyOf(count, n);
        int[] target = new int[m];
        double[] weight = new double[m];
        for (int k = 0; k < m; k++) {
            int slot = fill[leafOf[k]]++;
            target[slot] = (int) Math.max(-1, Math.min(Integer.MAX_VALUE, wIds[k]));
            weight[slot] = wValues[k];
        }
        return new Forest(roots, mode, feature, threshold, missingTrue, trueNext, falseNext, new double[n][], start, target,
            weight, targets, !MlAttributes.isDoubleTensor(at, "nodes_values"), where);
    }

    // ---------------------------------------------------------------- opset 5 layout

    /**
     * From TreeEnsemble (opset 5) attributes: interior nodes are {@code nodes_*} entries {@code [0, n)}, leaves
     * {@code leaf_*} entries, appended here as nodes {@code n + j}.
     */
    static Forest ofTreeEnsemble(dev.sluice.kernels.Attributes at, int targets, String where) {
        long[] featureIds = MlAttributes.requiredInts(at, "nodes_featureids", where);
        long[] trueIds = MlAttributes.requiredInts(at, "nodes_truenodeids", where);
        long[] falseIds = MlAttributes.requiredInts(at, "nodes_falsenodeids", where);
        long[] trueLeafs = MlAttributes.requiredInts(at, "nodes_trueleafs", where);
        long[] falseLeafs = MlAttributes.requiredInts(at, "nodes_falseleafs", where);
        long[] leafTargets = MlAttributes.requiredInts(at, "leaf_targetids", where);
        long[] treeRoots = MlAttributes.requiredInts(at, "tree_roots", where);
        long[] missing = MlAttributes.intsOrEmpty(at, "nodes_missing_value_tracks_true");
        if (at.getTensor("nodes_modes") == null) throw MlAttributes.error(where, "required attribute 'nodes_modes' is missing");
        if (at.getTensor("nodes_splits") == null) throw MlAttributes.error(where, "required attribute 'nodes_splits' is missing");
        if (at.getTensor("leaf_weights") == null) throw MlAttributes.error(where, "required attribute 'leaf_weights' is missing");
        double[] modes = MlAttributes.numericTensor(at.getTensor("nodes_modes"), where, "nodes_modes");
        double[] splits = MlAttributes.numericTensor(at.getTensor("nodes_splits"), where, "nodes_splits");
        double[] leafWeights = MlAttributes.numericTensor(at.getTensor("leaf_weights"), where, "leaf_weights");
        double[] membership = at.getTensor("membership_values") == null ? new double[0]
            : MlAttributes.numericTensor(at.getTensor("membership_values"), where, "membership_values");
        int n = featureIds.length, leaves = leafTargets.length;
        if (trueIds.length != n || falseIds.length != n || trueLeafs.length != n || falseLeafs.length != n || modes.length != n
            || splits.length != n || (missing.length != 0 && missing.length != n)) {
            throw MlAttributes.error(where, "the nodes_* attributes have different lengths (nodes_featureids has " + n + ")");
        }
        if (leafWeights.length != leaves) throw MlAttributes.error(where, "leaf_weights and leaf_targetids have different lengths");
        int total = n + leaves;
        byte[] mode = new byte[total];
        int[] feature = new int[total], trueNext = new int[total], falseNext = new int[total];
        double[] threshold = new double[total];
        boolean[] missingTrue = new boolean[total];
        double[][] members = new double[total][];
        int memberAt = 0;
        for (int i = 0; i < n; i++) {
            double m = modes[i];
            if (m != Math.rint(m) || m < 0 || m > 6) throw MlAttributes.error(where, "nodes_modes[" + i + "] = " + m + " is not a mode 0 to 6");
            mode[i] = (byte) m;
            feature[i] = (int) Math.min(Integer.MAX_VALUE, Math.max(-1, featureIds[i]));
            threshold[i] = splits[i];
            missingTrue[i] = missing.length != 0 && missing[i] != 0;
            trueNext[i] = child(trueIds[i], trueLeafs[i], n, leaves, i, where);
            falseNext[i] = child(falseIds[i], falseLeafs[i], n, leaves, i, where);
            if (mode[i] == MEMBER) {
                List<Double> set = new ArrayList<>();
                while (memberAt < membership.length && !Double.isNaN(membership[memberAt])) set.add(membership[memberAt++] + 0.0);
                if (memberAt >= membership.length) {
                    throw MlAttributes.error(where, "membership_values has fewer NaN-terminated sets than nodes with mode BRANCH_MEMBER");
                }
                memberAt++;
                members[i] = set.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            }
        }
        int[] start = new int[total + 1];
        int[] target = new int[leaves];
        double[] weight = new double[leaves];
        for (int i = 0; i < n; i++) start[i + 1] = 0;
        for (int j = 0; j < leaves; j++) {
            mode[n + j] = LEAF;
            start[n + j] = j;
            target[j] = (int) Math.max(-1, Math.min(Integer.MAX_VALUE, leafTargets[j]));
            weight[j] = leafWeights[j];
        }
        start[total] = leaves;
        int[] roots = new int[treeRoots.length];
        for (int t = 0; t < roots.length; t++) {
            int r = MlAttributes.index(treeRoots[t], n, where, "tree_roots[" + t + "]");
            // a one-leaf tree: a node whose two branches are the same leaf
            roots[t] = trueLeafs[r] != 0 && falseLeafs[r] != 0 && trueIds[r] == falseIds[r] ? trueNext[r] : r;
        }
        boolean floats = at.getTensor("nodes_splits").dtype() != dev.sluice.kernels.DType.FLOAT64;
        return new Forest(roots, mode, feature, threshold, missingTrue, trueNext, falseNext, members, start, target, weight,
            targets, floats, where);
    }

    private static int child(long id, long isLeaf, int n, int leaves, int node, String where) {
        if (isLeaf != 0) return n + MlAttributes.index(id, leaves, where, "node " + node + "'s leaf");
        return MlAttributes.index(id, n, where, "node " + node + "'s child");
    }
}
