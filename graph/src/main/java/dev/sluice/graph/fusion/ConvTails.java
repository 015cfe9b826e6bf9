package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What Conv and ConvTranspose fusion share: the per-channel affine steps and activation after a conv-like node,
 * and their folding into new weight and bias initializers.
 */
final class ConvTails {
    private ConvTails() {}

    /**
     * What a fused conv-like node replaces: the head, the affine steps folded after it, then an optional
     * activation; {@code out} is the last one's output, {@code act} the activation's attributes.
     */
    record FusedTail(List<Node> chain, String out, Map<String, Attr> act, Affine aff) {}

    /** The fusable tail after {@code head} ({@code m} output channels), or null when there is none or an inner value is read elsewhere. */
    static FusedTail tailAfter(Matcher fx, Node head, int m, int rank, String bias) {
        Affine aff = affineAfter(fx, head.outputs().get(0), m, rank, bias);
        if (aff == null) return null;
        List<Node> chain = new ArrayList<>(List.of(head));
        chain.addAll(aff.nodes());
        Map<String, Attr> act = new LinkedHashMap<>();
        String out = aff.out();
        String actOut = fx.activation(out, chain, act);
        if (actOut != null) out = actOut;
        if (chain.size() == 1 || !fx.innerValuesPrivate(chain, out)) return null;
        return new FusedTail(chain, out, act, aff);
    }

    /**
     * Per output channel affine steps read after a conv-like node, in the order found, as many as there are: an Add
     * or a Mul of a constant that broadcasts per channel (or is a scalar; PP-LCNet's learnable affine after each conv
     * is a Mul and an Add of scalars), an inference BatchNormalization with constant parameters. Each step maps
     * y = s * conv + b to another such line, so any sequence folds into one scale and bias, as ONNX Runtime's
     * ConvMulFusion, ConvAddFusion and ConvBNFusion do. {@code scale} is null when no step scaled; {@code bias}
     * includes the conv's own bias. {@code consumed}: the constants the folded form replaces.
     */
    record Affine(List<Node> nodes, String out, double[] scale, double[] bias, List<String> consumed) {}

    /** The affine steps after a conv-like node's output {@code out} ({@code m} channels, rank {@code rank}); null if its bias is not [m]. */
    static Affine affineAfter(Matcher fx, String out, int m, int rank, String convBias) {
        double[] bias = new double[m];
        List<String> consumed = new ArrayList<>();
        if (convBias != null) {
            Tensor cb = fx.newInitializers.get(convBias);
            if (cb.elementCount() != m || !cb.dtype().isFloatingPoint()) return null;
            for (int o = 0; o < m; o++) bias[o] = cb.getDouble(o);
            consumed.add(convBias);
        }
        List<Node> nodes = new ArrayList<>();
        double[] scale = null;
        while (true) {
            Node add = fx.onlyReader(out, "Add"), mul = add == null ? fx.onlyReader(out, "Mul") : null, step = add != null ? add : mul;
            if (step != null && step.inputs().size() == 2 && step.outputs().size() == 1) {
                String cName = Matcher.other(step, out);
                float[] cv = perChannelConst(fx, cName, m, rank);
                if (cv != null) {
                    if (add != null) {
                        for (int o = 0; o < m; o++) bias[o] += cv[o];
                    } else {
                        if (scale == null) { scale = new double[m]; java.util.Arrays.fill(scale, 1.0); }
                        for (int o = 0; o < m; o++) { scale[o] *= cv[o]; bias[o] *= cv[o]; }
                    }
                    consumed.add(cName);
                    nodes.add(step);
                    out = step.outputs().get(0);
                    continue;
                }
            }
            Node bn = fx.onlyReader(out, "BatchNormalization");
            if (bn == null || bn.outputs().size() != 1 || bn.inputs().size() != 5 || !bn.inputs().get(0).equals(out)
                || bn.attributes().getInt("training_mode", 0) != 0 || bn.attributes().getInt("spatial", 1) != 1) break;
            Tensor gamma = fx.newInitializers.get(bn.inputs().get(1)), beta = fx.newInitializers.get(bn.inputs().get(2));
            Tensor mean = fx.newInitializers.get(bn.inputs().get(3)), var = fx.newInitializers.get(bn.inputs().get(4));
            boolean ok = true;
            for (Tensor t : new Tensor[] {gamma, beta, mean, var}) ok &= t != null && t.dtype().isFloatingPoint() && t.elementCount() == m;
            if (!ok) break;
            // the ONNX default epsilon; the normalization is y = (x - mean) / sqrt(var + eps) * gamma + beta
            double eps = bn.attributes().getFloat("epsilon", 1e-5f);
            if (scale == null) { scale = new double[m]; java.util.Arrays.fill(scale, 1.0); }
            for (int o = 0; o < m; o++) {
                double sc = gamma.getDouble(o) / Math.sqrt(var.getDouble(o) + eps);
                scale[o] *= sc;
                bias[o] = (bias[o] - mean.getDouble(o)) * sc + beta.getDouble(o);
            }
            for (int i = 1; i < 5; i++) consumed.add(bn.inputs().get(i));
            nodes.add(bn);
            out = bn.outputs().get(0);
        }
        return new Affine(nodes, out, scale, bias, consumed);
    }

    /**
     * The float values of constant {@code name} when adding it to a rank-{@code rank} output of {@code m}
     * channels adds one value per channel (shape [1, m, 1, ...] or fewer leading axes, or one element) and
     * broadcasts to nothing larger; null otherwise.
     */
    static float[] perChannelConst(Matcher fx, String name, int m, int rank) {
        Tensor t = fx.newInitializers.get(name);
        if (t == null || t.dtype() != dev.sluice.kernels.DType.FLOAT32 || t.rank() > rank) return null;
        for (int j = 0; j < t.rank(); j++) {
            long d = t.shape().dim(j);
            boolean channelAxis = j + rank - t.rank() == 1;
            if (d != 1 && !(channelAxis && d == m)) return null;
        }
        float[] v = new float[m];
        for (int o = 0; o < m; o++) v[o] = t.getFloat(t.elementCount() == 1 ? 0 : o);
        return v;
    }

    /** Which output channel weight element {@code i} of output-channel slot {@code o} (index along axis 1 or 0) feeds. */
    interface ChannelOf { int of(int o, long i); }

    /**
     * Adds the folded weight (when a step scales it) and bias as new initializers and returns
     * the fused node's inputs (x, w, b). For Conv the weight's axis 0 is the output channel; for ConvTranspose
     * axis 1 within the input channel's group, which {@code channel} maps (slot, input channel) to.
     */
    static List<String> foldInto(Matcher fx, Node conv, Tensor wt, String b, Affine aff, ChannelOf channel, String what) {
        String w = conv.inputs().get(1);
        int m = aff.bias().length;
        String wName = w;
        boolean transposed = what.equals("ConvTranspose");
        if (aff.scale() != null) {
            wName = w + "/bnFolded" + (fx.fresh++);
            Tensor nw = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, wt.shape());
            long a0 = wt.shape().dim(0), a1 = wt.shape().dim(1), per = wt.elementCount() / (a0 * a1);
            for (long i = 0; i < a0; i++) {
                for (long j = 0; j < a1; j++) {
                    // Conv: [M, C/group, k...], channel i; ConvTranspose: [C, M/group, k...], channel of (j, input i)
                    int o = transposed ? channel.of((int) j, i) : channel.of((int) i, j);
                    float sc = (float) aff.scale()[o];
                    long base = (i * a1 + j) * per;
                    for (long k = 0; k < per; k++) nw.setFloat(base + k, wt.getFloat(base + k) * sc);
                }
            }
            fx.newInitializers.put(wName, nw);
            fx.replacedWeights.add(w);
        }
        String bName = (aff.scale() != null ? wName : w + "/biasFolded" + (fx.fresh++)) + "/bias";
        Tensor nb = Tensor.allocate(dev.sluice.kernels.DType.FLOAT32, dev.sluice.kernels.Shape.of(m));
        for (int o = 0; o < m; o++) nb.setFloat(o, (float) aff.bias()[o]);
        fx.newInitializers.put(bName, nb);
        fx.replacedWeights.addAll(aff.consumed());
        return new ArrayList<>(List.of(conv.inputs().get(0), wName, bName));
    }
}
