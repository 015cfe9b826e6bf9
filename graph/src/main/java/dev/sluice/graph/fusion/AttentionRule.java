package dev.sluice.graph.fusion;

import dev.sluice.graph.Node;
import dev.sluice.kernels.Attr;
import dev.sluice.kernels.Attributes;
import dev.sluice.kernels.Tensor;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Attention heads: Transpose q and k, MatMul, [Div/Mul by a scalar], [Add mask], Softmax, MatMul by Transpose v,
 * Transpose back → {@code sluice.Attention}. Anchored at the Softmax.
 */
final class AttentionRule implements FusionRule {
    /**
     * The attention chain exporters emit per layer (BERT-style, heads reshaped to [B, L, H, d] before):
     * Transpose(q, 0 2 1 3), Transpose(k, 0 2 3 1), MatMul, [Div or Mul by a float32 scalar], [Add mask],
     * Softmax over the last axis, MatMul by Transpose(v, 0 2 1 3), Transpose(0 2 1 3) → {@code sluice.Attention}
     * (q, k, v[, mask]). Found from its Softmax; the transposed copies and the score tensors disappear.
     */
    @Override
    public boolean tryFuse(Matcher fx, Node sm) {
        if (!sm.opType().equals("Softmax") || !sm.domain().isEmpty()) return false;
        String scores = sm.inputs().get(0);
        var st = fx.g.types().get(scores);
        if (st == null || st.dtype() != dev.sluice.kernels.DType.FLOAT32 || !st.shape().hasRank() || st.shape().rank() != 4) return false;
        // an explicit last axis: a missing one means 1 before opset 13, which the graph does not tell us
        if (!sm.attributes().has("axis")) return false;
        long axis = sm.attributes().getInt("axis", -1);
        if (axis != -1 && axis != 3) return false;
        Scores sc = scoresFrom(fx, scores, null);
        String mask = null;
        Node add = fx.producerOf(scores);
        if (sc == null && add != null && add.opType().equals("Add") && add.domain().isEmpty() && add.inputs().size() == 2) {
            for (int i = 0; i < 2 && sc == null; i++) {
                if (!fx.singleReader(add.inputs().get(i))) continue;
                sc = scoresFrom(fx, add.inputs().get(i), add);
                mask = add.inputs().get(1 - i);
            }
            if (sc == null) return false;
            var mt = fx.g.types().get(mask);
            if (mt == null || mt.dtype() != dev.sluice.kernels.DType.FLOAT32 || !mt.shape().hasRank() || mt.shape().rank() > 4) return false;
        }
        if (sc == null) return false;
        List<Node> chain = sc.chain();
        Map<String, Attr> attrs = sc.attrs();
        Node tq = chain.get(0), tk = chain.get(1);
        String probs = sm.outputs().get(0);
        Node pv = fx.onlyReader(probs, "MatMul");
        if (pv == null || pv.inputs().size() != 2 || !pv.inputs().get(0).equals(probs)) return false;
        Node tv = transposeOf(fx, pv.inputs().get(1), 0, 2, 1, 3);
        if (tv == null) return false;
        Node to = fx.onlyReader(pv.outputs().get(0), "Transpose");
        if (to == null || !isPerm(to, 0, 2, 1, 3)) return false;
        String q = tq.inputs().get(0), k = tk.inputs().get(0), v = tv.inputs().get(0), out = to.outputs().get(0);
        for (String in : new String[] {q, k, v}) {
            var t = fx.g.types().get(in);
            if (t == null || t.dtype() != dev.sluice.kernels.DType.FLOAT32 || !t.shape().hasRank() || t.shape().rank() != 4) return false;
        }
        List<Node> all = new ArrayList<>(chain);
        all.addAll(List.of(sm, tv, pv, to));
        if (new HashSet<>(all).size() != all.size() || !fx.innerValuesPrivate(all, out)) return false;
        if (mask != null && all.contains(fx.producer.get(mask))) return false;
        // the fused node sits where the last Transpose was: every input must be defined before it, as q, k, v
        // and the mask are (they fed nodes of the chain)
        List<String> ins = new ArrayList<>(List.of(q, k, v));
        if (mask != null) ins.add(mask);
        fx.replace(all, new Node(fx.fusedName(sm, "Attention"), "Attention", PatternFusion.DOMAIN, ins, List.of(out), new Attributes(attrs)));
        return true;
    }

    /** The score-producing part of an attention chain, in graph order, and the scaling it applies. */
    private record Scores(List<Node> chain, Map<String, Attr> attrs) {}

    /**
     * Matches [Div or Mul by a float32 scalar] after MatMul(Transpose(q, 0 2 1 3), Transpose(k, 0 2 3 1)) ending
     * in value {@code s}; {@code then} (the mask Add, or null) is appended to the chain.
     */
    private static Scores scoresFrom(Matcher fx, String s, Node then) {
        List<Node> tail = new ArrayList<>();
        if (then != null) tail.add(then);
        Map<String, Attr> attrs = new LinkedHashMap<>();
        Node p = fx.producerOf(s);
        if (p != null && (p.opType().equals("Div") || p.opType().equals("Mul")) && p.domain().isEmpty() && p.inputs().size() == 2) {
            boolean div = p.opType().equals("Div");
            int c = div || fx.isConst(p.inputs().get(1)) ? 1 : 0;
            Tensor ct = fx.newInitializers.get(p.inputs().get(c));
            if (ct == null || ct.elementCount() != 1 || ct.dtype() != dev.sluice.kernels.DType.FLOAT32) return null;
            if (!fx.singleReader(p.inputs().get(1 - c))) return null;
            attrs.put(div ? "scale_div" : "scale_mul", new Attr.Float(ct.getFloat(0)));
            tail.addFirst(p);
            p = fx.producerOf(p.inputs().get(1 - c));
        }
        if (p == null || !p.opType().equals("MatMul") || !p.domain().isEmpty() || p.inputs().size() != 2) return null;
        Node tq = transposeOf(fx, p.inputs().get(0), 0, 2, 1, 3), tk = transposeOf(fx, p.inputs().get(1), 0, 2, 3, 1);
        if (tq == null || tk == null) return null;
        List<Node> chain = new ArrayList<>(List.of(tq, tk, p));
        chain.addAll(tail);
        return new Scores(chain, attrs);
    }

    /** The Transpose producing {@code value} with exactly this perm, read only there, or null. */
    private static Node transposeOf(Matcher fx, String value, long... perm) {
        Node t = fx.producerOf(value);
        if (t == null || !t.opType().equals("Transpose") || !t.domain().isEmpty() || !isPerm(t, perm) || !fx.singleReader(value)) return null;
        return t;
    }

    private static boolean isPerm(Node t, long... perm) {
        return java.util.Arrays.equals(t.attributes().getInts("perm"), perm);
    }
}
